"""The dense baseline's plumbing with a stand-in encoder (the real model is an optional extra):
per-image mean of unit caption vectors (captions from the mart image_captions), renormalised,
scored by the shared evaluation code and stored beside the set measures."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import ClassVar

import duckdb
import numpy as np
import pytest

from analysis import dense
from analysis.evaluation import eccv
from tests.test_evaluate import _add_subset_corpus, _tiny_template, tiny  # noqa: F401 (fixtures)

VECTORS = {  # caption of the tiny warehouse (tests.test_evaluate.TINY_CAPTIONS) → embedding before normalisation
    "cat dog": [1.0, 0.0],
    "dog cat": [1.0, 1.0],
    "cat dog sun": [0.0, 2.0],
    "sun tree": [3.0, 0.1],
    "cat dog sun tree": [0.1, 5.0],
}


class FakeModel:
    seen: ClassVar[list[list[str]]] = []

    def __init__(self, path: str, device: str = "cpu") -> None:
        self.path = path

    def encode(self, sentences, batch_size, normalize_embeddings, show_progress_bar, convert_to_numpy):
        FakeModel.seen.append(list(sentences))
        vectors = np.array([VECTORS[s] for s in sentences])
        assert normalize_embeddings
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture()
def warehouse(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> Path:  # noqa: F811
    monkeypatch.setitem(sys.modules, "sentence_transformers", types.SimpleNamespace(SentenceTransformer=FakeModel))
    monkeypatch.setattr(dense, "model_dir", lambda: "stand-in")
    FakeModel.seen = []
    return tiny


def test_image_vectors_are_renormalised_means(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ids, vectors = dense.image_embeddings(con, "tiny")
    assert ids.tolist() == [0, 1, 2, 3]
    # every caption once, by image then caption index, from the mart image_captions
    assert FakeModel.seen == [["cat dog", "dog cat", "cat dog sun", "sun tree", "cat dog sun tree"]]
    mean0 = np.array([1.0, 0.0]) + np.array([1.0, 1.0]) / np.sqrt(2)
    assert np.allclose(vectors[0], mean0 / np.linalg.norm(mean0))
    assert np.allclose(vectors[3], np.array([0.1, 5.0]) / np.linalg.norm([0.1, 5.0]))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)


def test_dense_scores_are_stored_beside_the_set_measures(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # query image 0 (COCO 100) with positive image 2 (COCO 102): image 2 points along x like image 0
    monkeypatch.setattr(eccv, "load_eccv", lambda: ({"100": [7]}, {"7": [102]}))
    rows = dense.evaluate_dense(warehouse, "tiny")
    values = {r["metric"]: r["value"] for r in rows}
    assert values["map_at_r"] == 1.0 and values["recall_at_1"] == 1.0
    # the one query (COCO 100, even) is half A's; half B has none and no row
    assert values["map_at_r_half_a"] == 1.0 and "map_at_r_half_b" not in values
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = con.execute("select distinct measure, image_scope, n_queries from evaluation_scores").fetchall()
        computed = con.execute("select count(*) from computed.evaluation_scores").fetchone()
    assert stored == [(dense.MEASURE, "tiny", 1)] and computed == (7,)


def test_dense_within_another_corpus(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # query image 0, positive image 3. Cosines from image 0: image 2 0.94, image 3 0.40, image 1 0.38:
    # among all images the positive comes second; within images 0, 1, 3 (image 2 not covered) first
    _add_subset_corpus(warehouse, "sub", "tiny", [0, 1, 3])
    monkeypatch.setattr(eccv, "load_eccv", lambda: ({"100": [7]}, {"7": [103]}))
    everywhere = {r["metric"]: r["value"] for r in dense.evaluate_dense(warehouse, "tiny")}
    rows = dense.evaluate_dense(warehouse, "tiny", within="sub")
    within = {r["metric"]: r["value"] for r in rows}
    assert {r["image_scope"] for r in rows} == {"sub"}
    assert (everywhere["map_at_r"], everywhere["recall_at_1"], everywhere["recall_at_5"]) == (0.0, 0.0, 1.0)
    assert (within["map_at_r"], within["recall_at_1"]) == (1.0, 1.0)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        scopes = con.execute("select image_scope, count(*) from evaluation_scores group by all order by all").fetchall()
    assert scopes == [("sub", 7), ("tiny", 7)]  # 5 metrics over all queries, 2 over half A
