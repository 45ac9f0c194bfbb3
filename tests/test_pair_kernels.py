"""The SQL measure and neighbour kernels against an independent Python computation on random
multisets: token_weights, int_token_weights, int_image_weights, the pair kernel
(macros/pair_overlaps.sql), the image_pairs view and image_neighbors (macros/nearest_neighbors.sql),
compiled once by dbt for DuckDB's own kernels and for the portable ones, run on hypothesis-drawn
corpora. Every measure must equal the formula computed here from the counts (the weighted ones
within the fixed point's 2^-24); neighbour lists must equal those ranked here in exact rational
arithmetic over the same fixed-point weights, ties by the smaller id; the distances must be metrics.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from fractions import Fraction

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semspace import neighbors
from semspace import pairs as pair_rows
from tests.dbt_helpers import compiled_sql, dbt

K = 3
ALPHA = 0.25
Q = 1 << 24
MEASURES = (
    "symmetric_difference",
    "multiset_symmetric_difference",
    "jaccard",
    "dice",
    "overlap",
    "idf_jaccard",
    "weighted_jaccard",
    "cosine",
)
DISTANCES = ("symmetric_difference", "multiset_symmetric_difference")
Multiset = Mapping[int, int]  # token -> n_captions >= 1


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("kernels")
    db = work / "kernels.duckdb"
    duckdb.connect(str(db)).close()
    sql: dict[str, str] = {}
    models = ["token_weights", "int_token_weights", "int_pair_set_sizes", "int_image_weights", "int_corpus_scale"]
    for flavour, portable in (("duckdb", False), ("portable", True)):
        out = work / flavour
        dbt(
            ["compile", "--select", *models, "int_pair_overlaps", "image_pairs", "image_neighbors"],
            db,
            out,
            vars={
                "neighbors_k": K,
                "portable_sql": portable,
                "neighbor_measures": list(MEASURES),
                "cosine_idf_exponent": ALPHA,
                "large_corpus_kernel": "sql",  # image_neighbors' SQL top-k (DuckDB's default is the kernel)
            },
        )
        sql[f"overlaps_{flavour}"] = compiled_sql(out, "int_pair_overlaps", folder="models/intermediate")
        sql[f"neighbors_{flavour}"] = compiled_sql(out, "image_neighbors")
        sql["image_pairs"] = compiled_sql(out, "image_pairs")
        for name in models:
            sql[name] = compiled_sql(
                out, name, folder="models/marts" if name == "token_weights" else "models/intermediate"
            )
    assert "min_by" in sql["neighbors_duckdb"] and "min_by" not in sql["neighbors_portable"]
    con = duckdb.connect(str(db))
    yield {"con": con, **sql}
    con.close()


def _load(con: duckdb.DuckDBPyConnection, kernels: Mapping[str, object], corpora: dict[str, list[Multiset]]) -> None:
    """The inputs as dbt would have built them (int_corpora, int_corpus_tokens, int_set_sizes), then
    the weight models compiled by dbt."""
    ids = {name: k for k, name in enumerate(sorted(corpora), start=1)}
    rows = [(c, i, f"t{t}", n) for c, sets in corpora.items() for i, s in enumerate(sets) for t, n in sorted(s.items())]
    sizes = [(c, i, len(s), sum(s.values())) for c, sets in corpora.items() for i, s in enumerate(sets)]
    tables = {
        "int_corpora": pa.table({"corpus": list(ids), "corpus_id": pa.array(list(ids.values()), pa.int32())}),
        "int_corpus_tokens": pa.table(
            {
                "corpus": [r[0] for r in rows],
                "image_id": pa.array([r[1] for r in rows], pa.int32()),
                "token": pa.array([r[2] for r in rows], pa.string()),
                "n_captions": pa.array([r[3] for r in rows], pa.int32()),
            }
        ),
        "int_set_sizes": pa.table(
            {
                "corpus": [r[0] for r in sizes],
                "image_id": pa.array([r[1] for r in sizes], pa.int32()),
                "n_tokens": pa.array([r[2] for r in sizes], pa.int32()),
                "n_occurrences": pa.array([r[3] for r in sizes], pa.int32()),
            }
        ),
    }
    con.execute("create schema if not exists intermediate")
    for name, table in tables.items():
        con.register(f"new_{name}", table)
        con.execute(f"create or replace table intermediate.{name} as select * from new_{name}")
    con.execute(f"create or replace table main.token_weights as {kernels['token_weights']}")
    for name in ("int_token_weights", "int_pair_set_sizes", "int_image_weights", "int_corpus_scale"):
        con.execute(f"create or replace table intermediate.{name} as {kernels[name]}")


def _pairs(con: duckdb.DuckDBPyConnection, kernels: Mapping[str, object], flavour: str, batch_rows: int = 7) -> None:
    """int_pair_overlaps by one kernel (the SQL ones dbt compiled, or the compiled scatter of the
    DuckDB Python model, in batches of ``batch_rows`` rows so that query blocks end mid-corpus),
    and the image_pairs view over it."""
    if flavour == "compiled":
        reader = pair_rows.model_reader(
            *(con.table(f"intermediate.{m}") for m in ("int_corpus_scale", "int_token_weights", "int_pair_set_sizes")),
            log=None,
            batch_rows=batch_rows,
        )
        con.register("compiled_pairs", reader)
        con.execute("create or replace table intermediate.int_pair_overlaps as select * from compiled_pairs")
        con.unregister("compiled_pairs")
    else:
        con.execute(f"create or replace table intermediate.int_pair_overlaps as {kernels[f'overlaps_{flavour}']}")
    con.execute(f"create or replace view main.image_pairs as {kernels['image_pairs']}")


# ------------------------------------------------------------------------------ the reference


def _idf(sets: list[Multiset]) -> dict[int, float]:
    df: dict[int, int] = {}
    for s in sets:
        for t in s:
            df[t] = df.get(t, 0) + 1
    return {t: math.log(len(sets) / n) for t, n in df.items()}


def expected_measures(
    a: Multiset, b: Multiset, idf: Mapping[int, float], alpha: float = ALPHA
) -> dict[str, float | None]:
    """Every measure of a pair from its two multisets, by its formula (floats, no fixed point)."""
    sa, sb = set(a), set(b)
    tokens = sa | sb
    inter, union = len(sa & sb), len(tokens)
    ca = {t: a.get(t, 0) for t in tokens}
    cb = {t: b.get(t, 0) for t in tokens}
    w_min = sum(min(ca[t], cb[t]) * idf[t] for t in tokens)
    w_max = sum(max(ca[t], cb[t]) * idf[t] for t in tokens)
    i_inter = sum(idf[t] for t in sa & sb)
    i_union = sum(idf[t] for t in tokens)
    va = {t: ca[t] * idf[t] ** alpha for t in tokens}
    vb = {t: cb[t] * idf[t] ** alpha for t in tokens}
    na, nb = math.sqrt(sum(v * v for v in va.values())), math.sqrt(sum(v * v for v in vb.values()))
    return {
        "n_intersection": inter,
        "symmetric_difference": len(sa ^ sb),
        "n_multiset_intersection": sum(min(ca[t], cb[t]) for t in tokens),
        "multiset_symmetric_difference": sum(abs(ca[t] - cb[t]) for t in tokens),
        "jaccard": inter / union if union else None,
        "dice": 2 * inter / (len(sa) + len(sb)) if sa or sb else 0.0,
        "overlap": inter / min(len(sa), len(sb)) if sa and sb else 0.0,
        "idf_jaccard": i_inter / i_union if i_union > 0 else 0.0,
        "weighted_jaccard": w_min / w_max if w_max > 0 else 0.0,
        "cosine": sum(va[t] * vb[t] for t in tokens) / (na * nb) if na > 0 and nb > 0 else 0.0,
    }


def _exact_keys(sets: list[Multiset], alpha: float = ALPHA) -> dict[str, dict[tuple[int, int], Fraction]]:
    """Each measure of every pair as an exact ascending sort key (a distance, or minus a
    similarity; for the cosine minus its square, which orders alike), over the same fixed-point
    weights the SQL sums (round(w · 2^24)), so that equal values are equal here too."""
    idf = _idf(sets)
    q1 = {t: round(w * Q) for t, w in idf.items()}
    q2 = {t: round(w ** (2 * alpha) * Q) for t, w in idf.items()}
    keys: dict[str, dict[tuple[int, int], Fraction]] = {m: {} for m in MEASURES}
    for i, j in itertools.permutations(range(len(sets)), 2):
        a, b = sets[i], sets[j]
        sa, sb = set(a), set(b)
        tokens = sa | sb
        inter, union = len(sa & sb), len(tokens)
        ca = {t: a.get(t, 0) for t in tokens}
        cb = {t: b.get(t, 0) for t in tokens}

        def ratio(x: int, y: int) -> Fraction:
            return Fraction(x, y) if y else Fraction(0)

        w_min = sum(min(ca[t], cb[t]) * q1[t] for t in tokens)
        w_max = sum(max(ca[t], cb[t]) * q1[t] for t in tokens)
        dot = sum(ca[t] * cb[t] * q2[t] for t in tokens)
        n2a, n2b = sum(ca[t] ** 2 * q2[t] for t in tokens), sum(cb[t] ** 2 * q2[t] for t in tokens)
        keys["symmetric_difference"][i, j] = Fraction(len(sa ^ sb))
        keys["multiset_symmetric_difference"][i, j] = Fraction(sum(abs(ca[t] - cb[t]) for t in tokens))
        keys["jaccard"][i, j] = -ratio(inter, union)
        keys["dice"][i, j] = -ratio(2 * inter, len(sa) + len(sb))
        keys["overlap"][i, j] = -ratio(inter, min(len(sa), len(sb)))
        keys["idf_jaccard"][i, j] = -ratio(sum(q1[t] for t in sa & sb), sum(q1[t] for t in tokens))
        keys["weighted_jaccard"][i, j] = -ratio(w_min, w_max)
        keys["cosine"][i, j] = -ratio(dot * dot, n2a * n2b) if n2a and n2b else Fraction(0)
    return keys


def _expected_pairs(corpora: dict[str, list[Multiset]]) -> list[dict[str, object]]:
    out = []
    for c, sets in sorted(corpora.items()):
        idf = _idf(sets)
        for i, j in itertools.combinations(range(len(sets)), 2):
            out.append({"corpus": c, "image_i": i, "image_j": j, **expected_measures(sets[i], sets[j], idf)})
    return out


def _expected_neighbors(corpora: dict[str, list[Multiset]]) -> list[tuple]:
    out = []
    for c, sets in corpora.items():
        keys = _exact_keys(sets)
        for m in MEASURES:
            for i in range(len(sets)):
                ranked = sorted((keys[m][i, j], j) for j in range(len(sets)) if j != i)[:K]
                out += [(c, m, i, rank, j) for rank, (_, j) in enumerate(ranked, start=1)]
    return sorted(out)


# ------------------------------------------------------------------------------------ strategies

multiset = st.dictionaries(st.integers(0, 60), st.integers(1, 5), max_size=40)
corpora_strategy = st.dictionaries(
    st.sampled_from(["coco", "falcon"]), st.lists(multiset, min_size=2, max_size=10), min_size=1, max_size=2
)
COLUMNS = ("n_intersection", "n_multiset_intersection", *MEASURES)


def _check(kernels: Mapping[str, object], corpora: dict[str, list[Multiset]]) -> None:
    con: duckdb.DuckDBPyConnection = kernels["con"]  # type: ignore[assignment]
    _load(con, kernels, corpora)
    expected = _expected_pairs(corpora)
    stored = {}
    # duckdb last: its table feeds the neighbour kernels
    for flavour in ("portable", "compiled", "duckdb"):
        _pairs(con, kernels, flavour)
        stored[flavour] = con.sql("select * from intermediate.int_pair_overlaps order by all").to_arrow_table()
        cursor = con.execute(
            f"select corpus, image_i, image_j, {', '.join(COLUMNS)} from main.image_pairs order by all"
        )
        got = [dict(zip(["corpus", "image_i", "image_j", *COLUMNS], row)) for row in cursor.fetchall()]
        assert [(g["corpus"], g["image_i"], g["image_j"]) for g in got] == [
            (e["corpus"], e["image_i"], e["image_j"]) for e in expected
        ], flavour
        for g, e in zip(got, expected):
            for column in COLUMNS:
                if e[column] is None or isinstance(e[column], int):
                    assert g[column] == e[column], (flavour, column, g, e)
                else:
                    assert g[column] == pytest.approx(e[column], abs=2e-6), (flavour, column, g, e)
    # the stored table itself: the same rows, values and column types from every kernel
    assert stored["compiled"].equals(stored["duckdb"]) and stored["portable"].equals(stored["duckdb"])
    expected_neighbors = _expected_neighbors(corpora)
    for flavour in ("duckdb", "portable"):
        got = con.execute(
            f"select corpus, measure, image_id, rank, neighbor_id from ({kernels[f'neighbors_{flavour}']}) order by all"
        ).fetchall()
        assert got == expected_neighbors, flavour
    _check_compiled_kernel(con, kernels, corpora, expected_neighbors)


def _check_compiled_kernel(
    con: duckdb.DuckDBPyConnection,
    kernels: Mapping[str, object],
    corpora: dict[str, list[Multiset]],
    expected_neighbors: list[tuple],
) -> None:
    """The compiled kernel (semspace.neighbors) of the corpora too large to store their pairs, on
    the same inputs: the exact-rational reference's lists, and row for row (values too) the SQL
    top-k's; each one-against-all row equals image_pairs to the bit."""
    got, sql_rows = (
        [],
        con.execute(
            f"select corpus, measure, image_id, rank, neighbor_id, value, symmetric_difference, n_intersection, jaccard "
            f"from ({kernels['neighbors_duckdb']}) order by all"
        ).fetchall(),
    )
    kernel_rows = []
    for corpus in sorted(corpora):
        index = neighbors.load_index(con, corpus)
        table = neighbors.top_k(index, K, MEASURES, progress=False)
        for row in table.to_pylist():
            got.append((corpus, row["measure"], row["image_id"], row["rank"], row["neighbor_id"]))
            kernel_rows.append(
                (
                    corpus,
                    row["measure"],
                    row["image_id"],
                    row["rank"],
                    row["neighbor_id"],
                    row["value"],
                    row["symmetric_difference"],
                    row["n_intersection"],
                    row["jaccard"],
                )
            )
        ids = index.image_ids
        for measure in MEASURES:
            matrix = neighbors.scores(index, ids, measure)
            pairs = con.execute(
                f"select image_i, image_j, {measure} from main.image_pairs where corpus = ?", [corpus]
            ).fetchall()
            for i, j, value in pairs:
                for a, b in ((i, j), (j, i)):
                    cell = matrix[np.searchsorted(ids, a), np.searchsorted(ids, b)]
                    assert (value is None and math.isnan(cell)) or cell == value, (corpus, measure, a, b, cell, value)
    assert sorted(got) == expected_neighbors
    assert sorted(kernel_rows, key=repr) == sorted(sql_rows, key=repr)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corpora=corpora_strategy)
