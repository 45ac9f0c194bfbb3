"""The report: the note's tables and figures rebuilt from the warehouse, each number beside the note's.

``build(database)`` writes, under ``out_dir`` (default ``reports``):

- ``index.html``: one self-contained page (inline CSS, the figures as base64 data URIs, nothing
  fetched from anywhere; the only external addresses are the links to the images themselves);
- ``report.md``: the same content in Markdown, the figures linked by relative path;
- the figures: ``tokens_per_image.png`` (all corpora) and ``<corpus>/mds_map.png`` and
  ``<corpus>/pairs.png`` (see :mod:`analysis.figures`).

Every value in a "this warehouse" column is read from the marts at build time; the note's values come
from :mod:`analysis.note`. The warehouse is opened read-only.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from analysis import evaluate as ev
from analysis import figures, note
from semspace import db
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

DEFAULT_IMAGE = 100
NONE = "\u2014"  # an em dash: the note does not report this measure


# ------------------------------------------------------------------------------------ the document
# A small document model rendered twice, to HTML and to Markdown, so that the two always agree.


@dataclass
class Link:
    text: str
    url: str


@dataclass
class Lines:
    """Several lines in one table cell (an image's captions)."""
    lines: list[str]


Cell = str | Link | Lines


@dataclass
class Heading:
    level: int
    text: str
    anchor: str | None = None


@dataclass
class Para:
    """Plain text; `backticks` mark code."""
    text: str
    css: str = ""


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Cell]]
    numeric: set[int] = field(default_factory=set)  # column indexes to right-align
    css: str = ""


@dataclass
class Image:
    path: Path  # the PNG on disk
    alt: str
    caption: str


Block = Heading | Para | Table | Image


# ---------------------------------------------------------------------------------------- numbers


def _int(value: Any) -> str:
    return NONE if value is None else f"{int(value):,}"


def _decimals(value: float) -> int:
    """Decimal places of a reported number as the note writes it (0.217 → 3, 262.0 → 1, 5000 → 0)."""
    text = repr(value)
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def _signed(value: float, decimals: int) -> str:
    if decimals == 0:
        return "0" if value == 0 else f"{value:+,.0f}"
    text = f"{value:+,.{decimals}f}"
    return "0" if float(text) == 0 else text


@dataclass
class Measure:
    """One line of a comparison table: measure | this warehouse | note | difference."""

    name: str
    ours: Any
    reported: Any = None
    kind: str = "int"  # int | float | share (a fraction shown in %) | text | sci
    decimals: int | None = None  # for float / share: places of our value when the note has none
    note_decimals: int | None = None  # places the note gives (default: as the value is written)

    def row(self) -> list[Cell]:
        return [self.name, self.format_ours(), self.format_note(), self.format_difference()]

    def _note_places(self) -> int:
        if self.note_decimals is not None:
            return self.note_decimals
        scale = 100 if self.kind == "share" else 1
        return _decimals(round(self.reported * scale, 6))

    def _places(self) -> int:
        """Our value gets more places than the note gives (two; one for a percentage), so that the
        difference shows."""
        if self.reported is not None and self.kind in ("float", "share"):
            return self._note_places() + (1 if self.kind == "share" else 2)
        return 2 if self.decimals is None else self.decimals

    def format_ours(self) -> str:
        return self._format(self.ours, self._places())

    def format_note(self) -> str:
        if self.reported is None:
            return NONE
        return self._format(self.reported, self._note_places())

    def _format(self, value: Any, places: int) -> str:
        if value is None:
            return NONE
        if self.kind == "int":
            return _int(value)
        if self.kind == "float":
            return f"{value:,.{places}f}"
        if self.kind == "share":
            return f"{100 * value:.{places}f} %"
        if self.kind == "sci":
            return f"{value:.3g}"
        return str(value)

    def format_difference(self) -> str:
        if self.reported is None or self.ours is None or self.kind in ("text", "sci"):
            return NONE
        if self.kind == "int":
            diff = int(self.ours) - int(self.reported)
            if diff and self.reported:
                return f"{diff:+,} ({100 * diff / abs(self.reported):+.3g} %)"
            return _signed(diff, 0)
        if self.kind == "share":
            return f"{_signed(100 * (self.ours - self.reported), self._places())} pp"
        return _signed(self.ours - self.reported, self._places())


