"""analysis.map on a hand-made warehouse of 20 images: the inlined data equals the marts, hostile
captions stay text, and the page works offline in headless Chromium (tests/browser.py); the page
is the package data's template filled in; and the map of a warehouse that ingest, `dbt build` and
analysis.mds made equals that warehouse's marts."""

from __future__ import annotations

import fnmatch
import html
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import pytest

from analysis import map as semantic_map
from semspace.errors import SemspaceError
from tests.browser import offline_page, wait_until
from tests.dbt_helpers import REPO, dbt

N = 20
K = 3
EVIL_ID = 7
EVIL = "a cat </script><b>bold</b> & \"quoted\" 'single' <!-- x --> on a mat \u2028"
WORDS = ["cat", "dog", "bird", "horse", "pizza", "train", "boat", "kite"]


def captions_of(i: int) -> list[str]:
    first = f"a {WORDS[i % len(WORDS)]} next to a {WORDS[(i * 3 + 1) % len(WORDS)]}"
    second = EVIL if i == EVIL_ID else f"picture number {i} with a {WORDS[(i + 2) % len(WORDS)]}"
    return [first, second]


def tokens(text: str) -> set[str]:
    return set(re.findall(r"[^\W_]+", text.lower()))


def set_cosine(a: set[str], b: set[str]) -> float:
    """|A ∩ B| / √(|A| |B|), larger is closer: the hand-made warehouse's stand-in for the cosine, of
    the images' first captions (so that it ranks otherwise than the symmetric difference)."""
    return len(a & b) / math.sqrt(len(a) * len(b))


MEASURES = ("symmetric_difference", "cosine")  # the measures the hand-made image_neighbors ranks by


def ranked(image: int, sets: dict[int, set[str]], firsts: dict[int, set[str]], measure: str) -> list[tuple[float, int]]:
    """(value, neighbour) of the K nearest images under ``measure``, ties by the smaller id: the
    symmetric difference of the word sets, or the set cosine of the first captions' words."""
    if measure == "symmetric_difference":
        distances: list[tuple[float, int]] = [(len(sets[image] ^ sets[o]), o) for o in sets if o != image]
        return sorted(distances)[:K]
    scored = [(set_cosine(firsts[image], firsts[o]), o) for o in sets if o != image]
    return sorted(scored, key=lambda vo: (-vo[0], vo[1]))[:K]


AXES = 10  # the marts' mds_axes: axis_share_1 … axis_share_10, x1 … x10


def make_warehouse(path: Path, with_mds: bool = True, crowded: int = 0) -> Path:
    """The marts analysis.map reads, filled by hand (no raw schema: the map reads marts only), with
    the columns dbt gives them: corpus `tiny` of dataset `tinyset`; image ids 10, 13, 16, … (not
    positions), points on a spiral, neighbours from the captions' word sets under two measures
    (symmetric difference, and a set cosine of the first captions). Without MDS the MDS marts are
    there but empty, as dbt's views over an empty computed schema are.

    ``crowded``: instead, that many images with ids 0, 1, 2, …, COCO's file names and URLs, and
    points (:func:`crowded_points`) that overlap on the screen around image 100."""
    n = crowded or N
    ids = list(range(n)) if crowded else [10 + 3 * i for i in range(N)]
    sets = {ids[i]: tokens(" ".join(captions_of(i))) for i in range(n)}
    firsts = {ids[i]: tokens(captions_of(i)[0]) for i in range(n)}
    con = duckdb.connect(str(path))
    con.execute("create table corpora (corpus varchar, corpus_id integer, kind varchar, dataset varchar)")
    con.execute("insert into corpora values ('tiny', 1, 'captions', 'tinyset'), ('other', 2, 'captions', 'o')")
    con.execute(
        "create table images (dataset varchar, image_id integer, coco_id bigint, image_key varchar, "
        "file_name varchar, url varchar, n_captions integer)"
    )
    con.execute("create table set_sizes (corpus varchar, image_id integer, n_tokens integer, n_occurrences integer)")
    con.execute(
        "create table image_captions (dataset varchar, image_id integer, caption_index integer, caption varchar)"
    )
    con.execute(
        "create table image_neighbors (corpus varchar, measure varchar, image_id integer, rank integer, "
        "neighbor_id integer, value double, symmetric_difference integer, n_intersection integer, jaccard double)"
    )
    images, sizes, captions, neighbours = [], [], [], []
    for i, image in enumerate(ids):
        if crowded:
            file_name = coco_file_name(image)
            url = f"http://images.cocodataset.org/val2014/{file_name}"
        else:
            file_name = f"{image}.jpg"
            url = "javascript:alert(1)" if i == 3 else f"http://images.example/{image}.jpg?a=1&b=<2>"
        images.append(("tinyset", image, 900000 + i, f"k{image}", file_name, url, 2))
        images.append(("o", image, 1, "x", "x", "x", 1))  # another dataset
        occurrences = sum(len(tokens(c)) for c in captions_of(i))
        sizes.append((image, len(sets[image]), occurrences))
        for c, caption in reversed(list(enumerate(captions_of(i)))):  # stored out of order: the index counts
            captions.append(("tinyset", image, c, caption))
        captions.append(("o", image, 0, "caption of another dataset"))
        for measure in MEASURES:
            for rank, (value, other) in enumerate(ranked(image, sets, firsts, measure), start=1):
                inter = len(sets[image] & sets[other])
                union = len(sets[image] | sets[other])
                neighbours.append(
                    (
                        "tiny",
                        measure,
                        image,
                        rank,
                        other,
                        float(value),
                        len(sets[image] ^ sets[other]),
                        inter,
                        inter / union,
                    )
                )
            neighbours.append(("other", measure, image, 1, 0, 99.0, 99, 0, 0.0))
    insert_rows(con, "images", images)
    insert_rows(con, "set_sizes", [("tiny", *row) for row in sizes])
    insert_rows(con, "image_captions", captions)
    insert_rows(con, "image_neighbors", neighbours)
    shares = ", ".join(f"axis_share_{a} double" for a in range(1, AXES + 1))
    con.execute(
        "create table mds_spectrum (corpus varchar, n_points integer, method varchar, n_landmarks integer, "
        "n_eigenvalues integer, n_positive integer, n_negative integer, n_zero integer, "
        f"n_nonnegative integer, tolerance double, sum_positive double, sum_abs_negative double, {shares}, "
        "computed_at timestamp)"
    )
    axes = ", ".join(f"x{a} double" for a in range(1, AXES + 1))
    con.execute(f"create table mds_coordinates (corpus varchar, image_id integer, {axes})")
    if with_mds:
        con.execute(
            "insert into mds_spectrum values ('tiny', ?, 'full', null, 20, 12, 7, 1, 13, 1e-9, 8.0, 2.0, "
            "0.25, 0.125, 0.1, null, null, null, null, null, null, null, now())",
            [n],
        )
        xy = (
            crowded_points(n)
            if crowded
            else [((1 + i / 4) * math.cos(i), (1 + i / 4) * math.sin(i) / 3) for i in range(n)]
        )
        nulls = [None] * (AXES - 4)
        insert_rows(con, "mds_coordinates", [("tiny", image, x, y, 0.0, 0.0, *nulls) for image, (x, y) in zip(ids, xy)])
        insert_rows(con, "mds_coordinates", [("other", image, 0.0, 0.0, *nulls, None, None) for image in ids])
    con.close()
    return path


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """``rows`` into ``table`` in one statement (executemany runs one statement per row)."""
    if rows:
        columns = [list(column) for column in zip(*rows)]
        con.execute(f"insert into {table} select {', '.join(['unnest(?)'] * len(columns))}", columns)


