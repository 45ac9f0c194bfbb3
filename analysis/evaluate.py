"""``python -m analysis evaluate``: image→image retrieval against ECCV Caption's human-verified
positives, written to ``computed.evaluation_scores`` (the mart ``evaluation_scores`` shows it).

The code lives in :mod:`analysis.evaluation` (metrics, eccv, store); this module re-exports its
public API. The measures are dbt's (``semspace.measures.MEASURES``, re-exported as ``MEASURES``);
one image's neighbours are :func:`semspace.warehouse.neighbours`. To replace the ECCV data in a
test, patch ``analysis.evaluation.eccv.load_eccv`` (where the evaluation looks it up) or pass
``positives=``.
"""

from __future__ import annotations

from analysis.evaluation import (
    BENCHMARK,
    RECALL_KS,
    compute,
    eccv_positives,
    evaluate,
    format_rows,
    image_positives,
    load_eccv,
    query_images,
    rank,
    relevance_matrix,
    retrieval_metrics,
    score_matrix,
    write,
)
from semspace.measures import MEASURES

__all__ = [
    "BENCHMARK",
    "MEASURES",
    "RECALL_KS",
    "compute",
    "eccv_positives",
    "evaluate",
    "format_rows",
    "image_positives",
    "load_eccv",
    "query_images",
    "rank",
    "relevance_matrix",
    "retrieval_metrics",
    "score_matrix",
    "write",
]
