"""Every number the research note reports, as data, keyed by corpus name.

Chikayama & Nakada, "Image Representation of a Semantic Space" (research note; the figures are
summarised in ``../shared/docs/PAPER.md``). The report sets the warehouse's own values beside these;
nothing here is ever used as a result. Field names follow the warehouse's columns
(``corpus_summary``, ``pair_summary``, ``mds_spectrum``) so that the two line up by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TITLE = "Image Representation of a Semantic Space"
AUTHORS = "Chikayama & Nakada"
CITATION = f'{AUTHORS}, "{TITLE}" (research note)'


@dataclass(frozen=True)
class Neighbour:
    """One row of the note's Tables 2 and 4: (distance; image id; COCO id). Row 0 is the image itself."""

    distance: int
    image_id: int
    coco_id: int


@dataclass(frozen=True)
class NoteCorpus:
    """What the note reports for one corpus. ``None``: the note does not report it."""

    corpus: str
    label: str  # how the note names the corpus
    summary_table: str  # "Table 1" / "Table 3"
    map_figure: str  # "Figure 1" / "Figure 4"
    neighbours_table: str  # "Table 2" / "Table 4"
    # corpus_summary (Tables 1 and 3): totals, and the means per image of the table's second row
    n_images: int
    n_captions: int
    n_caption_chars: int
    n_tokens: int  # sum of the per-image set sizes
    n_distinct_tokens: int
    mean_captions: float
    mean_caption_chars: float
    mean_tokens: float
    # pair_summary (abstract and section 3.2)
    n_pairs: int
    min_symmetric_difference: int
    max_symmetric_difference: int
    min_intersection: int
    max_intersection: int
    min_union: int
    max_union: int
    corr_symmetric_difference_intersection: float
    # mds_spectrum: "of 5000 eigenvalues, N were positive"; the two plotted axes' share, in whole percent
    mds_n_points: int
    mds_n_positive: int
    mds_axes_1_2_share: float
    # Tables 2 and 4: the neighbours of one image, in the note's order, the image itself first
    neighbours: dict[int, tuple[Neighbour, ...]] = field(default_factory=dict)
    # section 3.2: "20113 tokens, 2.8 times" COCO's vocabulary
    vocabulary_ratio_to_coco: float | None = None


NOTE: dict[str, NoteCorpus] = {
    "coco": NoteCorpus(
        corpus="coco",
        label="MS-COCO captions",
        summary_table="Table 1",
        map_figure="Figure 1",
        neighbours_table="Table 2",
        n_images=5000,
        n_captions=25010,
        n_caption_chars=1_310_066,
        n_tokens=138_627,
        n_distinct_tokens=7254,
        mean_captions=5.0,
        mean_caption_chars=262.0,
        mean_tokens=27.7,
        n_pairs=12_497_500,
        min_symmetric_difference=7,
        max_symmetric_difference=95,
        min_intersection=0,
        max_intersection=22,
        min_union=21,
        max_union=101,
        corr_symmetric_difference_intersection=-0.201,
        mds_n_points=5000,
        mds_n_positive=1266,
        mds_axes_1_2_share=0.06,
        neighbours={
            100: (
                Neighbour(0, 100, 473237),
                Neighbour(23, 82, 507065),
                Neighbour(24, 2353, 381051),
                Neighbour(25, 1725, 27570),
                Neighbour(25, 4065, 286981),
                Neighbour(25, 1876, 357096),
            )
        },
    ),
    "falcon-7b-instruct": NoteCorpus(
        corpus="falcon-7b-instruct",
        label="falcon-7b-instruct associations",
        summary_table="Table 3",
        map_figure="Figure 4",
        neighbours_table="Table 4",
        n_images=5000,
        n_captions=25010,
        n_caption_chars=6_895_429,
        n_tokens=611_131,
        n_distinct_tokens=20_113,
        mean_captions=5.0,
        mean_caption_chars=1379.1,
        mean_tokens=122.2,
        n_pairs=12_497_500,
        min_symmetric_difference=69,
        max_symmetric_difference=425,
        min_intersection=9,
        max_intersection=84,
        min_union=105,
        max_union=467,
        corr_symmetric_difference_intersection=0.217,
        mds_n_points=5000,
        mds_n_positive=1904,
        mds_axes_1_2_share=0.04,
        neighbours={
            100: (
                Neighbour(0, 100, 473237),
                Neighbour(108, 3658, 132415),
                Neighbour(110, 2077, 257624),
                Neighbour(112, 3533, 53491),
                Neighbour(112, 2688, 473406),
            )
        },
        vocabulary_ratio_to_coco=2.8,
    ),
}
"""The note's figures by corpus name."""

FIGURES = {
    "tokens_per_image": "Figure 2",
    "pairs": "Figure 3",
}
"""The note's numbers of the figures that are not per corpus (Figure 3 shows both corpora side by side)."""


def reported(corpus: str) -> NoteCorpus | None:
    """The note's figures for ``corpus``, or None for a corpus the note does not report."""
    return NOTE.get(corpus)
