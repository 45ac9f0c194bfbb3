"""The same dbt project on Spark (dbt-spark, in-process PySpark) and on DuckDB gives the same marts.

One subset is built on both engines: the first 200 images of the shared COCO split with all their
captions, a small CSV dataset with the awkward cases (apostrophes, a backslash, double quotes,
non-ASCII letters, a caption without any token) and an association run over a few images. MDS of
`coco` and a few evaluation scores are computed on DuckDB (the computed schema). DuckDB builds from
the warehouse file; Spark from the Parquet folders that `semspace ingest export-raw` writes (raw and
computed tables), and writes its marts back as Parquet through the export_marts macro (on-run-end
with var export). Every mart must be equal row for row: integers and strings exactly,
floats (jaccard, the means, the correlation) within 1e-9 relative. Each corpus comes with its
stop-word-free variant (the model stop_words), so the stop-word list is built and used on both engines. `dbt build` runs the dbt data
and unit tests on each engine and must pass them all, the same ones.

Marked `spark` (`make test-spark`, or `pytest -m spark`). Without pyspark / dbt-spark or Java the
module is skipped, except under CI (CI set and not false), where that is a failure: CI installs
the `spark` extra and must run this.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

import ingest
from generate import store
from tests.dbt_helpers import EXPORTABLE_MARTS, REPO, SHARED_CAPTIONS, compiled_sql, dbt
from tests.generate_helpers import fake_chain

pytestmark = pytest.mark.spark

N_IMAGES = 200
MARTS = EXPORTABLE_MARTS
RUN = "tiny-chain"
ASSOCIATED = (0, 1, 2, 4, 7, 150)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing() -> str | None:
    for module in ("pyspark", "dbt.adapters.spark"):
        try:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed (pip install '.[spark]')"
        except ModuleNotFoundError:
            return f"{module} is not installed (pip install '.[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (java on PATH or JAVA_HOME)"
    return None


@pytest.fixture(scope="module")
def spark_available() -> None:
    """Skip without Spark, except in CI, where it fails. (A fixture, not a module-level skip: a run
    that deselects this module, `-m "not spark"`, must not fail on it.)"""
    why = _missing()
    if why is not None:
        if _in_ci():
            pytest.fail(f"CI must run the Spark tests, but {why}", pytrace=False)
        pytest.skip(why)


OTHER_CSV = (
    "image,caption\n"
    "x.jpg,The man's cat sits on a mat.\n"
    'x.jpg,"It\'s a ""quoted"" cat, isn\'t it?"\n'
    "y.jpg,A dog on a mat\\n with a back\\slash!\n"
    "y.jpg,'Single quotes' around a café and a naïve crème brûlée\n"
    "z.jpg,...!!! ???\n"
)


def _add_association_run(db: Path, records: list[dict[str, Any]]) -> None:
    con = duckdb.connect(str(db))
    try:
        store.ensure_schema(con)
        con.execute(
            "insert into raw.association_runs (run_id, dataset, model, backend, chat, prompt_template_version, "
            "prompt_template, params, rounds, tokenizer, created_at, updated_at) values "
            "(?, 'coco', 'tiny/chain', 'transformers', false, 'v1', 't', '{}', 3, 'tiny', "
            "timestamp '2025-01-02 03:04:05.123456', timestamp '2025-01-02 03:04:06')",
            [RUN],
        )
        for image_id in ASSOCIATED:
            tokens: set[str] = set()
            for caption_index, caption in enumerate(records[image_id]["caption"]):
                chain = fake_chain(caption, 3, said=" it's what {word} brings to mind: scene {r}, memory{m}")
                for r, (text_in, generated, text_out) in enumerate(chain, start=1):
                    con.execute(
                        "insert into raw.associations (run_id, dataset, image_id, caption_index, round, model, "
                        "prompt_template_version, input_text, generated_text, output_text, n_new_tokens, "
                        "finish_reason, do_sample, created_at) values "
                        "(?, 'coco', ?, ?, ?, 'tiny/chain', 'v1', ?, ?, ?, 9, 'eos', true, now())",
                        [RUN, image_id, caption_index, r, text_in, generated, text_out],
                    )
                tokens.update(chain[-1][2].split())  # case kept, punctuation attached, as a model's tokens may be
            con.executemany(
                "insert into raw.association_tokens (run_id, dataset, image_id, token, n_chains) values (?, 'coco', ?, ?, ?)",
                [[RUN, image_id, token, 1 + len(token) % 3] for token in sorted(tokens)],
            )
    finally:
        con.close()


def _add_computed(db: Path) -> None:
    """MDS of coco and the ECCV-style scores of two measures (made-up positives) into computed.*:
    the Python results the mds_* and evaluation_scores marts show on both engines."""
    import analysis
    from analysis import evaluate

    analysis.mds("coco", db, k=4)
    with duckdb.connect(str(db), read_only=True) as con:
        coco = [
            int(r[0])
            for r in con.execute("select coco_id from images where dataset = 'coco' order by image_id").fetchall()
        ]
        positives = {coco[i]: {coco[i + 1], coco[i + 2]} for i in range(0, 30, 3)}
        rows = evaluate.compute(con, "coco", ["jaccard", "idf_jaccard", "cosine"], positives=positives)
    with duckdb.connect(str(db)) as con:
        evaluate.write(con, "coco", rows)


def _results(work: Path) -> dict[str, str]:
    """unique_id -> status of the last dbt command run with target under ``work``."""
    results = json.loads((work / "target" / "run_results.json").read_text())
    return {r["unique_id"]: r["status"] for r in results["results"]}


@pytest.fixture(scope="module")
def engines(spark_available: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("spark")
    records = json.loads(SHARED_CAPTIONS.read_text(encoding="utf-8"))[:N_IMAGES]
    source = work / "coco_subset.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    other = work / "other.csv"
    other.write_text(OTHER_CSV, encoding="utf-8")
    db = work / "duckdb.duckdb"
    ingest.load(source, db, name="coco")
    ingest.load(other, db, name="other")
    _add_association_run(db, records)

    duck = work / "duck"
    dbt(["build"], db, duck, env={"SEMSPACE_TARGET": "duckdb"})
    duck_results = _results(duck)
    _add_computed(db)

    raw = work / "raw_parquet"
    subprocess.run(
        [sys.executable, "-m", "ingest", "export-raw", "--db", str(db), "--out", str(raw)],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    )

    spark = work / "spark"
    spark_dir = spark / "target" / "spark"
    env = {"SEMSPACE_TARGET": "spark", "SEMSPACE_SPARK_DIR": str(spark_dir), "SEMSPACE_RAW_PARQUET": str(raw)}
    before = set(os.listdir(REPO))
    # one JVM: every model, the data and unit tests, then the exports (Parquet of every mart)
    dbt(["build", "--select", "semspace"], db, spark, vars={"export": True}, env=env)
    spark_results = _results(spark)
    return {
        "db": db,
        "duck": duck,
        "spark": spark,
        "spark_dir": spark_dir,
        "exports": spark / "exports",
        "duck_results": duck_results,
        "spark_results": spark_results,
        "repo_before": before,
    }


def _spark_rows(engines: dict[str, Any], name: str) -> tuple[list[str], list[str], list[tuple]]:
    folder = engines["exports"] / f"{name}.parquet"
    assert folder.is_dir(), f"Spark wrote no {folder}"
    con = duckdb.connect()
    try:
        # Spark writes timestamps as UTC instants; DuckDB's marts hold them as naive UTC-less values
        described = con.execute(f"describe select * from read_parquet('{folder}/*.parquet')").fetchall()
        select = ", ".join(
            f'timezone(\'UTC\', "{c[0]}") as "{c[0]}"' if c[1] == "TIMESTAMP WITH TIME ZONE" else f'"{c[0]}"'
            for c in described
        )
        relation = con.sql(f"select {select} from read_parquet('{folder}/*.parquet')")
        return relation.columns, [str(t) for t in relation.types], sorted(relation.fetchall(), key=repr)
    finally:
        con.close()


def _duck_rows(engines: dict[str, Any], name: str) -> tuple[list[str], list[str], list[tuple]]:
    with duckdb.connect(str(engines["db"]), read_only=True) as con:
        relation = con.sql(f"select * from main.{name}")
        return relation.columns, [str(t) for t in relation.types], sorted(relation.fetchall(), key=repr)


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b))
    return a == b and type(a) is type(b)


@pytest.mark.parametrize("name", MARTS)
def test_every_mart_is_equal_on_both_engines(engines: dict[str, Any], name: str) -> None:
    duck_columns, duck_types, duck = _duck_rows(engines, name)
    spark_columns, spark_types, spark = _spark_rows(engines, name)
    assert spark_columns == duck_columns
    assert spark_types == duck_types
    assert duck, f"{name} is empty: nothing compared"
    assert len(spark) == len(duck), f"{name}: {len(spark)} rows on Spark, {len(duck)} on DuckDB"
    for d, s in zip(duck, spark):
        if not all(_same_value(x, y) for x, y in zip(d, s)):
            missing = sorted(set(duck) - set(spark), key=repr)[:3]
            extra = sorted(set(spark) - set(duck), key=repr)[:3]
            pytest.fail(
                f"{name} differs between the engines: DuckDB row {d} vs Spark row {s}; "
                f"only on DuckDB (first 3): {missing}; only on Spark (first 3): {extra}"
            )


def test_the_subset_holds_every_corpus_kind(engines: dict[str, Any]) -> None:
    with duckdb.connect(str(engines["db"]), read_only=True) as con:
        summary = con.execute("select corpus, n_images from corpus_summary order by corpus").fetchall()
        empty = con.execute("select corpus, image_id from set_sizes where n_tokens = 0 order by all").fetchall()
    # each corpus and its stop-word-free variant (the model stop_words, loaded on both engines); the
    # caption corpora also their lemma and concept variants (the source lexicon)
    assert summary == [
        ("coco", N_IMAGES),
        ("coco-concept", N_IMAGES),
        ("coco-lemma", N_IMAGES),
        ("coco-nostop", N_IMAGES),
        ("other", 3),
        ("other-concept", 3),
        ("other-lemma", 3),
        ("other-nostop", 3),
        (RUN, len(ASSOCIATED)),
        (f"{RUN}-nostop", len(ASSOCIATED)),
    ]
    # z.jpg: '...!!! ???' has no token
    assert empty == [("other", 2), ("other-concept", 2), ("other-lemma", 2), ("other-nostop", 2)]
    with duckdb.connect(str(engines["db"]), read_only=True) as con:
        weighted = con.execute(
            "select count(*) filter (where n_captions > 1), count(*) filter (where token like 'concept:%') "
            "from token_sets where corpus in ('coco-concept', ?)",
            [RUN],
        ).fetchone()
    assert weighted is not None and weighted[0] > 0 and weighted[1] > 0  # multisets and concepts compared


def test_the_same_dbt_tests_pass_on_both(engines: dict[str, Any]) -> None:
    def tests(results: dict[str, str]) -> dict[str, str]:
        return {k: v for k, v in results.items() if k.split(".")[0] in ("test", "unit_test")}

    duck, spark = tests(engines["duck_results"]), tests(engines["spark_results"])
    assert len(spark) > 60 and any(k.startswith("unit_test.") for k in spark)
    assert spark == duck
    assert set(spark.values()) == {"pass"}
    built = {k: v for k, v in engines["spark_results"].items() if k.startswith("model.")}
    assert {k.split(".")[-1] for k in built} >= set(MARTS)
    assert set(built.values()) == {"success"}


def test_spark_runs_the_fast_kernels(engines: dict[str, Any]) -> None:
    neighbors = compiled_sql(engines["spark"], "image_neighbors")
    # the bounded top-k, with struct keys for the similarities, on Spark >= 4.2
    assert "min_by(" in neighbors and "inline(candidates)" in neighbors and "named_struct('sort_value'" in neighbors


def test_spark_state_stays_under_its_folder(engines: dict[str, Any]) -> None:
    spark_dir = engines["spark_dir"]
    assert (spark_dir / "derby" / "metastore_db").is_dir()
    assert (spark_dir / "warehouse" / "main.db").is_dir()
    created = set(os.listdir(REPO)) - engines["repo_before"]
    assert not created & {"metastore_db", "derby.log", "spark-warehouse"}, created


def test_the_portable_kernels_agree_on_spark(engines: dict[str, Any]) -> None:
    """var portable_sql: the window top-k, on Spark, gives the same pairs
    and neighbours as DuckDB's fast kernels."""
    work = engines["spark"].parent / "spark_portable"
    env = {
        "SEMSPACE_TARGET": "spark",
        "SEMSPACE_SPARK_DIR": str(engines["spark_dir"]),
        "SEMSPACE_RAW_PARQUET": "",
        "SEMSPACE_EXPORT_DIR": str(work / "exports"),
    }
    dbt(
        ["run", "--select", "int_pair_overlaps", "image_pairs", "image_neighbors"],
        engines["db"],
        work,
        vars={"portable_sql": True, "export": True, "export_formats": ["parquet"]},
        env=env,
    )
    assert "min_by(" not in compiled_sql(work, "image_neighbors")
    for name in ("image_pairs", "image_neighbors"):
        _, _, duck = _duck_rows(engines, name)
        _, _, spark = _spark_rows({**engines, "exports": work / "exports"}, name)
        assert len(spark) == len(duck) and all(
            all(_same_value(x, y) for x, y in zip(d, s)) for d, s in zip(duck, spark)
        ), name


