"""The note's figures as PNG files, drawn from the warehouse's marts (read through
:mod:`semspace.warehouse`; a missing mart is one :class:`SemspaceError`).

- :func:`figure_mds_map`: Figures 1 and 4, the 2-D map of one corpus from ``mds_coordinates``.
- :func:`figure_tokens_per_image`: Figure 2, the distribution of set sizes of several corpora.
- :func:`figure_pairs`: Figure 3, symmetric difference against intersection over all pairs, with
  both marginal distributions. The pairs are binned in SQL (both measures are integers, so the bins
  are exact): only the histogram, never the pairs, reaches Python. A corpus without image_pairs rows
  (above the dbt var all_pairs_max_images) has no such figure: one SemspaceError saying so, which
  the report shows as a note.

Each function writes one PNG into ``out_dir`` (created if missing) and returns its path. They draw
on :class:`matplotlib.figure.Figure` directly, with the Agg canvas, so no pyplot state or display
is involved.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, MaxNLocator

from semspace import warehouse
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

DPI = 200
"""Print quality."""

MDS_MAP = "mds_map.png"
TOKENS_PER_IMAGE = "tokens_per_image.png"
PAIRS = "pairs.png"


def corpus_folder(corpus: str) -> str:
    """A file-system-safe folder name for a corpus (``falcon-7b-instruct`` stays as it is)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", corpus).strip("._")
    return name or "corpus"


def _save(figure: Figure, out_dir: str | os.PathLike[str], name: str) -> Path:
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    tmp = path.with_name(path.name + ".tmp")
    FigureCanvasAgg(figure)
    figure.savefig(tmp, dpi=DPI, format="png")
    os.replace(tmp, path)  # a reader never sees half a PNG
    return path


# --------------------------------------------------------------------------------------- Figure 1/4


def figure_mds_map(
    con: duckdb.DuckDBPyConnection, corpus: str, out_dir: str | os.PathLike[str], highlight: int | None = None
) -> Path:
    """``out_dir/mds_map.png``: one point per image at (x1, x2) of ``mds_coordinates``, the axes
    labelled with their share of the positive eigenvalue sum (``mds_spectrum``). ``highlight``: an
    image id to ring and label (e.g. the image whose neighbours the report tables)."""
    warehouse.require_marts(con, "mds_spectrum", "mds_coordinates")
    spectrum = con.execute(
        "select n_points, n_positive, axis_share_1, axis_share_2 from mds_spectrum where corpus = ?", [corpus]
    ).fetchall()
    if not spectrum:
        raise SemspaceError(
            f"no MDS of corpus {corpus!r} in the warehouse; run `python -m analysis mds --corpus {corpus}`"
        )
    n_points, n_positive, share_1, share_2 = spectrum[0]
    coords = con.execute(
        "select image_id, x1, x2 from mds_coordinates where corpus = ? order by image_id", [corpus]
    ).fetchnumpy()
    x, y = np.asarray(coords["x1"], dtype=float), np.asarray(coords["x2"], dtype=float)

    figure = Figure(figsize=(6.4, 6.0), layout="constrained")
    ax = figure.add_subplot()
    ax.scatter(x, y, s=2.5, linewidths=0, alpha=0.55, color="#1f4e8c", rasterized=True)
    if highlight is not None:
        hit = np.flatnonzero(np.asarray(coords["image_id"]) == highlight)
        if hit.size:
            ax.scatter(x[hit], y[hit], s=60, facecolors="none", edgecolors="#d62728", linewidths=1.4)
            ax.annotate(
                f"image {highlight}",
                (x[hit[0]], y[hit[0]]),
                xytext=(6, 6),
                textcoords="offset points",
                color="#d62728",
                fontsize=9,
            )
    ax.set_aspect("equal", adjustable="datalim")  # distances on the page are distances in the space
    ax.set_xlabel(f"axis 1 ({100 * (share_1 or 0):.1f} % of positive eigenvalue sum)")
    ax.set_ylabel(f"axis 2 ({100 * (share_2 or 0):.1f} % of positive eigenvalue sum)")
    ax.set_title(
        f"{corpus}: classical MDS of |A \u0394 B|, {len(x):,} images\n"
        f"{n_positive:,} of {n_points:,} eigenvalues positive",
        fontsize=11,
    )
    ax.grid(True, linewidth=0.3, alpha=0.5)
    return _save(figure, out_dir, MDS_MAP)


# ----------------------------------------------------------------------------------------- Figure 2