COMPARISON_COLUMNS = ["measure", "this warehouse", "note", "difference"]


def comparison(measures: Iterable[Measure]) -> Table:
    return Table(COMPARISON_COLUMNS, [m.row() for m in measures], numeric={1, 2, 3}, css="comparison")


# ------------------------------------------------------------------------------------- reading


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
    rows = _rows(con, sql, params)
    return rows[0] if rows else None


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(con.execute("select count(*) from information_schema.tables where table_schema = ? "
                            "and table_name = ?", [schema, table]).fetchall()[0][0])


def _corpora(con: duckdb.DuckDBPyConnection, wanted: Sequence[str] | None) -> list[dict[str, Any]]:
    known = _rows(con, "select * from corpora order by corpus_id, corpus")
    by_name = {row["corpus"]: row for row in known}
    if wanted is None:
        return known
    missing = [c for c in wanted if c not in by_name]
    if missing:
        raise SemspaceError(f"no corpus {', '.join(map(repr, missing))} in the warehouse; corpora: "
                            f"{', '.join(by_name) or 'none (run `dbt build`)'}")
    return [by_name[c] for c in dict.fromkeys(wanted)]


def _captions(con: duckdb.DuckDBPyConnection, dataset: str, image_ids: list[int]) -> dict[int, list[str]]:
    if not image_ids or not _table_exists(con, "raw", "captions"):
        return {}
    rows = con.execute(
        "select image_id, list(caption order by caption_index) from raw.captions where dataset = ? "
        "and image_id in (select unnest(?::integer[])) group by image_id", [dataset, image_ids]).fetchall()
    return {int(i): list(c) for i, c in rows}


