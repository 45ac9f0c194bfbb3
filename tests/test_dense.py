"""The dense baseline's plumbing with a stand-in encoder (the real model is an optional extra):
per-image mean of unit caption vectors, renormalised, scored by the shared evaluation code."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import duckdb
import numpy as np
import pytest

from analysis import dense
from analysis import evaluate as ev
from tests.test_evaluate import _tiny_warehouse

VECTORS = {  # caption → embedding before normalisation
    "x0": [1.0, 0.0], "y0": [1.0, 1.0], "x1": [0.0, 2.0], "x2": [3.0, 0.1], "x3": [0.1, 5.0],
}


class FakeModel:
    def __init__(self, path: str, device: str = "cpu") -> None:
        self.path = path

    def encode(self, sentences, batch_size, normalize_embeddings, show_progress_bar, convert_to_numpy):
        vectors = np.array([VECTORS[s] for s in sentences])
        assert normalize_embeddings
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture()
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    db = tmp_path / "w.duckdb"
    _tiny_warehouse(db)
    with duckdb.connect(str(db)) as con:
        con.execute("create schema raw")
        con.execute("create table raw.captions (dataset varchar, image_id int, caption_index int, caption varchar)")
        con.executemany("insert into raw.captions values ('d', ?, ?, ?)",
                        [[0, 0, "x0"], [0, 1, "y0"], [1, 0, "x1"], [2, 0, "x2"], [3, 0, "x3"]])
    monkeypatch.setitem(sys.modules, "sentence_transformers", types.SimpleNamespace(SentenceTransformer=FakeModel))
    monkeypatch.setattr(dense, "model_dir", lambda: "stand-in")
    return db


def test_image_vectors_are_renormalised_means(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ids, vectors = dense.image_embeddings(con, "tiny")
    assert ids.tolist() == [0, 1, 2, 3]
    mean0 = np.array([1.0, 0.0]) + np.array([1.0, 1.0]) / np.sqrt(2)
    assert np.allclose(vectors[0], mean0 / np.linalg.norm(mean0))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_dense_scores_are_stored_beside_the_set_measures(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # query image 0 (COCO 100) with positive image 2 (COCO 102): image 2 points along x like image 0
    monkeypatch.setattr(ev, "load_eccv", lambda: ({"100": [7]}, {"7": [102]}))
    rows = dense.evaluate_dense(warehouse, "tiny")
    values = {r["metric"]: r["value"] for r in rows}
    assert values["map_at_r"] == 1.0 and values["recall_at_1"] == 1.0
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = con.execute("select distinct measure, n_queries from evaluation_scores").fetchall()
    assert stored == [(dense.MEASURE, 1)]
