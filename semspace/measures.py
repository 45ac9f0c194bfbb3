"""The pair measures by name: which mart column holds each, and which way is closer.

The measures themselves are computed in SQL by dbt (``models/marts/image_pairs.sql``, one
column each); Python asks for them by name through this table and
:mod:`semspace.warehouse`, and never writes a formula of its own. A test checks that every
relation and column named here is a documented column of that mart.
"""

from __future__ import annotations

from dataclasses import dataclass

from semspace.errors import SemspaceError


@dataclass(frozen=True)
class Measure:
    name: str
    relation: str  # the mart (schema main) holding it, one row per pair image_i < image_j of a corpus
    column: str
    larger_is_closer: bool
    # None: the mart holds every pair; a number: pairs that are not rows have this value
    absent: float | None
    formula: str

    @property
    def kind(self) -> str:
        return "similarity" if self.larger_is_closer else "distance"


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure(
            "symmetric_difference",
            "image_pairs",
            "symmetric_difference",
            False,
            None,
            "|A Δ B| = |A| + |B| − 2|A ∩ B|, the note's distance",
        ),
        Measure(
            "multiset_symmetric_difference",
            "image_pairs",
            "multiset_symmetric_difference",
            False,
            None,
            "Σ_t |a_t − b_t|, a_t = captions of the image using token t (L1 of the count vectors)",
        ),
        Measure("jaccard", "image_pairs", "jaccard", True, None, "|A ∩ B| / |A ∪ B|"),
        Measure("dice", "image_pairs", "dice", True, None, "2|A ∩ B| / (|A| + |B|)"),
        Measure("overlap", "image_pairs", "overlap", True, None, "|A ∩ B| / min(|A|, |B|)"),
        Measure(
            "idf_jaccard",
            "image_pairs",
            "idf_jaccard",
            True,
            None,
            "Σ_{A∩B} idf / Σ_{A∪B} idf, idf = ln(N / df) (token_weights)",
        ),
        Measure(
            "weighted_jaccard",
            "image_pairs",
            "weighted_jaccard",
            True,
            None,
            "Σ_t min(a_t idf_t, b_t idf_t) / Σ_t max(a_t idf_t, b_t idf_t) (tf·idf)",
        ),
        Measure(
            "cosine",
            "image_pairs",
            "cosine",
            True,
            None,
            "Σ_t a_t b_t idf_t^(2α) / (‖a idf^α‖ ‖b idf^α‖), α = dbt var cosine_idf_exponent",
        ),
    )
}
DEFAULT = "symmetric_difference"


def get(name: str) -> Measure:
    """The measure ``name``; an unknown name is a :class:`SemspaceError` listing the known ones."""
    try:
        return MEASURES[name]
    except KeyError:
        raise SemspaceError(f"unknown measure {name!r}; known: {', '.join(MEASURES)}") from None