def test_measures_and_neighbours_equal_python(kernels: dict[str, object], corpora: dict[str, list[Multiset]]) -> None:
    _check(kernels, corpora)


@pytest.mark.parametrize("seed", [0, 1])
def test_kernels_on_zipf_corpora_with_duplicates(kernels: dict[str, object], seed: int) -> None:
    """Seeded Zipf corpora with repeated images (exact ties in every measure) and an empty set."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, 301)
    weights /= weights.sum()
    sets: list[Multiset] = []
    for _ in range(30):
        tokens = rng.choice(300, size=int(rng.integers(5, 60)), p=weights)
        counts: dict[int, int] = {}
        for t in tokens:
            counts[int(t)] = min(5, counts.get(int(t), 0) + 1)
        sets.append(counts)
    sets += [sets[3], sets[7], sets[7], {}]
    _check(kernels, {"coco": sets, "falcon": sets[::-1]})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sets=st.lists(multiset, min_size=3, max_size=9))
def test_distances_are_metrics(kernels: dict[str, object], sets: list[Multiset]) -> None:
    """|A Δ B| and Σ|a_t − b_t| from the SQL kernel: zero exactly for equal (multi)sets, symmetric
    by construction, the triangle inequality; the multiset distance bounds the set one."""
    con: duckdb.DuckDBPyConnection = kernels["con"]  # type: ignore[assignment]
    _load(con, kernels, {"coco": sets})
    _pairs(con, kernels, "duckdb")
    rows = con.execute(
        "select image_i, image_j, symmetric_difference, multiset_symmetric_difference from main.image_pairs"
    ).fetchall()
    d: dict[tuple[int, int], int] = {}
    m: dict[tuple[int, int], int] = {}
    for i, j, sym, multi in rows:
        assert (sym == 0) == (set(sets[i]) == set(sets[j]))
        assert (multi == 0) == (dict(sets[i]) == dict(sets[j]))
        assert multi >= sym >= 0
        d[i, j] = d[j, i] = sym
        m[i, j] = m[j, i] = multi
    for i in range(len(sets)):
        d[i, i] = m[i, i] = 0
    for a, b, c in itertools.permutations(range(len(sets)), 3):
        assert d[a, c] <= d[a, b] + d[b, c]
        assert m[a, c] <= m[a, b] + m[b, c]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sets=st.lists(st.frozensets(st.integers(0, 60), max_size=40), min_size=2, max_size=9))
def test_multiset_distance_is_the_notes_when_every_count_is_one(
    kernels: dict[str, object], sets: list[frozenset[int]]
) -> None:
    con: duckdb.DuckDBPyConnection = kernels["con"]  # type: ignore[assignment]
    _load(con, kernels, {"coco": [dict.fromkeys(s, 1) for s in sets]})
    _pairs(con, kernels, "duckdb")
    rows = con.execute(
        "select symmetric_difference, multiset_symmetric_difference, n_intersection, n_multiset_intersection "
        "from main.image_pairs"
    ).fetchall()
    assert rows and all(sym == multi and inter == minter for sym, multi, inter, minter in rows)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sets=st.lists(multiset, min_size=2, max_size=9))
def test_similarities_are_bounded_symmetric_and_one_for_equal_multisets(
    kernels: dict[str, object], sets: list[Multiset]
) -> None:
    con: duckdb.DuckDBPyConnection = kernels["con"]  # type: ignore[assignment]
    _load(con, kernels, {"coco": sets})
    _pairs(con, kernels, "duckdb")
    idf = _idf(sets)
    for i, j, wj, cos in con.execute(
        "select image_i, image_j, weighted_jaccard, cosine from main.image_pairs"
    ).fetchall():
        assert 0.0 <= wj <= 1.0 and 0.0 <= cos <= 1.0
        weighs = any(idf[t] > 0 for t in sets[i])
        if dict(sets[i]) == dict(sets[j]) and weighs:
            assert wj == 1.0 and cos == pytest.approx(1.0, abs=1e-12)