def set_size_counts(con: duckdb.DuckDBPyConnection, corpus: str) -> tuple[np.ndarray, np.ndarray]:
    """(set sizes, images with that size) of a corpus, sizes ascending, binned in SQL."""
    warehouse.require_marts(con, "set_sizes")
    rows = con.execute(
        "select n_tokens, count(*) as n from set_sizes where corpus = ? group by n_tokens order by n_tokens", [corpus]
    ).fetchnumpy()
    return np.asarray(rows["n_tokens"], dtype=np.int64), np.asarray(rows["n"], dtype=np.int64)


def figure_tokens_per_image(
    con: duckdb.DuckDBPyConnection, corpora: Sequence[str], out_dir: str | os.PathLike[str]
) -> Path:
    """``out_dir/tokens_per_image.png``: the distribution of |A| per image, one integer-binned
    histogram per corpus, overlaid (the note's Figure 2)."""
    if isinstance(corpora, str):
        corpora = [corpora]
    figure = Figure(figsize=(7.0, 4.2), layout="constrained")
    ax = figure.add_subplot()
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    drawn = 0
    for index, corpus in enumerate(corpora):
        sizes, counts = set_size_counts(con, corpus)
        if sizes.size == 0:
            log.warning("figure_tokens_per_image: corpus %r has no set_sizes rows; left out", corpus)
            continue
        full = np.zeros(sizes[-1] - sizes[0] + 1, dtype=np.int64)
        full[sizes - sizes[0]] = counts
        edges = np.arange(sizes[0], sizes[-1] + 2) - 0.5
        n_images = int(counts.sum())
        mean = float((sizes * counts).sum()) / n_images
        colour = colours[index % len(colours)]
        ax.stairs(full, edges, fill=True, alpha=0.35, color=colour)
        ax.stairs(
            full,
            edges,
            color=colour,
            linewidth=1.0,
            label=f"{corpus}: {n_images:,} image{'s' if n_images != 1 else ''}, mean {mean:.1f}",
        )
        drawn += 1
    if not drawn:
        raise SemspaceError(
            f"no set sizes for corpora {', '.join(map(repr, corpora)) or '(none)'}; run `dbt build` first"
        )
    ax.set_xlabel("tokens per image |A| (distinct tokens of the image's texts)")
    ax.set_ylabel("images")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Tokens per image", fontsize=11)
    ax.legend(frameon=False, fontsize=9)
    ax.grid(True, axis="y", linewidth=0.3, alpha=0.5)
    return _save(figure, out_dir, TOKENS_PER_IMAGE)


# ----------------------------------------------------------------------------------------- Figure 3


@dataclass
class PairHistogram:
    """Pairs of a corpus counted per (symmetric difference, intersection), on the dense integer grid
    ``symmetric_difference`` × ``intersection`` (each a run of consecutive integers):
    ``counts[i, j]`` = pairs with |A Δ B| = symmetric_difference[i] and |A ∩ B| = intersection[j]."""

    symmetric_difference: np.ndarray
    intersection: np.ndarray
    counts: np.ndarray

    @property
    def n_pairs(self) -> int:
        return int(self.counts.sum())

    def correlation(self) -> float:
        """Pearson correlation of the two measures over all pairs, exactly (from the counts)."""
        w = self.counts.astype(float)
        n = w.sum()
        sd, inter = np.meshgrid(self.symmetric_difference.astype(float), self.intersection.astype(float), indexing="ij")
        mean_sd, mean_inter = (w * sd).sum() / n, (w * inter).sum() / n
        cov = (w * (sd - mean_sd) * (inter - mean_inter)).sum()
        var_sd, var_inter = (w * (sd - mean_sd) ** 2).sum(), (w * (inter - mean_inter) ** 2).sum()
        return float(cov / np.sqrt(var_sd * var_inter)) if var_sd > 0 and var_inter > 0 else float("nan")


def pair_histogram(con: duckdb.DuckDBPyConnection, corpus: str) -> PairHistogram:
    """All pairs of ``corpus`` in ``image_pairs`` binned by (symmetric difference, intersection) in
    SQL; the pairs themselves never leave DuckDB. An empty grid when the corpus has no pairs."""
    warehouse.require_marts(con, "image_pairs")
    rows = con.execute(
        "select symmetric_difference, n_intersection, count(*) as n from image_pairs where corpus = ? "
        "group by symmetric_difference, n_intersection",
        [corpus],
    ).fetchnumpy()
    sd = np.asarray(rows["symmetric_difference"], dtype=np.int64)
    inter = np.asarray(rows["n_intersection"], dtype=np.int64)
    n = np.asarray(rows["n"], dtype=np.int64)
    if sd.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return PairHistogram(empty, empty, np.zeros((0, 0), dtype=np.int64))
    sd_values = np.arange(sd.min(), sd.max() + 1)
    inter_values = np.arange(inter.min(), inter.max() + 1)
    counts = np.zeros((sd_values.size, inter_values.size), dtype=np.int64)
    counts[sd - sd_values[0], inter - inter_values[0]] = n
    return PairHistogram(sd_values, inter_values, counts)


