"""The interactive map of a corpus's space: one self-contained HTML file (``python -m analysis map``).

Every image is a point at its first two MDS coordinates (``mds_coordinates.x1``, ``x2``: classical
MDS, or landmark MDS for a corpus too large for all pairs); the axes carry their share of the
positive eigenvalue sum. Hover shows an image's id, COCO id and captions; a click lists its top-k
neighbours from ``image_neighbors`` in a side panel and highlights them; the search box finds an
image id, a COCO id or the images whose captions contain a word.

The file needs no server, no network and no library: the app (``map.js``) draws the points itself,
with WebGL (one draw call for all points) or, without WebGL, a 2D canvas that rasterises them
straight into pixels above 10,000 points; hover and click find the nearest point through a uniform
grid over the data, so the page stays fluid at 100,000+ points. The data (JSON in a
``<script type="application/json">``, every ``<``, ``>`` and ``&`` escaped) is inlined, and a
Content-Security-Policy forbids every fetch. What is read, from the marts only (semspace.warehouse):
``corpora``, the coordinates and spectrum of the MDS, one row per image of ``images``/``set_sizes``,
the captions (``image_captions``) and ``image_neighbors`` (k rows per image), never the pairs. The
page holds about 1 kB per image (captions and the neighbour lists of every measure): ~90 MB at
100,000 images.

The page itself lives in package data beside this module (:data:`ASSETS`, shipped in the wheel):
``map.html`` is a :class:`string.Template` of the page's skeleton and Content-Security-Policy with
the placeholders ``$title`` (HTML-escaped here), ``$style`` (``map.css``), ``$data``
(:func:`script_json`) and ``$app_js`` (``map.js``, the app). This module reads the data, fills the
template and writes the file.

The page exposes ``window.semspaceMap`` for tests: ``pointPixel(id)`` (viewport pixel of a point,
what ``page.mouse.click`` expects), ``select(id)``, ``neighbours()`` (the panel's rows),
``search(text)``, ``highlighted()`` (the ids the last frame drawn highlights), ``setMeasure(m)``,
the view (``view()``, ``setView(v)``, ``zoom(factor, x, y)``, ``pan(dx, dy)``, ``reset()``; each
returns a promise of the next frame), ``stats()`` (frames drawn, the last frame's milliseconds) and
``renderer`` ("webgl", or "canvas" without WebGL or with ``?renderer=canvas`` in the URL).
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import string
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

from semspace import db, measures, warehouse
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

DEFAULT_OUT_DIR = Path("reports")

# The package data of the page, in analysis/map_assets/ (pyproject.toml: tool.setuptools.package-data).
ASSETS = "map_assets"
TEMPLATE, STYLE, APP_JS = "map.html", "map.css", "map.js"
# What each asset must not contain to be inlined as is: an early end of its element, or (scripts)
# "<!--", which puts the HTML parser in its "script data escaped" state.
_FORBIDDEN = {TEMPLATE: (), STYLE: ("</style",), APP_JS: ("</script", "<!--")}

MARTS = ("corpora", "images", "image_captions", "set_sizes", "image_neighbors", "mds_spectrum", "mds_coordinates")


def default_path(corpus: str) -> Path:
    """reports/<corpus>/map.html, relative to the working directory (the repository root)."""
    return DEFAULT_OUT_DIR / corpus / "map.html"


def build(
    database: str | os.PathLike[str] | None = None,
    corpus: str = "coco",
    out_path: str | os.PathLike[str] | None = None,
    measures: Sequence[str] | None = None,
) -> Path:
    """Write the map of ``corpus`` from the warehouse ``database`` (default: $SEMSPACE_DB or
    data/semspace.duckdb) to ``out_path`` (default reports/<corpus>/map.html); returns the path.
    ``measures``: the neighbour lists kept (default: every measure image_neighbors ranks by); each
    measure costs ~0.5 kB per image (k = 10), so fewer keep a 100,000-image page smaller."""
    start = time.perf_counter()
    with db.connect(database, read_only=True) as con:
        data = load(con, corpus, measures)
    page = render(data)
    path = Path(out_path) if out_path is not None else default_path(corpus)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)  # a reader never sees half a file
    except OSError as exc:
        raise SemspaceError(f"{path}: cannot write the map: {exc.strerror or exc}") from exc
    log.info(
        "map %s: %d images in %.1f s -> %s (%.1f MB)",
        corpus,
        len(data["ids"]),
        time.perf_counter() - start,
        path,
        path.stat().st_size / 1e6,
    )
    return path


def _columns(cursor: duckdb.DuckDBPyConnection) -> dict[str, list[Any]]:
    """A result as {column: list of values} (one row per image at most: no big results here)."""
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    return {name: [row[c] for row in rows] for c, name in enumerate(names)}


def _shown(value: float | None) -> float | int | None:
    """A measure's value as the page shows it: a whole number (a distance) as an int, a similarity
    to 4 decimals (the panel shows 3; the page stays small), a missing one as None."""
    if value is None or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() else round(value, 4)


def load(con: duckdb.DuckDBPyConnection, corpus: str, only: Sequence[str] | None = None) -> dict[str, Any]:
    """Everything the page shows, column-wise: one entry per image, ordered by image id.
    ``only``: the measures whose neighbour lists are kept (default all of image_neighbors')."""
    warehouse.require_marts(con, *MARTS)
    if only is not None:
        only = list(dict.fromkeys(only))
        for m in only:
            measures.get(m)  # an unknown measure: one clear error
    dataset = warehouse.corpus(con, corpus)["dataset"]
    how_to_mds = f"run `python -m analysis mds --corpus {corpus}` first"
    found = warehouse.rows(con, "select * from mds_spectrum where corpus = ?", [corpus])
    if not found:
        raise SemspaceError(f"no mds_spectrum row for corpus {corpus!r}; {how_to_mds}")
    spectrum = found[0]

    columns = _columns(
        con.execute(
            """
        select c.image_id, c.x1, c.x2, i.coco_id, i.url, s.n_tokens
        from main.mds_coordinates c
        left join main.images i on i.dataset = $dataset and i.image_id = c.image_id
        left join main.set_sizes s on s.corpus = $corpus and s.image_id = c.image_id
        where c.corpus = $corpus
        order by c.image_id
        """,
            {"dataset": dataset, "corpus": corpus},
        )
    )
    if not columns["image_id"]:
        raise SemspaceError(f"no mds_coordinates rows for corpus {corpus!r}; {how_to_mds}")
    if not all(v is not None and math.isfinite(v) for v in columns["x1"] + columns["x2"]):
        raise SemspaceError(f"mds_coordinates of corpus {corpus!r} has missing or non-finite x1/x2; {how_to_mds}")
    # every measure image_neighbors ranks by: per image its neighbours and their values, in map order
    position = {image: p for p, image in enumerate(columns["image_id"])}
    by_measure: dict[str, tuple[list[list[int]], list[list[float | None]]]] = {}
    for measure, image, neighbours, values in con.execute(
        "select measure, image_id, list(neighbor_id order by rank), list(value order by rank) "
        "from main.image_neighbors where corpus = ? and (? or list_contains(?, measure)) group by measure, image_id",
        [corpus, only is None, only or []],
    ).fetchall():
        lists = by_measure.setdefault(measure, ([[] for _ in position], [[] for _ in position]))
        if image in position:
            lists[0][position[image]] = list(neighbours)
            lists[1][position[image]] = [_shown(v) for v in values]
    order = [m for m in measures.MEASURES if m in by_measure] + sorted(set(by_measure) - set(measures.MEASURES))
    k = max((len(n) for lists in by_measure.values() for n in lists[0]), default=0)
    if k == 0 and only:
        raise SemspaceError(
            f"image_neighbors has no rows for corpus {corpus!r} under {', '.join(only)}; "
            "its measures are those of the dbt var neighbor_measures"
        )
    if k == 0:
        raise SemspaceError(f"image_neighbors has no rows for corpus {corpus!r}; {warehouse.BUILD_HINT}")
    default = measures.DEFAULT if measures.DEFAULT in by_measure else order[0]
    captions = warehouse.captions(con, dataset, columns["image_id"])
    return {
        "corpus": corpus,
        "dataset": dataset,
        "k": k,
        "method": spectrum.get("method") or "full",
        "n_points": spectrum["n_points"],
        "n_positive": spectrum["n_positive"],
        "n_negative": spectrum["n_negative"],
        "axis_share": [spectrum["axis_share_1"], spectrum.get("axis_share_2") or 0.0],
        "ids": columns["image_id"],
        "x": columns["x1"],
        "y": columns["x2"],
        "coco_ids": columns["coco_id"],
        "urls": columns["url"],
        "n_tokens": columns["n_tokens"],
        "captions": [captions.get(image, []) for image in columns["image_id"]],
        "measures": order,
        "measure": default,
        "larger_is_closer": {m: measures.MEASURES[m].larger_is_closer for m in order if m in measures.MEASURES},
        "neighbours_by": {m: by_measure[m][0] for m in order},
        "values_by": {m: by_measure[m][1] for m in order},
    }


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no ``<``, ``>`` or ``&`` (so no ``</script>`` and no
    ``<!--``), and no U+2028/U+2029; JSON.parse reads the escapes back."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


def asset(name: str) -> str:
    """The text of the page's asset ``name`` (package data in analysis/map_assets/), checked to be
    safe to inline."""
    try:
        text = (resources.files("analysis") / ASSETS / name).read_text(encoding="utf-8")
    except OSError as exc:
        raise SemspaceError(
            f"analysis/{ASSETS}/{name} is missing from the installed package ({exc}); reinstall semspace"
        ) from exc
    for bad in _FORBIDDEN.get(name, ()):
        if bad in text.lower():
            raise SemspaceError(f"analysis/{ASSETS}/{name} contains {bad!r} and cannot be inlined safely")
    return text


def render(data: dict[str, Any]) -> str:
    """The whole page: the template of analysis/map_assets/ with the styles, the data and the app,
    all inline."""
    return string.Template(asset(TEMPLATE)).substitute(
        title=html.escape(f"semspace map: {data['corpus']}"),
        style=asset(STYLE),
        data=script_json(data),
        app_js=asset(APP_JS),
    )