def coco_file_name(image: int) -> str:
    """The crowded warehouse's file_name of an image, as COCO's val2014 names its files."""
    return f"COCO_val2014_{900000 + image:012d}.jpg"


CLICKED = 100  # the image the crowded map's click tests aim at


def crowded_points(n: int) -> list[tuple[float, float]]:
    """Points of a crowded map (seeded): two thirds spread over [-10, 10]², a third (ids n/4 … , image
    CLICKED among them) in a blob of standard deviation 0.12 around (1, 1), a few pixels on the
    screen, so that many points lie within the click radius of image CLICKED; none nearer to it than
    0.08 (so that it is alone in its screen pixel in every window size the tests use)."""
    import numpy as np

    rng = np.random.default_rng(3)
    xy = rng.uniform(-10, 10, size=(n, 2))
    blob = range(n // 4, n // 4 + n // 3)
    assert CLICKED in blob
    xy[list(blob)] = rng.normal(1.0, 0.12, size=(len(blob), 2))
    xy[CLICKED] = (1.0, 1.0)
    for j in blob:
        gap = xy[j] - xy[CLICKED]
        if j != CLICKED and np.hypot(*gap) < 0.08:
            xy[j] = (
                xy[CLICKED] + (gap if np.hypot(*gap) > 0 else np.array([1.0, 0.0])) / max(np.hypot(*gap), 1e-9) * 0.08
            )
    return [(float(x), float(y)) for x, y in xy]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_warehouse(tmp_path_factory.mktemp("tiny_map") / "tiny.duckdb")


@pytest.fixture(scope="module")
def tiny_map(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return semantic_map.build(tiny, corpus="tiny", out_path=tmp_path_factory.mktemp("map_out") / "map.html")


def inlined_data(page: str) -> dict:
    blocks = re.findall(r'<script id="semspace-data" type="application/json">(.*?)</script>', page, re.S)
    assert len(blocks) == 1
    assert "<" not in blocks[0] and ">" not in blocks[0] and "&" not in blocks[0]
    return json.loads(blocks[0])


def test_inlined_data_matches_the_tables(tiny: Path, tiny_map: Path) -> None:
    page = tiny_map.read_text(encoding="utf-8")
    data = inlined_data(page)
    con = duckdb.connect(str(tiny), read_only=True)
    try:
        points = con.execute("""
            select c.image_id, c.x1, c.x2, i.coco_id, i.url, s.n_tokens
            from mds_coordinates c join images i on i.dataset = 'tinyset' and i.image_id = c.image_id
            join set_sizes s on s.corpus = 'tiny' and s.image_id = c.image_id
            where c.corpus = 'tiny' order by c.image_id""").fetchall()
        captions = con.execute(
            "select image_id, caption from image_captions where dataset = 'tinyset' order by image_id, caption_index"
        ).fetchall()
        neighbours = con.execute(
            "select measure, image_id, neighbor_id, value from image_neighbors "
            "where corpus = 'tiny' order by measure, image_id, rank"
        ).fetchall()
    finally:
        con.close()
    assert (data["corpus"], data["dataset"], data["k"], data["method"]) == ("tiny", "tinyset", K, "full")
    assert (data["n_points"], data["n_positive"], data["n_negative"]) == (20, 12, 7)
    assert data["axis_share"] == [0.25, 0.125]
    assert list(zip(data["ids"], data["x"], data["y"], data["coco_ids"], data["urls"], data["n_tokens"])) == points
    by_image: dict[int, list[str]] = {}
    for image, caption in captions:
        by_image.setdefault(image, []).append(caption)
    assert data["captions"] == [by_image[image] for image in data["ids"]]
    assert EVIL in data["captions"][data["ids"].index(10 + 3 * EVIL_ID)]
    # every measure of image_neighbors, in semspace.measures' order, the note's first and shown first
    assert data["measures"] == list(MEASURES) and data["measure"] == "symmetric_difference"
    assert data["larger_is_closer"] == {"symmetric_difference": False, "cosine": True}
    assert set(data["neighbours_by"]) == set(data["values_by"]) == set(MEASURES)
    expected_nb: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for measure, image, other, value in neighbours:
        expected_nb.setdefault((measure, image), []).append((other, value))
    for measure in MEASURES:
        want = [expected_nb[(measure, image)] for image in data["ids"]]
        assert data["neighbours_by"][measure] == [[o for o, _ in w] for w in want], measure
        for values, w in zip(data["values_by"][measure], want):
            assert values == pytest.approx([v for _, v in w], abs=5e-5), measure  # the page keeps 4 decimals
    assert data["neighbours_by"]["cosine"] != data["neighbours_by"]["symmetric_difference"]  # the switch shows
    # one data block and the app (no library): two scripts, each closed once; nothing else leaks out
    assert page.count("</script>") == 2
    assert "</script><b>" not in page and "<!-- x -->" not in page
    # nothing loaded from elsewhere: no script src, no stylesheet link, only the data: icon
    assert not re.search(r"<script[^>]*\ssrc\s*=", page)
    assert re.findall(r"<link[^>]*>", page) == ['<link rel="icon" href="data:,">']


def test_default_path_and_errors(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = semantic_map.build(tiny, corpus="tiny")
    assert path == Path("reports/tiny/map.html") and path.is_file()
    with pytest.raises(SemspaceError, match="no corpus 'nope'.*corpora: other, tiny"):
        semantic_map.build(tiny, corpus="nope")
    bare = make_warehouse(tmp_path / "bare.duckdb", with_mds=False)
    with pytest.raises(SemspaceError, match=r"no mds_spectrum row for corpus 'tiny'.*analysis mds --corpus tiny"):
        semantic_map.build(bare, corpus="tiny")
    con = duckdb.connect(str(bare))
    con.execute("drop table image_captions")  # a warehouse built before the mart existed
    con.close()
    with pytest.raises(SemspaceError, match=r"no mart 'image_captions': run `semspace build`"):
        semantic_map.build(bare, corpus="tiny")
    with pytest.raises(SemspaceError, match="no warehouse here"):
        semantic_map.build(tmp_path / "missing.duckdb", corpus="tiny")
    assert not list(tmp_path.glob("**/*.tmp"))


CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'"
)


def test_page_is_the_package_data_filled_in(tiny_map: Path) -> None:
    """The page's template, styles and app are package data of `analysis` (importlib.resources),
    inlined verbatim; every placeholder is filled; the CSP forbids every fetch."""
    folder = resources.files("analysis") / semantic_map.ASSETS
    texts = {
        name: (folder / name).read_text(encoding="utf-8")
        for name in (semantic_map.TEMPLATE, semantic_map.STYLE, semantic_map.APP_JS)
    }
    page = tiny_map.read_text(encoding="utf-8")
    assert f"<style>\n{texts[semantic_map.STYLE]}</style>" in page
    assert page.endswith(f"<script>\n{texts[semantic_map.APP_JS]}</script>\n</body>\n</html>\n")
    assert "window.semspaceMap = {" in texts[semantic_map.APP_JS]
    assert set(re.findall(r"\$\{?(\w+)", texts[semantic_map.TEMPLATE])) == {
        "csp",
        "title",
        "style",
        "data",
        "app_js",
    }
    # the template's own text, placeholders aside, is the page's skeleton in order
    skeleton = re.split(r"\$\w+", texts[semantic_map.TEMPLATE])
    at = 0
    for part in skeleton:
        at = page.index(part, at) + len(part)
    assert page.startswith(skeleton[0]) and page.endswith(skeleton[-1])
    assert f"<title>{html.escape('semspace map: tiny')}</title>" in page
    assert re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page) == [CSP]
    assert page.count("<script>") == 1 and page.count("<style>") == 1


def test_assets_are_shipped_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file of analysis/map_assets/ is declared package data (so it is in the wheel), and an
    asset that would end its element early is refused, not inlined."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: pip's copy of tomli, the same parser
        from pip._vendor import tomli as tomllib

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    declared = pyproject["tool"]["setuptools"]["package-data"]
    assets = sorted(
        p.relative_to(REPO / "analysis").as_posix()
        for p in (REPO / "analysis" / semantic_map.ASSETS).iterdir()
        if p.is_file()
    )
    assert {semantic_map.TEMPLATE, semantic_map.STYLE, semantic_map.APP_JS} <= {a.split("/")[-1] for a in assets}
    for name in assets:
        assert any(fnmatch.fnmatch(name, glob) for glob in declared["analysis"]), f"{name} is not package data"

    fake = tmp_path / "analysis"
    (fake / semantic_map.ASSETS).mkdir(parents=True)
    monkeypatch.setattr(semantic_map.resources, "files", lambda package: fake)
    with pytest.raises(SemspaceError, match=r"map_assets/map.js is missing from the installed package"):
        semantic_map.asset(semantic_map.APP_JS)
    (fake / semantic_map.ASSETS / semantic_map.APP_JS).write_text("var s = '</SCRIPT>';", encoding="utf-8")
    with pytest.raises(SemspaceError, match=r"map.js contains '</script'"):
        semantic_map.asset(semantic_map.APP_JS)
    (fake / semantic_map.ASSETS / semantic_map.STYLE).write_text("a { } </style><b>", encoding="utf-8")
    with pytest.raises(SemspaceError, match=r"map.css contains '</style'"):
        semantic_map.asset(semantic_map.STYLE)


def test_page_in_chromium(tiny_map: Path) -> None:
    data = inlined_data(tiny_map.read_text(encoding="utf-8"))
    evil_image = 10 + 3 * EVIL_ID
    with offline_page() as browser:
        page = browser.page
        page.goto(tiny_map.resolve().as_uri())
        wait_until(page, "() => window.semspaceMap && window.semspaceMap.ready", timeout=30_000)
        assert page.evaluate("semspaceMap.n") == N
        assert "25.0 %" in page.evaluate("document.querySelector('.xtitle').textContent")
        assert "12.5 %" in page.evaluate("document.querySelector('.ytitle').textContent")

        # hover: the hostile caption is shown as text, not markup
        point = page.evaluate(f"semspaceMap.pointPixel({evil_image})")
        page.mouse.move(point["x"], point["y"])
        page.wait_for_selector(".hoverlayer .hovertext", timeout=10_000)
        hover = page.evaluate("document.querySelector('.hoverlayer .hovertext').textContent")
        assert f"image {evil_image}" in hover and "</script><b>bold</b> & \"quoted\" 'single'" in hover

        # click → panel with the neighbours, highlighted on the map
        page.mouse.click(point["x"], point["y"])
        wait_until(page, f"() => document.body.dataset.selected === '{evil_image}'", timeout=10_000)
        i = data["ids"].index(evil_image)
        expected = panel_rows(data, "symmetric_difference", i)
        rows = page.eval_on_selector_all(
            "#neighbours tbody tr",
            "rows => rows.map(r => ({image_id: Number(r.querySelector('.nb-id').textContent), "
            "distance: Number(r.querySelector('.nb-dist').textContent)}))",
        )
        assert rows == expected
        assert [
            {k: r[k] for k in ("image_id", "distance")} for r in page.evaluate("semspaceMap.neighbours()")
        ] == expected
        # the map's highlight follows the panel (restyled after the next paint)
        wait_until(page, f"() => semspaceMap.highlighted().selected[0] === {evil_image}", timeout=10_000)
        lit = page.evaluate("semspaceMap.highlighted()")
        assert lit["selected"] == [evil_image] and lit["neighbours"] == [r["image_id"] for r in expected]
        panel_captions = page.eval_on_selector_all("#sel-captions li", "els => els.map(e => e.textContent)")
        assert panel_captions == captions_of(EVIL_ID)
        assert page.evaluate("document.querySelectorAll('#app b, #app script, #app img').length") == 0

        # another measure: the same image's neighbours under it, as image_neighbors ranks them
        assert page.eval_on_selector_all("#measure option", "els => els.map(e => e.value)") == list(MEASURES)
        assert page.input_value("#measure") == "symmetric_difference"
        assert page.inner_text("#nb-value") == "symmetric_difference"
        cosine = panel_rows(data, "cosine", i)
        assert [r["image_id"] for r in cosine] != [r["image_id"] for r in expected]  # the switch shows
        assert page.evaluate("semspaceMap.setMeasure('cosine').then(() => true)") is True
        assert_panel(page, cosine, "cosine", evil_image)
        assert page.evaluate("semspaceMap.setMeasure('no_such_measure')") is False  # nothing changes
        assert_panel(page, cosine, "cosine", evil_image)
        page.select_option("#measure", "symmetric_difference")  # the page's own control
        assert_panel(page, expected, "symmetric_difference", evil_image)
        # links: the url as an attribute (escaped by the DOM), javascript: urls not linked
        hrefs = page.eval_on_selector_all("#neighbours a", "els => els.map(e => e.getAttribute('href'))")
        assert all(h.startswith("http://images.example/") and h.endswith("?a=1&b=<2>") for h in hrefs)
        assert page.evaluate("semspaceMap.select(11)") is False  # 11 is no image id here
        page.evaluate(f"semspaceMap.select({10 + 3 * 3})")
        assert page.evaluate("document.querySelectorAll('#sel-meta a').length") == 0  # javascript: url

        # a neighbour row selects that neighbour
        first = expected[0]["image_id"]
        page.evaluate(f"semspaceMap.select({evil_image})")
        page.click("#neighbours tbody tr:first-child td.nb-caption")
        wait_until(page, f"() => document.body.dataset.selected === '{first}'", timeout=10_000)

        # search: a COCO id, an image id, a word, a hostile string
        page.fill("#search", str(900000 + EVIL_ID))
        page.press("#search", "Enter")
        wait_until(page, f"() => document.body.dataset.selected === '{evil_image}'", timeout=10_000)
        assert f"COCO id {900000 + EVIL_ID}" in page.inner_text("#search-result")
        page.fill("#search", "pizza")
        page.press("#search", "Enter")
        wait_until(page, "() => document.querySelector('#search-result').textContent.includes('pizza')")
        want = sorted(data["ids"][j] for j in range(N) if "pizza" in tokens(" ".join(captions_of(j))))
        assert page.inner_text("#search-result").startswith(f"{len(want)} images")
        wait_until(page, f"() => semspaceMap.highlighted().matches.length === {len(want)}", timeout=10_000)
        assert sorted(page.evaluate("semspaceMap.highlighted()")["matches"]) == want
        listed = page.eval_on_selector_all("#search-matches li", "els => els.map(e => Number(e.dataset.imageId))")
        assert sorted(listed) == want
        page.fill("#search", "</script><b>")
        page.press("#search", "Enter")
        wait_until(page, "() => document.querySelector('#search-result').textContent.includes('script')")
        wait_until(page, f"() => semspaceMap.highlighted().matches[0] === {evil_image}", timeout=10_000)
        assert page.evaluate("semspaceMap.highlighted()")["matches"] == [evil_image]
        page.screenshot(path=str(tiny_map.with_name("tiny.png")))
    browser.assert_clean()


def panel_rows(data: dict, measure: str, i: int) -> list[dict]:
    """The neighbour rows the panel should list for the image at position ``i`` under ``measure``."""
    return [
        {"image_id": n, "distance": v} for n, v in zip(data["neighbours_by"][measure][i], data["values_by"][measure][i])
    ]


def assert_panel(page: Any, rows: list[dict], measure: str, image: int) -> None:
    """The panel lists ``rows`` (ids, and values as shown and as stored) ranked by ``measure``, and
    the map highlights those neighbours."""
    ids = [r["image_id"] for r in rows]
    wait_until(
        page,
        f"() => JSON.stringify(semspaceMap.highlighted().neighbours) === '{json.dumps(ids, separators=(',', ':'))}'",
        timeout=10_000,
    )
    assert [{k: r[k] for k in ("image_id", "distance")} for r in page.evaluate("semspaceMap.neighbours()")] == rows
    shown = page.eval_on_selector_all(
        "#neighbours tbody tr",
        "rows => rows.map(r => [Number(r.querySelector('.nb-id').textContent), "
        "Number(r.querySelector('.nb-dist').textContent)])",
    )
    assert [i for i, _ in shown] == ids
    assert [v for _, v in shown] == [pytest.approx(r["distance"], abs=5e-4) for r in rows]  # 3 decimals
    assert page.inner_text("#nb-value") == measure and page.input_value("#measure") == measure
    assert page.inner_text("#nb-title").endswith(f"of image {image} by {measure}")
    assert page.evaluate("semspaceMap.highlighted()")["selected"] == [image]


def test_map_of_a_built_warehouse(tmp_path: Path) -> None:
    """ingest, `dbt build` and analysis.mds as `make run` does them, then the map: its data is what
    the marts (never raw.*) hold, captions in source order, hostile ones included."""
    import analysis
    import ingest

    coco = [
        (391895, ["A man rides a bike.", "A person on a bicycle </script><b>."]),
        (522418, ["A woman cuts a cake.", "Cake & candles."]),
        (184613, ["A boy holds an umbrella.", "Cows in a field.", "Rain."]),
        (318219, ["A cat on a mat.", "The cat sleeps <!-- on -->."]),
        (554625, ["A dog on a mat.", "A dog and a cat."]),
        (397133, ["Pizza on a table.", "A slice of pizza."]),
    ]
    source = tmp_path / "tiny.json"
    source.write_text(
        json.dumps([{"image": f"val2014/COCO_val2014_{c:012d}.jpg", "caption": caps} for c, caps in coco]),
        encoding="utf-8",
    )
    db = tmp_path / "built.duckdb"
    ingest.load(source, db, name="tiny")
    # the models only (their dbt tests run elsewhere): the marts the map reads
    dbt(
        ["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"],
        db,
        tmp_path,
        vars={"neighbors_k": 3},
    )
    analysis.mds("tiny", db, k=3)
    page = semantic_map.build(db, corpus="tiny", out_path=tmp_path / "map.html").read_text(encoding="utf-8")
    data = inlined_data(page)
    con = duckdb.connect(str(db), read_only=True)
    try:
        points = con.execute("""
            select c.image_id, c.x1, c.x2, i.coco_id, i.url, s.n_tokens
            from mds_coordinates c join images i on i.dataset = 'tiny' and i.image_id = c.image_id
            join set_sizes s on s.corpus = 'tiny' and s.image_id = c.image_id
            where c.corpus = 'tiny' order by c.image_id""").fetchall()
        spectrum = con.execute(
            "select n_points, n_positive, n_negative, axis_share_1, axis_share_2 "
            "from mds_spectrum where corpus = 'tiny'"
        ).fetchone()
        neighbours = con.execute(
            "select measure, image_id, list(neighbor_id order by rank), list(value order by rank) "
            "from image_neighbors where corpus = 'tiny' group by all order by all"
        ).fetchall()
        measures_built = [m for (m,) in con.execute("select distinct measure from image_neighbors").fetchall()]
        cosine = con.execute(
            "select neighbor_id, value from image_neighbors "
            "where corpus = 'tiny' and measure = 'cosine' and image_id = 4 order by rank"
        ).fetchall()
        pairs = con.execute(
            "select image_j, cosine from image_pairs where corpus = 'tiny' and image_i = 4 "
            "union all select image_i, cosine from image_pairs where corpus = 'tiny' and image_j = 4"
        ).fetchall()
    finally:
        con.close()
    assert len(points) == len(coco) and data["k"] == 3 and data["dataset"] == "tiny"
    assert list(zip(data["ids"], data["x"], data["y"], data["coco_ids"], data["urls"], data["n_tokens"])) == points
    assert sorted(data["coco_ids"]) == sorted(c for c, _ in coco)
    assert all(u.startswith("http://images.cocodataset.org/") for u in data["urls"])
    assert (data["n_points"], data["n_positive"], data["n_negative"], *data["axis_share"]) == spectrum
    by_coco = dict(coco)
    assert data["captions"] == [by_coco[c] for c in data["coco_ids"]]
    # the var neighbor_measures' default, in semspace.measures' order; the note's measure shown first
    assert data["measures"] == [
        "symmetric_difference",
        "multiset_symmetric_difference",
        "jaccard",
        "weighted_jaccard",
        "cosine",
    ]
    assert sorted(measures_built) == sorted(data["measures"]) and data["measure"] == "symmetric_difference"
    stored = {(m, i): (n, v) for m, i, n, v in neighbours}
    assert sorted(stored) == sorted((m, i) for m in data["measures"] for i in data["ids"])
    for m in data["measures"]:
        for i, n, v in zip(data["ids"], data["neighbours_by"][m], data["values_by"][m]):
            assert n == stored[m, i][0], (m, i)
            assert v == pytest.approx(stored[m, i][1], abs=5e-5), (m, i)  # the page keeps 4 decimals
    # the cosine lists are the pairs' cosines ranked (largest first, ties by smaller id)
    assert cosine == sorted(pairs, key=lambda p: (-p[1], p[0]))[:3]
    assert page.count("</script>") == 2 and "</script><b>" not in page and "<!-- on -->" not in page

    # in the page: switching to cosine lists image 4's cosine neighbours of image_neighbors
    with offline_page() as browser:
        browser.page.goto((tmp_path / "map.html").resolve().as_uri())
        wait_until(browser.page, "() => window.semspaceMap && window.semspaceMap.ready", timeout=30_000)
        browser.page.evaluate("semspaceMap.select(4)")
        assert_panel(
            browser.page, panel_rows(data, "symmetric_difference", data["ids"].index(4)), "symmetric_difference", 4
        )
        browser.page.evaluate("semspaceMap.setMeasure('cosine')")
        rows = panel_rows(data, "cosine", data["ids"].index(4))
        assert [r["image_id"] for r in rows] == [n for n, _ in cosine]
        assert [r["distance"] for r in rows] == pytest.approx([v for _, v in cosine], abs=5e-5)
        assert_panel(browser.page, rows, "cosine", 4)
    browser.assert_clean()


# ------------------------------------------------------------------------------ the crowded map

CROWDED = 240  # images of the crowded warehouse: ids 0 … 239
WITH_FILES = set(range(0, CROWDED, 3)) | {CLICKED}  # the images the local folder has a file of


def write_images(folder: Path) -> dict[int, str]:
    """A folder of small generated images for the crowded warehouse: COCO's file name (a JPEG) for
    the ids of WITH_FILES below 120, ``<image id>.png`` for those from 120 on (the map's fallback),
    and a file of no image; returns image id -> file name."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for image in sorted(WITH_FILES):
        colour = ((image * 37) % 256, (image * 91) % 256, (image * 53) % 256)
        name = coco_file_name(image) if image < 120 else f"{image}.png"
        Image.new("RGB", (24 + image % 9, 18), colour).save(folder / name)
        names[image] = name
    (folder / "notes.txt").write_text("not an image", encoding="utf-8")
    return names


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_warehouse(tmp_path_factory.mktemp("crowded") / "crowded.duckdb", crowded=CROWDED)


@pytest.fixture(scope="module")
def crowded_map(crowded: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, str]]:
    """The crowded map with thumbnails from a folder of images beside the map's folder (site/images
    and site/map/map.html), and the files written."""
    site = tmp_path_factory.mktemp("site")
    names = write_images(site / "image files")
    path = semantic_map.build(crowded, corpus="tiny", out_path=site / "map" / "map.html", images=site / "image files")
    return path, names


def open_map(browser: Any, path: Path, query: str = "") -> Any:
    page = browser.page
    page.goto(path.resolve().as_uri() + query)
    wait_until(page, "() => window.semspaceMap && window.semspaceMap.ready", timeout=30_000)
    return page


def screen_points(page: Any, ids: list[int]) -> dict[int, dict]:
    return page.evaluate("ids => Object.fromEntries(ids.map(id => [id, semspaceMap.pointPixel(id)]))", ids)


def expected_pick(pixels: dict[int, dict], at: dict, radius: float) -> int | None:
    """The rule the page's click follows, from the points' screen pixels: the nearest in whole pixels
    within ``radius``, the later id (drawn on top: nothing is selected or marked) on ties."""
    qx, qy = math.floor(at["x"]), math.floor(at["y"])
    best: tuple[int, int] | None = None
    for image, p in pixels.items():
        d = (math.floor(p["exact"]["x"]) - qx) ** 2 + (math.floor(p["exact"]["y"]) - qy) ** 2
        if p["inside"] and d <= radius * radius and (best is None or (d, -image) < (best[0], -best[1])):
            best = (d, image)
    return None if best is None else best[1]


@pytest.mark.parametrize("renderer", ["canvas", "webgl"])
def test_a_click_selects_the_point_under_the_cursor(crowded_map: tuple[Path, dict[int, str]], renderer: str) -> None:
    """Many points overlap around image 100: a click at its screen position selects image 100 in
    both renderers, the hover names it, and every point's pick follows the rule (nearest in whole
    screen pixels within the radius, the topmost on ties); after a selection the selected image and
    its neighbours, drawn on top, win ties."""
    path, _ = crowded_map
    data = inlined_data(path.read_text(encoding="utf-8"))
    with offline_page() as browser:
        page = open_map(browser, path, f"?renderer={renderer}")
        assert page.evaluate("semspaceMap.renderer") == renderer
        radius = page.evaluate("semspaceMap.hitRadius()")
        pixels = {int(k): v for k, v in screen_points(page, data["ids"]).items()}
        target = pixels[CLICKED]
        cell = (math.floor(target["x"]), math.floor(target["y"]))
        crowd = [
            i
            for i, p in pixels.items()
            if i != CLICKED
            and math.hypot(p["exact"]["x"] - target["exact"]["x"], p["exact"]["y"] - target["exact"]["y"]) <= radius
        ]
        assert len(crowd) >= 10, f"the points around image {CLICKED} should overlap: {len(crowd)} within {radius} px"
        assert all((math.floor(p["x"]), math.floor(p["y"])) != cell for i, p in pixels.items() if i != CLICKED)

        # every point: the page's pick at its pixel is the rule's
        picks = page.evaluate(
            "ids => ids.map(id => { const p = semspaceMap.pointPixel(id); return semspaceMap.pick(p.x, p.y); })",
            data["ids"],
        )
        for image, got in zip(data["ids"], picks):
            assert got == expected_pick(pixels, pixels[image], radius), image

        page.mouse.move(target["x"], target["y"])
        wait_until(
            page,
            f"() => (document.querySelector('.hoverlayer .hovertext:not([hidden])') || {{}}).textContent?.startsWith('image {CLICKED} ')",
            timeout=10_000,
        )
        page.mouse.click(target["x"], target["y"])
        wait_until(page, f"() => document.body.dataset.selected === '{CLICKED}'", timeout=10_000)
        wait_until(page, f"() => semspaceMap.highlighted().selected[0] === {CLICKED}", timeout=10_000)
        # a click at the point's exact centre (not the middle of its pixel) hits it too
        other = max(crowd)
        page.mouse.click(pixels[other]["exact"]["x"], pixels[other]["exact"]["y"])
        picked = page.evaluate("document.body.dataset.selected")
        assert int(picked) == expected_pick(pixels, pixels[other]["exact"], radius)
        # with image 100 selected again, it wins every tie at its pixel, and its neighbours theirs
        page.evaluate(f"semspaceMap.select({CLICKED})")
        nbrs = page.evaluate("semspaceMap.highlighted().neighbours")
        assert page.evaluate(f"semspaceMap.pick({target['x']}, {target['y']})") == CLICKED
        for nb in nbrs:
            at = pixels[nb]
            got = page.evaluate(f"semspaceMap.pick({at['x']}, {at['y']})")
            assert got == nb, (nb, got)  # a neighbour, drawn on top, wins its pixel
    browser.assert_clean()


LOADED = "els => els.map(e => ({id: Number(e.dataset.imageId), ok: e.complete && e.naturalWidth > 0, src: e.getAttribute('src')}))"


def test_thumbnails_from_a_local_folder(crowded_map: tuple[Path, dict[int, str]]) -> None:
    """Built with --images, the page links each image's file by its path from the page (COCO's file
    name first, then <image id>.png), its CSP allows files and no host; in Chromium the thumbnails
    show on hover, for the selected image and in the neighbour panel, all loaded from the folder;
    nothing is fetched from the network, no console error."""
    path, names = crowded_map
    page_text = path.read_text(encoding="utf-8")
    data = inlined_data(page_text)
    assert "file_names" not in data and data["image_sources"] == ["local"]
    expected = {i: f"../image%20files/{names[i]}" for i in WITH_FILES}
    assert {i: t for i, t in zip(data["ids"], data["thumbs"]) if t is not None} == expected
    policy = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page_text)
    assert policy == [CSP.replace("img-src data: blob:", "img-src data: blob: 'self' file:")]

    with offline_page() as browser:
        page = open_map(browser, path)
        target = page.evaluate(f"semspaceMap.pointPixel({CLICKED})")
        page.mouse.move(target["x"], target["y"])
        wait_until(
            page,
            "() => { const i = document.querySelector('.hovertext:not([hidden]) img.thumb');"
            " return i && i.complete && i.naturalWidth > 0; }",
            timeout=10_000,
        )
        hover = page.eval_on_selector_all(".hovertext img.thumb", LOADED)
        assert hover == [{"id": CLICKED, "ok": True, "src": expected[CLICKED]}]
        assert page.evaluate("document.querySelector('.hovertext img.thumb').naturalWidth") == 24 + CLICKED % 9

        page.mouse.click(target["x"], target["y"])
        wait_until(page, f"() => document.body.dataset.selected === '{CLICKED}'", timeout=10_000)
        listed = data["neighbours_by"]["symmetric_difference"][data["ids"].index(CLICKED)]
        with_file = [i for i in listed if i in WITH_FILES]
        assert with_file and len(with_file) < len(listed), "the test wants neighbours with and without a file"
        wait_until(
            page, "() => [...document.querySelectorAll('#selection img.thumb')].every(i => i.complete)", timeout=10_000
        )
        assert page.eval_on_selector_all("#sel-thumb img.thumb", LOADED) == [
            {"id": CLICKED, "ok": True, "src": expected[CLICKED]}
        ]
        shown = page.eval_on_selector_all("#neighbours td.nb-thumb img.thumb", LOADED)
        assert shown == [{"id": i, "ok": True, "src": expected[i]} for i in with_file]
        assert page.evaluate("document.querySelectorAll('#neighbours tbody td.nb-thumb').length") == len(listed)
        assert not page.evaluate("document.querySelector('#neighbours .nb-thumb-head').hidden")
        assert f"Thumbnails of {len(WITH_FILES)} of {CROWDED} images" in page.inner_text("#images-note")
    browser.assert_clean()


def test_thumbnails_from_the_coco_urls_only_when_asked(crowded: Path, tmp_path: Path) -> None:
    """--image-urls coco: images without a local file show the images mart's COCO URL, and only
    then does the CSP allow images.cocodataset.org (the page then asks for it; the test's browser
    refuses the request). Without it the page holds no URL to load and the CSP no host."""
    write_images(tmp_path / "img")
    both = semantic_map.build(crowded, "tiny", tmp_path / "both.html", images=tmp_path / "img", image_urls="coco")
    remote = semantic_map.build(crowded, "tiny", tmp_path / "remote.html", image_urls="coco")
    plain = semantic_map.build(crowded, "tiny", tmp_path / "plain.html", clusters=0)
    data = {p.stem: inlined_data(p.read_text(encoding="utf-8")) for p in (both, remote, plain)}
    url = "http://images.cocodataset.org/val2014/{}".format
    assert data["remote"]["thumbs"] == [url(coco_file_name(i)) for i in data["remote"]["ids"]]
    assert data["both"]["thumbs"] == [
        f"img/{quote(coco_file_name(i) if i < 120 else f'{i}.png')}" if i in WITH_FILES else url(coco_file_name(i))
        for i in data["both"]["ids"]
    ]
    assert data["plain"]["thumbs"] is None and data["plain"]["image_sources"] == []
    assert data["plain"]["clusters"] is None and data["plain"]["n_clusters"] == 0
    policies = {
        p.stem: re.findall(r'content="(default-src[^"]*)"', p.read_text(encoding="utf-8"))[0]
        for p in (both, remote, plain)
    }
    assert policies["plain"] == CSP
    hosts = "http://images.cocodataset.org https://images.cocodataset.org"
    assert policies["remote"] == CSP.replace("img-src data: blob:", f"img-src data: blob: {hosts}")
    assert policies["both"] == CSP.replace("img-src data: blob:", f"img-src data: blob: 'self' file: {hosts}")
    with pytest.raises(SemspaceError, match="unknown image URL source 'flickr'"):
        semantic_map.build(crowded, "tiny", tmp_path / "x.html", image_urls="flickr")
    with pytest.raises(SemspaceError, match="cannot list the image folder"):
        semantic_map.build(crowded, "tiny", tmp_path / "x.html", images=tmp_path / "no such folder")

    with offline_page() as browser:
        page = open_map(browser, remote)
        page.evaluate(f"semspaceMap.select({CLICKED})")
        for _ in range(100):  # the request is refused at once, and the page then takes its thumbnail away
            if url(coco_file_name(CLICKED)) in browser.blocked:
                break
            page.wait_for_timeout(100)
    assert url(coco_file_name(CLICKED)) in browser.blocked  # asked for: the CSP let it through
    assert all(u.startswith("http://images.cocodataset.org/val2014/") for u in browser.blocked)


COLOURS = "ids => ids.map(id => semspaceMap.colourOf(id))"
BEYOND = [208, 208, 208, 140]  # map.js: the colour of images beyond the selected image's top k


def inside_polygon(x: float, y: float, poly: list[tuple[float, float]]) -> bool:
    """The even-odd rule, as map.js's lasso applies it."""
    result = False
    for (xi, yi), (xj, yj) in zip(poly, poly[-1:] + poly[:-1]):
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            result = not result
    return result


