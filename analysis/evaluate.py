"""Image→image retrieval against the ECCV Caption positives (Chun et al. 2022).

Positives of a query image q (a COCO image id): ECCV Caption verifies, for each of its 1,261 query
images, a set of captions as positive matches (``eccv_image_to_caption.json``, query COCO id as a
string → caption ids). Each caption comes from one COCO image (``original_caption_to_image.json``,
caption id as a string → [COCO image id]). q's positives are the source images of its verified
captions, minus q itself (q's own captions say nothing about image→image retrieval). COCO ids are
mapped to the warehouse's image ids through ``images.coco_id`` of the corpus's dataset; ids outside
the corpus are dropped. Queries are the images with at least one positive (1,261 on the Karpathy
test split).

Every other image of the corpus is ranked for each query by a measure read from ``image_pairs``
(symmetric difference: smaller is closer; Jaccard, Dice, overlap coefficient: larger is closer),
ties broken by the smaller image id. Metrics, averaged over the queries:

* ``map_at_r`` — mAP@R (Musgrave et al. 2020, "A metric learning reality check"): with R the
  query's number of positives, AP@R = (1/R) Σ_{i≤R} P@i · rel(i).
* ``r_precision`` — the number of positives among the top R, divided by R.
* ``recall_at_k`` (K = 1, 5, 10) — the fraction of queries with at least one positive among the
  top K (the "hit rate" convention of cross-modal retrieval papers, not |positives in top K| / R).

Results go to ``main.evaluation_scores(corpus, measure, benchmark, metric, value, n_queries,
computed_at)``; a run replaces that corpus's rows in one transaction.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources

import duckdb
import numpy as np
import pyarrow as pa

from semspace import db
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

BENCHMARK = "eccv_caption"
TABLE = "evaluation_scores"
RECALL_KS = (1, 5, 10)

# measure → (SQL expression over an image_pairs row, True where larger means closer)
MEASURES: dict[str, tuple[str, bool]] = {
    "symmetric_difference": ("symmetric_difference::double", False),
    "jaccard": ("jaccard::double", True),
    "dice": ("case when n_i + n_j = 0 then 0.0 else 2.0 * n_intersection / (n_i + n_j) end", True),
    "overlap": ("case when least(n_i, n_j) = 0 then 0.0 else n_intersection::double / least(n_i, n_j) end", True),
    # Σ_{A∩B} w / Σ_{A∪B} w with w = ln(N / document frequency): not a function of one image_pairs
    # row, so computed from token_sets (IDF_JACCARD_SQL)
    "idf_jaccard": ("", True),
}

# IDF-weighted Jaccard of every pair that shares a token (the others are 0), in one query.
IDF_JACCARD_SQL = """
with corpus_tokens as (
    select image_id, token from token_sets where corpus = $corpus
),
n_images as (
    select count(*)::double as n from set_sizes where corpus = $corpus
),
weights as (
    select token, ln(n_images.n / count(*)) as w
    from corpus_tokens, n_images
    group by token, n_images.n
),
weighted as (
    select corpus_tokens.image_id, corpus_tokens.token, weights.w
    from corpus_tokens join weights using (token)
    where weights.w > 0  -- a token every image has weighs nothing
),
totals as (
    select image_id, sum(w) as total from weighted group by image_id
),
shared as (
    select a.image_id as image_i, b.image_id as image_j, sum(a.w) as inter
    from weighted a join weighted b on a.token = b.token and a.image_id < b.image_id
    group by a.image_id, b.image_id
)
select shared.image_i, shared.image_j,
       case when ti.total + tj.total - shared.inter > 0
            then shared.inter / (ti.total + tj.total - shared.inter) else 0.0 end as value
from shared
join totals ti on ti.image_id = shared.image_i
join totals tj on tj.image_id = shared.image_j
"""


# ---------------------------------------------------------------------------------------------
# positives


def load_eccv() -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """(query COCO id → verified caption ids, caption id → [source COCO id]) from eccv-caption's data."""
    try:
        with warnings.catch_warnings():  # the package warns on import when ujson is missing
            warnings.filterwarnings("ignore", message=".*ujson.*")
            data = resources.files("eccv_caption") / "data"
    except ModuleNotFoundError as exc:
        raise SemspaceError("the ECCV Caption data needs the `eccv-caption` package (pip install eccv-caption)") from exc
    image_to_caption = json.loads((data / "eccv_image_to_caption.json").read_text())
    caption_to_image = json.loads((data / "original_caption_to_image.json").read_text())
    return image_to_caption, caption_to_image


