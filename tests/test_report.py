"""The report and the figures on a tiny warehouse built here with SQL (no COCO, no dbt).

The marts are created with the real warehouse's column names and types and filled from random token
sets computed in Python, so every value the report shows can be predicted here. The warehouse has no
``raw`` schema at all: the report reads marts only."""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import shutil
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from PIL import Image as PILImage

from analysis import figures, note, report
from analysis.mds import classical_mds
from semspace import warehouse
from semspace.errors import SemspaceError

# Image ids include the note's Table 2 images so that its rows line up with some of ours.
IMAGE_IDS = [0, 1, 2, 5, 7, 9, 82, 100, 1725, 1876, 2353, 4065]
COCO_IDS = {100: 473237, 82: 507065, 2353: 381051, 1725: 27570, 4065: 286981, 1876: 357096}
EVIL_CAPTION = '<script>alert("x")</script> & a girl eats pizza'
BAD_URL_IMAGE = 1725  # its url is a javascript: address, which must not become a link
K = len(IMAGE_IDS) - 1  # every other image is a neighbour, so every image shows up in the table

SCHEMA = """
create table image_captions (dataset varchar, image_id integer, caption_index integer, caption varchar);
create table corpora (corpus varchar, corpus_id integer, kind varchar, dataset varchar, tokenizer varchar,
    source varchar, created_at timestamp);
create table images (dataset varchar, image_id integer, coco_id bigint, image_key varchar, file_name varchar,
    url varchar, n_captions integer);
create table token_sets (corpus varchar, image_id integer, token varchar, n_captions integer);
create table set_sizes (corpus varchar, image_id integer, n_tokens integer, n_occurrences integer);
create table image_pairs (corpus varchar, image_i integer, image_j integer, n_i integer, n_j integer,
    n_intersection integer, n_union integer, symmetric_difference integer, jaccard double, dice double,
    overlap double, n_multiset_intersection integer, multiset_symmetric_difference integer,
    idf_jaccard double, weighted_jaccard double, cosine double);
create table image_neighbors (corpus varchar, measure varchar, image_id integer, rank integer,
    neighbor_id integer, value double, symmetric_difference integer, n_intersection integer, jaccard double);
create table corpus_summary (corpus varchar, n_images integer, n_captions integer, n_caption_chars bigint,
    n_tokens bigint, n_distinct_tokens integer, mean_caption_chars double, mean_tokens double);
create table pair_summary (corpus varchar, n_pairs bigint, min_symmetric_difference integer,
    max_symmetric_difference integer, min_intersection integer, max_intersection integer, min_union integer,
    max_union integer, corr_symmetric_difference_intersection double);
create table mds_spectrum (corpus varchar, n_points integer, method varchar, n_landmarks integer,
    n_eigenvalues integer, n_positive integer, n_negative integer, n_zero integer, n_nonnegative integer,
    tolerance double, sum_positive double, sum_abs_negative double,
    axis_share_1 double, axis_share_2 double, axis_share_3 double, axis_share_4 double, axis_share_5 double,
    axis_share_6 double, axis_share_7 double, axis_share_8 double, axis_share_9 double, axis_share_10 double,
    computed_at timestamp);
create table mds_eigenvalues (corpus varchar, rank integer, eigenvalue double);
create table mds_coordinates (corpus varchar, image_id integer, x1 double, x2 double, x3 double, x4 double,
    x5 double, x6 double, x7 double, x8 double, x9 double, x10 double);
create table evaluation_scores (corpus varchar, image_scope varchar, measure varchar, benchmark varchar,
    metric varchar, value double, n_queries integer, computed_at timestamp);
"""
METRICS = (
    "map_at_r",
    "r_precision",
    "recall_at_1",
    "recall_at_5",
    "recall_at_10",
    "map_at_r_half_a",
    "r_precision_half_a",
    "map_at_r_half_b",
    "r_precision_half_b",
)
HALF_OFFSET = {"half_a": 0.01, "half_b": -0.01}  # a half's scores differ from the whole's by this here
ALPHA = 0.25  # the cosine's idf exponent (dbt var cosine_idf_exponent)
NEIGHBOR_MEASURES = ("symmetric_difference", "jaccard", "cosine")  # what image_neighbors ranks by here


