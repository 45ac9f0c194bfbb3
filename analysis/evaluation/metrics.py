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


def top_ranked(scores: np.ndarray, image_ids: np.ndarray, larger_is_closer: bool, depth: int) -> np.ndarray:
    """The first ``depth`` columns of :func:`rank` (best first, ties by the smaller image id, NaN
    last) without sorting whole rows: per row, the ``depth``-th best key is found by partition, and
    only the columns at least that good (all ties at it included) are sorted, so the order is
    exactly rank()'s. O(n) per row instead of O(n log n): what makes 100,000-image rows cheap."""
    key = -scores if larger_is_closer else np.array(scores, dtype=np.float64, copy=True)
    n_rows, n = key.shape
    if depth >= n or n == 0:
        return rank(scores, image_ids, larger_is_closer)[:, :depth]
    ids = np.asarray(image_ids)
    cut = np.partition(key, depth - 1, axis=1)[:, depth - 1]  # NaN sorts last, as in rank()
    out = np.empty((n_rows, depth), dtype=np.int64)
    for r in range(n_rows):
        row = key[r]
        candidates = np.arange(n) if np.isnan(cut[r]) else np.flatnonzero(row <= cut[r])
        order = np.lexsort((ids[candidates], row[candidates]))
        out[r] = candidates[order[:depth]]
    return out


def ranking_depth(relevance: np.ndarray, query_rows: np.ndarray, ks: Sequence[int] = RECALL_KS) -> int:
    """How far down each ranking the metrics look: the largest R of any query (AP@R and
    R-Precision read the top R) or the largest K, at most n − 1 (every other image). One depth for
    all queries, so that a query's metrics do not depend on which others are scored with it."""
    rel = np.asarray(relevance, dtype=bool)
    n = rel.shape[1]
    rows = np.arange(len(query_rows))
    own = rel[rows, query_rows] if len(query_rows) else np.zeros(0, dtype=bool)
    largest_r = int((rel.sum(axis=1) - own).max(initial=0))
    return max(0, min(n - 1, max(largest_r, *ks) if ks else largest_r))


def query_row_metrics(
    scores: np.ndarray,
    image_ids: np.ndarray,
    query_rows: np.ndarray,
    relevance: np.ndarray,
    larger_is_closer: bool,
    ks: Sequence[int] = RECALL_KS,
    depth: int | None = None,
) -> dict[str, np.ndarray]:
    """Per-query metrics (:func:`query_metrics`) of query rows: ``scores`` is queries × n (row q
    the query at position ``query_rows[q]`` against every image), ``relevance`` boolean queries × n.
    The query's own column is ignored (ranked last and dropped). ``depth``: see
    :func:`ranking_depth` (default: from these queries; pass the depth of all queries when scoring
    them a chunk at a time)."""
    n = len(image_ids)
    query_rows = np.asarray(query_rows, dtype=np.int64)
    if scores.shape != (len(query_rows), n) or relevance.shape != (len(query_rows), n):
        raise ValueError(f"shapes disagree: scores {scores.shape}, {n} ids, relevance {relevance.shape}")
    if depth is None:
        depth = ranking_depth(relevance, query_rows, ks)
    scores = np.array(scores, dtype=np.float64)  # a copy: the caller's rows stay as they were
    rows = np.arange(len(query_rows))
    scores[rows, query_rows] = -np.inf if larger_is_closer else np.inf  # the query itself: last
    order = top_ranked(scores, image_ids, larger_is_closer, depth)  # the query is never in the top n − 1
    rel = relevance.copy()
    rel[rows, query_rows] = False
    ranked = np.take_along_axis(rel, order, axis=1)
    return query_metrics(ranked, rel.sum(axis=1), ks)


def summarize(per_query: Mapping[str, np.ndarray], groups: Mapping[str, np.ndarray] | None = None) -> dict[str, float]:
    """Means over the queries of per-query metrics; ``groups`` (name → boolean mask over the
    queries) each add ``map_at_r_<name>`` and ``r_precision_<name>``, the means over its queries."""
    out = {name: float(values.mean()) for name, values in per_query.items()}
    for group, chosen in (groups or {}).items():
        chosen = np.asarray(chosen, dtype=bool)
        if chosen.any():
            out[f"map_at_r_{group}"] = float(per_query["map_at_r"][chosen].mean())
            out[f"r_precision_{group}"] = float(per_query["r_precision"][chosen].mean())
    return out


def concatenate(parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-query metrics of consecutive chunks of queries as one (in query order)."""
    if not parts:
        raise ValueError("no queries scored")
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def score_matrix(
    matrix: np.ndarray,
    image_ids: np.ndarray,
    query_rows: np.ndarray,
    relevance: np.ndarray,
    larger_is_closer: bool,
    ks: Sequence[int] = RECALL_KS,
    groups: Mapping[str, np.ndarray] | None = None,
    *,
    rows_only: bool | None = None,
) -> dict[str, float]:
    """Metrics of a similarity (``larger_is_closer``) or distance matrix over n images: the full
    n × n matrix, or only the queries' rows (queries × n, row q for the query at ``query_rows[q]``),
    with identical results.

    ``query_rows``: positions of the queries among the n images; ``relevance``: boolean queries × n
    (the query's own column is ignored: each query is ranked against all other images).
    ``rows_only``: whether ``matrix`` holds only the query rows; None tells it from the shape (an
    n × n matrix with n queries in another order than 0..n−1 is ambiguous: say which). ``groups``:
    name → boolean mask over the queries; each adds ``map_at_r_<name>`` and ``r_precision_<name>``,
    the means over its queries (from the same ranking). Reusable for any matrix over the same
    images, e.g. a dense-embedding baseline's cosine similarities."""
    matrix = np.asarray(matrix)
    n = len(image_ids)
    query_rows = np.asarray(query_rows, dtype=np.int64)
    q = len(query_rows)
    if relevance.shape != (q, n) or matrix.ndim != 2 or matrix.shape[1] != n or matrix.shape[0] not in (n, q):
        raise ValueError(f"shapes disagree: matrix {matrix.shape}, {n} ids, relevance {relevance.shape}")
    if rows_only is None:
        if matrix.shape[0] == q == n and not np.array_equal(query_rows, np.arange(n)):
            raise ValueError("an n × n matrix with n queries: pass rows_only=True (query rows) or False (full)")
        rows_only = matrix.shape[0] == q and (q != n or np.array_equal(query_rows, np.arange(n)))
    elif matrix.shape[0] != (q if rows_only else n):
        raise ValueError(f"matrix {matrix.shape} is not {'queries' if rows_only else 'n'} × n")
    scores = matrix if rows_only else matrix[query_rows]
    per_query = query_row_metrics(scores, image_ids, query_rows, relevance, larger_is_closer, ks)
    return summarize(per_query, groups)
