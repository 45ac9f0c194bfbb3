"""The interactive COCO map (analysis.map) in headless Chromium, offline: click image 100 and get
the note's Table 2 in the panel, hover shows its captions, search finds a COCO id and a word."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import duckdb
import pytest

from analysis import map as semantic_map
from tests.browser import offline_page, wait_until

TABLE_2 = [(82, 23), (2353, 24), (1725, 25), (1876, 25), (4065, 25)]


@pytest.fixture(scope="module")
def coco_map(coco_analysed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return semantic_map.build(coco_analysed, corpus="coco", out_path=tmp_path_factory.mktemp("map") / "map.html")


@pytest.fixture(scope="module")
def warehouse(coco_analysed: Path) -> dict:
    """What the map should show, straight from the warehouse's marts."""
    con = duckdb.connect(str(coco_analysed), read_only=True)
    try:
        neighbours: dict[int, list[tuple[int, int]]] = {}
        for image, other, distance in con.execute(
            "select image_id, neighbor_id, symmetric_difference from image_neighbors "
            "where corpus = 'coco' and measure = 'symmetric_difference' order by image_id, rank"
        ).fetchall():
            neighbours.setdefault(image, []).append((other, distance))
        captions: dict[int, list[str]] = {}
        for image, caption in con.execute(
            "select image_id, caption from image_captions where dataset = 'coco' order by image_id, caption_index"
        ).fetchall():
            captions.setdefault(image, []).append(caption)
        coco_ids = dict(con.execute("select image_id, coco_id from images where dataset = 'coco'").fetchall())
        points = con.execute(
            "select image_id, x1, x2 from mds_coordinates where corpus = 'coco' order by image_id"
        ).fetchall()
        shares = con.execute("select axis_share_1, axis_share_2 from mds_spectrum where corpus = 'coco'").fetchone()
    finally:
        con.close()
    return {"neighbours": neighbours, "captions": captions, "coco_ids": coco_ids, "points": points, "shares": shares}


def test_inlined_data_matches_the_warehouse(coco_map: Path, warehouse: dict) -> None:
    page = coco_map.read_text(encoding="utf-8")
    block = re.search(r'<script id="semspace-data" type="application/json">(.*?)</script>', page, re.S).group(1)
    data = json.loads(block)
    assert list(zip(data["ids"], data["x"], data["y"])) == warehouse["points"]
    assert len(data["ids"]) == 5000 and data["k"] == 10
    assert data["axis_share"] == list(warehouse["shares"])
    assert data["coco_ids"] == [warehouse["coco_ids"][i] for i in data["ids"]]
    assert data["captions"] == [warehouse["captions"][i] for i in data["ids"]]
    assert sum(len(c) for c in data["captions"]) == 25010
    assert data["measure"] == "symmetric_difference" and "cosine" in data["measures"]
    by = data["neighbours_by"]["symmetric_difference"]
    values = data["values_by"]["symmetric_difference"]
    assert [list(zip(n, d)) for n, d in zip(by, values)] == [warehouse["neighbours"][i] for i in data["ids"]]
    assert coco_map.stat().st_size < 12_000_000  # the data ~2.5 MB and the built-in renderer


def panel_rows(page) -> list[dict]:
    """The neighbour table as the user sees it (DOM text, not the hook)."""
    return page.eval_on_selector_all(
        "#neighbours tbody tr",
        """rows => rows.map(r => ({rank: Number(r.querySelector('.nb-rank').textContent),
                                   image_id: Number(r.querySelector('.nb-id').textContent),
                                   distance: Number(r.querySelector('.nb-dist').textContent),
                                   coco_id: r.querySelector('.nb-coco').textContent,
                                   caption: r.querySelector('.nb-caption').textContent,
                                   href: (r.querySelector('.nb-coco a') || {}).href || null}))""",
    )


def expected_rows(warehouse: dict, image: int) -> list[dict]:
    return [
        {
            "rank": r,
            "image_id": other,
            "distance": distance,
            "coco_id": str(warehouse["coco_ids"][other]),
            "caption": warehouse["captions"][other][0],
        }
        for r, (other, distance) in enumerate(warehouse["neighbours"][image], start=1)
    ]


def tokens(text: str) -> set[str]:
    return set(re.findall(r"[^\W_]+", text.lower()))