def _captions(rng: np.random.Generator) -> dict[int, list[str]]:
    words = ["a", "girl", "boy", "pizza", "eats", "dog", "on", "the", "table", "red", "bike", "street"]
    captions = {}
    for image in IMAGE_IDS:
        captions[image] = [" ".join(rng.choice(words, size=rng.integers(4, 9))) for _ in range(rng.integers(5, 7))]
    captions[82][1] = EVIL_CAPTION
    return captions


def _pair_measures(a: dict[Any, int], b: dict[Any, int], idf: dict[Any, float]) -> dict[str, float | int | None]:
    """Every measure of image_pairs for two token multisets (token → n_captions), by its formula."""
    sa, sb = set(a), set(b)
    inter, union = len(sa & sb), len(sa | sb)
    weight_min = sum(min(a.get(t, 0), b.get(t, 0)) * idf[t] for t in sa | sb)
    weight_max = sum(max(a.get(t, 0), b.get(t, 0)) * idf[t] for t in sa | sb)
    idf_union = sum(idf[t] for t in sa | sb)
    norms = math.sqrt(sum((n * idf[t] ** ALPHA) ** 2 for t, n in a.items())) * math.sqrt(
        sum((n * idf[t] ** ALPHA) ** 2 for t, n in b.items())
    )
    return {
        "n_i": len(sa),
        "n_j": len(sb),
        "n_intersection": inter,
        "n_union": union,
        "symmetric_difference": len(sa ^ sb),
        "jaccard": inter / union if union else None,
        "dice": 2 * inter / (len(sa) + len(sb)),
        "overlap": inter / min(len(sa), len(sb)),
        "n_multiset_intersection": sum(min(a[t], b[t]) for t in sa & sb),
        "multiset_symmetric_difference": sum(abs(a.get(t, 0) - b.get(t, 0)) for t in sa | sb),
        "idf_jaccard": sum(idf[t] for t in sa & sb) / idf_union if idf_union else 0.0,
        "weighted_jaccard": weight_min / weight_max if weight_max else 0.0,
        "cosine": sum(a[t] * b[t] * idf[t] ** (2 * ALPHA) for t in sa & sb) / norms if norms else 0.0,
    }


PAIR_COLUMNS = (
    "n_i",
    "n_j",
    "n_intersection",
    "n_union",
    "symmetric_difference",
    "jaccard",
    "dice",
    "overlap",
    "n_multiset_intersection",
    "multiset_symmetric_difference",
    "idf_jaccard",
    "weighted_jaccard",
    "cosine",
)