def eccv_positives(image_to_caption: Mapping, caption_to_image: Mapping) -> dict[int, set[int]]:
    """Query COCO id → the COCO ids of the source images of its verified captions, minus itself.

    Keys of both mappings may be str (as in the JSON files) or int; values of ``caption_to_image``
    may be one id or a list of ids. Queries left with no positive are omitted."""
    sources = {int(k): ([int(x) for x in v] if isinstance(v, (list, tuple)) else [int(v)])
               for k, v in caption_to_image.items()}
    positives: dict[int, set[int]] = {}
    for query, captions in image_to_caption.items():
        q = int(query)
        images = {image for caption in captions for image in sources.get(int(caption), ())}
        images.discard(q)
        if images:
            positives[q] = images
    return positives


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


# ---------------------------------------------------------------------------------------------
# ranking and metrics


def rank(scores: np.ndarray, image_ids: np.ndarray, larger_is_closer: bool) -> np.ndarray:
    """Column order of each row of ``scores`` (queries × n), best first, ties by smaller image id."""
    key = -scores if larger_is_closer else scores
    ids = np.broadcast_to(np.asarray(image_ids), key.shape)
    return np.lexsort((ids, key), axis=-1)


def retrieval_metrics(ranked_relevance: np.ndarray, n_relevant: np.ndarray,
                      ks: Sequence[int] = RECALL_KS) -> dict[str, float]:
    """Mean mAP@R, R-Precision and Recall@K of boolean relevance in ranked order (queries × ranks).

    ``n_relevant`` is R per query (the query's total number of positives, which may exceed what the
    ranking shows). Queries with R = 0 must not be passed."""
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
    ap_at_r = (precision * rel * within_r).sum(axis=1) / r
    r_precision = (rel & within_r).sum(axis=1) / r
    out = {"map_at_r": float(ap_at_r.mean()), "r_precision": float(r_precision.mean())}
    for k in ks:
        out[f"recall_at_{k}"] = float(rel[:, :k].any(axis=1).mean())
    return out


def score_matrix(matrix: np.ndarray, image_ids: np.ndarray, query_rows: np.ndarray, relevance: np.ndarray,
                 larger_is_closer: bool, ks: Sequence[int] = RECALL_KS) -> dict[str, float]:
    """Metrics of an n × n similarity (``larger_is_closer``) or distance matrix.

    ``query_rows``: positions of the queries in the matrix; ``relevance``: boolean queries × n (the
    query's own column is ignored: each query is ranked against all other images). Reusable for
    any matrix over the same images, e.g. a dense-embedding baseline's cosine similarities."""
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
    return retrieval_metrics(ranked, rel.sum(axis=1), ks)


# ---------------------------------------------------------------------------------------------
# warehouse


def load_measure(con: duckdb.DuckDBPyConnection, corpus: str, measure: str,
                 image_ids: np.ndarray) -> np.ndarray:
    """n × n symmetric matrix of a measure over the corpus's images (``image_ids`` ascending), one query."""
    if measure not in MEASURES:
        raise SemspaceError(f"unknown measure {measure!r}; known: {', '.join(MEASURES)}")
    expression, _ = MEASURES[measure]
    n = len(image_ids)
    if measure == "idf_jaccard":
        pairs = con.execute(IDF_JACCARD_SQL, {"corpus": corpus}).fetchnumpy()
    else:
        pairs = con.execute(f"select image_i, image_j, {expression} as value from image_pairs where corpus = ?",
                            [corpus]).fetchnumpy()
        if len(pairs["value"]) != n * (n - 1) // 2:
            raise SemspaceError(f"corpus {corpus!r}: image_pairs has {len(pairs['value'])} pairs, expected "
                                f"{n * (n - 1) // 2}; rebuild with `dbt build`")
    position = np.full(int(image_ids.max()) + 1, -1, dtype=np.int64)
    position[image_ids] = np.arange(n)
    cells = position[np.asarray(pairs["image_i"])] * n + position[np.asarray(pairs["image_j"])]
    matrix = np.zeros((n, n))
    np.put(matrix, cells, np.asarray(pairs["value"], dtype=np.float64))
    matrix += matrix.T
    return matrix


def load_images(con: duckdb.DuckDBPyConnection, corpus: str) -> tuple[np.ndarray, np.ndarray]:
    """(image ids ascending, their COCO ids) of a corpus."""
    found = con.execute("select dataset from corpora where corpus = ?", [corpus]).fetchone()
    if found is None:
        known = [r[0] for r in con.execute("select corpus from corpora order by corpus").fetchall()]
        raise SemspaceError(f"no corpus {corpus!r} in the warehouse; corpora: {', '.join(known) or 'none'}")
    table = con.execute(
        "select s.image_id, i.coco_id from set_sizes s left join images i "
        "on i.image_id = s.image_id and i.dataset = ? where s.corpus = ? order by s.image_id",
        [found[0], corpus]).fetchnumpy()
    ids = np.asarray(table["image_id"], dtype=np.int64)
    coco = table["coco_id"]
    coco = np.where(np.ma.getmaskarray(coco), -1, np.ma.filled(coco, -1)) if np.ma.isMaskedArray(coco) else np.asarray(coco)
    return ids, np.asarray(coco, dtype=np.int64)