def edge_distance(x: float, y: float, poly: list[tuple[float, float]]) -> float:
    """How far (x, y) lies from the nearest edge of ``poly``."""
    best = math.inf
    for (ax, ay), (bx, by) in zip(poly, poly[1:] + poly[:1]):
        dx, dy = bx - ax, by - ay
        t = 0.0 if dx == dy == 0 else max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
        best = min(best, math.hypot(x - ax - t * dx, y - ay - t * dy))
    return best


def test_colour_modes_selection_tools_and_a_narrow_window(crowded_map: tuple[Path, dict[int, str]]) -> None:
    """Colour by set size, cluster (k-means of the shown coordinates) and distance to the selected
    image (its top-k under the chosen measure; the rest grey); an alt-drag lasso and a box (the
    "Drag to" control) list the images inside; on a narrow window the panel goes below the plot,
    which fills the width, and a click still selects the point under the cursor."""
    path, _ = crowded_map
    data = inlined_data(path.read_text(encoding="utf-8"))
    ids = data["ids"]
    at = ids.index(CLICKED)
    with offline_page() as browser:
        page = open_map(browser, path)
        size = page.evaluate(COLOURS, ids)
        by_size: dict[int, set] = {}
        for n_tokens, colour in zip(data["n_tokens"], size):
            by_size.setdefault(n_tokens, set()).add(tuple(colour))
        assert all(len(c) == 1 for c in by_size.values()) and len(by_size) > 1
        small, large = min(by_size), max(by_size)
        assert by_size[small] != by_size[large]
        before = page.screenshot()

        # clusters: one colour per cluster, a different one for each, numbered by size
        assert data["n_clusters"] == semantic_map.DEFAULT_CLUSTERS and len(data["clusters"]) == len(ids)
        counts = [data["clusters"].count(c) for c in range(data["n_clusters"])]
        assert counts == sorted(counts, reverse=True) and min(counts) > 0
        page.select_option("#colour", "cluster")
        wait_until(page, "() => semspaceMap.colourMode() === 'cluster'")
        by_cluster: dict[int, set] = {}
        for cluster, colour in zip(data["clusters"], page.evaluate(COLOURS, ids)):
            by_cluster.setdefault(cluster, set()).add(tuple(colour))
        assert all(len(c) == 1 for c in by_cluster.values())
        assert len({next(iter(c)) for c in by_cluster.values()}) == data["n_clusters"]
        assert page.screenshot() != before  # the points are drawn in their new colours
        assert "k-means clusters" in page.inner_text("#legend") and f"1 ({counts[0]})" in page.inner_text("#legend")

        # distance: grey before a selection; then the selected image's top k by value, nearest darkest
        assert page.evaluate("semspaceMap.setColour('distance')") is True
        assert all(c == BEYOND for c in page.evaluate(COLOURS, ids))
        for measure in ("symmetric_difference", "cosine"):
            page.evaluate(f"semspaceMap.setMeasure('{measure}').then(() => semspaceMap.select({CLICKED}))")
            colours = dict(zip(ids, page.evaluate(COLOURS, ids)))
            listed = data["neighbours_by"][measure][at]
            values = data["values_by"][measure][at]
            assert colours[CLICKED] == [0, 0, 0, 255]
            assert all(colours[i] == BEYOND for i in ids if i not in listed and i != CLICKED)
            nearest_first = [colours[i] for i in listed]  # the lists are ranked nearest first
            assert all(c != BEYOND for c in nearest_first)
            if len(set(values)) > 1:
                brightness = [sum(c[:3]) for c in nearest_first]
                assert brightness == sorted(brightness) and brightness[0] < brightness[-1], measure
            assert f"{measure} to image {CLICKED}" in page.inner_text("#legend")
        page.evaluate("semspaceMap.setMeasure('symmetric_difference')")
        assert page.evaluate("semspaceMap.setColour('rainbow')") is False

        # an alt-drag lasso around image 100's blob lists the images inside it
        target = page.evaluate(f"semspaceMap.pointPixel({CLICKED})")
        cx, cy = math.floor(target["x"]), math.floor(target["y"])
        corners = [(cx - 30, cy - 24), (cx + 34, cy - 10), (cx + 6, cy + 30)]
        page.keyboard.press("Escape")
        page.keyboard.down("Alt")
        page.mouse.move(*corners[0])
        page.mouse.down()
        for corner in corners[1:] + corners[:1]:
            page.mouse.move(*corner, steps=6)
        page.mouse.up()
        page.keyboard.up("Alt")
        wait_until(page, "() => document.querySelector('#search-result').textContent.includes('in the lasso')")
        pixels = {int(k): v["exact"] for k, v in screen_points(page, ids).items()}
        marked = set(page.evaluate("semspaceMap.marked()"))
        for image, p in pixels.items():
            if edge_distance(p["x"], p["y"], corners) > 2:  # the drawn lasso follows the corners within a pixel
                assert (image in marked) == inside_polygon(p["x"], p["y"], corners), image
        assert CLICKED in marked and len(marked) >= 10
        listed_ids = page.eval_on_selector_all("#search-matches li", "els => els.map(e => Number(e.dataset.imageId))")
        assert listed_ids == sorted(marked)
        assert page.evaluate("semspaceMap.highlighted().matches.length") == len(marked)
        first = page.inner_text(f"#search-matches li[data-image-id='{CLICKED}']")
        assert first.endswith(f"image {CLICKED} \u00b7 COCO {900000 + CLICKED}: {captions_of(CLICKED)[0]}")
        # the same polygon through the page's API, exactly
        api = page.evaluate("poly => semspaceMap.lasso(poly)", [list(c) for c in corners])
        assert api == sorted(i for i, p in pixels.items() if inside_polygon(p["x"], p["y"], corners))

        # a box, with the drag control set to it
        page.select_option("#drag-mode", "box")
        x0, y0, x1, y1 = cx - 20, cy - 15, cx + 25, cy + 18
        page.mouse.move(x0, y0)
        page.mouse.down()
        page.mouse.move(x1, y1, steps=5)
        page.mouse.up()
        wait_until(page, "() => document.querySelector('#search-result').textContent.includes('in the box')")
        boxed = sorted(i for i, p in pixels.items() if x0 <= p["x"] <= x1 and y0 <= p["y"] <= y1)
        assert page.evaluate("semspaceMap.marked()") == boxed and CLICKED in boxed
        page.select_option("#drag-mode", "zoom")

        # narrow: the panel below the plot, the plot as wide as the window, its canvases resized
        page.set_viewport_size({"width": 600, "height": 900})
        wait_until(
            page,
            "() => { const p = document.getElementById('plot').getBoundingClientRect();"
            " return Math.abs(document.getElementById('points').width - p.width * devicePixelRatio) < 1.5 && p.width < 620; }",
        )
        plot, panel = (page.locator(s).bounding_box() for s in ("#plot", "#panel"))
        assert plot and panel
        assert panel["y"] >= plot["y"] + plot["height"] - 1 and abs(panel["x"] - plot["x"]) < 1
        assert plot["width"] >= 560 and abs(panel["width"] - plot["width"]) < 1 and plot["height"] >= 320
        page.evaluate("semspaceMap.select(0)")
        target = page.evaluate(f"semspaceMap.pointPixel({CLICKED})")
        assert target["inside"]
        page.mouse.click(target["x"], target["y"])
        wait_until(page, f"() => document.body.dataset.selected === '{CLICKED}'", timeout=10_000)
        # wide again: beside each other
        page.set_viewport_size({"width": 1400, "height": 900})
        wait_until(page, "() => document.getElementById('plot').getBoundingClientRect().width > 900")
        plot, panel = (page.locator(s).bounding_box() for s in ("#plot", "#panel"))
        assert plot and panel
        assert panel["x"] >= plot["x"] + plot["width"] - 1 and abs(panel["y"] - plot["y"]) < 1
        assert 300 <= panel["width"] <= 430
    browser.assert_clean()