def _corpus(
    con: duckdb.DuckDBPyConnection,
    corpus: str,
    sets: dict[int, set[str]],
    captions: dict[int, list[str]],
    with_mds: bool,
) -> None:
    ids = sorted(sets)
    # each token's multiplicity (captions using it): 1 to 3, fixed by the token and the image
    counts = {image: {t: 1 + (int(t) + image) % 3 for t in sets[image]} for image in ids}
    df = {t: sum(t in sets[i] for i in ids) for t in set().union(*sets.values())}
    idf = {t: math.log(len(ids) / df[t]) for t in df}
    for image in ids:
        con.executemany(
            "insert into token_sets values (?, ?, ?, ?)",
            [(corpus, image, str(t), counts[image][t]) for t in sorted(sets[image])],
        )
        con.execute(
            "insert into set_sizes values (?, ?, ?, ?)",
            [corpus, image, len(sets[image]), sum(counts[image].values())],
        )
    measured = {(a, b): _pair_measures(counts[a], counts[b], idf) for a, b in itertools.combinations(ids, 2)}
    pairs = [(corpus, a, b, *(m[c] for c in PAIR_COLUMNS)) for (a, b), m in measured.items()]
    if pairs:
        con.executemany(f"insert into image_pairs values ({', '.join(['?'] * (3 + len(PAIR_COLUMNS)))})", pairs)
    for image in ids:
        for measure in NEIGHBOR_MEASURES:
            closer = 1 if measure == "symmetric_difference" else -1  # a distance, else a similarity
            others = sorted(
                (closer * (measured[min(image, o), max(image, o)][measure] or 0.0), o) for o in ids if o != image
            )[:K]
            if not others:  # one image: no neighbour
                continue
            con.executemany(
                "insert into image_neighbors values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        corpus,
                        measure,
                        image,
                        rank,
                        o,
                        measured[min(image, o), max(image, o)][measure],
                        len(sets[image] ^ sets[o]),
                        len(sets[image] & sets[o]),
                        len(sets[image] & sets[o]) / len(sets[image] | sets[o]),
                    )
                    for rank, (_, o) in enumerate(others, start=1)
                ],
            )
    n_chars = sum(len(c) for image in ids for c in captions[image])
    n_captions = sum(len(captions[image]) for image in ids)
    n_tokens = sum(len(sets[image]) for image in ids)
    con.execute(
        "insert into corpus_summary values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            corpus,
            len(ids),
            n_captions,
            n_chars,
            n_tokens,
            len(set().union(*sets.values())),
            n_chars / len(ids),
            n_tokens / len(ids),
        ],
    )
    if pairs:
        sd = np.array([m["symmetric_difference"] for m in measured.values()])
        inter = np.array([m["n_intersection"] for m in measured.values()])
        union = np.array([m["n_union"] for m in measured.values()])
        con.execute(
            "insert into pair_summary values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                corpus,
                len(pairs),
                int(sd.min()),
                int(sd.max()),
                int(inter.min()),
                int(inter.max()),
                int(union.min()),
                int(union.max()),
                float(np.corrcoef(sd, inter)[0, 1]),
            ],
        )
    else:
        con.execute("insert into pair_summary values (?, 0, null, null, null, null, null, null, null)", [corpus])
    if with_mds:
        distances = np.array([[len(sets[a] ^ sets[b]) for b in ids] for a in ids], dtype=float)
        result = classical_mds(distances, k=10, image_ids=np.array(ids), corpus=corpus)
        shares = [float(max(v, 0) / result.sum_positive) for v in result.eigenvalues[:10]]
        con.execute(
            "insert into mds_spectrum values (" + ", ".join(["?"] * 23) + ")",
            [
                corpus,
                result.n_points,
                "full",
                None,
                len(result.eigenvalues),
                result.n_positive,
                result.n_negative,
                result.n_zero,
                result.n_positive + result.n_zero,
                result.tolerance,
                result.sum_positive,
                result.sum_abs_negative,
                *shares,
                None,
            ],
        )
        con.executemany(
            "insert into mds_eigenvalues values (?, ?, ?)",
            [(corpus, r + 1, float(v)) for r, v in enumerate(result.eigenvalues)],
        )
        con.executemany(
            "insert into mds_coordinates values (" + ", ".join(["?"] * 12) + ")",
            [(corpus, int(i), *map(float, row)) for i, row in zip(ids, result.coordinates)],
        )


@pytest.fixture(scope="module")
def _tiny_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    database = tmp_path_factory.mktemp("tiny") / "tiny.duckdb"
    con = duckdb.connect(str(database))
    con.execute(SCHEMA)
    captions = _captions(rng)
    for image in IMAGE_IDS:
        url = "javascript:alert(1)" if image == BAD_URL_IMAGE else f"http://images.example.org/val/{image:06d}.jpg"
        con.execute(
            "insert into images values ('tiny', ?, ?, ?, ?, ?, ?)",
            [image, COCO_IDS.get(image, 900000 + image), f"val/{image}.jpg", f"{image}.jpg", url, len(captions[image])],
        )
        con.executemany(
            "insert into image_captions values ('tiny', ?, ?, ?)",
            [(image, i, c) for i, c in enumerate(captions[image])],
        )
    for corpus_id, corpus in enumerate(["coco", "other", "solo"], start=1):
        con.execute(
            "insert into corpora values (?, ?, 'captions', 'tiny', 'karpathy', 'test', now())", [corpus, corpus_id]
        )
    small = {i: set(rng.choice(30, size=rng.integers(3, 11), replace=False).tolist()) for i in IMAGE_IDS}
    large = {i: set(rng.choice(120, size=rng.integers(25, 60), replace=False).tolist()) for i in IMAGE_IDS}
    _corpus(con, "coco", small, captions, with_mds=True)
    _corpus(con, "other", large, captions, with_mds=False)
    _corpus(con, "solo", {0: small[0]}, captions, with_mds=False)
    con.close()
    return database