def _images(con: duckdb.DuckDBPyConnection, dataset: str, image_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not image_ids:
        return {}
    rows = _rows(con, "select image_id, coco_id, url, file_name from images where dataset = ? "
                      "and image_id in (select unnest(?::integer[]))", [dataset, image_ids])
    return {int(r["image_id"]): r for r in rows}


def _distance(con: duckdb.DuckDBPyConnection, corpus: str, a: int, b: int) -> int | None:
    if a == b:
        return 0
    rows = con.execute("select symmetric_difference from image_pairs where corpus = ? and image_i = ? "
                       "and image_j = ?", [corpus, min(a, b), max(a, b)]).fetchall()
    return int(rows[0][0]) if rows else None


# ---------------------------------------------------------------------------------- the sections


def _is_web_address(url: str | None) -> bool:
    """Only http(s) addresses become links (a `javascript:` or `data:` URL in the data stays text)."""
    return bool(url) and re.match(r"https?://", url, re.IGNORECASE) is not None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


@dataclass
class Timings:
    figures: dict[str, float] = field(default_factory=dict)

    def timed(self, label: str, fn, *args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.figures[label] = time.perf_counter() - started
            log.info("report: %s in %.2f s", label, self.figures[label])


def summary_section(con: duckdb.DuckDBPyConnection, corpus: str, reported: note.NoteCorpus | None,
                    coco_vocabulary: int | None) -> list[Block]:
    title = f"Corpus summary ({reported.summary_table} of the note)" if reported else "Corpus summary"
    blocks: list[Block] = [Heading(3, title)]
    row = _one(con, "select * from corpus_summary where corpus = ?", [corpus])
    if row is None:
        return blocks + [Para(f"No row in corpus_summary for {corpus}: run `dbt build`.")]
    r = reported
    n_images = row["n_images"] or 0
    measures = [
        Measure("images", row["n_images"], r and r.n_images),
        Measure("captions (texts)", row["n_captions"], r and r.n_captions),
        Measure("captions per image (mean)", row["n_captions"] / n_images if n_images else None,
                r and r.mean_captions, "float"),
        Measure("caption characters", row["n_caption_chars"], r and r.n_caption_chars),
        Measure("characters per image (mean)", row["mean_caption_chars"], r and r.mean_caption_chars, "float"),
        Measure("tokens (sum of per-image set sizes)", row["n_tokens"], r and r.n_tokens),
        Measure("tokens per image (mean)", row["mean_tokens"], r and r.mean_tokens, "float"),
        Measure("distinct tokens (vocabulary)", row["n_distinct_tokens"], r and r.n_distinct_tokens),
    ]
    if r and r.vocabulary_ratio_to_coco is not None:
        ours = row["n_distinct_tokens"] / coco_vocabulary if coco_vocabulary else None
        measures.append(Measure("vocabulary relative to coco's", ours, r.vocabulary_ratio_to_coco, "float"))
    blocks.append(comparison(measures))
    return blocks


def pairs_section(con: duckdb.DuckDBPyConnection, corpus: str, reported: note.NoteCorpus | None,
                  folder: Path, timings: Timings) -> list[Block]:
    blocks: list[Block] = [Heading(3, "Pairs: distance, intersection, union")]
    row = _one(con, "select * from pair_summary where corpus = ?", [corpus])
    if row is None:
        return blocks + [Para(f"No row in pair_summary for {corpus}: run `dbt build`.")]
    r = reported
    measures = [
        Measure("image pairs", row["n_pairs"], r and r.n_pairs),
        Measure("symmetric difference |A Δ B|, min", row["min_symmetric_difference"], r and r.min_symmetric_difference),
        Measure("symmetric difference |A Δ B|, max", row["max_symmetric_difference"], r and r.max_symmetric_difference),
        Measure("intersection |A ∩ B|, min", row["min_intersection"], r and r.min_intersection),
        Measure("intersection |A ∩ B|, max", row["max_intersection"], r and r.max_intersection),
        Measure("union |A ∪ B|, min", row["min_union"], r and r.min_union),
        Measure("union |A ∪ B|, max", row["max_union"], r and r.max_union),
        Measure("correlation of symmetric difference with intersection",
                row["corr_symmetric_difference_intersection"], r and r.corr_symmetric_difference_intersection,
                "float", decimals=5),
    ]
    blocks.append(comparison(measures))
    if not row["n_pairs"]:
        return blocks + [Para("No pairs: the pair figure is left out.")]
    try:
        path = timings.timed(f"{corpus}: pairs.png", figures.figure_pairs, con, corpus, folder)
    except SemspaceError as exc:
        return blocks + [Para(f"Pair figure left out: {exc}")]
    blocks.append(Image(path, f"{corpus}: symmetric difference against intersection",
                        f"{note.FIGURES['pairs']} of the note: symmetric difference (the distance) against "
                        f"intersection over all {row['n_pairs']:,} pairs of {corpus}, counted per integer cell "
                        "(log colour scale), with both marginal distributions."))
    return blocks


def mds_section(con: duckdb.DuckDBPyConnection, corpus: str, reported: note.NoteCorpus | None,
                folder: Path, image_id: int, timings: Timings) -> list[Block]:
    blocks: list[Block] = [Heading(3, "Classical MDS: the spectrum and the map")]
    how = f"run `python -m analysis mds --corpus {corpus}`"
    if not _table_exists(con, "main", "mds_spectrum"):
        return blocks + [Para(f"No MDS tables in this warehouse: {how}, then rebuild the report.")]
    spectrum = _one(con, "select * from mds_spectrum where corpus = ?", [corpus])
    if spectrum is None:
        return blocks + [Para(f"No MDS of {corpus} in this warehouse: {how}, then rebuild the report.")]
    r = reported
    shares = [(int(k.rsplit("_", 1)[1]), v) for k, v in spectrum.items() if k.startswith("axis_share_")]
    shares.sort()
    share = dict(shares)
    landmark = spectrum.get("method") == "landmark"
    n_eigen = spectrum.get("n_eigenvalues") or spectrum["n_points"]
    measures = [
        Measure("images placed", spectrum["n_points"], r and r.mds_n_points),
    ]
    if landmark:
        measures.append(Measure("method", f"landmark MDS ({spectrum.get('n_landmarks'):,} landmarks)", kind="text"))
    measures += [
        Measure("eigenvalues", n_eigen, r and r.mds_n_points),
        Measure("positive eigenvalues (> tolerance)", spectrum["n_positive"], r and r.mds_n_positive),
        Measure("positive + zero eigenvalues (the note's count, see below)",
                spectrum["n_positive"] + spectrum["n_zero"], r and r.mds_n_positive),
        Measure("zero eigenvalues (|λ| ≤ tolerance)", spectrum["n_zero"]),
        Measure("negative eigenvalues (< −tolerance)", spectrum["n_negative"]),
        Measure("tolerance", spectrum["tolerance"], kind="sci"),
        Measure("sum of positive eigenvalues", spectrum["sum_positive"], kind="float", decimals=1),
        Measure("sum of |negative eigenvalues|", spectrum["sum_abs_negative"], kind="float", decimals=1),
        Measure("share of axes 1 + 2 in the positive sum", (share.get(1) or 0) + (share.get(2) or 0),
                r and r.mds_axes_1_2_share, "share", note_decimals=0),  # the note: "6%" / "4%"
    ]
    measures += [Measure(f"share of axis {k}", v, kind="share", decimals=2) for k, v in shares]
    blocks.append(comparison(measures))
    blocks.append(Para(
        "The double-centred matrix B = −½ J D² J always has the constant vector in its null space (J·1 = 0), "
        "so one eigenvalue is exactly zero; floating point puts it a hair above or below 0. This warehouse "
        "counts eigenvalues within the tolerance n·eps·max|λ| as zero; the note, which thresholds at 0, counts "
        "that one among the positive ones: its 1266 for COCO is 1265 positive + the constant vector's zero. "
        "The negative eigenvalues show that |A Δ B| is a metric but not a Euclidean one: no placement of the "
        "images in any number of dimensions keeps all distances."))
    if landmark:
        blocks.append(Para("This corpus was embedded with landmark MDS: the eigenvalues and shares are those "
                           "of the landmarks' classical MDS."))
    try:
        path = timings.timed(f"{corpus}: mds_map.png", figures.figure_mds_map, con, corpus, folder,
                             highlight=image_id)
    except SemspaceError as exc:
        return blocks + [Para(f"Map left out: {exc}")]
    figure_name = f"{r.map_figure} of the note" if r else "The map"
    blocks.append(Image(path, f"{corpus}: MDS map",
                        f"{figure_name}: every image of {corpus} at its first two classical-MDS coordinates "
                        f"(image {image_id} ringed). Axes labelled with their share of the positive eigenvalue sum."))
    return blocks


def neighbours_section(con: duckdb.DuckDBPyConnection, corpus_row: dict[str, Any],
                       reported: note.NoteCorpus | None, image_id: int) -> list[Block]:
    corpus, dataset = corpus_row["corpus"], corpus_row["dataset"]
    listed = reported.neighbours.get(image_id) if reported else None
    title = f"Nearest neighbours of image {image_id}"
    if listed:
        title += f" ({reported.neighbours_table} of the note)"
    blocks: list[Block] = [Heading(3, title)]
    present = con.execute("select count(*) from set_sizes where corpus = ? and image_id = ?",
                          [corpus, image_id]).fetchall()[0][0]
    if not present:
        return blocks + [Para(f"Image {image_id} is not in corpus {corpus}.")]
    ours = _rows(con, "select rank, neighbor_id, symmetric_difference, n_intersection from image_neighbors "
                      "where corpus = ? and image_id = ? order by rank", [corpus, image_id])
    in_note = {n.image_id: (row, n) for row, n in enumerate(listed or ())}
    size = con.execute("select n_tokens from set_sizes where corpus = ? and image_id = ?",
                       [corpus, image_id]).fetchall()[0][0]
    rows: list[dict[str, Any]] = [{"rank": 0, "image": image_id, "distance": 0, "shared": size}]
    rows += [{"rank": o["rank"], "image": o["neighbor_id"], "distance": o["symmetric_difference"],
              "shared": o["n_intersection"]} for o in ours]
    seen = {row["image"] for row in rows}
    missing = [n for n in (listed or ()) if n.image_id not in seen]
    for n in missing:  # the note lists it but it is not in this warehouse's top k: look its distance up
        rows.append({"rank": None, "image": n.image_id, "distance": _distance(con, corpus, image_id, n.image_id),
                     "shared": None})
    ids = [row["image"] for row in rows]
    images = _images(con, dataset, ids)
    captions = _captions(con, dataset, ids)
    table_rows: list[list[Cell]] = []
    agree = 0
    for row in rows:
        info = images.get(row["image"], {})
        coco_id = NONE if info.get("coco_id") is None else str(info["coco_id"])
        note_row, n = in_note.get(row["image"], (None, None))
        if n is not None and info.get("coco_id") is not None and n.coco_id != info.get("coco_id"):
            coco_id += f" (note: {n.coco_id})"
        if n is not None and row["distance"] == n.distance:
            agree += 1
        measure = Measure("", row["distance"], n.distance if n is not None else None)
        url = info.get("url")
        table_rows.append([
            NONE if row["rank"] is None else str(row["rank"]),
            measure.format_ours(), measure.format_note(), measure.format_difference(),
            str(row["image"]), coco_id,  # ids without thousands separators
            NONE if note_row is None else str(note_row),
            _int(row["shared"]) if row["shared"] is not None else NONE,
            Lines(captions.get(row["image"], [])) if captions.get(row["image"]) else NONE,
            Link("image", url) if _is_web_address(url) else (url or NONE),
        ])
    columns = ["rank", "distance: this warehouse", "distance: note", "difference", "image id", "COCO id",
               "note's row", "shared tokens", "captions", "image"]
    blocks.append(Table(columns, table_rows, numeric={0, 1, 2, 3, 4, 5, 6, 7}, css="neighbours"))
    k = len(ours)
    text = (f"This warehouse's {k} nearest images by |A Δ B| (image_neighbors; ties go to the smaller image id), "
            f"the image itself as rank 0. Captions are those of the images in dataset {dataset}.")
    if listed:
        text += (f" The note's {reported.neighbours_table} lists {len(listed)} rows (the image itself first, "
                 f"its row 0); {agree} of them are here at the same distance")
        text += "." if not missing else (f"; {len(missing)} of them are not among this warehouse's top {k} "
                                         "(rank —, distance looked up in image_pairs).")
        text += " Within a tie the note's order is its own."
    else:
        text += " The note lists no neighbours of this image for this corpus."
    blocks.append(Para(text))
    return blocks


def corpus_blocks(con: duckdb.DuckDBPyConnection, corpus_row: dict[str, Any], out_dir: Path, image_id: int,
                  coco_vocabulary: int | None, timings: Timings) -> list[Block]:
    corpus = corpus_row["corpus"]
    reported = note.reported(corpus)
    folder = out_dir / figures.corpus_folder(corpus)
    about = (f"kind {corpus_row.get('kind')}, dataset {corpus_row.get('dataset')}, tokenizer "
             f"{corpus_row.get('tokenizer')}, source {corpus_row.get('source')}")
    if reported:
        about += f". The note reports it as “{reported.label}”."
    else:
        about += ". The note does not report this corpus: its columns show —."
    blocks: list[Block] = [Heading(2, f"Corpus {corpus}", anchor=f"corpus-{_slug(corpus)}"), Para(about)]
    blocks += summary_section(con, corpus, reported, coco_vocabulary)
    blocks += pairs_section(con, corpus, reported, folder, timings)
    blocks += mds_section(con, corpus, reported, folder, image_id, timings)
    blocks += neighbours_section(con, corpus_row, reported, image_id)
    return blocks


def evaluation_section(con: duckdb.DuckDBPyConnection, corpora: Sequence[str], image_id: int) -> list[Block]:
    """Every (corpus, measure) score of `python -m analysis evaluate`, best mAP@R first: one table
    over all images, one per narrower image scope (`--within`); then one image's positives beside
    its neighbours under each measure."""
    blocks: list[Block] = [Heading(2, "Agreement with people: ECCV Caption", anchor="evaluation")]
    if not _table_exists(con, "main", "evaluation_scores"):
        return blocks + [Para("Not computed: run `python -m analysis evaluate` (and `--dense` for the "
                              "sentence-embedding baseline).")]
    columns = {r[0] for r in con.execute("describe main.evaluation_scores").fetchall()}
    scope = "coalesce(image_scope, corpus)" if "image_scope" in columns else "corpus"
    rows = _rows(con, f"""
        select corpus, {scope} as image_scope, measure, max(n_queries) as n_queries,
               max(value) filter (where metric = 'map_at_r') as map_at_r,
               max(value) filter (where metric = 'r_precision') as r_precision,
               max(value) filter (where metric = 'recall_at_1') as recall_at_1,
               max(value) filter (where metric = 'recall_at_5') as recall_at_5,
               max(value) filter (where metric = 'recall_at_10') as recall_at_10
        from main.evaluation_scores
        where benchmark = 'eccv_caption' and list_contains(?, corpus)
        group by all
        order by map_at_r desc nulls last, corpus, measure""", [list(corpora)])
    if not rows:
        return blocks + [Para("No scores for these corpora: run `python -m analysis evaluate --corpus NAME`.")]

    def fmt(value: Any) -> str:
        return "—" if value is None else f"{value:.3f}"

    def table(scoped: list[dict[str, Any]]) -> Table:
        return Table(
            ["corpus", "measure", "queries", "mAP@R", "R-Precision", "R@1", "R@5", "R@10"],
            [[r["corpus"], r["measure"], _int(r["n_queries"]), fmt(r["map_at_r"]), fmt(r["r_precision"]),
              fmt(r["recall_at_1"]), fmt(r["recall_at_5"]), fmt(r["recall_at_10"])] for r in scoped],
            numeric={2, 3, 4, 5, 6, 7})

    blocks.append(Para("Image→image retrieval of the images whose captions people verified as also describing "
                       "the query (ECCV Caption), every other image ranked by the measure (ties by smaller id). "
                       "The note reports no such figure. A `-nostop` corpus is its base corpus without stop "
                       "words; `minilm_l6_cosine` is the dense sentence-embedding baseline."))
    scopes = sorted({r["image_scope"] for r in rows if r["image_scope"] != r["corpus"]})
    own = [r for r in rows if r["image_scope"] == r["corpus"] and r["corpus"] not in scopes]
    if own:
        blocks.append(table(own))
    for name in scopes:
        # every corpus ranked among `name`'s images, `name`'s own scores included
        scoped = [r for r in rows if r["image_scope"] == name]
        size = _one(con, "select count(*) as n from set_sizes where corpus = ?", [name])
        blocks.append(Heading(3, f"Within the images of {name}", anchor=f"evaluation-within-{_slug(name)}"))
        blocks.append(Para(f"The same retrieval among only the {_int(size and size['n'])} images corpus {name} "
                           "covers (`python -m analysis evaluate --within " + name + "`): queries, positives and "
                           "candidates all inside them, so the corpora below are compared on the same images. "
                           "With few queries these scores are coarse."))
        blocks.append(table(scoped))
    blocks += evaluation_example(con, [r for r in own if r["measure"] in ev.MEASURES], image_id)
    return blocks


def evaluation_example(con: duckdb.DuckDBPyConnection, scored: list[dict[str, Any]], image_id: int) -> list[Block]:
    """One image's ECCV positives beside its 10 nearest images under each evaluated (corpus, set
    measure): image ``image_id`` when it is an ECCV Caption query, else the first query after it."""
    if not scored:
        return []
    corpus = scored[0]["corpus"]
    positives = ev.eccv_positives(*ev.load_eccv())
    shown, note_text = image_id, ""
    found = ev.image_positives(con, corpus, image_id, positives)
    if found is None:
        queries = ev.query_images(con, corpus, positives)
        later = [q for q in queries if q > image_id] or queries
        if not later:
            return []
        shown = later[0]
        found = ev.image_positives(con, corpus, shown, positives) or []
        note_text = (f"Image {image_id} is not one of ECCV Caption's query images, so people verified no "
                     f"positives for it; image {shown} is the first query after it. ")
    dataset = _one(con, "select dataset from corpora where corpus = ?", [corpus])
    captions = _captions(con, dataset["dataset"], [shown, *found]) if dataset else {}
    blocks: list[Block] = [
        Heading(3, f"Image {shown}: its positives and its neighbours", anchor="evaluation-example"),
        Para(note_text + f"Image {shown} (“{(captions.get(shown) or [''])[0]}”) has {len(found)} positive(s): "
             + ", ".join(f"{i} (“{(captions.get(i) or [''])[0]}”)" for i in found) + ". Its 10 nearest images "
             "under each measure, positives marked ✓:"),
    ]
    table_rows = []
    for r in scored:
        try:
            near = ev.image_neighbours(con, r["corpus"], r["measure"], shown, k=10)
        except (SemspaceError, duckdb.Error):
            continue
        marked = [f"{i}{' ✓' if i in found else ''}" for i, _ in near]
        table_rows.append([r["corpus"], r["measure"], _int(sum(i in found for i, _ in near)), ", ".join(marked)])
    if table_rows:
        blocks.append(Table(["corpus", "measure", "positives in top 10", "nearest 10 (✓ positive)"], table_rows,
                            numeric={2}))
    return blocks


def document(con: duckdb.DuckDBPyConnection, database: Path, out_dir: Path, corpora: Sequence[str] | None,
             image_id: int, timings: Timings) -> list[Block]:
    rows = _corpora(con, corpora)
    if not rows:
        raise SemspaceError(f"{database}: no corpora in the warehouse; run `python -m ingest` and `dbt build`")
    names = [r["corpus"] for r in rows]
    coco = _one(con, "select n_distinct_tokens from corpus_summary where corpus = 'coco'")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    blocks: list[Block] = [
        Heading(1, "semspace: the note's figures from the warehouse"),
        Para(f"Built from {database} on {stamp}, corpora: {', '.join(names)}. The research note is "
             f"{note.CITATION}. Each table sets the value read from this warehouse beside the note's and their "
             "difference (this warehouse − note); — marks a measure the note does not report. The distance "
             "between two images is |A Δ B|, the number of tokens in exactly one of their token sets."),
        Heading(2, "Tokens per image", anchor="tokens-per-image"),
    ]
    try:
        path = timings.timed("tokens_per_image.png", figures.figure_tokens_per_image, con, names, out_dir)
        blocks.append(Image(path, "tokens per image", f"{note.FIGURES['tokens_per_image']} of the note: the number "
                                                      "of distinct tokens per image, one histogram per corpus."))
    except SemspaceError as exc:
        blocks.append(Para(f"Figure left out: {exc}"))
    for row in rows:
        blocks += corpus_blocks(con, row, out_dir, image_id, coco and coco["n_distinct_tokens"], timings)
    blocks += evaluation_section(con, names, image_id)
    return blocks


# ---------------------------------------------------------------------------------------- rendering

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       max-width: 1180px; margin: 2rem auto; padding: 0 1.2rem; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.4rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
h3 { margin-top: 1.6rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #d6d6d6; padding: .25rem .5rem; vertical-align: top; text-align: left; }
th { background: #f2f2f4; }
tr:nth-child(even) td { background: #fafafa; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.neighbours th { white-space: normal; }
table.neighbours td ul { margin: 0; padding-left: 1.1rem; }
table.neighbours td { font-size: .85rem; }
table.neighbours td:nth-child(9) { min-width: 26rem; }
figure { margin: 1rem 0 1.6rem; }
figure img { width: 100%; max-width: 820px; height: auto; border: 1px solid #e2e2e2; }
figcaption { font-size: .88rem; color: #444; margin-top: .3rem; }
code { background: #f2f2f4; padding: 0 .25rem; border-radius: 3px; }
nav ul { padding-left: 1.2rem; } p.footer { color: #666; font-size: .85rem; margin-top: 3rem; }
"""


def _inline_html(text: str) -> str:
    parts = text.split("`")
    return "".join(f"<code>{html.escape(p)}</code>" if i % 2 else html.escape(p) for i, p in enumerate(parts))


def _cell_html(cell: Cell) -> str:
    if isinstance(cell, Link):
        return (f'<a href="{html.escape(cell.url, quote=True)}" rel="noopener noreferrer">'
                f"{html.escape(cell.text)}</a>")
    if isinstance(cell, Lines):
        return "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in cell.lines) + "</ul>"
    return html.escape(cell)


def render_html(blocks: list[Block], title: str, footer: str) -> str:
    toc = [b for b in blocks if isinstance(b, Heading) and b.level == 2 and b.anchor]
    nav = "<nav><ul>" + "".join(f'<li><a href="#{html.escape(h.anchor, quote=True)}">{html.escape(h.text)}</a></li>'
                                for h in toc) + "</ul></nav>"
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{html.escape(title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>"]
    for block in blocks:
        if isinstance(block, Heading):
            if toc and block is toc[0]:
                out.append(nav)  # the contents, after the introduction
            anchor = f' id="{html.escape(block.anchor, quote=True)}"' if block.anchor else ""
            out.append(f"<h{block.level}{anchor}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            out.append(f"<p>{_inline_html(block.text)}</p>")
        elif isinstance(block, Table):
            css = f' class="{block.css}"' if block.css else ""
            num = ' class="num"'
            head = "".join(f"<th{num if i in block.numeric else ''}>{html.escape(c)}</th>"
                           for i, c in enumerate(block.columns))
            body = "".join(
                "<tr>" + "".join(f"<td{num if i in block.numeric else ''}>{_cell_html(c)}</td>"
                                 for i, c in enumerate(row)) + "</tr>" for row in block.rows)
            out.append(f"<table{css}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(block, Image):
            data = base64.b64encode(block.path.read_bytes()).decode("ascii")
            out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block.alt, quote=True)}">'
                       f"<figcaption>{_inline_html(block.caption)}</figcaption></figure>")
    out += [f'<p class="footer">{_inline_html(footer)}</p>', "</body>", "</html>"]
    return "\n".join(out) + "\n"


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def _md_text(text: str) -> str:
    """Plain text for Markdown: HTML escaped (so no tag survives), Markdown's own marks backslashed."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(re.sub(r"\s+", " ", text), quote=False))


def _inline_md(text: str) -> str:
    parts = text.split("`")
    return "".join(f"`{p}`" if i % 2 else _md_text(p) for i, p in enumerate(parts))


def _cell_md(cell: Cell) -> str:
    if isinstance(cell, Link):
        return f"[{_md_text(cell.text)}](<{cell.url.replace('>', '%3E').replace(' ', '%20')}>)"
    if isinstance(cell, Lines):
        return "<br>".join(_md_text(line) for line in cell.lines)
    return _md_text(cell)


def render_markdown(blocks: list[Block], md_dir: Path, footer: str) -> str:
    out: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {_md_text(block.text)}")
        elif isinstance(block, Para):
            out.append(_inline_md(block.text))
        elif isinstance(block, Table):
            out.append("| " + " | ".join(_md_text(c) for c in block.columns) + " |")
            out.append("|" + "|".join("---:" if i in block.numeric else "---" for i in range(len(block.columns))) + "|")
            out += ["| " + " | ".join(_cell_md(c) for c in row) + " |" for row in block.rows]
        elif isinstance(block, Image):
            rel = os.path.relpath(block.path, md_dir).replace(os.sep, "/")
            out.append(f"![{_md_text(block.alt)}]({rel})")
            out.append("")
            out.append(f"*{_inline_md(block.caption)}*")
        out.append("")
    out.append(_inline_md(footer))
    return "\n".join(out) + "\n"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -------------------------------------------------------------------------------------------- build


def build(database: str | os.PathLike[str] | None = None, out_dir: str | os.PathLike[str] = "reports",
          corpora: Sequence[str] | None = None, image_id: int = DEFAULT_IMAGE) -> Path:
    """Write ``out_dir/index.html`` (self-contained), ``out_dir/report.md`` and the figures for
    ``corpora`` (default: every corpus of the warehouse), with the neighbour tables of ``image_id``.

    ``database``: the warehouse file (default ``$SEMSPACE_DB`` or ``data/semspace.duckdb``), opened
    read-only. Returns the path of index.html."""
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    database_path = db.db_path(database)
    timings = Timings()
    with db.connect(database_path, read_only=True) as con:
        blocks = document(con, database_path, out, list(corpora) if corpora is not None else None,
                          image_id, timings)
    took = time.perf_counter() - started
    footer = (f"Generated by `python -m analysis report` in {took:.1f} s "
              f"({', '.join(f'{k} {v:.2f} s' for k, v in timings.figures.items())}).")
    index = out / "index.html"
    _write(index, render_html(blocks, "semspace report", footer))
    _write(out / "report.md", render_markdown(blocks, out, footer))
    log.info("report: %s and %s in %.2f s", index, out / "report.md", time.perf_counter() - started)
    return index
