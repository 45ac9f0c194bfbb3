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

import duckdb
import pytest

from analysis import map as semantic_map
from semspace.errors import SemspaceError
from tests.browser import offline_page
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


def make_warehouse(path: Path, with_mds: bool = True) -> Path:
    """The marts analysis.map reads, filled by hand (no raw schema: the map reads marts only), with
    the columns dbt gives them: corpus `tiny` of dataset `tinyset`; image ids 10, 13, 16, … (not
    positions), points on a spiral, neighbours from the captions' word sets under two measures
    (symmetric difference, and a set cosine of the first captions). Without MDS the MDS marts are
    there but empty, as dbt's views over an empty computed schema are."""
    ids = [10 + 3 * i for i in range(N)]
    sets = {ids[i]: tokens(" ".join(captions_of(i))) for i in range(N)}
    firsts = {ids[i]: tokens(captions_of(i)[0]) for i in range(N)}
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
    for i, image in enumerate(ids):
        url = "javascript:alert(1)" if i == 3 else f"http://images.example/{image}.jpg?a=1&b=<2>"
        con.execute(
            "insert into images values ('tinyset', ?, ?, ?, ?, ?, 2)",
            [image, 900000 + i, f"k{image}", f"{image}.jpg", url],
        )
        con.execute("insert into images values ('o', ?, 1, 'x', 'x', 'x', 1)", [image])  # another dataset
        occurrences = sum(len(tokens(c)) for c in captions_of(i))
        con.execute("insert into set_sizes values ('tiny', ?, ?, ?)", [image, len(sets[image]), occurrences])
        for c, caption in reversed(list(enumerate(captions_of(i)))):  # stored out of order: the index counts
            con.execute("insert into image_captions values ('tinyset', ?, ?, ?)", [image, c, caption])
        con.execute("insert into image_captions values ('o', ?, 0, 'caption of another dataset')", [image])
        for measure in MEASURES:
            for rank, (value, other) in enumerate(ranked(image, sets, firsts, measure), start=1):
                inter = len(sets[image] & sets[other])
                con.execute(
                    "insert into image_neighbors values ('tiny', ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        measure,
                        image,
                        rank,
                        other,
                        value,
                        len(sets[image] ^ sets[other]),
                        inter,
                        inter / len(sets[image] | sets[other]),
                    ],
                )
            con.execute("insert into image_neighbors values ('other', ?, ?, 1, 0, 99, 99, 0, 0)", [measure, image])
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
            "insert into mds_spectrum values ('tiny', 20, 'full', null, 20, 12, 7, 1, 13, 1e-9, 8.0, 2.0, "
            "0.25, 0.125, 0.1, null, null, null, null, null, null, null, now())"
        )
        for i, image in enumerate(ids):
            r = 1 + i / 4
            con.execute(
                f"insert into mds_coordinates values ('tiny', ?, ?, ?, 0, 0{', null' * (AXES - 4)})",
                [image, r * math.cos(i), r * math.sin(i) / 3],
            )
            con.execute(f"insert into mds_coordinates values ('other', ?, 0, 0{', null' * (AXES - 2)})", [image])
    con.close()
    return path


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
        page.wait_for_function("window.semspaceMap && window.semspaceMap.ready", timeout=30_000)
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
        page.wait_for_function(f"document.body.dataset.selected === '{evil_image}'", timeout=10_000)
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
        page.wait_for_function(f"semspaceMap.highlighted().selected[0] === {evil_image}", timeout=10_000)
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
        page.wait_for_function(f"document.body.dataset.selected === '{first}'", timeout=10_000)

        # search: a COCO id, an image id, a word, a hostile string
        page.fill("#search", str(900000 + EVIL_ID))
        page.press("#search", "Enter")
        page.wait_for_function(f"document.body.dataset.selected === '{evil_image}'", timeout=10_000)
        assert f"COCO id {900000 + EVIL_ID}" in page.inner_text("#search-result")
        page.fill("#search", "pizza")
        page.press("#search", "Enter")
        page.wait_for_function("document.querySelector('#search-result').textContent.includes('pizza')")
        want = sorted(data["ids"][j] for j in range(N) if "pizza" in tokens(" ".join(captions_of(j))))
        assert page.inner_text("#search-result").startswith(f"{len(want)} images")
        page.wait_for_function(f"semspaceMap.highlighted().matches.length === {len(want)}", timeout=10_000)
        assert sorted(page.evaluate("semspaceMap.highlighted()")["matches"]) == want
        listed = page.eval_on_selector_all("#search-matches li", "els => els.map(e => Number(e.dataset.imageId))")
        assert sorted(listed) == want
        page.fill("#search", "</script><b>")
        page.press("#search", "Enter")
        page.wait_for_function("document.querySelector('#search-result').textContent.includes('script')")
        page.wait_for_function(f"semspaceMap.highlighted().matches[0] === {evil_image}", timeout=10_000)
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
    page.wait_for_function(
        f"JSON.stringify(semspaceMap.highlighted().neighbours) === '{json.dumps(ids, separators=(',', ':'))}'",
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
        browser.page.wait_for_function("window.semspaceMap && window.semspaceMap.ready", timeout=30_000)
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
