"""analysis.map on a hand-made warehouse of 20 images: the inlined data equals the tables, hostile
captions stay text, and the page works offline in headless Chromium (tests/browser.py)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import duckdb
import pytest

from analysis import map as semantic_map
from semspace.errors import SemspaceError
from tests.browser import offline_page

N = 20
K = 3
EVIL_ID = 7
EVIL = 'a cat </script><b>bold</b> & "quoted" \'single\' <!-- x --> on a mat \u2028'
WORDS = ["cat", "dog", "bird", "horse", "pizza", "train", "boat", "kite"]


def captions_of(i: int) -> list[str]:
    first = f"a {WORDS[i % len(WORDS)]} next to a {WORDS[(i * 3 + 1) % len(WORDS)]}"
    second = EVIL if i == EVIL_ID else f"picture number {i} with a {WORDS[(i + 2) % len(WORDS)]}"
    return [first, second]


def tokens(text: str) -> set[str]:
    return set(re.findall(r"[^\W_]+", text.lower()))


def make_warehouse(path: Path, with_mds: bool = True) -> Path:
    """The tables analysis.map reads, filled by hand: corpus `tiny` of dataset `tinyset`; image ids
    10, 13, 16, … (not positions), points on a spiral, neighbours from the captions' word sets."""
    ids = [10 + 3 * i for i in range(N)]
    sets = {ids[i]: tokens(" ".join(captions_of(i))) for i in range(N)}
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists raw")
    con.execute("create table corpora (corpus varchar, corpus_id integer, kind varchar, dataset varchar)")
    con.execute("insert into corpora values ('tiny', 1, 'captions', 'tinyset'), ('other', 2, 'captions', 'o')")
    con.execute("create table images (dataset varchar, image_id integer, coco_id bigint, image_key varchar, "
                "file_name varchar, url varchar, n_captions integer)")
    con.execute("create table set_sizes (corpus varchar, image_id integer, n_tokens integer)")
    con.execute("create table raw.captions (dataset varchar, image_id integer, caption_index integer, "
                "caption varchar, tokens varchar[])")
    con.execute("create table image_neighbors (corpus varchar, image_id integer, rank integer, neighbor_id integer, "
                "symmetric_difference integer, n_intersection integer, jaccard double)")
    for i, image in enumerate(ids):
        url = "javascript:alert(1)" if i == 3 else f"http://images.example/{image}.jpg?a=1&b=<2>"
        con.execute("insert into images values ('tinyset', ?, ?, ?, ?, ?, 2)",
                    [image, 900000 + i, f"k{image}", f"{image}.jpg", url])
        con.execute("insert into images values ('o', ?, 1, 'x', 'x', 'x', 1)", [image])  # another dataset
        con.execute("insert into set_sizes values ('tiny', ?, ?)", [image, len(sets[image])])
        for c, caption in enumerate(captions_of(i)):
            con.execute("insert into raw.captions values ('tinyset', ?, ?, ?, null)", [image, c, caption])
        con.execute("insert into raw.captions values ('o', ?, 0, 'caption of another dataset', null)", [image])
        others = sorted((len(sets[image] ^ sets[o]), o) for o in ids if o != image)[:K]
        for rank, (distance, other) in enumerate(others, start=1):
            inter = len(sets[image] & sets[other])
            con.execute("insert into image_neighbors values ('tiny', ?, ?, ?, ?, ?, ?)",
                        [image, rank, other, distance, inter, inter / len(sets[image] | sets[other])])
        con.execute("insert into image_neighbors values ('other', ?, 1, 0, 99, 0, 0)", [image])
    if with_mds:
        con.execute("create table mds_spectrum (corpus varchar, n_points bigint, method varchar, n_positive bigint, "
                    "n_negative bigint, n_zero bigint, axis_share_1 double, axis_share_2 double)")
        con.execute("insert into mds_spectrum values ('tiny', 20, 'full', 12, 7, 1, 0.25, 0.125)")
        con.execute("create table mds_coordinates (corpus varchar, image_id integer, x1 double, x2 double, x3 double)")
        for i, image in enumerate(ids):
            r = 1 + i / 4
            con.execute("insert into mds_coordinates values ('tiny', ?, ?, ?, 0)",
                        [image, r * math.cos(i), r * math.sin(i) / 3])
            con.execute("insert into mds_coordinates values ('other', ?, 0, 0, 0)", [image])
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
        captions = con.execute("select image_id, caption from raw.captions where dataset = 'tinyset' "
                               "order by image_id, caption_index").fetchall()
        neighbours = con.execute("select image_id, neighbor_id, symmetric_difference from image_neighbors "
                                 "where corpus = 'tiny' order by image_id, rank").fetchall()
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
    expected_nb: dict[int, list[tuple[int, int]]] = {}
    for image, other, distance in neighbours:
        expected_nb.setdefault(image, []).append((other, distance))
    assert [list(zip(n, d)) for n, d in zip(data["neighbours"], data["distances"])] == \
        [expected_nb[image] for image in data["ids"]]
    # one data block, plotly.js and the app: three scripts, each closed once; nothing else leaks out
    assert page.count("</script>") == 3
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
    with pytest.raises(SemspaceError, match=r"python -m analysis mds --corpus tiny"):
        semantic_map.build(bare, corpus="tiny")
    with pytest.raises(SemspaceError, match="no warehouse here"):
        semantic_map.build(tmp_path / "missing.duckdb", corpus="tiny")


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
        expected = [{"image_id": n, "distance": d} for n, d in zip(data["neighbours"][i], data["distances"][i])]
        rows = page.eval_on_selector_all(
            "#neighbours tbody tr",
            "rows => rows.map(r => ({image_id: Number(r.querySelector('.nb-id').textContent), "
            "distance: Number(r.querySelector('.nb-dist').textContent)}))")
        assert rows == expected
        assert [{k: r[k] for k in ("image_id", "distance")} for r in page.evaluate("semspaceMap.neighbours()")] == expected
        # the map's highlight follows the panel (restyled after the next paint)
        page.wait_for_function(f"semspaceMap.highlighted().selected[0] === {evil_image}", timeout=10_000)
        lit = page.evaluate("semspaceMap.highlighted()")
        assert lit["selected"] == [evil_image] and lit["neighbours"] == [r["image_id"] for r in expected]
        panel_captions = page.eval_on_selector_all("#sel-captions li", "els => els.map(e => e.textContent)")
        assert panel_captions == captions_of(EVIL_ID)
        assert page.evaluate("document.querySelectorAll('#app b, #app script, #app img').length") == 0
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
