"""Scores from the warehouse into ``computed.evaluation_scores``.

:func:`compute` reads a corpus's images and measures from the marts (:mod:`semspace.warehouse`;
the measures by name, :mod:`semspace.measures`, computed by dbt) and scores them against ECCV
Caption; :func:`write` replaces that corpus × image scope × measures' rows of
``computed.evaluation_scores`` (declared in :mod:`semspace.contract`) in one transaction;
:func:`evaluate` does both. The mart ``evaluation_scores`` is dbt's view over that table.

``image_scope`` is the corpus whose images were ranked: the corpus itself, or with ``within``
another corpus of the same dataset (an association run covering a subset), so that a caption
corpus and an association corpus are compared on exactly the same images and queries.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence

import duckdb
import numpy as np
import pyarrow as pa

from analysis.evaluation import eccv
from analysis.evaluation.metrics import (
    concatenate,
    query_row_metrics,
    ranking_depth,
    relevance_matrix,
    summarize,
)
from semspace import contract, db, warehouse
from semspace import measures as measures_
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

TABLE = contract.table(f"{contract.COMPUTED}.evaluation_scores")
_ARROW_TYPES = {"varchar": pa.string(), "double": pa.float64(), "integer": pa.int32(), "timestamp": pa.timestamp("us")}


def query_halves(query_coco_ids: np.ndarray) -> dict[str, np.ndarray]:
    """The two fixed halves of the queries, by COCO id: ``half_a`` the even ids, ``half_b`` the odd
    ones. Parameters (the cosine's α, the concept variant's hypernym levels) were chosen on half A
    alone; half B is the held-out check (docs/evaluation.md)."""
    even = np.asarray(query_coco_ids) % 2 == 0
    return {"half_a": even, "half_b": ~even}


def scope_positions(con: duckdb.DuckDBPyConnection, corpus: str, within: str, image_ids: np.ndarray) -> np.ndarray:
    """Positions in ``image_ids`` (``corpus``'s images) of the images that corpus ``within`` covers.

    ``within`` must be a corpus of the same dataset; images it covers outside ``corpus`` are an error
    (an association corpus covers a subset of its dataset's caption corpus, never more)."""
    dataset = warehouse.corpus(con, within)["dataset"]
    own = warehouse.corpus(con, corpus)["dataset"]
    if dataset != own:
        raise SemspaceError(
            f"corpus {within!r} covers dataset {dataset!r}, not {corpus!r}'s "
            f"{own!r}: --within needs a corpus of the same dataset"
        )
    covered = warehouse.image_ids(con, within)
    positions = np.searchsorted(image_ids, covered)
    inside = (positions < len(image_ids)) & (image_ids[np.minimum(positions, len(image_ids) - 1)] == covered)
    if not inside.all():
        raise SemspaceError(f"corpus {within!r} covers {int((~inside).sum())} image(s) that {corpus!r} lacks")
    return positions


def score_rows(
    corpus: str,
    image_scope: str | None,
    measure: str,
    metrics: Mapping[str, float],
    n_queries: int,
    computed_at: _dt.datetime,
) -> list[dict]:
    """The evaluation_scores rows of one measure's metrics (``image_scope`` None: the corpus's own)."""
    return [
        {
            "corpus": corpus,
            "image_scope": image_scope or corpus,
            "measure": measure,
            "benchmark": eccv.BENCHMARK,
            "metric": metric,
            "value": value,
            "n_queries": n_queries,
            "computed_at": computed_at,
        }
        for metric, value in metrics.items()
    ]


def compute(
    con: duckdb.DuckDBPyConnection,
    corpus: str = "coco",
    measures: Sequence[str] | None = None,
    positives: Mapping[int, Iterable[int]] | None = None,
    within: str | None = None,
) -> list[dict]:
    """Rows of evaluation_scores for ``corpus`` (not written). ``positives``: COCO id → COCO ids,
    ECCV Caption's by default. ``within``: rank only among the images that corpus covers (e.g. an
    association run's subset), queries and positives too; the measures stay ``corpus``'s own
    (IDF weights from all its images). The rows' ``image_scope`` is ``within``, else ``corpus``."""
    known = measures_.MEASURES
    measures = list(measures or known)
    unknown = [m for m in measures if m not in known]
    if unknown:
        raise SemspaceError(f"unknown measure(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if positives is None:
        positives = eccv.default_positives()
    image_ids, coco_ids = eccv.corpus_images(con, corpus)
    scope = None if within is None or within == corpus else scope_positions(con, corpus, within, image_ids)
    scope_ids = image_ids if scope is None else image_ids[scope]
    scope_coco = coco_ids if scope is None else coco_ids[scope]
    where = corpus if scope is None else f"{corpus!r}'s images covered by {within!r}"
    if len(scope_ids) < 2:
        raise SemspaceError(f"corpus {where} has {len(scope_ids)} image(s): nothing to retrieve")
    query_rows, relevance = relevance_matrix(positives, scope_coco)
    if len(query_rows) == 0:
        raise SemspaceError(f"corpus {where}: no ECCV Caption query image with a positive in it")
    computed_at = _dt.datetime.now()
    halves = query_halves(scope_coco[query_rows])
    # only the queries' rows, from the exact kernel: the values image_pairs holds (to the bit), for
    # a corpus that stores its pairs or not, in one pass for every measure; reading the n × n
    # matrices out of image_pairs took twice as long for one corpus
    every = _query_row_metrics(con, corpus, measures, image_ids, scope, scope_ids, query_rows, relevance, halves)
    rows = []
    for measure, metrics in every:
        log.debug("%s %s over %d queries: %s", where, measure, len(query_rows), metrics)
        rows += score_rows(corpus, within, measure, metrics, len(query_rows), computed_at)
    return rows


QUERY_CHUNK_BYTES = 64 * 2**20
"""Scores held at once by the query-rows path, per chunk of queries (8 bytes per query and image;
ranking needs a few times that): 64 MiB is ~80 queries of a 100,000-image corpus."""


def query_chunk(n_images: int, chunk_bytes: int | None = None) -> int:
    """Queries per chunk of the query-rows path for a corpus of ``n_images`` (``chunk_bytes``
    default: QUERY_CHUNK_BYTES)."""
    chunk_bytes = QUERY_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    return max(1, chunk_bytes // (8 * max(n_images, 1)))


def _query_row_metrics(
    con: duckdb.DuckDBPyConnection,
    corpus: str,
    measures: Sequence[str],
    image_ids: np.ndarray,
    scope: np.ndarray | None,
    scope_ids: np.ndarray,
    query_rows: np.ndarray,
    relevance: np.ndarray,
    halves: Mapping[str, np.ndarray],
    chunk: int | None = None,
) -> Iterator[tuple[str, dict[str, float]]]:
    """(measure, metrics) from only the queries' rows (queries × n), computed by the exact kernel
    (warehouse.QueryRows → semspace.neighbors.scores_many, every measure in one pass) a chunk of
    queries at a time, so memory is bounded by the chunk (QUERY_CHUNK_BYTES over all the
    measures), not n². A SQL null (the Jaccard of two empty sets) counts as 0, as image_neighbors
    ranks it."""
    # image_pairs' query rows only in a warehouse without the kernel's inputs (not one dbt built)
    kernel = warehouse.table_exists(con, "intermediate", "int_token_weights") or not warehouse.has_pairs(con, corpus)
    source = warehouse.QueryRows(con, corpus, image_ids, pairs=not kernel)
    chunk = chunk or query_chunk(len(image_ids) * max(1, len(measures)))
    depth = ranking_depth(relevance, query_rows)
    queries = scope_ids[query_rows]
    larger = {measure: measures_.MEASURES[measure].larger_is_closer for measure in measures}
    parts: dict[str, list] = {measure: [] for measure in measures}
    started = time.perf_counter()
    for start in range(0, len(query_rows), chunk):
        part = slice(start, start + chunk)
        every = source.rows_many(queries[part], measures)
        for measure in measures:
            scores = every.pop(measure)
            if scope is not None:
                scores = scores[:, scope]
            np.nan_to_num(scores, copy=False, nan=0.0)  # null as 0
            parts[measure].append(
                query_row_metrics(scores, scope_ids, query_rows[part], relevance[part], larger[measure], depth=depth)
            )
            del scores
    log.info(
        "%s, %d measures: %d query rows in chunks of %d in %.1f s",
        corpus,
        len(measures),
        len(query_rows),
        chunk,
        time.perf_counter() - started,
    )
    for measure in measures:
        yield measure, summarize(concatenate(parts.pop(measure)), halves)


def write(con: duckdb.DuckDBPyConnection, corpus: str, rows: Sequence[Mapping]) -> None:
    """Replace ``corpus``'s rows of computed.evaluation_scores for the (image scope, measure) pairs
    in ``rows`` (a run of one measure keeps the others' scores), in one transaction; the table is
    created from semspace.contract where it does not exist yet. A row without ``image_scope`` is
    scoped to its corpus."""
    rows = [{**r, "image_scope": r.get("image_scope") or r["corpus"]} for r in rows]
    if any(r["corpus"] != corpus for r in rows):
        raise ValueError(f"rows of another corpus than {corpus!r}")
    table = pa.table({c.name: pa.array([r[c.name] for r in rows], _ARROW_TYPES[c.type]) for c in TABLE.columns})
    contract.ensure(con, [TABLE.qualified])
    with db.transaction(
        con,
        {"new_evaluation_scores": table},
        failure=f"writing the evaluation of {corpus!r} failed, nothing was changed",
    ):
        for scope in sorted({r["image_scope"] for r in rows}):
            measures = sorted({r["measure"] for r in rows if r["image_scope"] == scope})
            con.execute(
                f"delete from {TABLE.qualified} where corpus = ? and image_scope = ? and list_contains(?, measure)",
                [corpus, scope, measures],
            )
        con.execute(f"insert into {TABLE.qualified} by name select * from new_evaluation_scores")


def evaluate(
    database: str | os.PathLike[str] | None = None,
    corpus: str = "coco",
    measures: Sequence[str] | None = None,
    within: str | None = None,
) -> list[dict]:
    """Score ``corpus``'s measures (all by default) on ECCV Caption image→image retrieval, among
    all its images or those ``within`` covers, write them to computed.evaluation_scores (replacing
    that corpus and scope's rows for those measures; the mart evaluation_scores shows them) and
    return the rows."""
    db.check_writable(database)  # a lock or a read-only file is found before the work, not after
    with db.connect(database, read_only=True) as con:
        rows = compute(con, corpus, measures, within=within)
    with db.connect(database) as con:
        write(con, corpus, rows)
    return rows


def format_rows(rows: Sequence[Mapping]) -> str:
    """A plain-text table of evaluate()'s rows: one line per (corpus, measure), one column per metric."""
    if not rows:
        return "no scores"
    metrics = list(dict.fromkeys(r["metric"] for r in rows))

    def key(r: Mapping) -> tuple[str, str]:
        scope = r.get("image_scope") or r["corpus"]
        return (r["corpus"] if scope == r["corpus"] else f"{r['corpus']} within {scope}", r["measure"])

    keys = list(dict.fromkeys(key(r) for r in rows))
    values = {(*key(r), r["metric"]): r["value"] for r in rows}
    queries = {key(r): r["n_queries"] for r in rows}
    cwidth = max(len("corpus"), *(len(c) for c, _ in keys))
    width = max(len("measure"), *(len(m) for _, m in keys))
    lines = [f"{'corpus':<{cwidth}} {'measure':<{width}} " + " ".join(f"{m:>12}" for m in metrics) + f" {'queries':>8}"]
    for corpus, measure in keys:
        cells = " ".join(
            f"{values[(corpus, measure, m)]:>12.4f}" if (corpus, measure, m) in values else f"{'':>12}" for m in metrics
        )
        lines.append(f"{corpus:<{cwidth}} {measure:<{width}} {cells} {queries[(corpus, measure)]:>8}")
    return "\n".join(lines)
