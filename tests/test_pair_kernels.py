"""The SQL set kernels (macros/pair_overlaps.sql, macros/nearest_neighbors.sql) against Python sets,
on random corpora: the DuckDB kernels (bitmask + sparse hybrid, bounded top-k) and the portable
ones must give exactly the rows that set arithmetic gives, and the distance must be a metric.

The models are compiled once by dbt with a 64-token mask, so random corpora of ~150 tokens
exercise both the mask path and the rare-token self-join."""

from __future__ import annotations

import itertools
from collections import Counter

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dbt_helpers import compiled_sql, dbt

K = 3


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("kernels")
    db = work / "kernels.duckdb"
    duckdb.connect(str(db)).close()
    sql: dict[str, str] = {}
    for flavour, portable in (("duckdb", False), ("portable", True)):
        out = work / flavour
        dbt(
            ["compile", "--select", "int_pair_overlaps", "image_pairs", "image_neighbors"],
            db,
            out,
            vars={"pair_mask_tokens": 64, "neighbors_k": K, "portable_sql": portable},
        )
        sql[f"overlaps_{flavour}"] = compiled_sql(out, "int_pair_overlaps", folder="models/intermediate")
        sql[f"neighbors_{flavour}"] = compiled_sql(out, "image_neighbors")
        sql["image_pairs"] = compiled_sql(out, "image_pairs")
    assert "bit_count" in sql["overlaps_duckdb"] and "bit_count" not in sql["overlaps_portable"]
    assert "min_by" in sql["neighbors_duckdb"] and "min_by" not in sql["neighbors_portable"]
    con = duckdb.connect(str(db))
    yield {"con": con, **sql}
    con.close()


def _load(con: duckdb.DuckDBPyConnection, corpora: dict[str, list[frozenset[int]]]) -> None:
    """The kernel's inputs, as dbt would have built them: int_corpora, int_pair_token_sets and
    int_pair_set_sizes (corpus ids in name order)."""
    ids = {name: k for k, name in enumerate(sorted(corpora), start=1)}
    rows = [(ids[c], i, f"t{t}") for c, sets in corpora.items() for i, s in enumerate(sets) for t in s]
    sizes = [(ids[c], i, len(s)) for c, sets in corpora.items() for i, s in enumerate(sets)]
    tables = {
        "int_corpora": pa.table({"corpus": list(ids), "corpus_id": pa.array(list(ids.values()), pa.int32())}),
        "int_pair_token_sets": pa.table(
            {
                "corpus_id": pa.array([r[0] for r in rows], pa.int32()),
                "image_id": pa.array([r[1] for r in rows], pa.int32()),
                "token": pa.array([r[2] for r in rows], pa.string()),
            }
        ),
        "int_pair_set_sizes": pa.table(
            {
                "corpus_id": pa.array([r[0] for r in sizes], pa.int32()),
                "image_id": pa.array([r[1] for r in sizes], pa.int32()),
                "n_tokens": pa.array([r[2] for r in sizes], pa.int32()),
            }
        ),
    }
    con.execute("create schema if not exists intermediate")
    for name, table in tables.items():
        con.register(f"new_{name}", table)
        con.execute(f"create or replace table intermediate.{name} as select * from new_{name}")


def _expected_pairs(corpora: dict[str, list[frozenset[int]]]) -> list[tuple]:
    out = []
    for c, sets in sorted(corpora.items()):
        for i, j in itertools.combinations(range(len(sets)), 2):
            a, b = sets[i], sets[j]
            jac = len(a & b) / len(a | b) if a | b else None
            out.append((c, i, j, len(a), len(b), len(a & b), len(a | b), len(a ^ b), jac))
    return sorted(out, key=lambda r: r[:3])


def _expected_neighbors(corpora: dict[str, list[frozenset[int]]]) -> list[tuple]:
    out = []
    for c, sets in corpora.items():
        for i, a in enumerate(sets):
            ranked = sorted((len(a ^ b), j) for j, b in enumerate(sets) if j != i)[:K]
            out += [(c, i, rank, j, d) for rank, (d, j) in enumerate(ranked, start=1)]
    return sorted(out)