def figure_pairs(con: duckdb.DuckDBPyConnection, corpus: str, out_dir: str | os.PathLike[str]) -> Path:
    """``out_dir/pairs.png``: symmetric difference (x) against intersection (y) over all pairs of the
    corpus as a 2-D histogram on a log colour scale, with both marginal distributions (the note's
    Figure 3)."""
    if not warehouse.has_pairs(con, corpus):
        # a corpus above the dbt var all_pairs_max_images has no all-pairs rows: nothing to bin
        n_images = len(warehouse.image_ids(con, corpus))
        log.warning("figure_pairs %s: no rows in image_pairs (%d images); figure left out", corpus, n_images)
        raise SemspaceError(
            f"corpus {corpus!r} has no rows in image_pairs ({n_images:,} images"
            + (
                "): a single image has no pair"
                if n_images < 2
                else "; a corpus above the dbt var all_pairs_max_images gets none, or it was not built): "
                "the all-pairs figure is left out"
            )
        )
    started = time.perf_counter()
    hist = pair_histogram(con, corpus)
    log.info(
        "figure_pairs %s: %d bins of %d pairs binned in SQL in %.2f s",
        corpus,
        int((hist.counts > 0).sum()),
        hist.n_pairs,
        time.perf_counter() - started,
    )
    if hist.n_pairs == 0:
        raise SemspaceError(
            f"corpus {corpus!r} has no rows in image_pairs (too large for all pairs, or not built); run `dbt build`"
        )
    sd_edges = np.append(hist.symmetric_difference, hist.symmetric_difference[-1] + 1) - 0.5
    inter_edges = np.append(hist.intersection, hist.intersection[-1] + 1) - 0.5

    figure = Figure(figsize=(7.6, 6.4), layout="constrained")
    grid = figure.add_gridspec(2, 3, width_ratios=[4.0, 1.1, 0.16], height_ratios=[1.1, 4.0])
    main = figure.add_subplot(grid[1, 0])
    top = figure.add_subplot(grid[0, 0], sharex=main)
    right = figure.add_subplot(grid[1, 1], sharey=main)
    bar = figure.add_subplot(grid[1, 2])

    counts = np.ma.masked_equal(hist.counts.T, 0)  # rows: intersection, columns: symmetric difference
    mesh = main.pcolormesh(
        sd_edges,
        inter_edges,
        counts,
        norm=LogNorm(vmin=1, vmax=max(hist.counts.max(), 2)),
        cmap="magma_r",
        rasterized=True,
    )
    figure.colorbar(mesh, cax=bar, label="pairs per cell")
    main.set_xlabel("symmetric difference |A \u0394 B| (the distance)")
    main.set_ylabel("intersection |A \u2229 B|")
    main.set_xlim(sd_edges[0], sd_edges[-1])
    main.set_ylim(inter_edges[0], inter_edges[-1])
    main.grid(True, linewidth=0.3, alpha=0.4)
    main.xaxis.set_major_locator(MaxNLocator(integer=True))
    main.yaxis.set_major_locator(MaxNLocator(integer=True))

    eng = EngFormatter(sep="")
    top.stairs(hist.counts.sum(axis=1), sd_edges, fill=True, color="#7a1f5c", alpha=0.8)
    top.set_ylabel("pairs")
    top.yaxis.set_major_formatter(eng)
    top.yaxis.set_major_locator(MaxNLocator(3, integer=True))
    top.tick_params(labelbottom=False)
    right.stairs(hist.counts.sum(axis=0), inter_edges, fill=True, color="#7a1f5c", alpha=0.8, orientation="horizontal")
    right.set_xlabel("pairs")
    right.xaxis.set_major_formatter(eng)
    right.xaxis.set_major_locator(MaxNLocator(2, integer=True))
    right.tick_params(labelleft=False)
    figure.suptitle(
        f"{corpus}: {hist.n_pairs:,} pairs, corr(|A \u0394 B|, |A \u2229 B|) = {hist.correlation():.3f}", fontsize=11
    )
    return _save(figure, out_dir, PAIRS)