@pytest.fixture()
def tiny(_tiny_template: Path, tmp_path: Path) -> Path:
    """A warehouse of the test's own with three corpora over one dataset `tiny`: `coco` (small sets,
    with MDS), `other` (larger sets, no MDS) and `solo` (one image, no pairs)."""
    database = tmp_path / "tiny.duckdb"
    shutil.copyfile(_tiny_template, database)
    return database


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
    with PILImage.open(path) as image:
        image.verify()
    with PILImage.open(path) as image:
        assert image.size[0] > 800 and image.size[1] > 600  # ~200 dpi


def test_build_writes_the_page_the_markdown_and_the_figures(tiny: Path, tmp_path: Path) -> None:
    before = _digest(tiny)
    out = tmp_path / "reports"
    index = report.build(tiny, out_dir=out)
    assert index == out / "index.html"
    assert (out / "report.md").is_file()
    for png in ("tokens_per_image.png", "coco/mds_map.png", "coco/pairs.png", "other/pairs.png"):
        _valid_png(out / png)
    assert not (out / "other" / "mds_map.png").exists()  # no MDS rows for it
    assert not (out / "solo" / "pairs.png").exists()  # no pairs
    assert _digest(tiny) == before  # opened read-only: the file is untouched

    page = index.read_text(encoding="utf-8")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "python -m analysis mds --corpus other" in page
    assert "python -m analysis mds --corpus other" in markdown
    assert "Image 100 is not in corpus solo" in page
    for png in ("tokens_per_image.png", "coco/mds_map.png", "coco/pairs.png", "other/pairs.png"):
        assert f"]({png})" in markdown  # relative links beside report.md
    assert page.count('src="data:image/png;base64,') == 4


def test_the_warehouse_numbers_are_shown_beside_the_notes(tiny: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(tiny)) as con:
        con.execute("update corpus_summary set n_caption_chars = 1234567 where corpus = 'coco'")
        con.execute("update pair_summary set max_union = 99 where corpus = 'coco'")
        expected_vocabulary = con.execute(
            "select n_distinct_tokens from corpus_summary where corpus = 'coco'"
        ).fetchall()[0][0]
        spectrum = con.execute(
            "select n_positive, n_zero, axis_share_1 + axis_share_2 from mds_spectrum where corpus = 'coco'"
        ).fetchall()[0]
    out = report.build(tiny, out_dir=tmp_path / "r").parent
    page = (out / "index.html").read_text(encoding="utf-8")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| caption characters | 1,234,567 | 1,310,066 | -75,499 (-5.76 %) |" in markdown
    assert '<td>caption characters</td><td class="num">1,234,567</td><td class="num">1,310,066</td>' in page
    assert "| union \\|A ∪ B\\|, max | 99 | 101 | -2 (-1.98 %) |" in markdown
    assert f"| distinct tokens (vocabulary) | {expected_vocabulary:,} | 7,254 |" in markdown
    n_positive, n_zero, share = spectrum
    assert f"| positive eigenvalues (&gt; tolerance) | {n_positive:,} | 1,266 |" in markdown
    assert (
        f"| positive + zero eigenvalues (the note's count, see below) | {n_positive + n_zero:,} | 1,266 |" in markdown
    )
    assert f"| share of axes 1 + 2 in the positive sum | {100 * share:.1f} % | 6 % |" in markdown
    # A corpus the note does not report: its note and difference columns are dashes.
    other = markdown.split("## Corpus other")[1].split("## Corpus solo")[0]
    assert re.search(r"\| images \| 12 \| — \| — \|", other)

    # Change a number again: the page follows the warehouse, nothing is cached or hard-coded.
    with duckdb.connect(str(tiny)) as con:
        con.execute("update corpus_summary set n_caption_chars = 1310066 where corpus = 'coco'")
    markdown = (report.build(tiny, out_dir=out).parent / "report.md").read_text(encoding="utf-8")
    assert "| caption characters | 1,310,066 | 1,310,066 | 0 |" in markdown