def compute(con: duckdb.DuckDBPyConnection, corpus: str = "coco", measures: Sequence[str] | None = None,
            positives: Mapping[int, Iterable[int]] | None = None) -> list[dict]:
    """Rows of evaluation_scores for ``corpus`` (not written). ``positives``: COCO id → COCO ids,
    ECCV Caption's by default."""
    measures = list(measures or MEASURES)
    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise SemspaceError(f"unknown measure(s) {', '.join(unknown)}; known: {', '.join(MEASURES)}")
    if positives is None:
        positives = eccv_positives(*load_eccv())
    image_ids, coco_ids = load_images(con, corpus)
    if len(image_ids) < 2:
        raise SemspaceError(f"corpus {corpus!r} has {len(image_ids)} image(s): nothing to retrieve")
    query_rows, relevance = relevance_matrix(positives, coco_ids)
    if len(query_rows) == 0:
        raise SemspaceError(f"corpus {corpus!r}: no ECCV Caption query image with a positive in it")
    computed_at = _dt.datetime.now()
    rows = []
    for measure in measures:
        matrix = load_measure(con, corpus, measure, image_ids)
        metrics = score_matrix(matrix, image_ids, query_rows, relevance, MEASURES[measure][1])
        del matrix
        log.info("%s %s over %d queries: %s", corpus, measure, len(query_rows), metrics)
        rows += [{"corpus": corpus, "measure": measure, "benchmark": BENCHMARK, "metric": metric,
                  "value": value, "n_queries": len(query_rows), "computed_at": computed_at}
                 for metric, value in metrics.items()]
    return rows


def write(con: duckdb.DuckDBPyConnection, corpus: str, rows: list[dict]) -> None:
    """Replace ``corpus``'s rows of main.evaluation_scores for the measures in ``rows`` (a run of
    one measure keeps the others' scores), in one transaction."""
    table = pa.table({
        "corpus": pa.array([r["corpus"] for r in rows], pa.string()),
        "measure": pa.array([r["measure"] for r in rows], pa.string()),
        "benchmark": pa.array([r["benchmark"] for r in rows], pa.string()),
        "metric": pa.array([r["metric"] for r in rows], pa.string()),
        "value": pa.array([r["value"] for r in rows], pa.float64()),
        "n_queries": pa.array([r["n_queries"] for r in rows], pa.int32()),
        "computed_at": pa.array([r["computed_at"] for r in rows], pa.timestamp("us")),
    })
    if any(r["corpus"] != corpus for r in rows):
        raise ValueError(f"rows of another corpus than {corpus!r}")
    con.execute("begin transaction")
    try:
        con.register("new_evaluation_scores", table)
        con.execute(f"create table if not exists main.{TABLE} as select * from new_evaluation_scores limit 0")
        measures = sorted({r["measure"] for r in rows})
        con.execute(f"delete from main.{TABLE} where corpus = ? and list_contains(?, measure)", [corpus, measures])
        con.execute(f"insert into main.{TABLE} by name select * from new_evaluation_scores")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        try:
            con.unregister("new_evaluation_scores")
        except duckdb.Error:
            pass


def evaluate(database: str | os.PathLike[str] | None = None, corpus: str = "coco",
             measures: Sequence[str] | None = None) -> list[dict]:
    """Score ``corpus``'s measures (all four by default) on ECCV Caption image→image retrieval,
    write them to main.evaluation_scores (replacing that corpus's rows) and return the rows."""
    with db.connect(database, read_only=True) as con:
        rows = compute(con, corpus, measures)
    with db.connect(database) as con:
        write(con, corpus, rows)
    return rows


def format_rows(rows: Sequence[Mapping]) -> str:
    """A plain-text table of evaluate()'s rows: one line per (corpus, measure), one column per metric."""
    if not rows:
        return "no scores"
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    keys = list(dict.fromkeys((r["corpus"], r["measure"]) for r in rows))
    values = {(r["corpus"], r["measure"], r["metric"]): r["value"] for r in rows}
    queries = {(r["corpus"], r["measure"]): r["n_queries"] for r in rows}
    width = max(len("measure"), *(len(m) for _, m in keys))
    lines = [f"{'corpus':<10} {'measure':<{width}} " + " ".join(f"{m:>12}" for m in metrics) + f" {'queries':>8}"]
    for corpus, measure in keys:
        cells = " ".join(f"{values[(corpus, measure, m)]:>12.4f}" if (corpus, measure, m) in values else f"{'':>12}"
                         for m in metrics)
        lines.append(f"{corpus:<10} {measure:<{width}} {cells} {queries[(corpus, measure)]:>8}")
    return "\n".join(lines)