def test_kmeans_of_the_shown_coordinates() -> None:
    """The cluster colouring's k-means: seeded, so the same labels each build; well-separated blobs
    come out as clusters; cluster 0 is the largest; never more clusters than points."""
    import numpy as np

    rng = np.random.default_rng(0)
    sizes = [50, 30, 20]
    centres = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]
    points = np.concatenate([rng.normal(c, 0.5, size=(s, 2)) for c, s in zip(centres, sizes)])
    labels = semantic_map.kmeans(points, 3)
    assert labels.tolist() == semantic_map.kmeans(points, 3).tolist()
    assert labels.tolist() == [0] * 50 + [1] * 30 + [2] * 20
    assert semantic_map.kmeans(points[:2], 8).tolist() in ([0, 1], [1, 0])
    assert semantic_map.kmeans(points[:1], 8).tolist() == [0]
    data = {"ids": [1, 2, 3], "x": [0.0, 0.0, 5.0], "y": [0.0, 0.1, 5.0]}
    semantic_map.add_clusters(data, 2)
    assert data["clusters"] == [0, 0, 1] and data["n_clusters"] == 2
    semantic_map.add_clusters(data, 0)
    assert data["clusters"] is None and data["n_clusters"] == 0


def test_the_map_commands_take_the_image_options(crowded: Path, tmp_path: Path) -> None:
    """`python -m analysis map` and `semspace map` pass --images, --image-urls and --clusters on."""
    from analysis.__main__ import main as analysis_main
    from semspace.cli import main as semspace_main

    write_images(tmp_path / "images")
    argv = ["map", "--db", str(crowded), "--corpus", "tiny", "--images", str(tmp_path / "images")]
    assert analysis_main([*argv, "--out", str(tmp_path / "a"), "--clusters", "3"]) == 0
    assert semspace_main([*argv, "--out", str(tmp_path / "s"), "--image-urls", "coco"]) == 0
    a = inlined_data((tmp_path / "a" / "tiny" / "map.html").read_text(encoding="utf-8"))
    s = inlined_data((tmp_path / "s" / "tiny" / "map.html").read_text(encoding="utf-8"))
    assert a["n_clusters"] == 3 and s["n_clusters"] == semantic_map.DEFAULT_CLUSTERS
    assert a["image_sources"] == ["local"] and s["image_sources"] == ["local", "coco"]
    assert a["thumbs"][CLICKED] == f"../../images/{coco_file_name(CLICKED)}"
    assert s["thumbs"][1] == f"http://images.cocodataset.org/val2014/{coco_file_name(1)}"  # no file of image 1
    with pytest.raises(SystemExit):
        analysis_main([*argv, "--out", str(tmp_path / "x"), "--image-urls", "flickr"])
    assert analysis_main([*argv[:-1], str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 1
