"""ECCV Caption image→image retrieval on the COCO warehouse: the reference scores."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from analysis import evaluate as ev

# mAP@R / R-Precision over ECCV Caption's 1,261 query images (Karpathy test split, ties by smaller id)
REFERENCE = {"symmetric_difference": (0.079, 0.139), "jaccard": (0.108, 0.187)}


@pytest.fixture(scope="module")
def coco_scores(coco_db: Path, tmp_path_factory: pytest.TempPathFactory):
    copy = tmp_path_factory.mktemp("evaluate") / "warehouse.duckdb"
    shutil.copy(coco_db, copy)
    return copy, ev.evaluate(copy, "coco")


def test_queries_and_reference_values(coco_scores) -> None:
    _, rows = coco_scores
    assert {r["n_queries"] for r in rows} == {1261}
    values = {(r["measure"], r["metric"]): r["value"] for r in rows}
    for measure, (map_at_r, r_precision) in REFERENCE.items():
        assert values[(measure, "map_at_r")] == pytest.approx(map_at_r, abs=0.003), measure
        assert values[(measure, "r_precision")] == pytest.approx(r_precision, abs=0.003), measure
    # Dice is a monotone function of Jaccard: the same ranking, the same scores
    for metric in ("map_at_r", "r_precision", "recall_at_1", "recall_at_5", "recall_at_10"):
        assert values[("dice", metric)] == pytest.approx(values[("jaccard", metric)])
    for (measure, metric), value in values.items():
        assert 0.0 <= value <= 1.0, (measure, metric)
    # weighting tokens by rarity brings the set space closer to people (0.137 / 0.229 measured)
    assert values[("idf_jaccard", "map_at_r")] == pytest.approx(0.137, abs=0.003)
    assert values[("idf_jaccard", "map_at_r")] > values[("jaccard", "map_at_r")]


def test_table_holds_every_measure_and_metric(coco_scores) -> None:
    db, rows = coco_scores
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.execute("select measure, metric, value from main.evaluation_scores "
                             "where corpus = 'coco' and benchmark = 'eccv_caption'").fetchall()
    assert len(stored) == len(rows) == len(ev.MEASURES) * 5
    assert {s[0] for s in stored} == set(ev.MEASURES)
