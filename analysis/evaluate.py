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

Results go to ``main.evaluation_scores(corpus, image_scope, measure, benchmark, metric, value,
n_queries, computed_at)``; a run replaces that corpus and scope's rows in one transaction.
``image_scope`` is the corpus whose images were ranked: the corpus itself, or with ``--within``
another corpus of the same dataset (an association run covering a subset), so that a caption
corpus and an association corpus are compared on exactly the same images and queries.
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
# IDF_WEIGHTS_SQL: the weighted tokens of each image and each image's total weight;
# IDF_PAIRS_SQL adds the pairs, {pair_filter} restricting them (to one image's for neighbours).
IDF_WEIGHTS_SQL = """
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
)"""
IDF_PAIRS_SQL = IDF_WEIGHTS_SQL + """,
shared as (
    select a.image_id as image_i, b.image_id as image_j, sum(a.w) as inter
    from weighted a join weighted b on a.token = b.token and a.image_id < b.image_id
    {pair_filter}
    group by a.image_id, b.image_id
)
select shared.image_i, shared.image_j,
       case when ti.total + tj.total - shared.inter > 0
            then shared.inter / (ti.total + tj.total - shared.inter) else 0.0 end as value
from shared
join totals ti on ti.image_id = shared.image_i
join totals tj on tj.image_id = shared.image_j
"""
IDF_JACCARD_SQL = IDF_PAIRS_SQL.format(pair_filter="")


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


def scope_positions(con: duckdb.DuckDBPyConnection, corpus: str, within: str,
                    image_ids: np.ndarray) -> np.ndarray:
    """Positions in ``image_ids`` (``corpus``'s images) of the images that corpus ``within`` covers.

    ``within`` must be a corpus of the same dataset; images it covers outside ``corpus`` are an error
    (an association corpus covers a subset of its dataset's caption corpus, never more)."""
    datasets = dict(con.execute("select corpus, dataset from corpora where corpus in (?, ?)",
                                [corpus, within]).fetchall())
    if within not in datasets:
        known = [r[0] for r in con.execute("select corpus from corpora order by corpus").fetchall()]
        raise SemspaceError(f"no corpus {within!r} in the warehouse; corpora: {', '.join(known) or 'none'}")
    if datasets[within] != datasets.get(corpus):
        raise SemspaceError(f"corpus {within!r} covers dataset {datasets[within]!r}, not {corpus!r}'s "
                            f"{datasets.get(corpus)!r}: --within needs a corpus of the same dataset")
    covered = np.asarray(con.execute("select image_id from set_sizes where corpus = ? order by image_id",
                                     [within]).fetchnumpy()["image_id"], dtype=np.int64)
    positions = np.searchsorted(image_ids, covered)
    inside = (positions < len(image_ids)) & (image_ids[np.minimum(positions, len(image_ids) - 1)] == covered)
    if not inside.all():
        raise SemspaceError(f"corpus {within!r} covers {int((~inside).sum())} image(s) that {corpus!r} lacks")
    return positions


def compute(con: duckdb.DuckDBPyConnection, corpus: str = "coco", measures: Sequence[str] | None = None,
            positives: Mapping[int, Iterable[int]] | None = None, within: str | None = None) -> list[dict]:
    """Rows of evaluation_scores for ``corpus`` (not written). ``positives``: COCO id → COCO ids,
    ECCV Caption's by default. ``within``: rank only among the images that corpus covers (e.g. an
    association run's subset), queries and positives too; the measures stay ``corpus``'s own
    (IDF weights from all its images). The rows' ``image_scope`` is ``within``, else ``corpus``."""
    measures = list(measures or MEASURES)
    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise SemspaceError(f"unknown measure(s) {', '.join(unknown)}; known: {', '.join(MEASURES)}")
    if positives is None:
        positives = eccv_positives(*load_eccv())
    image_ids, coco_ids = load_images(con, corpus)
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
    rows = []
    for measure in measures:
        matrix = load_measure(con, corpus, measure, image_ids)
        if scope is not None:
            matrix = matrix[np.ix_(scope, scope)]
        metrics = score_matrix(matrix, scope_ids, query_rows, relevance, MEASURES[measure][1])
        del matrix
        log.info("%s %s over %d queries: %s", where, measure, len(query_rows), metrics)
        rows += [{"corpus": corpus, "image_scope": within or corpus, "measure": measure, "benchmark": BENCHMARK,
                  "metric": metric, "value": value, "n_queries": len(query_rows), "computed_at": computed_at}
                 for metric, value in metrics.items()]
    return rows


