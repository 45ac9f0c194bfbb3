"""The report on the COCO warehouse (after dbt build and MDS): the note's tables side by side with ours."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest

from analysis import evaluate as ev
from analysis import report
from semspace import warehouse


@pytest.fixture(scope="module")
def coco_report(coco_analysed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return report.build(coco_analysed, out_dir=tmp_path_factory.mktemp("report"))


def test_tables_show_ours_beside_the_notes(coco_report: Path) -> None:
    page = coco_report.read_text(encoding="utf-8")
    markdown = coco_report.with_name("report.md").read_text(encoding="utf-8")
    assert "| images | 5,000 | 5,000 | 0 |" in markdown
    assert "| captions (texts) | 25,010 | 25,010 | 0 |" in markdown
    assert "| distinct tokens (vocabulary) | 7,254 | 7,254 | 0 |" in markdown
    # Our characters (the published BLIP file) beside the note's 1,310,066.
    chars = re.search(r"\| caption characters \| ([\d,]+) \| 1,310,066 \| ([^|]+) \|", markdown)
    assert chars, "the note's 1,310,066 is not beside ours"
    assert int(chars[1].replace(",", "")) == 1_310_225
    assert '<td class="num">1,310,066</td>' in page
    for measure, value in (
        ("symmetric difference \\|A Δ B\\|, min", 7),
        ("symmetric difference \\|A Δ B\\|, max", 95),
        ("intersection \\|A ∩ B\\|, max", 22),
        ("union \\|A ∪ B\\|, max", 101),
    ):
        assert f"| {measure} | {value} | {value} | 0 |" in markdown
    assert "| correlation of symmetric difference with intersection | -0.20121 | -0.201 |" in markdown
    assert "| positive + zero eigenvalues (the note's count, see below) | 1,266 | 1,266 | 0 |" in markdown
    assert "| share of axes 1 + 2 in the positive sum | 5.5 % | 6 % | -0.5 pp |" in markdown


def test_neighbours_of_image_100_in_the_notes_order(coco_report: Path) -> None:
    markdown = coco_report.with_name("report.md").read_text(encoding="utf-8")
    section = markdown.split("### Nearest neighbours of image 100 (Table 2 of the note)")[1]
    rows = [line.split(" | ") for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    # rank, distance, image id, COCO id
    got = [(int(r[0][2:]), int(r[1]), int(r[4]), int(r[5])) for r in rows[:6]]
    assert got == [
        (0, 0, 100, 473237),
        (1, 23, 82, 507065),
        (2, 24, 2353, 381051),
        (3, 25, 1725, 27570),
        (4, 25, 1876, 357096),
        (5, 25, 4065, 286981),
    ]
    assert all(r[3] == "0" for r in rows[:6])  # no difference from the note's distances
    assert "young girl eating a slice of pizza" in rows[0][8]
    assert "(<http://images.cocodataset.org/val2014/COCO_val2014_000000473237.jpg>)" in rows[0][9]
    page = coco_report.read_text(encoding="utf-8")
    assert '<td class="num">473237</td>' in page


def test_figures_exist(coco_report: Path) -> None:
    out = coco_report.parent
    # every corpus gets its pairs figure (coco and its variants without stop words, with lemmas and
    # with concepts), only coco has an MDS map (the fixture runs MDS for coco alone)
    figures = (
        "tokens_per_image.png",
        "coco/mds_map.png",
        "coco/pairs.png",
        "coco-concept/pairs.png",
        "coco-lemma/pairs.png",
        "coco-nostop/pairs.png",
    )
    for png in figures:
        path = out / png
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", path
        assert path.stat().st_size > 20_000
    assert not (out / "coco-nostop" / "mds_map.png").exists()
    page = coco_report.read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == len(figures)
    assert not re.search(r"""src\s*=\s*["']?(https?:)?//""", page)


def test_sections_say_what_has_not_run(coco_report: Path) -> None:
    """The fixture ran MDS for coco alone and no evaluation: the marts exist, without those rows."""
    page = coco_report.read_text(encoding="utf-8")
    markdown = coco_report.with_name("report.md").read_text(encoding="utf-8")
    for text in (markdown, page):
        assert "No MDS of coco-nostop in this warehouse: run" in text
        assert "No scores for these corpora: run" in text
    assert "run `python -m analysis mds --corpus coco-nostop`" in markdown


@pytest.fixture(scope="module")
def evaluated(coco_analysed: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(warehouse, index.html): a copy after `python -m analysis evaluate --measure jaccard --measure
    idf_jaccard`, reported for coco alone."""
    copy = tmp_path_factory.mktemp("evaluated") / "warehouse.duckdb"
    shutil.copy(coco_analysed, copy)
    ev.evaluate(copy, "coco", measures=["jaccard", "idf_jaccard"])
    return copy, report.build(copy, out_dir=tmp_path_factory.mktemp("evaluated_report"), corpora=["coco"])


def test_evaluation_tables_and_example_follow_the_marts(evaluated: tuple[Path, Path]) -> None:
    database, index = evaluated
    markdown = index.with_name("report.md").read_text(encoding="utf-8")
    section = markdown[markdown.index("## Agreement with people") :]
    shown = re.search(r"### Image (\d+): its positives and its neighbours", section)
    assert shown, section[:2000]
    table = re.findall(r"^\| coco \| ([a-z\\_]+) \| ([\d,]+) \| ([\d.]+) \|", section[: shown.start()], re.M)
    with duckdb.connect(str(database), read_only=True) as con:
        scores = warehouse.rows(
            con,
            "select measure, max(n_queries) as n, max(value) filter (where metric = "
            "'map_at_r') as m from evaluation_scores where corpus = 'coco' "
            "group by measure order by m desc",
        )
        image = int(shown[1])
        positives = ev.image_positives(con, "coco", image)
        nearest = {m: warehouse.neighbours(con, "coco", image, m, k=10) for m in ("jaccard", "idf_jaccard")}
    assert [(m.replace("\\_", "_"), n, v) for m, n, v in table] == [
        (r["measure"], f"{r['n']:,}", f"{r['m']:.3f}") for r in scores
    ]
    assert scores[0]["n"] == 1261  # ECCV Caption's queries on the Karpathy test split
    assert positives
    example = section[shown.start() :]
    for measure, near in nearest.items():
        marked = ", ".join(f"{n.image_id}{' ✓' if n.image_id in positives else ''}" for n in near)
        hits = sum(n.image_id in positives for n in near)
        escaped = measure.replace("_", "\\_")  # Markdown
        assert f"| coco | {escaped} | {hits} | {marked} |" in example
