"""What the report shows, read from the marts through :mod:`semspace.warehouse`, as plain data.

One function per section; each returns dataclasses (or None where the warehouse has no row for
the corpus) and nothing here writes HTML or Markdown or draws a figure. The note's values come
from :mod:`analysis.note`; :class:`~analysis.report.compare.Comparison` sets them beside ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from analysis import evaluate as ev
from analysis import note
from analysis.report.compare import NONE, Comparison, count, score
from semspace import measures, warehouse

MARTS = (
    "corpora",
    "images",
    "image_captions",
    "set_sizes",
    "image_pairs",
    "image_neighbors",
    "corpus_summary",
    "pair_summary",
    "mds_spectrum",
    "mds_coordinates",
    "evaluation_scores",
)
"""Every mart the report reads; a warehouse without one of them was never built (or built before it)."""

METRICS = (
    "map_at_r",
    "r_precision",
    "recall_at_1",
    "recall_at_5",
    "recall_at_10",
    "map_at_r_half_a",
    "map_at_r_half_b",
)
EXAMPLE_K = 10


@dataclass
class Figure:
    """A figure drawn at build time (``path``), or why it was left out (``error``)."""

    path: Path | None = None
    error: str | None = None


@dataclass(frozen=True)
class Link:
    """A table cell linking to ``url`` (the templates make it a link only for an http(s) address)."""

    text: str
    url: str


Cell = str | list[str] | Link
"""A table cell: text, several lines (an image's captions) or a link."""


# ------------------------------------------------------------------------------------ one corpus


def coco_vocabulary(con: duckdb.DuckDBPyConnection) -> int | None:
    """The vocabulary of corpus ``coco``: the note gives another corpus's relative to it."""
    found = warehouse.rows(con, "select n_distinct_tokens from corpus_summary where corpus = 'coco'")
    return found[0]["n_distinct_tokens"] if found else None


def summary(
    con: duckdb.DuckDBPyConnection, corpus: str, reported: note.NoteCorpus | None, vocabulary_of_coco: int | None
) -> list[Comparison] | None:
    """corpus_summary beside the note's Table 1 / 3; None without a row for the corpus."""
    found = warehouse.rows(con, "select * from corpus_summary where corpus = ?", [corpus])
    if not found:
        return None
    row, r = found[0], reported
    n_images = row["n_images"] or 0
    lines = [
        Comparison("images", row["n_images"], r and r.n_images),
        Comparison("captions (texts)", row["n_captions"], r and r.n_captions),
        Comparison(
            "captions per image (mean)",
            row["n_captions"] / n_images if n_images else None,
            r and r.mean_captions,
            "float",
        ),
        Comparison("caption characters", row["n_caption_chars"], r and r.n_caption_chars),
        Comparison("characters per image (mean)", row["mean_caption_chars"], r and r.mean_caption_chars, "float"),
        Comparison("tokens (sum of per-image set sizes)", row["n_tokens"], r and r.n_tokens),
        Comparison("tokens per image (mean)", row["mean_tokens"], r and r.mean_tokens, "float"),
        Comparison("distinct tokens (vocabulary)", row["n_distinct_tokens"], r and r.n_distinct_tokens),
    ]
    if r and r.vocabulary_ratio_to_coco is not None:
        ours = row["n_distinct_tokens"] / vocabulary_of_coco if vocabulary_of_coco else None
        lines.append(Comparison("vocabulary relative to coco's", ours, r.vocabulary_ratio_to_coco, "float"))
    return lines


@dataclass
class Pairs:
    n_pairs: int
    comparisons: list[Comparison]
    figure: Figure | None = None  # Figure 3, drawn at build time
    has_rows: bool = True  # image_pairs holds the corpus's pairs (not so above all_pairs_max_images)
    n_images: int | None = None


def pairs(con: duckdb.DuckDBPyConnection, corpus: str, reported: note.NoteCorpus | None) -> Pairs | None:
    """pair_summary beside the note's pair statistics; None without a row for the corpus.

    pair_summary is over all pairs for every corpus; one above the dbt var all_pairs_max_images
    has no image_pairs rows (has_rows false: no pair figure), its figures come from the kernel's
    pass over all pairs (int_pair_statistics)."""
    found = warehouse.rows(con, "select * from pair_summary where corpus = ?", [corpus])
    if not found:
        return None
    row, r = found[0], reported
    result = Pairs(
        row["n_pairs"] or 0,
        [],
        has_rows=warehouse.has_pairs(con, corpus),
        n_images=warehouse.rows(con, "select count(*) as n from set_sizes where corpus = ?", [corpus])[0]["n"],
    )
    correlation = "correlation of symmetric difference with intersection"
    result.comparisons = [
        Comparison("image pairs", row["n_pairs"], r and r.n_pairs),
        Comparison(
            "symmetric difference |A Δ B|, min",
            row["min_symmetric_difference"],
            r and r.min_symmetric_difference,
        ),
        Comparison(
            "symmetric difference |A Δ B|, max",
            row["max_symmetric_difference"],
            r and r.max_symmetric_difference,
        ),
        Comparison("intersection |A ∩ B|, min", row["min_intersection"], r and r.min_intersection),
        Comparison("intersection |A ∩ B|, max", row["max_intersection"], r and r.max_intersection),
        Comparison("union |A ∪ B|, min", row["min_union"], r and r.min_union),
        Comparison("union |A ∪ B|, max", row["max_union"], r and r.max_union),
        Comparison(
            correlation,
            row["corr_symmetric_difference_intersection"],
            r and r.corr_symmetric_difference_intersection,
            "float",
            decimals=5,
        ),
    ]
    return result


@dataclass
class Spectrum:
    comparisons: list[Comparison]
    landmark: bool  # landmark MDS: the eigenvalues are the landmarks'
    figure: Figure | None = None  # Figure 1 / 4, drawn at build time


def spectrum(con: duckdb.DuckDBPyConnection, corpus: str, reported: note.NoteCorpus | None) -> Spectrum | None:
    """mds_spectrum beside the note's eigenvalue counts and axis shares; None before MDS ran."""
    found = warehouse.rows(con, "select * from mds_spectrum where corpus = ?", [corpus])
    if not found:
        return None
    row, r = found[0], reported
    shares = sorted((int(k.rsplit("_", 1)[1]), v) for k, v in row.items() if k.startswith("axis_share_"))
    share = dict(shares)
    landmark = row.get("method") == "landmark"
    lines = [Comparison("images placed", row["n_points"], r and r.mds_n_points)]
    if landmark:
        lines.append(Comparison("method", f"landmark MDS ({row.get('n_landmarks'):,} landmarks)", kind="text"))
    lines += [
        Comparison("eigenvalues", row.get("n_eigenvalues") or row["n_points"], r and r.mds_n_points),
        Comparison("positive eigenvalues (> tolerance)", row["n_positive"], r and r.mds_n_positive),
        Comparison(
            "positive + zero eigenvalues (the note's count, see below)",
            row["n_positive"] + row["n_zero"],
            r and r.mds_n_positive,
        ),
        Comparison("zero eigenvalues (|λ| ≤ tolerance)", row["n_zero"]),
        Comparison("negative eigenvalues (< −tolerance)", row["n_negative"]),
        Comparison("tolerance", row["tolerance"], kind="sci"),
        Comparison("sum of positive eigenvalues", row["sum_positive"], kind="float", decimals=1),
        Comparison("sum of |negative eigenvalues|", row["sum_abs_negative"], kind="float", decimals=1),
        Comparison(
            "share of axes 1 + 2 in the positive sum",
            (share.get(1) or 0) + (share.get(2) or 0),
            r and r.mds_axes_1_2_share,
            "share",
            note_decimals=0,
        ),  # the note: "6%" / "4%"
    ]
    lines += [Comparison(f"share of axis {k}", v, kind="share", decimals=2) for k, v in shares]
    return Spectrum(lines, landmark)


@dataclass
class NeighbourRow:
    rank: int | None  # None: the note lists it, this warehouse's top k does not
    image_id: int
    distance: Comparison  # ours beside the note's
    coco_id: int | None
    note_coco_id: int | None  # the note's COCO id where it differs from ours
    note_row: int | None  # its row in the note's table
    shared: int | None  # |A ∩ B|
    captions: list[str]
    url: str | None

    @property
    def cells(self) -> list[Cell]:
        coco = NONE if self.coco_id is None else str(self.coco_id)  # ids without thousands separators
        if self.note_coco_id is not None:
            coco += f" (note: {self.note_coco_id})"
        return [
            NONE if self.rank is None else str(self.rank),
            self.distance.ours_text,
            self.distance.note_text,
            self.distance.difference_text,
            str(self.image_id),
            coco,
            NONE if self.note_row is None else str(self.note_row),
            count(self.shared),
            self.captions or NONE,
            Link("image", self.url) if self.url else NONE,
        ]


@dataclass
class Neighbours:
    image_id: int
    dataset: str
    present: bool  # the image is in the corpus
    rows: list[NeighbourRow] = field(default_factory=list)
    k: int = 0  # this warehouse's neighbours listed (image_neighbors)
    note_table: str | None = None  # "Table 2" where the note lists this image's neighbours
    note_rows: int = 0
    agree: int = 0  # the note's rows here at the same distance
    missing: int = 0  # the note's rows not in this warehouse's top k
    looked_up_in: str = "image_pairs"  # where their distances come from ("the exact kernel": no pairs)


def _distances(con: duckdb.DuckDBPyConnection, corpus: str, a: int, others: Sequence[int]) -> list[int | None]:
    """|A Δ B| of image ``a`` with each of ``others``: looked up in image_pairs, or, for a corpus
    without all-pairs rows, computed from a's one row (warehouse.QueryRows, the exact kernel).
    None for an image not in the corpus."""
    if not others:
        return []
    if not warehouse.has_pairs(con, corpus):
        source = warehouse.QueryRows(con, corpus, pairs=False)
        row = source.rows([a], "symmetric_difference")[0]
        at = {int(i): p for p, i in enumerate(source.ids)}
        return [0 if b == a else (None if b not in at else int(row[at[b]])) for b in others]
    out: list[int | None] = []
    for b in others:
        if a == b:
            out.append(0)
            continue
        found = warehouse.rows(
            con,
            "select symmetric_difference from image_pairs where corpus = ? and image_i = ? and image_j = ?",
            [corpus, min(a, b), max(a, b)],
        )
        out.append(int(found[0]["symmetric_difference"]) if found else None)
    return out


def neighbours(
    con: duckdb.DuckDBPyConnection, corpus: dict[str, Any], reported: note.NoteCorpus | None, image_id: int
) -> Neighbours:
    """The image itself (rank 0) and its image_neighbors, each beside the note's Table 2 / 4 row
    where it has one; the note's rows missing from this warehouse's top k follow, their distance
    looked up in image_pairs (computed by the exact kernel for a corpus without all-pairs rows).
    Captions from image_captions, ids and URLs from images."""
    name, dataset = corpus["corpus"], corpus["dataset"]
    listed = reported.neighbours.get(image_id) if reported else None
    result = Neighbours(
        image_id,
        dataset,
        warehouse.has_image(con, name, image_id),
        note_table=reported.neighbours_table if reported and listed else None,
        note_rows=len(listed or ()),
    )
    if not result.present:
        return result
    ours = warehouse.rows(
        con,
        "select rank, neighbor_id, symmetric_difference, n_intersection from image_neighbors "
        "where corpus = ? and image_id = ? and measure = 'symmetric_difference' order by rank",
        [name, image_id],
    )
    size = warehouse.rows(con, "select n_tokens from set_sizes where corpus = ? and image_id = ?", [name, image_id])
    # (rank, image, distance, shared tokens)
    found: list[tuple[int | None, int, int | None, int | None]] = [(0, image_id, 0, size[0]["n_tokens"])]
    found += [(o["rank"], o["neighbor_id"], o["symmetric_difference"], o["n_intersection"]) for o in ours]
    seen = {image for _, image, _, _ in found}
    missing = [n for n in (listed or ()) if n.image_id not in seen]
    distances = _distances(con, name, image_id, [n.image_id for n in missing])
    found += [(None, n.image_id, d, None) for n, d in zip(missing, distances)]
    ids = [image for _, image, _, _ in found]
    images = warehouse.images(con, dataset, ids)
    captions = warehouse.captions(con, dataset, ids)
    in_note = {n.image_id: (row, n) for row, n in enumerate(listed or ())}
    for rank, image, distance, shared in found:
        info = images.get(image, {})
        coco_id = info.get("coco_id")
        note_row, n = in_note.get(image, (None, None))
        if n is not None and distance == n.distance:
            result.agree += 1
        result.rows.append(
            NeighbourRow(
                rank,
                image,
                Comparison("distance", distance, n.distance if n is not None else None),
                coco_id,
                n.coco_id if n is not None and coco_id is not None and n.coco_id != coco_id else None,
                note_row,
                shared,
                captions.get(image, []),
                info.get("url"),
            )
        )
    result.k, result.missing = len(ours), len(missing)
    if missing and not warehouse.has_pairs(con, name):
        result.looked_up_in = "the exact kernel"
    return result


@dataclass
class Corpus:
    """One corpus's sections."""

    name: str
    row: dict[str, Any]  # its corpora row: kind, dataset, tokenizer, source
    reported: note.NoteCorpus | None
    summary: list[Comparison] | None
    pairs: Pairs | None
    spectrum: Spectrum | None
    neighbours: Neighbours


def corpus_sections(
    con: duckdb.DuckDBPyConnection, row: dict[str, Any], image_id: int, vocabulary_of_coco: int | None
) -> Corpus:
    name = row["corpus"]
    reported = note.reported(name)
    return Corpus(
        name,
        row,
        reported,
        summary(con, name, reported, vocabulary_of_coco),
        pairs(con, name, reported),
        spectrum(con, name, reported),
        neighbours(con, row, reported, image_id),
    )


# ---------------------------------------------------------------------------------- evaluation


@dataclass
class Scores:
    corpus: str
    measure: str
    n_queries: int | None
    map_at_r: float | None
    r_precision: float | None
    recall_at_1: float | None
    recall_at_5: float | None
    recall_at_10: float | None
    map_at_r_half_a: float | None = None  # the queries of even COCO id (where parameters were chosen)
    map_at_r_half_b: float | None = None  # the odd ones (held out)

    @property
    def cells(self) -> list[Cell]:
        return [
            self.corpus,
            self.measure,
            count(self.n_queries),
            score(self.map_at_r),
            score(self.r_precision),
            score(self.recall_at_1),
            score(self.recall_at_5),
            score(self.recall_at_10),
            score(self.map_at_r_half_a),
            score(self.map_at_r_half_b),
        ]


@dataclass
class Scope:
    """Scores of the retrieval among only the images corpus ``name`` covers (``--within``)."""

    name: str
    n_images: int
    scores: list[Scores]


@dataclass
class ExampleRow:
    corpus: str
    measure: str
    nearest: list[tuple[int, bool]]  # (image id, is a positive), nearest first

    @property
    def hits(self) -> int:
        return sum(positive for _, positive in self.nearest)

    @property
    def cells(self) -> list[Cell]:
        marked = ", ".join(f"{i}{' ✓' if positive else ''}" for i, positive in self.nearest)
        return [self.corpus, self.measure, count(self.hits), marked]


@dataclass
class Example:
    """One image's ECCV positives beside its nearest images under each evaluated set measure."""

    image_id: int
    asked: int  # the image asked for; another when it is no ECCV Caption query
    positives: list[int]
    first_captions: dict[int, str]  # of the image and its positives
    rows: list[ExampleRow]
    k: int = EXAMPLE_K

    def label(self, image_id: int) -> str:
        """``82 (“its first caption”)``."""
        return f"{image_id} (“{self.first_captions.get(image_id, '')}”)"

    @property
    def positive_labels(self) -> list[str]:
        return [self.label(i) for i in self.positives]


@dataclass
class BestNeighbour:
    rank: int
    image_id: int
    value: float
    positive: bool | None  # None: the image is no ECCV Caption query
    caption: str

    @property
    def cells(self) -> list[Cell]:
        mark = "" if self.positive is None else ("✓" if self.positive else "")
        return [count(self.rank), count(self.image_id), f"{self.value:.4g}", mark, self.caption]


@dataclass
class Best:
    """The neighbours of one image (the note's image 100) under the interpretable (corpus, measure)
    that agrees best with people, each with its first caption."""

    corpus: str
    measure: str
    formula: str
    map_at_r: float | None
    image_id: int
    captions: list[str]
    rows: list[BestNeighbour]


@dataclass
class Evaluation:
    own: list[Scores]  # each corpus ranked among its own images, best mAP@R first
    scopes: list[Scope]
    example: Example | None
    best: Best | None = None

    @property
    def empty(self) -> bool:
        return not self.own and not self.scopes


def score_rows(con: duckdb.DuckDBPyConnection, corpora: Sequence[str]) -> list[dict[str, Any]]:
    """The ECCV Caption rows of evaluation_scores for ``corpora``, one per (corpus, image scope,
    measure) with a column per metric (METRICS), best mAP@R first."""
    return warehouse.rows(
        con,
        """
        select corpus, coalesce(image_scope, corpus) as image_scope, measure, max(n_queries) as n_queries,
               max(value) filter (where metric = 'map_at_r') as map_at_r,
               max(value) filter (where metric = 'r_precision') as r_precision,
               max(value) filter (where metric = 'recall_at_1') as recall_at_1,
               max(value) filter (where metric = 'recall_at_5') as recall_at_5,
               max(value) filter (where metric = 'recall_at_10') as recall_at_10,
               max(value) filter (where metric = 'map_at_r_half_a') as map_at_r_half_a,
               max(value) filter (where metric = 'map_at_r_half_b') as map_at_r_half_b
        from evaluation_scores
        where benchmark = ? and list_contains(?, corpus)
        group by all
        order by map_at_r desc nulls last, corpus, measure""",
        [ev.BENCHMARK, list(corpora)],
    )


def _as_scores(row: dict[str, Any]) -> Scores:
    return Scores(row["corpus"], row["measure"], row["n_queries"], *(row[m] for m in METRICS))


def evaluation(con: duckdb.DuckDBPyConnection, corpora: Sequence[str], image_id: int) -> Evaluation:
    """Every (corpus, measure) score of `python -m analysis evaluate`: among each corpus's own images,
    then per narrower image scope; and the one-image example. Empty before evaluate ran."""
    found = score_rows(con, corpora)
    names = sorted({r["image_scope"] for r in found if r["image_scope"] != r["corpus"]})
    own = [r for r in found if r["image_scope"] == r["corpus"] and r["corpus"] not in names]
    scopes = []
    for name in names:  # every corpus ranked among `name`'s images, `name`'s own scores included
        size = warehouse.rows(con, "select count(*) as n from set_sizes where corpus = ?", [name])
        scopes.append(Scope(name, size[0]["n"], [_as_scores(r) for r in found if r["image_scope"] == name]))
    scored = [(r["corpus"], r["measure"]) for r in own if r["measure"] in measures.MEASURES]
    top = next((r for r in own if r["measure"] in measures.MEASURES), None)
    return Evaluation(
        [_as_scores(r) for r in own],
        scopes,
        example(con, scored, image_id),
        best_neighbours(con, top["corpus"], top["measure"], top["map_at_r"], image_id) if top else None,
    )


def best_neighbours(
    con: duckdb.DuckDBPyConnection, corpus: str, measure: str, map_at_r: float | None, image_id: int
) -> Best | None:
    """Image ``image_id``'s EXAMPLE_K nearest images in ``corpus`` under ``measure`` with their first
    captions, positives (ECCV Caption) marked; None when the corpus lacks the image."""
    if not warehouse.has_image(con, corpus, image_id):
        return None
    near = warehouse.neighbours(con, corpus, image_id, measure, k=EXAMPLE_K)
    found = ev.image_positives(con, corpus, image_id)
    dataset = warehouse.corpus(con, corpus)["dataset"]
    captions = warehouse.captions(con, dataset, [image_id, *(n.image_id for n in near)])
    rows = [
        BestNeighbour(
            n.rank,
            n.image_id,
            n.value,
            None if found is None else n.image_id in found,
            (captions.get(n.image_id) or [""])[0],
        )
        for n in near
    ]
    m = measures.get(measure)
    return Best(corpus, measure, m.formula, map_at_r, image_id, captions.get(image_id, []), rows)


def example(con: duckdb.DuckDBPyConnection, scored: Sequence[tuple[str, str]], image_id: int) -> Example | None:
    """Image ``image_id`` (or, when it is no ECCV Caption query, the first query after it) with its
    positives and its nearest images under each scored (corpus, set measure) pair, ranked as the
    evaluation ranks (:func:`semspace.warehouse.neighbours`). The queries are those of the first
    corpus scored; None when nothing is scored or it has no query."""
    if not scored:
        return None
    corpus = scored[0][0]
    warehouse.require_marts(con, *dict.fromkeys(measures.get(m).relation for _, m in scored))
    positives = ev.eccv_positives(*ev.load_eccv())
    shown = image_id
    found = ev.image_positives(con, corpus, image_id, positives)
    if found is None:
        queries = ev.query_images(con, corpus, positives)
        later = [q for q in queries if q > image_id] or queries
        if not later:
            return None
        shown = later[0]
        found = ev.image_positives(con, corpus, shown, positives) or []
    dataset = warehouse.corpus(con, corpus)["dataset"]
    captions = warehouse.captions(con, dataset, [shown, *found])
    rows = []
    for name, measure in scored:
        if name != corpus and not warehouse.has_image(con, name, shown):
            continue
        near = warehouse.neighbours(con, name, shown, measure, k=EXAMPLE_K)
        rows.append(ExampleRow(name, measure, [(n.image_id, n.image_id in found) for n in near]))
    return Example(shown, image_id, list(found), {i: (captions.get(i) or [""])[0] for i in [shown, *found]}, rows)