def write(con: duckdb.DuckDBPyConnection, corpus: str, rows: list[dict]) -> None:
    """Replace ``corpus``'s rows of main.evaluation_scores for the (image scope, measure) pairs in
    ``rows`` (a run of one measure keeps the others' scores), in one transaction. A table written
    before image_scope existed gains the column (its rows' scope is their corpus)."""
    rows = [{**r, "image_scope": r.get("image_scope") or r["corpus"]} for r in rows]
    scopes = {r["image_scope"] for r in rows}
    table = pa.table({
        "corpus": pa.array([r["corpus"] for r in rows], pa.string()),
        "image_scope": pa.array([r["image_scope"] for r in rows], pa.string()),
        "measure": pa.array([r["measure"] for r in rows], pa.string()),
        "benchmark": pa.array([r["benchmark"] for r in rows], pa.string()),
        "metric": pa.array([r["metric"] for r in rows], pa.string()),
        "value": pa.array([r["value"] for r in rows], pa.float64()),
        "n_queries": pa.array([r["n_queries"] for r in rows], pa.int32()),
        "computed_at": pa.array([r["computed_at"] for r in rows], pa.timestamp("us")),
    })
    if any(r["corpus"] != corpus for r in rows):
        raise ValueError(f"rows of another corpus than {corpus!r}")
    with db.transaction(con, {"new_evaluation_scores": table}):
        con.execute(f"create table if not exists main.{TABLE} as select * from new_evaluation_scores limit 0")
        con.execute(f"alter table main.{TABLE} add column if not exists image_scope varchar")
        con.execute(f"update main.{TABLE} set image_scope = corpus where image_scope is null")
        for scope in sorted(scopes):
            measures = sorted({r["measure"] for r in rows if r["image_scope"] == scope})
            con.execute(f"delete from main.{TABLE} where corpus = ? and image_scope = ? and list_contains(?, measure)",
                        [corpus, scope, measures])
        con.execute(f"insert into main.{TABLE} by name select * from new_evaluation_scores")


def evaluate(database: str | os.PathLike[str] | None = None, corpus: str = "coco",
             measures: Sequence[str] | None = None, within: str | None = None) -> list[dict]:
    """Score ``corpus``'s measures (all by default) on ECCV Caption image→image retrieval, among
    all its images or those ``within`` covers, write them to main.evaluation_scores (replacing that
    corpus and scope's rows for those measures) and return the rows."""
    with db.connect(database, read_only=True) as con:
        rows = compute(con, corpus, measures, within=within)
    with db.connect(database) as con:
        write(con, corpus, rows)
    return rows


# ---------------------------------------------------------------------------------------------
# one image: its positives and its neighbours under each measure (the report's example)


def image_positives(con: duckdb.DuckDBPyConnection, corpus: str, image_id: int,
                    positives: Mapping[int, Iterable[int]] | None = None) -> list[int] | None:
    """Image ids of ``image_id``'s positives within ``corpus``, ascending; None when the image is
    not an ECCV Caption query (it then has no verified positives at all)."""
    if positives is None:
        positives = eccv_positives(*load_eccv())
    image_ids, coco_ids = load_images(con, corpus)
    by_coco = {int(c): int(i) for i, c in zip(image_ids, coco_ids) if c >= 0}
    own = coco_ids[image_ids == image_id]
    if len(own) == 0 or int(own[0]) not in positives:
        return None
    return sorted(by_coco[c] for c in positives[int(own[0])] if c in by_coco and by_coco[c] != image_id)


def query_images(con: duckdb.DuckDBPyConnection, corpus: str,
                 positives: Mapping[int, Iterable[int]] | None = None) -> list[int]:
    """Image ids of the corpus's ECCV Caption queries (with a positive inside the corpus), ascending."""
    if positives is None:
        positives = eccv_positives(*load_eccv())
    image_ids, coco_ids = load_images(con, corpus)
    query_rows, _ = relevance_matrix(positives, coco_ids)
    return sorted(int(image_ids[r]) for r in query_rows)


def image_neighbours(con: duckdb.DuckDBPyConnection, corpus: str, measure: str, image_id: int,
                     k: int = 10) -> list[tuple[int, float]]:
    """The ``k`` nearest images of ``image_id`` under ``measure`` as (image id, value), ranked as the
    evaluation ranks (ties by the smaller image id), read for that one image only."""
    if measure not in MEASURES:
        raise SemspaceError(f"unknown measure {measure!r}; known: {', '.join(MEASURES)}")
    expression, larger_is_closer = MEASURES[measure]
    other = "case when image_i = $image then image_j else image_i end"
    if measure == "idf_jaccard":
        sql = IDF_PAIRS_SQL.format(pair_filter="where a.image_id = $image or b.image_id = $image")
        sql = f"select {other} as other, value from ({sql}) as pairs"
        found = con.execute(sql, {"corpus": corpus, "image": image_id}).fetchall()
        # pairs sharing no weighted token score 0: rank them after, by image id
        scores = dict(found)
        ids = [int(r[0]) for r in con.execute(
            "select image_id from set_sizes where corpus = ? and image_id <> ? order by image_id",
            [corpus, image_id]).fetchall()]
        candidates = [(i, float(scores.get(i, 0.0))) for i in ids]
    else:
        sql = (f"select {other} as other, {expression} as value from image_pairs "
               "where corpus = $corpus and (image_i = $image or image_j = $image)")
        candidates = [(int(i), float(v)) for i, v in con.execute(sql, {"corpus": corpus, "image": image_id}).fetchall()]
    sign = -1.0 if larger_is_closer else 1.0
    candidates.sort(key=lambda iv: (sign * iv[1], iv[0]))
    return candidates[:k]


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
        cells = " ".join(f"{values[(corpus, measure, m)]:>12.4f}" if (corpus, measure, m) in values else f"{'':>12}"
                         for m in metrics)
        lines.append(f"{corpus:<{cwidth}} {measure:<{width}} {cells} {queries[(corpus, measure)]:>8}")
    return "\n".join(lines)
