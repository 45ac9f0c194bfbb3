"""One contract for the tables Python writes (semspace.contract): the dbt sources declare exactly
its columns and types, and every Python step writes only into the contract's schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

import ingest
from semspace import contract, measures
from tests.dbt_helpers import REPO, SHARED_CAPTIONS, dbt

SOURCES = REPO / "models" / "staging" / "_sources.yml"


def _declared() -> dict[str, list[tuple[str, str]]]:
    doc = yaml.safe_load(SOURCES.read_text(encoding="utf-8"))
    return {
        f"{source['schema']}.{table['name']}": [(c["name"], c.get("data_type")) for c in table.get("columns", [])]
        for source in doc["sources"]
        for table in source["tables"]
    }


def test_the_sources_declare_the_contract() -> None:
    declared = _declared()
    assert sorted(declared) == sorted(contract.TABLES), "a table in one and not the other"
    for name, table in contract.TABLES.items():
        assert declared[name] == [(c.name, c.type) for c in table.columns], f"{name}: _sources.yml differs"


def test_every_source_column_is_documented() -> None:
    doc = yaml.safe_load(SOURCES.read_text(encoding="utf-8"))
    for source in doc["sources"]:
        assert source.get("description")
        for table in source["tables"]:
            assert table.get("description"), table["name"]
            assert all(c.get("description") for c in table["columns"]), table["name"]


def test_the_writers_create_the_contract_tables() -> None:
    con = duckdb.connect()
    from generate import store
    from ingest import writer

    writer.ensure_schema(con)
    store.ensure_schema(con)
    got = {
        f"{s}.{t}": [r[0] for r in con.execute(f"describe {s}.{t}").fetchall()]
        for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()
    }
    assert got == {name: list(t.column_names) for name, t in contract.TABLES.items()}


def _snapshot(database: Path) -> dict[str, Any]:
    """Every table (row count and an order-free hash of its rows) and every view (its SQL)."""
    with duckdb.connect(str(database), read_only=True) as con:
        tables = con.execute("select schema_name, table_name from duckdb_tables() where not internal").fetchall()
        out: dict[str, Any] = {}
        for schema, table in tables:
            out[f"{schema}.{table}"] = con.execute(
                f'select count(*), coalesce(sum(hash(t)), 0) from "{schema}"."{table}" as t'
            ).fetchone()
        for schema, view, sql in con.execute(
            "select schema_name, view_name, sql from duckdb_views() where not internal"
        ).fetchall():
            out[f"{schema}.{view} (view)"] = sql
        return out


def _changed(before: dict[str, Any], after: dict[str, Any]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def _outside_contract(changed: set[str]) -> set[str]:
    return {k for k in changed if k.split(".", 1)[0] not in contract.SCHEMAS}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, set[str]]]:
    """A small warehouse through every Python step, recording which relations each step changed."""
    from analysis import evaluate
    from generate import chain
    from tests.generate_helpers import FakeBackend

    work = tmp_path_factory.mktemp("contract")
    records = json.loads(SHARED_CAPTIONS.read_text(encoding="utf-8"))[:30]
    source = work / "coco30.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    db = work / "w.duckdb"
    changes: dict[str, set[str]] = {}

    def step(name: str, fn: Any) -> None:
        before = _snapshot(db) if db.exists() else {}
        fn()
        changes[name] = _changed(before, _snapshot(db))

    step("ingest", lambda: ingest.load(source, db, name="coco"))
    step(
        "generate",
        lambda: chain.run(
            chain.RunPlan(dataset="coco", model="fake", rounds=2, limit=4, tokenize=False),
            database=db,
            backend=FakeBackend(),
            progress=False,
        ),
    )
    dbt(["build"], db, work, vars={"neighbors_k": 3})
    import analysis

    step("mds", lambda: analysis.mds("coco", db, k=3))

    def evaluate_step() -> None:
        with duckdb.connect(str(db), read_only=True) as con:
            coco = [
                int(r[0])
                for r in con.execute("select coco_id from images where dataset = 'coco' order by image_id").fetchall()
            ]
            rows = evaluate.compute(con, "coco", ["jaccard"], positives={coco[0]: {coco[1], coco[2]}})
        with duckdb.connect(str(db)) as con:
            evaluate.write(con, "coco", rows)

    step("evaluate", evaluate_step)
    return db, work, changes


def test_python_steps_write_only_into_the_contract_schemas(built: tuple[Path, Path, dict[str, set[str]]]) -> None:
    _, _, changes = built
    for name, changed in changes.items():
        assert changed, f"{name} changed nothing: the snapshot cannot see its writes"
        assert not _outside_contract(changed), f"{name} wrote outside raw/computed: {_outside_contract(changed)}"
    assert changes["mds"] <= {f"computed.{t}" for t in contract.MDS_TABLES}
    assert changes["evaluate"] == {"computed.evaluation_scores"}
    assert {k.split(".")[0] for k in changes["generate"]} == {"raw"}


def test_the_snapshot_sees_a_write_outside(built: tuple[Path, Path, dict[str, set[str]]], tmp_path: Path) -> None:
    """The check above can fail: a step that writes into main is caught."""
    db, _, _ = built
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    before = _snapshot(copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("create or replace table main.mds_legacy as select 1 as x")
    assert _outside_contract(_changed(before, _snapshot(copy))) == {"main.mds_legacy"}


def test_the_marts_over_computed_see_the_python_results(built: tuple[Path, Path, dict[str, set[str]]]) -> None:
    db, _, _ = built
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from mds_coordinates where corpus = 'coco'").fetchone() == (30,)
        metrics = {
            m
            for (m,) in con.execute(
                "select metric from evaluation_scores where corpus = 'coco' and measure = 'jaccard'"
            ).fetchall()
        }
        first = con.execute("select coco_id from images where dataset = 'coco' and image_id = 0").fetchone()[0]
    # the one query (the first image) is in half A (even COCO id) or half B (odd): that half is scored
    half = "half_a" if first % 2 == 0 else "half_b"
    assert metrics == {
        "map_at_r",
        "r_precision",
        "recall_at_1",
        "recall_at_5",
        "recall_at_10",
        f"map_at_r_{half}",
        f"r_precision_{half}",
    }


def test_exposures_list_the_report_and_the_map(built: tuple[Path, Path, dict[str, set[str]]]) -> None:
    db, work, _ = built
    listed = dbt(["ls", "--resource-type", "exposure", "--output", "name"], db, work)
    names = {line.strip() for line in listed.stdout.splitlines() if line.strip() and " " not in line.strip()}
    assert {"report", "map"} <= names


def test_the_docs_cover_the_computed_sources_and_the_new_marts(built: tuple[Path, Path, dict[str, set[str]]]) -> None:
    db, work, _ = built
    dbt(["docs", "generate"], db, work)
    manifest = json.loads((work / "target" / "manifest.json").read_text())
    catalog = json.loads((work / "target" / "catalog.json").read_text())
    for table in contract.tables(contract.COMPUTED):
        key = f"source.semspace.computed.{table.name}"
        assert key in catalog["sources"], key
        source = manifest["sources"][key]
        assert source["description"] and all(c["description"] for c in source["columns"].values())
    for mart in (
        "image_captions",
        "token_sets",
        "set_sizes",
        "token_weights",
        "image_pairs",
        "image_neighbors",
        "mds_spectrum",
        "mds_eigenvalues",
        "mds_coordinates",
        "evaluation_scores",
    ):
        node = manifest["nodes"][f"model.semspace.{mart}"]
        assert node["description"] and node["config"]["contract"]["enforced"], mart
        assert all(c["description"] for c in node["columns"].values()), mart
        assert f"model.semspace.{mart}" in catalog["nodes"], mart
        # every column the relation has is documented, and every documented column is there
        assert set(catalog["nodes"][f"model.semspace.{mart}"]["columns"]) == set(node["columns"]), mart
    assert "model.semspace.image_pairs_idf" not in manifest["nodes"]  # idf_jaccard is a column of image_pairs
    columns = {
        mart: set(manifest["nodes"][f"model.semspace.{mart}"]["columns"])
        for mart in ("token_sets", "set_sizes", "image_pairs", "image_neighbors")
    }
    assert "n_captions" in columns["token_sets"] and "n_occurrences" in columns["set_sizes"]
    assert {"measure", "value"} <= columns["image_neighbors"]
    for m in measures.MEASURES.values():  # every measure Python asks for by name is a documented column
        assert m.relation == "image_pairs" and m.column in columns["image_pairs"], m.name


def test_the_exportable_marts_are_those_the_tests_compare() -> None:
    """EXPORTABLE_MARTS (the Spark comparison, the export test) is every model with meta.export_order."""
    from tests.dbt_helpers import EXPORTABLE_MARTS

    declared = set()
    for path in (REPO / "models").rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models", []):
            if (model.get("config", {}).get("meta") or {}).get("export_order"):
                declared.add(model["name"])
    assert declared == set(EXPORTABLE_MARTS)