def _pairs(con: duckdb.DuckDBPyConnection, kernels: dict[str, object], flavour: str) -> None:
    """int_pair_overlaps by one kernel, and the image_pairs view over it."""
    con.execute(f"create or replace table intermediate.int_pair_overlaps as {kernels[f'overlaps_{flavour}']}")
    con.execute(f"create or replace view main.image_pairs as {kernels['image_pairs']}")


token_set = st.frozensets(st.integers(0, 150), max_size=90)
corpora_strategy = st.dictionaries(
    st.sampled_from(["coco", "falcon"]), st.lists(token_set, min_size=2, max_size=12), min_size=1, max_size=2
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(corpora=corpora_strategy)
def test_kernels_equal_python_sets(kernels: dict[str, object], corpora: dict[str, list[frozenset[int]]]) -> None:
    con: duckdb.DuckDBPyConnection = kernels["con"]  # type: ignore[assignment]
    _load(con, corpora)
    expected = _expected_pairs(corpora)
    for flavour in ("portable", "duckdb"):  # duckdb last: its table feeds the neighbour kernels
        _pairs(con, kernels, flavour)
        got = con.execute("select * from main.image_pairs order by corpus, image_i, image_j").fetchall()
        assert [r[:8] for r in got] == [r[:8] for r in expected], flavour
        assert [r[8] for r in got] == pytest.approx([r[8] for r in expected]), flavour
    for flavour in ("duckdb", "portable"):
        got = con.execute(
            f"select corpus, image_id, rank, neighbor_id, symmetric_difference "
            f"from ({kernels[f'neighbors_{flavour}']}) order by all"
        ).fetchall()
        assert got == _expected_neighbors(corpora), flavour


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kernels_on_zipf_corpora(kernels: dict[str, object], seed: int) -> None:
    """Seeded corpora big enough that every path of the DuckDB kernel carries weight: more than 64
    distinct frequent tokens (the mask) and many rare tokens shared by a few images."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, 401)
    weights /= weights.sum()
    corpora = {
        c: [frozenset(rng.choice(400, size=int(rng.integers(5, 80)), p=weights).tolist()) for _ in range(40)]
        for c in ("coco", "falcon")
    }
    frequency = Counter(t for s in corpora["coco"] for t in s)
    ranked = sorted(frequency.items(), key=lambda kv: (-kv[1], f"t{kv[0]}"))
    assert sum(1 for _, n in ranked[64:] if n > 1) > 20, "the rare-token path must be exercised"
    test_kernels_equal_python_sets.hypothesis.inner_test(kernels, corpora)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sets=st.lists(token_set, min_size=3, max_size=10))
def test_symmetric_difference_is_a_metric(kernels: dict[str, object], sets: list[frozenset[int]]) -> None:
    """|A Δ B| from the SQL kernel: d(a, a) = 0 is implied by i < j; symmetric by construction;
    d(a, b) = 0 only for equal sets; the triangle inequality holds; sizes add up."""
    con: duckdb.DuckDBPyConnection = kernels["con"]  # type: ignore[assignment]
    _load(con, {"coco": sets})
    _pairs(con, kernels, "duckdb")
    rows = con.execute(
        "select image_i, image_j, n_i, n_j, n_intersection, n_union, symmetric_difference from main.image_pairs"
    ).fetchall()
    d = {}
    for i, j, n_i, n_j, n_inter, n_union, sym in rows:
        assert n_union == n_i + n_j - n_inter
        assert sym == n_union - n_inter >= 0
        assert (sym == 0) == (sets[i] == sets[j])
        d[i, j] = d[j, i] = sym
    for i in range(len(sets)):
        d[i, i] = 0
    for a, b, c in itertools.permutations(range(len(sets)), 3):
        assert d[a, c] <= d[a, b] + d[b, c]
