"""Image→image retrieval against the ECCV Caption positives (Chun et al. 2022), by job:

* :mod:`analysis.evaluation.metrics` — ranking (ties by the smaller image id), mAP@R, R-Precision,
  Recall@K, the relevance matrix; pure NumPy.
* :mod:`analysis.evaluation.eccv` — the benchmark's data: ECCV Caption's positives and the
  corpus's COCO ids (mart ``images``).
* :mod:`analysis.evaluation.store` — scores of a corpus's measures (read by name from the marts
  dbt builds) written into ``computed.evaluation_scores``, whose mart ``evaluation_scores`` is
  dbt's view; and a plain-text table of them.

``analysis.evaluate`` re-exports this API (``python -m analysis evaluate``).
"""

from __future__ import annotations

from analysis.evaluation.eccv import (
    BENCHMARK,
    corpus_images,
    default_positives,
    eccv_positives,
    image_positives,
    load_eccv,
    query_images,
)
from analysis.evaluation.metrics import (
    RECALL_KS,
    query_row_metrics,
    rank,
    ranking_depth,
    relevance_matrix,
    retrieval_metrics,
    score_matrix,
    summarize,
    top_ranked,
)
from analysis.evaluation.store import (
    compute,
    evaluate,
    format_rows,
    scope_positions,
    score_rows,
    write,
)

__all__ = [
    "BENCHMARK",
    "RECALL_KS",
    "compute",
    "corpus_images",
    "default_positives",
    "eccv_positives",
    "evaluate",
    "format_rows",
    "image_positives",
    "load_eccv",
    "query_images",
    "query_row_metrics",
    "rank",
    "ranking_depth",
    "relevance_matrix",
    "retrieval_metrics",
    "scope_positions",
    "score_matrix",
    "score_rows",
    "summarize",
    "top_ranked",
    "write",
]
