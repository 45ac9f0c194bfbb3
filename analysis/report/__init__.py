"""The report: the note's tables and figures rebuilt from the warehouse, each number beside the note's.

``build(database)`` writes, under ``out_dir`` (default ``reports``):

- ``index.html``: one self-contained page (inline CSS, the figures as base64 data URIs, nothing
  fetched from anywhere; the only external addresses are the links to the images themselves);
- ``report.md``: the same content in Markdown, the figures linked by relative path;
- the figures: ``tokens_per_image.png`` (all corpora) and ``<corpus>/mds_map.png`` and
  ``<corpus>/pairs.png`` (see :mod:`analysis.figures`).

Each corpus whose interactive map (``analysis.map``) lies at ``out_dir/<corpus>/map.html``, or is
about to be written there (``maps``), gets a relative link to it.

Three parts: :mod:`~analysis.report.queries` reads the marts (through :mod:`semspace.warehouse`,
opened read-only) into plain data, one function per section; :mod:`analysis.figures` draws from
the same marts; :mod:`~analysis.report.render` puts the data through the Jinja2 templates of
``analysis/report/templates`` (``body.j2`` holds the document once, ``html.j2`` / ``md.j2`` its two
formats). Every value in a "this warehouse" column is read at build time; the note's values come
from :mod:`analysis.note`. A warehouse lacking a mart the report reads is one
:class:`~semspace.errors.SemspaceError`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from analysis import figures, note
from analysis.report import queries
from analysis.report.queries import MARTS, Corpus, Evaluation, Figure
from analysis.report.render import render_html, render_markdown
from semspace import db, paths, warehouse
from semspace.errors import SemspaceError

__all__ = ["DEFAULT_IMAGE", "MARTS", "Document", "build", "document", "render_html", "render_markdown"]

log = logging.getLogger(__name__)

DEFAULT_IMAGE = 100


@dataclass
class Document:
    """Everything the templates show (``body.j2``'s ``doc``)."""

    database: str
    built_at: str
    image_id: int
    corpora: list[Corpus]
    evaluation: Evaluation
    tokens_figure: Figure
    timings: list[tuple[str, float]] = field(default_factory=list)  # each figure's drawing, seconds
    maps: dict[str, str] = field(default_factory=dict)  # corpus -> relative URL of its interactive map
    took: float = 0.0  # seconds from the start of build() to the rendering
    citation: str = note.CITATION
    note_figures: dict[str, str] = field(default_factory=lambda: dict(note.FIGURES))

    @property
    def corpus_names(self) -> list[str]:
        return [c.name for c in self.corpora]


class _Timer:
    def __init__(self) -> None:
        self.timings: list[tuple[str, float]] = []

    def figure(self, label: str, draw: Callable[..., Path], *args: Any, **kwargs: Any) -> Figure:
        """``draw(*args, **kwargs)`` timed; a SemspaceError (nothing to draw) leaves the figure out."""
        started = time.perf_counter()
        try:
            return Figure(path=draw(*args, **kwargs))
        except SemspaceError as exc:
            return Figure(error=str(exc))
        finally:
            self.timings.append((label, time.perf_counter() - started))
            log.info("report: %s in %.2f s", label, self.timings[-1][1])


def document(
    con: duckdb.DuckDBPyConnection,
    database: str | os.PathLike[str],
    out_dir: Path,
    corpora: Sequence[str] | None = None,
    image_id: int = DEFAULT_IMAGE,
    maps: Sequence[str] = (),
) -> Document:
    """The report's data for ``corpora`` (default all) read from the marts, its figures drawn into
    ``out_dir``; ``maps``: the corpora whose map.html is being written beside it (linked even if
    the file is not there yet)."""
    warehouse.require_marts(con, *MARTS)
    rows = warehouse.corpora(con, corpora)
    if not rows:
        raise SemspaceError(f"{database}: no corpora in the warehouse; run `python -m ingest` and `dbt build`")
    names = [r["corpus"] for r in rows]
    vocabulary = queries.coco_vocabulary(con)
    timer = _Timer()
    tokens = timer.figure("tokens_per_image.png", figures.figure_tokens_per_image, con, names, out_dir)
    sections = []
    for row in rows:
        section = queries.corpus_sections(con, row, image_id, vocabulary)
        folder = out_dir / figures.corpus_folder(section.name)
        if section.pairs is not None and section.pairs.n_pairs and section.pairs.has_rows:
            section.pairs.figure = timer.figure(
                f"{section.name}: pairs.png", figures.figure_pairs, con, section.name, folder
            )
        if section.spectrum is not None:
            section.spectrum.figure = timer.figure(
                f"{section.name}: mds_map.png", figures.figure_mds_map, con, section.name, folder, highlight=image_id
            )
        sections.append(section)
    return Document(
        str(database),
        dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        image_id,
        sections,
        queries.evaluation(con, names, image_id),
        tokens,
        timer.timings,
        map_links(out_dir, names, maps),
    )


def map_links(out_dir: Path, corpora: Sequence[str], pending: Sequence[str] = ()) -> dict[str, str]:
    """corpus -> the URL, relative to ``out_dir``, of its interactive map ``out_dir/<corpus>/map.html``
    (where ``python -m analysis map --out out_dir`` writes it), for the corpora whose map is there or
    in ``pending``."""
    links = {}
    for corpus in corpora:
        try:
            path = paths.inside(out_dir, corpus, "map.html")
        except SemspaceError:  # a name that cannot be a folder: no map of it under out_dir
            continue
        if corpus in pending or path.is_file():
            links[corpus] = f"{urllib.parse.quote(corpus)}/map.html"
    return links


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build(
    database: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] = "reports",
    corpora: Sequence[str] | None = None,
    image_id: int = DEFAULT_IMAGE,
    maps: Sequence[str] = (),
) -> Path:
    """Write ``out_dir/index.html`` (self-contained), ``out_dir/report.md`` and the figures for
    ``corpora`` (default: every corpus of the warehouse), with the neighbour tables of ``image_id``.

    ``database``: the warehouse file (default ``$SEMSPACE_DB`` or ``data/semspace.duckdb``), opened
    read-only. ``maps``: corpora whose ``out_dir/<corpus>/map.html`` is written next (linked even
    before it exists; a map already there is linked anyway). Returns the path of index.html."""
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    database_path = db.db_path(database)
    with db.connect(database_path, read_only=True) as con:
        doc = document(con, database_path, out, list(corpora) if corpora is not None else None, image_id, maps)
    doc.took = time.perf_counter() - started
    index = out / "index.html"
    _write(index, render_html(doc))
    _write(out / "report.md", render_markdown(doc, out))
    log.info("report: %s and %s in %.2f s", index, out / "report.md", time.perf_counter() - started)
    return index