def test_click_hover_and_search_in_chromium(coco_map: Path, warehouse: dict) -> None:
    with offline_page(viewport={"width": 1400, "height": 900}) as browser:
        page = browser.page
        page.goto(coco_map.resolve().as_uri())
        wait_until(page, "window.semspaceMap && window.semspaceMap.ready", timeout=60_000)
        assert page.evaluate("semspaceMap.n") == 5000
        x_title = page.evaluate("document.querySelector('.xtitle').textContent")
        assert f"{100 * warehouse['shares'][0]:.1f} %" in x_title

        # At the full view image 1368 lies 0.6 px from image 100: zoom in on 100 first, as a user
        # would (drag a 40 px box around it); pointPixel follows the new axis ranges.
        before = page.evaluate("semspaceMap.pointPixel(100)")
        page.mouse.move(before["x"] - 20, before["y"] - 20)
        page.mouse.down()
        page.mouse.move(before["x"] + 20, before["y"] + 20, steps=5)
        page.mouse.up()
        wait_until(
            page,
            f"(p => Math.abs(p.x - {before['x']}) + Math.abs(p.y - {before['y']}) > 2)(semspaceMap.pointPixel(100))",
        )
        page.wait_for_timeout(300)
        point = page.evaluate("semspaceMap.pointPixel(100)")
        assert point["inside"]
        closest = page.evaluate(
            """p => { let best = Infinity;
            for (let id = 0; id < 5000; id++) { if (id === 100) continue; const q = semspaceMap.pointPixel(id);
              if (q) best = Math.min(best, Math.hypot(q.x - p.x, q.y - p.y)); } return best; }""",
            point,
        )
        assert closest > 4, f"another image {closest:.1f} px from image 100 after zooming: the click is ambiguous"

        # hover: the label names image 100 and shows its captions
        page.mouse.move(point["x"], point["y"])
        wait_until(
            page,
            "(document.querySelector('.hoverlayer .hovertext') || {}).textContent?.startsWith('image 100 ')",
            timeout=10_000,
        )
        hover = page.evaluate("document.querySelector('.hoverlayer .hovertext').textContent")
        assert "COCO 473237" in hover
        assert any(caption in hover for caption in warehouse["captions"][100])

        # click: the panel lists image 100's neighbours in rank order; they are highlighted
        start = time.perf_counter()
        page.mouse.click(point["x"], point["y"])
        wait_until(page, "document.body.dataset.selected === '100'", timeout=10_000)
        click_seconds = time.perf_counter() - start
        rows = panel_rows(page)
        assert [(r["image_id"], r["distance"]) for r in rows][:5] == TABLE_2
        assert [{k: v for k, v in r.items() if k != "href"} for r in rows] == expected_rows(warehouse, 100)
        assert all(r["href"] and r["href"].startswith("http://images.cocodataset.org/") for r in rows)
        assert [(n["image_id"], n["distance"]) for n in page.evaluate("semspaceMap.neighbours()")] == warehouse[
            "neighbours"
        ][100]
        # the map's highlight follows the panel (restyled after the next paint)
        wait_until(page, "semspaceMap.highlighted().selected[0] === 100", timeout=10_000)
        lit = page.evaluate("semspaceMap.highlighted()")
        assert lit["selected"] == [100] and lit["neighbours"] == [r["image_id"] for r in rows]
        assert click_seconds < 5, f"click to panel took {click_seconds:.2f} s"

        # a neighbour in the panel selects it
        page.click("#neighbours tbody tr:first-child td.nb-caption")
        wait_until(page, "document.body.dataset.selected === '82'", timeout=10_000)
        assert [{k: v for k, v in r.items() if k != "href"} for r in panel_rows(page)] == expected_rows(warehouse, 82)
        wait_until(page, "semspaceMap.highlighted().selected[0] === 82", timeout=10_000)

        # search a COCO id: image 100 again
        page.fill("#search", "473237")
        page.press("#search", "Enter")
        wait_until(page, "document.body.dataset.selected === '100'", timeout=10_000)
        assert "COCO id 473237 \u2192 image 100" in page.inner_text("#search-result")
        wait_until(page, "semspaceMap.highlighted().selected[0] === 100", timeout=10_000)
        assert page.evaluate("semspaceMap.highlighted()")["matches"] == [100]
        assert [(r["image_id"], r["distance"]) for r in panel_rows(page)][:5] == TABLE_2

        # search a word: every image with it in a caption, highlighted and counted
        want = sorted(i for i, caps in warehouse["captions"].items() if "giraffe" in tokens(" ".join(caps)))
        assert 50 < len(want) < 500
        page.fill("#search", "Giraffe")
        page.press("#search", "Enter")
        wait_until(page, "document.querySelector('#search-result').textContent.includes('giraffe')")
        assert page.inner_text("#search-result").startswith(f"{len(want)} images whose captions contain")
        wait_until(page, f"semspaceMap.highlighted().matches.length === {len(want)}", timeout=10_000)
        assert sorted(page.evaluate("semspaceMap.highlighted()")["matches"]) == want
        listed = page.eval_on_selector_all("#search-matches li[data-image-id]", "els => els.length")
        assert listed == min(len(want), 300)
        page.screenshot(path=str(coco_map.with_name("map.png")))
    browser.assert_clean()
