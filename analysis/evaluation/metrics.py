"""Ranking and retrieval metrics: pure NumPy, no warehouse, no benchmark files.

Every other image is ranked for each query by a measure (larger is closer for a similarity,
smaller for a distance), ties broken by the smaller image id. Metrics, averaged over the queries:

* ``map_at_r`` — mAP@R (Musgrave et al. 2020, "A metric learning reality check"): with R the
  query's number of positives, AP@R = (1/R) Σ_{i≤R} P@i · rel(i).
* ``r_precision`` — the number of positives among the top R, divided by R.
* ``recall_at_k`` (K = 1, 5, 10) — the fraction of queries with at least one positive among the
  top K (the "hit rate" convention of cross-modal retrieval papers, not |positives in top K| / R).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

RECALL_KS = (1, 5, 10)


def relevance_matrix(positives: Mapping[int, Iterable[int]], coco_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(query rows, boolean relevance queries × n) over the corpus's images, ordered as ``coco_ids``.

    ``coco_ids[p]`` is the COCO id of the image at position p. Queries and positives outside the
    corpus are dropped, and so are queries left without a positive inside it."""
    position = {int(c): p for p, c in enumerate(coco_ids)}
    rows, relevant = [], []
    for q in sorted(positives):
        if q not in position:
            continue
        hits = sorted({position[c] for c in positives[q] if c in position and c != q})
        if hits:
            rows.append(position[q])
            relevant.append(hits)
    rel = np.zeros((len(rows), len(coco_ids)), dtype=bool)
    for r, hits in enumerate(relevant):
        rel[r, hits] = True
    return np.asarray(rows, dtype=np.int64), rel


def rank(scores: np.ndarray, image_ids: np.ndarray, larger_is_closer: bool) -> np.ndarray:
    """Column order of each row of ``scores`` (queries × n), best first, ties by smaller image id."""
    key = -scores if larger_is_closer else scores
    ids = np.broadcast_to(np.asarray(image_ids), key.shape)
    return np.lexsort((ids, key), axis=-1)


def query_metrics(
    ranked_relevance: np.ndarray, n_relevant: np.ndarray, ks: Sequence[int] = RECALL_KS
) -> dict[str, np.ndarray]:
    """Per query: AP@R, R-Precision and Recall@K (0/1) of boolean relevance in ranked order
    (queries × ranks). ``n_relevant`` is R per query (the query's total number of positives, which
    may exceed what the ranking shows). Queries with R = 0 must not be passed."""
    rel = np.asarray(ranked_relevance, dtype=bool)
    r = np.asarray(n_relevant, dtype=np.int64)
    if rel.ndim != 2 or len(rel) != len(r):
        raise ValueError("ranked_relevance must be queries × ranks with one R per query")
    if len(r) == 0 or (r <= 0).any():
        raise ValueError("every query needs at least one positive")
    m = rel.shape[1]
    positions = np.arange(1, m + 1)
    within_r = positions[None, :] <= r[:, None]  # rank i ≤ R
    hits = np.cumsum(rel, axis=1)
    precision = hits / positions[None, :]
    out = {
        "map_at_r": (precision * rel * within_r).sum(axis=1) / r,
        "r_precision": (rel & within_r).sum(axis=1) / r,
    }
    for k in ks:
        out[f"recall_at_{k}"] = rel[:, :k].any(axis=1).astype(np.float64)
    return out


def retrieval_metrics(
    ranked_relevance: np.ndarray, n_relevant: np.ndarray, ks: Sequence[int] = RECALL_KS
) -> dict[str, float]:
    """Mean mAP@R, R-Precision and Recall@K over the queries (:func:`query_metrics`)."""
    return {name: float(values.mean()) for name, values in query_metrics(ranked_relevance, n_relevant, ks).items()}


def score_matrix(
    matrix: np.ndarray,
    image_ids: np.ndarray,
    query_rows: np.ndarray,
    relevance: np.ndarray,
    larger_is_closer: bool,
    ks: Sequence[int] = RECALL_KS,
    groups: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Metrics of an n × n similarity (``larger_is_closer``) or distance matrix.

    ``query_rows``: positions of the queries in the matrix; ``relevance``: boolean queries × n (the
    query's own column is ignored: each query is ranked against all other images). ``groups``: name
    → boolean mask over the queries; each adds ``map_at_r_<name>`` and ``r_precision_<name>``, the
    means over its queries (from the same ranking). Reusable for any matrix over the same images,
    e.g. a dense-embedding baseline's cosine similarities."""
    matrix = np.asarray(matrix)
    n = len(image_ids)
    if matrix.shape != (n, n) or relevance.shape != (len(query_rows), n):
        raise ValueError(f"shapes disagree: matrix {matrix.shape}, {n} ids, relevance {relevance.shape}")
    scores = np.array(matrix[query_rows], dtype=np.float64)
    rows = np.arange(len(query_rows))
    scores[rows, query_rows] = -np.inf if larger_is_closer else np.inf  # the query itself: last
    order = rank(scores, image_ids, larger_is_closer)[:, : n - 1]  # drop the query
    rel = relevance.copy()
    rel[rows, query_rows] = False
    ranked = np.take_along_axis(rel, order, axis=1)
    per_query = query_metrics(ranked, rel.sum(axis=1), ks)
    out = {name: float(values.mean()) for name, values in per_query.items()}
    for group, chosen in (groups or {}).items():
        chosen = np.asarray(chosen, dtype=bool)
        if chosen.any():
            out[f"map_at_r_{group}"] = float(per_query["map_at_r"][chosen].mean())
            out[f"r_precision_{group}"] = float(per_query["r_precision"][chosen].mean())
    return out
