"""The interactive map of a corpus's space: one self-contained HTML file (``python -m analysis map``).

Every image is a point at its first two MDS coordinates (``mds_coordinates.x1``, ``x2``: classical
MDS, or landmark MDS for a corpus too large for all pairs); the axes carry their share of the
positive eigenvalue sum. Hover shows an image's id, COCO id, captions and (where there is one) its
thumbnail; a click selects the point under the cursor and lists its top-k neighbours from
``image_neighbors`` in the panel, with their thumbnails, and highlights them; the search box finds an
image id, a COCO id or the images whose captions contain a word; a lasso or a box (the drag tool, or
alt-drag) lists the images inside it. The points are coloured by set size |A|, by the chosen
measure's value to the selected image (its top-k neighbours; every other image "beyond top-k"), or
by cluster: k-means (k = ``clusters``, default 8) of the 2-D MDS coordinates, computed here with
numpy (:func:`kmeans`), clusters numbered by size. The panel sits beside the plot, below it on a
narrow window.

Clicks and hover pick the point nearest the cursor in whole screen pixels (the pixel the pointer is
in against the pixel each point's centre falls in), among those within the hit radius; of points
equally near, the one drawn last (on top: the selected image, then its neighbours, then the
search or lasso matches, then the others in data order, later ones over earlier ones). Both
renderers draw from the same transform, so the same point is picked in each.

The file needs no server, no network and no library: the app (``map.js``) draws the points itself,
with WebGL (one draw call for all points) or, without WebGL, a 2D canvas that rasterises them
straight into pixels above 10,000 points; hover and click find the nearest point through a uniform
grid over the data, so the page stays fluid at 100,000+ points. The data (JSON in a
``<script type="application/json">``, every ``<``, ``>`` and ``&`` escaped) is inlined, and a
Content-Security-Policy (:func:`csp`) forbids every fetch: images may come only from ``data:``
URLs by default; with ``images`` (``--images DIR``) also from files (the page links each
thumbnail by its path relative to the page, so page and folder move together); with
``image_urls="coco"`` (``--image-urls coco``) also from images.cocodataset.org, the host the
``images`` mart's COCO URLs name. Nothing is fetched at build time: the folder is listed, no
image read. What is read, from the marts only (semspace.warehouse): ``corpora``, the coordinates
and spectrum of the MDS, one row per image of ``images``/``set_sizes``, the captions
(``image_captions``) and ``image_neighbors`` (k rows per image), never the pairs. The page holds
about 1 kB per image (captions and the neighbour lists of every measure): ~90 MB at 100,000 images.

The page itself lives in package data beside this module (:data:`ASSETS`, shipped in the wheel):
``map.html`` is a :class:`string.Template` of the page's skeleton with the placeholders ``$csp``
(:func:`csp`), ``$title`` (HTML-escaped here), ``$style`` (``map.css``), ``$data``
(:func:`script_json`) and ``$app_js`` (``map.js``, the app). This module reads the data, fills the
template and writes the file.

The page exposes ``window.semspaceMap`` for tests: ``pointPixel(id)`` (viewport pixel of a point,
what ``page.mouse.click`` expects), ``pick(x, y)`` (the image id a click at that viewport pixel
selects, or null), ``select(id)``, ``neighbours()`` (the panel's rows), ``search(text)``,
``highlighted()`` (the ids the last frame drawn highlights), ``setMeasure(m)``, ``setColour(mode)``
("size", "distance", "cluster"), ``colourOf(id)`` (a point's RGBA as drawn), ``lasso(points)`` /
``box(x0, y0, x1, y1)`` (plot pixels; the ids inside, listed as the panel lists them),
``marked()`` (the ids the panel's list shows), the view (``view()``, ``setView(v)``,
``zoom(factor, x, y)``, ``pan(dx, dy)``, ``reset()``; each returns a promise of the next frame),
``stats()`` (frames drawn, the last frame's milliseconds) and ``renderer`` ("webgl", or "canvas"
without WebGL or with ``?renderer=canvas`` in the URL).
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import string
import time
import urllib.parse
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

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

DEFAULT_CLUSTERS = 8  # k of the k-means of the 2-D MDS coordinates (the "cluster" colouring)
# The remote image sources a page may show thumbnails from, each only when asked for (--image-urls):
# name -> (the origins its Content-Security-Policy then allows, the images.url prefixes it shows).
IMAGE_URL_SOURCES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "coco": (
        ("http://images.cocodataset.org", "https://images.cocodataset.org"),
        ("http://images.cocodataset.org/", "https://images.cocodataset.org/"),
    ),
}
# what a local image file of an image may be called besides its file_name: <image id> + one of these
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif")


def default_path(corpus: str) -> Path:
    """reports/<corpus>/map.html, relative to the working directory (the repository root)."""
    return DEFAULT_OUT_DIR / corpus / "map.html"


def build(
    database: str | os.PathLike[str] | None = None,
    corpus: str = "coco",
    out_path: str | os.PathLike[str] | None = None,
    measures: Sequence[str] | None = None,
    images: str | os.PathLike[str] | None = None,
    image_urls: str | None = None,
    clusters: int = DEFAULT_CLUSTERS,
) -> Path:
    """Write the map of ``corpus`` from the warehouse ``database`` (default: $SEMSPACE_DB or
    data/semspace.duckdb) to ``out_path`` (default reports/<corpus>/map.html); returns the path.
    ``measures``: the neighbour lists kept (default: every measure image_neighbors ranks by); each
    measure costs ~0.5 kB per image (k = 10), so fewer keep a 100,000-image page smaller.
    ``images``: a folder of image files shown as thumbnails (the names :func:`local_thumbnails`
    looks for), linked by their path relative to the page; ``image_urls``: ``"coco"`` lets the page
    load the COCO images' URLs from images.cocodataset.org where no local file is found (the page
    then reaches the network; by default it never does). ``clusters``: k of the k-means colouring
    (0: no cluster colouring)."""
    start = time.perf_counter()
    if clusters < 0:
        raise SemspaceError(f"clusters must be 0 (none) or more, not {clusters}")
    if image_urls is not None and image_urls not in IMAGE_URL_SOURCES:
        raise SemspaceError(f"unknown image URL source {image_urls!r}; known: {', '.join(IMAGE_URL_SOURCES)}")
    path = Path(out_path) if out_path is not None else default_path(corpus)
    with db.connect(database, read_only=True) as con:
        data = load(con, corpus, measures)
    add_thumbnails(data, path.parent, images, image_urls)
    add_clusters(data, clusters)
    page = render(data)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)  # a reader never sees half a file
    except OSError as exc:
        raise SemspaceError(f"{path}: cannot write the map: {exc.strerror or exc}") from exc
    log.info(
        "map %s: %d images (%d thumbnails) in %.1f s -> %s (%.1f MB)",
        corpus,
        len(data["ids"]),
        sum(t is not None for t in data["thumbs"] or []),
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
        select c.image_id, c.x1, c.x2, i.coco_id, i.url, s.n_tokens, i.file_name
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
        if measure not in by_measure:  # (not setdefault: its default would be built for every row)
            by_measure[measure] = ([[] for _ in position], [[] for _ in position])
        lists = by_measure[measure]
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
        "file_names": columns["file_name"],  # add_thumbnails takes it out: the page does not show it
        "n_tokens": columns["n_tokens"],
        "captions": [captions.get(image, []) for image in columns["image_id"]],
        "measures": order,
        "measure": default,
        "larger_is_closer": {m: measures.MEASURES[m].larger_is_closer for m in order if m in measures.MEASURES},
        "neighbours_by": {m: by_measure[m][0] for m in order},
        "values_by": {m: by_measure[m][1] for m in order},
    }


def local_thumbnails(
    data: dict[str, Any], folder: str | os.PathLike[str], page_dir: str | os.PathLike[str]
) -> list[str | None]:
    """Per image, the URL (relative to ``page_dir``, the page's folder) of its file in ``folder``,
    or None: the first that is there of its ``file_name`` (COCO: COCO_val2014_000000391895.jpg),
    ``<COCO id>.jpg`` in 12 digits (COCO 2017's name of the same image), and ``<image id>`` with
    each suffix of :data:`IMAGE_SUFFIXES`. The folder is listed once, not its subfolders; no file
    is read."""
    root = Path(folder)
    try:
        names = {entry.name for entry in os.scandir(root) if entry.is_file()}
    except OSError as exc:
        raise SemspaceError(f"{root}: cannot list the image folder: {exc.strerror or exc}") from exc
    try:
        relative = os.path.relpath(root.resolve(), Path(page_dir).resolve()).replace(os.sep, "/")
        prefix = "" if relative == "." else urllib.parse.quote(relative) + "/"
    except ValueError:  # on another drive (Windows): an absolute file: URL
        prefix = root.resolve().as_uri() + "/"
    file_names = data.get("file_names") or [None] * len(data["ids"])
    found: list[str | None] = []
    for image, coco, file_name in zip(data["ids"], data["coco_ids"], file_names):
        candidates = [os.path.basename(file_name)] if file_name else []
        if coco is not None:
            candidates.append(f"{int(coco):012d}.jpg")
        candidates += [f"{image}{suffix}" for suffix in IMAGE_SUFFIXES]
        hit = next((c for c in candidates if c in names), None)
        found.append(None if hit is None else prefix + urllib.parse.quote(hit))
    return found


def add_thumbnails(
    data: dict[str, Any],
    page_dir: str | os.PathLike[str],
    images: str | os.PathLike[str] | None = None,
    image_urls: str | None = None,
) -> None:
    """Set ``data["thumbs"]`` (per image its thumbnail's URL or None; None for all when neither
    source is given) and ``data["image_sources"]`` (what the page's Content-Security-Policy allows
    images from: "local", the name of an :data:`IMAGE_URL_SOURCES` entry) from the folder
    ``images`` and the remote source ``image_urls``, the local file first. Takes
    ``data["file_names"]`` out."""
    thumbs: list[str | None] = [None] * len(data["ids"])
    sources: list[str] = []
    if images is not None:
        thumbs = local_thumbnails(data, images, page_dir)
        sources.append("local")
        found = sum(t is not None for t in thumbs)
        if not found:
            log.warning("map %s: no image file of its images in %s", data["corpus"], images)
    if image_urls is not None:
        _, prefixes = IMAGE_URL_SOURCES[image_urls]
        thumbs = [
            t if t is not None or not (isinstance(u, str) and u.startswith(prefixes)) else u
            for t, u in zip(thumbs, data["urls"])
        ]
        sources.append(image_urls)
    data.pop("file_names", None)
    data["thumbs"] = thumbs if sources else None
    data["image_sources"] = sources


def _nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    squared = (points**2).sum(axis=1)[:, None] - 2 * points @ centres.T + (centres**2).sum(axis=1)[None, :]
    return np.asarray(squared.argmin(axis=1))


def kmeans(points: np.ndarray, k: int, seed: int = 0, iterations: int = 50, sample: int = 20_000) -> np.ndarray:
    """Lloyd's k-means of ``points`` (n × 2) from a k-means++ start, seeded: one label per point,
    0 the largest cluster, 1 the next, … (ties by the smaller centre x); at most n clusters. Above
    ``sample`` points the centres are fitted on that many drawn at random (seeded) and every point
    gets its nearest centre (1-2 s at 100,000 points on two busy cores)."""
    n = len(points)
    k = min(k, n)
    if k <= 1:
        return np.zeros(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    fit = points[rng.choice(n, sample, replace=False)] if n > sample else points
    m = len(fit)
    centres = np.empty((k, 2))
    centres[0] = fit[rng.integers(m)]
    nearest = ((fit - centres[0]) ** 2).sum(axis=1)
    for c in range(1, k):
        total = nearest.sum()
        centres[c] = fit[rng.choice(m, p=nearest / total) if total > 0 else rng.integers(m)]
        nearest = np.minimum(nearest, ((fit - centres[c]) ** 2).sum(axis=1))
    labels = np.full(m, -1)
    for _ in range(iterations):
        new = _nearest_centre(fit, centres)
        if np.array_equal(new, labels):
            break
        labels = new
        counts = np.bincount(labels, minlength=k)
        for axis in (0, 1):
            sums = np.bincount(labels, weights=fit[:, axis], minlength=k)
            centres[:, axis] = np.where(counts > 0, sums / np.maximum(counts, 1), centres[:, axis])
    labels = _nearest_centre(points, centres) if n > sample else labels
    sizes = np.bincount(labels, minlength=k)
    order = sorted(range(k), key=lambda c: (-sizes[c], centres[c][0]))
    rename = np.empty(k, dtype=np.int64)
    rename[order] = np.arange(k)
    return np.asarray(rename[labels])


def add_clusters(data: dict[str, Any], k: int = DEFAULT_CLUSTERS) -> None:
    """Set ``data["clusters"]`` (per image its cluster, 0 the largest) from the k-means of the 2-D
    MDS coordinates the page shows, and ``data["n_clusters"]``; None and 0 when ``k`` is 0."""
    if k <= 0 or not data["ids"]:
        data["clusters"], data["n_clusters"] = None, 0
        return
    points = np.column_stack([np.asarray(data["x"], dtype=float), np.asarray(data["y"], dtype=float)])
    labels = kmeans(points, k)
    data["clusters"] = labels.tolist()
    data["n_clusters"] = int(labels.max()) + 1


def csp(sources: Sequence[str] = ()) -> str:
    """The page's Content-Security-Policy: no fetch, no connection, no frame, no form; scripts and
    styles only inline; images from ``data:``/``blob:`` URLs, and from files (``'self'`` and
    ``file:``, "local" in ``sources``) or the origins of an :data:`IMAGE_URL_SOURCES` entry named
    in ``sources``, only then."""
    img = ["data:", "blob:"]
    for source in sources:
        if source == "local":
            img += ["'self'", "file:"]
        else:
            img += list(IMAGE_URL_SOURCES[source][0])
    return (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        f"img-src {' '.join(dict.fromkeys(img))}; font-src data:; connect-src 'none'; form-action 'none'; "
        "base-uri 'none'"
    )


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
        csp=html.escape(csp(data.get("image_sources") or ()), quote=False).replace('"', "&quot;"),
        title=html.escape(f"semspace map: {data['corpus']}"),
        style=asset(STYLE),
        data=script_json(data),
        app_js=asset(APP_JS),
    )