def test_the_page_is_self_contained_and_escapes_captions(tiny: Path, tmp_path: Path) -> None:
    page = report.build(tiny, out_dir=tmp_path / "r").read_text(encoding="utf-8")
    with duckdb.connect(str(tiny), read_only=True) as con:
        urls = {u for (u,) in con.execute("select url from images").fetchall()}
    lowered = page.lower()
    for forbidden in ("<script", "<link", "<iframe", "@import", "url(", "srcset"):
        assert forbidden not in lowered, forbidden
    addresses = re.findall(r"""\b(src|href)\s*=\s*["']?([^"'\s>]*)""", page, re.IGNORECASE)
    external = [(attr, value) for attr, value in addresses if re.match(r"(https?:)?//", value, re.IGNORECASE)]
    assert external, "the neighbour tables link to the images"
    assert all(attr.lower() == "href" and value in urls for attr, value in external), external
    assert all(
        value.startswith(("data:image/png;base64,", "#")) for attr, value in addresses if (attr, value) not in external
    )
    assert 'href="javascript' not in lowered and "javascript:alert(1)" in page  # shown, not linked
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; a girl eats pizza" in page

    markdown = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "<script" not in markdown.lower()
    assert "&lt;script&gt;" in markdown


def test_neighbour_table_follows_image_neighbors(tiny: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(tiny), read_only=True) as con:
        ours = con.execute(
            "select rank, neighbor_id, symmetric_difference from image_neighbors "
            "where corpus = 'coco' and image_id = 100 and measure = 'symmetric_difference' order by rank"
        ).fetchall()
    markdown = (report.build(tiny, out_dir=tmp_path / "r").parent / "report.md").read_text(encoding="utf-8")
    section = markdown.split("### Nearest neighbours of image 100 (Table 2 of the note)")[1].split("###")[0]
    rows = [line.split(" | ") for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    assert [(int(r[0][2:]), int(r[4]), int(r[1])) for r in rows] == [(0, 100, 0), *ours]
    table2 = {n.image_id: (row, n) for row, n in enumerate(note.NOTE["coco"].neighbours[100])}
    for r in rows:
        image = int(r[4])
        if image in table2:
            row, n = table2[image]
            assert (r[2], r[5], r[6]) == (str(n.distance), str(n.coco_id), str(row))
            assert r[3] == (
                "0"
                if int(r[1]) == n.distance
                else f"{int(r[1]) - n.distance:+,} ({100 * (int(r[1]) - n.distance) / n.distance:+.3g} %)"
            )
        else:
            assert (r[2], r[3], r[6]) == ("—", "—", "—")

    # Another image: the note lists none, so its columns are dashes.
    markdown = (
        report.build(tiny, out_dir=tmp_path / "s", corpora=["coco"], image_id=7).parent / "report.md"
    ).read_text(encoding="utf-8")
    assert "### Nearest neighbours of image 7\n" in markdown
    assert "The note lists no neighbours of this image" in markdown
    assert "## Corpus other" not in markdown


def test_unknown_corpus_is_an_error(tiny: Path, tmp_path: Path) -> None:
    with pytest.raises(SemspaceError, match="no corpus 'nope'.*coco, other, solo"):
        report.build(tiny, out_dir=tmp_path / "r", corpora=["nope"])
    with pytest.raises(SemspaceError, match="no warehouse"):
        report.build(tmp_path / "missing.duckdb", out_dir=tmp_path / "r")


def test_a_warehouse_never_built_is_one_clear_error(
    good_warehouse: Path, tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ingested but no `dbt build`: no marts. And a warehouse built before a mart existed."""
    with pytest.raises(SemspaceError, match="the warehouse has no mart 'corpora'"):
        report.build(good_warehouse, out_dir=tmp_path / "r")
    with duckdb.connect(str(tiny)) as con:
        con.execute("drop table image_captions")
    with pytest.raises(SemspaceError, match="the warehouse has no mart 'image_captions'"):
        report.build(tiny, out_dir=tmp_path / "r")

    from analysis.__main__ import main

    assert main(["report", "--db", str(good_warehouse), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error: the warehouse has no mart 'corpora'" in err[0], err  # no traceback


def test_the_marts_read_are_those_the_dbt_exposure_lists() -> None:
    import yaml

    exposures = yaml.safe_load((Path(__file__).parent.parent / "models" / "exposures.yml").read_text())
    [exposure] = [e for e in exposures["exposures"] if e["name"] == "report"]
    listed = {re.fullmatch(r"ref\('(\w+)'\)", d)[1] for d in exposure["depends_on"]}
    assert set(report.MARTS) <= listed


def test_templates_are_package_data() -> None:
    from importlib import resources

    folder = resources.files("analysis.report") / "templates"
    for name in ("report.html.j2", "report.md.j2", "body.j2", "html.j2", "md.j2", "report.css"):
        assert (folder / name).is_file(), name


def test_markdown_and_html_escaping() -> None:
    from analysis.report import render

    assert render.md("a | b *c* [d](e) <i>&") == "a \\| b \\*c\\* \\[d\\](e) &lt;i&gt;&amp;"
    assert render.md("two\nlines") == "two lines"  # a caption cannot break a table row
    assert render.inline_md("run `a_b` then a_b") == "run `a_b` then a\\_b"
    assert str(render.inline_html("`<b>` & <i>")) == "<code>&lt;b&gt;</code> &amp; &lt;i&gt;"
    assert render.web_address("HTTPS://x.org/a.jpg") and render.web_address("http://x")
    for url in ("javascript:alert(1)", "data:text/html,x", "//x.org", "ftp://x", None):
        assert not render.web_address(url), url


def test_pair_histogram_counts_every_pair(tiny: Path) -> None:
    with duckdb.connect(str(tiny), read_only=True) as con:
        for corpus in ("coco", "other"):
            hist = figures.pair_histogram(con, corpus)
            pairs = con.execute(
                "select symmetric_difference, n_intersection from image_pairs where corpus = ?", [corpus]
            ).fetchnumpy()
            sd, inter = pairs["symmetric_difference"].astype(int), pairs["n_intersection"].astype(int)
            assert hist.n_pairs == len(sd) == len(IMAGE_IDS) * (len(IMAGE_IDS) - 1) // 2
            assert list(hist.symmetric_difference) == list(range(sd.min(), sd.max() + 1))
            assert list(hist.intersection) == list(range(inter.min(), inter.max() + 1))
            expected = np.zeros_like(hist.counts)
            np.add.at(expected, (sd - sd.min(), inter - inter.min()), 1)
            assert np.array_equal(hist.counts, expected)
            assert hist.correlation() == pytest.approx(np.corrcoef(sd, inter)[0, 1])
        assert figures.pair_histogram(con, "solo").n_pairs == 0


def test_figures_each_write_one_png(tiny: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(tiny), read_only=True) as con:
        paths = [
            figures.figure_mds_map(con, "coco", tmp_path / "coco", highlight=100),
            figures.figure_pairs(con, "other", tmp_path / "other"),
            figures.figure_tokens_per_image(con, ["coco", "other"], tmp_path),
        ]
        assert paths == [
            tmp_path / "coco" / "mds_map.png",
            tmp_path / "other" / "pairs.png",
            tmp_path / "tokens_per_image.png",
        ]
        for path in paths:
            _valid_png(path)
        sizes, counts = figures.set_size_counts(con, "other")
        assert counts.sum() == len(IMAGE_IDS) and sizes.min() >= 25
        with pytest.raises(SemspaceError, match="python -m analysis mds --corpus other"):
            figures.figure_mds_map(con, "other", tmp_path / "other")
        with pytest.raises(SemspaceError, match="no rows in image_pairs"):
            figures.figure_pairs(con, "solo", tmp_path / "solo")


def _scores(
    database: Path, corpus: str, values: dict[str, float], n_queries: int, image_scope: str | None = None
) -> None:
    """Rows of the mart evaluation_scores as `python -m analysis evaluate` leaves them: every metric
    of each measure has the measure's value here, its half A and half B scores that ± 0.01."""
    with duckdb.connect(str(database)) as con:
        for measure, value in values.items():
            for metric in METRICS:
                half = next((h for h in HALF_OFFSET if metric.endswith(h)), None)
                con.execute(
                    "insert into evaluation_scores values (?, ?, ?, 'eccv_caption', ?, ?, ?, now())",
                    [
                        corpus,
                        image_scope or corpus,
                        measure,
                        metric,
                        value + (HALF_OFFSET[half] if half else 0.0),
                        n_queries,
                    ],
                )


def test_evaluation_scores_get_their_section(tiny: Path, tmp_path: Path) -> None:
    out = tmp_path / "before"
    assert "python -m analysis evaluate" in report.build(tiny, out_dir=out).read_text(encoding="utf-8")
    _scores(tiny, "coco", {"jaccard": 0.1234, "symmetric_difference": 0.0567}, n_queries=42)
    markdown = (report.build(tiny, out_dir=tmp_path / "after").parent / "report.md").read_text(encoding="utf-8")
    section = markdown[markdown.index("## Agreement with people") :]
    assert "| coco | jaccard | 42 | 0.123 | 0.123 |" in section
    # every column: mAP@R, R-Precision, R@1, R@5, R@10, then mAP@R of half A and of half B
    assert "| coco | jaccard | 42 | 0.123 | 0.123 | 0.123 | 0.123 | 0.123 | 0.133 | 0.113 |" in section
    assert "| corpus | measure | queries | mAP@R | R-Precision | R@1 | R@5 | R@10 | mAP@R half A | mAP@R half B |" in (
        section
    )
    assert section.index("jaccard") < section.index("symmetric\\_difference")  # best mAP@R first


def test_evaluation_within_a_scope_and_one_images_positives(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scores within another corpus's images get a table of their own; the example image (100 here,
    not a query) gives way to the first query after it, whose positives are marked among its
    neighbours exactly where image_pairs ranks them."""
    from analysis import evaluate as ev

    # ECCV stand-in: query 1725 (COCO 27570) has positives 82 and 4065; image 100 is no query
    monkeypatch.setattr(ev, "load_eccv", lambda: ({"27570": [1, 2]}, {"1": [507065], "2": [286981]}))
    _scores(tiny, "coco", {"jaccard": 0.3, "symmetric_difference": 0.2}, n_queries=1)
    _scores(tiny, "coco", {"jaccard": 0.3, "symmetric_difference": 0.2}, n_queries=7, image_scope="other")
    with duckdb.connect(str(tiny), read_only=True) as con:
        jaccard = [(n.image_id, n.value) for n in warehouse.neighbours(con, "coco", 1725, "jaccard", k=10)]
    markdown = (report.build(tiny, out_dir=tmp_path / "r").parent / "report.md").read_text(encoding="utf-8")
    section = markdown[markdown.index("## Agreement with people") :]
    assert "### Within the images of other" in section
    within = section[section.index("### Within the images of other") :]
    assert "| coco | jaccard | 7 |" in within and "| coco | jaccard | 1 |" not in within
    assert "| coco | jaccard | 1 |" in section[: section.index("### Within")]
    example = section[section.index("### Image 1725") :]
    assert "Image 100 is not one of ECCV Caption's query images" in example
    assert "has 2 positive(s): 82 " in example
    marked = ", ".join(f"{i}{' ✓' if i in (82, 4065) else ''}" for i, _ in jaccard)
    hits = sum(i in (82, 4065) for i, _ in jaccard)
    assert f"| coco | jaccard | {hits} | {marked} |" in example


def test_the_best_measure_lists_the_images_neighbours_with_captions(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The section on image 100 under the best measure: the interpretable (corpus, measure) with the best mAP@R
    (the dense baseline's score does not count: it has no pairs to list), and image 100's nearest
    images under it as image_neighbors ranks them, each with its first caption, the positives people
    verified marked."""
    from analysis import evaluate as ev
    from analysis.evaluation import eccv
    from analysis.report import render

    # ECCV stand-in: image 100 (COCO 473237) is a query whose positives are 82 and 2353
    def stand_in() -> tuple[dict, dict]:
        return {"473237": [1, 2]}, {"1": [507065], "2": [381051]}

    monkeypatch.setattr(ev, "load_eccv", stand_in)
    monkeypatch.setattr(eccv, "load_eccv", stand_in)
    _scores(tiny, "coco", {"jaccard": 0.3, "symmetric_difference": 0.2}, n_queries=5)
    _scores(tiny, "other", {"cosine": 0.45, "jaccard": 0.1, "minilm_l6_cosine": 0.9}, n_queries=5)
    with duckdb.connect(str(tiny), read_only=True) as con:
        near = con.execute(
            "select rank, neighbor_id, value, symmetric_difference from image_neighbors "
            "where corpus = 'other' and measure = 'cosine' and image_id = 100 order by rank limit 10"
        ).fetchall()
        by_sd = con.execute(
            "select neighbor_id from image_neighbors "
            "where corpus = 'other' and measure = 'symmetric_difference' and image_id = 100 order by rank limit 10"
        ).fetchall()
        first = dict(
            con.execute(
                "select image_id, caption from image_captions where dataset = 'tiny' and caption_index = 0"
            ).fetchall()
        )
        own = [
            c
            for (c,) in con.execute(
                "select caption from image_captions where dataset = 'tiny' and image_id = 100 order by caption_index"
            ).fetchall()
        ]
    assert len(near) == 10 and [n[1] for n in near] != [i for (i,) in by_sd]  # cosine ranks its own way
    index = report.build(tiny, out_dir=tmp_path / "r")
    markdown = (index.parent / "report.md").read_text(encoding="utf-8")
    heading = "### Image 100 under the best measure: cosine on other\n"
    assert markdown.count(heading) == 1
    section = markdown[markdown.index(heading) :].split("\n## ")[0].split("\n### ")[0]
    assert "mAP@R 0.450 on other" in section and "Σ\\_t a\\_t b\\_t" in section  # the score and the formula
    assert all(render.md(c) in section for c in own)  # the image's own captions
    assert "| rank | image | cosine | positive | first caption |" in section
    rows = [line for line in section.splitlines() if re.match(r"\| [\d,]+ \|", line)]
    assert rows == [
        f"| {rank:,} | {image:,} | {value:.4g} | {'✓' if image in (82, 2353) else ''} | {render.md(first[image])} |"
        for rank, image, value, _ in near
    ]
    assert any(image in (82, 2353) for _, image, _, _ in near)  # a mark is shown
    page = index.read_text(encoding="utf-8")
    assert 'id="evaluation-best"' in page
    assert page.count('id="evaluation-best"') == 1


def test_each_corpus_links_its_map(tiny: Path, tmp_path: Path) -> None:
    """The MDS section of a corpus links its interactive map, reports/<corpus>/map.html, by a
    relative address, when that file is there (analysis.map wrote it) or about to be written
    (``maps``, as `semspace run` says before it writes the map); otherwise no link."""
    from analysis import map as semantic_map

    out = tmp_path / "reports"
    page = report.build(tiny, out_dir=out).read_text(encoding="utf-8")
    assert "map.html" not in page and "map.html" not in (out / "report.md").read_text(encoding="utf-8")

    written = semantic_map.build(tiny, corpus="coco", out_path=out / "coco" / "map.html")
    page = report.build(tiny, out_dir=out, maps=["other"]).read_text(encoding="utf-8")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    for corpus in ("coco", "other"):
        link = f'<a href="{corpus}/map.html">{corpus}/map.html</a>'
        assert page.count(link) == 1, corpus
        section = page.split(f'<h2 id="corpus-{corpus}">')[1].split("<h2 ")[0]
        assert link in section.split("<h3>Nearest neighbours")[0]  # in the corpus's own MDS section
        assert markdown.count(f"[{corpus}/map.html](<{corpus}/map.html>)") == 1, corpus
    assert (out / "coco" / "map.html").resolve() == written.resolve()  # the link resolves beside index.html
    assert "solo/map.html" not in page  # neither written nor announced
    # every other address of the page is still a data: URI, an anchor or an image link
    addresses = re.findall(r"""\bhref\s*=\s*["']([^"']*)""", page)
    assert sorted(a for a in addresses if a.endswith("map.html")) == ["coco/map.html", "other/map.html"]