def test_large_corpus_sql_path_agrees_on_spark(engines: dict[str, Any]) -> None:
    """Above var all_pairs_max_images Spark computes image_neighbors and pair_summary from the pairs
    inline (no stored pair; macro large_corpus_pairs): the same rows as DuckDB's all-pairs build."""
    work = engines["spark"].parent / "spark_large"
    env = {
        "SEMSPACE_TARGET": "spark",
        "SEMSPACE_SPARK_DIR": str(engines["spark_dir"]),
        "SEMSPACE_RAW_PARQUET": "",
        "SEMSPACE_EXPORT_DIR": str(work / "exports"),
    }
    dbt(
        ["run", "--select", "int_corpus_scale", "int_pair_overlaps", "image_pairs", "image_neighbors", "pair_summary"],
        engines["db"],
        work,
        vars={"all_pairs_max_images": 50, "export": True, "export_formats": ["parquet"]},
        env=env,
    )
    assert "large_pair_counts" in compiled_sql(work, "image_neighbors")
    scale = _spark_rows({**engines, "exports": work / "exports"}, "image_pairs")[2]
    assert {row[0] for row in scale} and not any(row[0].startswith("coco") for row in scale)
    for name in ("image_neighbors", "pair_summary"):
        _, _, duck = _duck_rows(engines, name)
        _, _, spark = _spark_rows({**engines, "exports": work / "exports"}, name)
        assert len(spark) == len(duck) and all(
            all(_same_value(x, y) for x, y in zip(d, s)) for d, s in zip(duck, spark)
        ), name
