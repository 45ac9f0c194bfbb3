"""No string a user passes runs a statement: dbt vars, names and paths with quotes, semicolons and
comment markers are quoted (macro sql_string), validated (macros int_var / bool_var / float_var /
choice_list_var) or refused, and output paths derived from names stay inside their folder."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

import ingest
from semspace import cli, paths
from semspace.errors import SemspaceError
from tests.dbt_helpers import SHARED_CAPTIONS, compiled_sql, dbt

HOSTILE = [
    "coco' or '1'='1",
    "coco'; drop table raw.captions; --",
    "x\\' /* comment */ union all select 1 --",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("injection")
    records = json.loads(SHARED_CAPTIONS.read_text(encoding="utf-8"))[:12]
    source = work / "coco12.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    db = work / "w.duckdb"
    ingest.load(source, db, name="coco")
    dbt(["build", "--exclude", "resource_type:test", "resource_type:unit_test"], db, work, vars={"neighbors_k": 3})
    return db, work


def _count(db: Path, sql: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute(sql).fetchone()
        return int(found[0]) if found else 0


@pytest.mark.parametrize("corpus", HOSTILE)
def test_the_neighbours_analysis_quotes_the_corpus(built: tuple[Path, Path], corpus: str, tmp_path: Path) -> None:
    db, _ = built
    dbt(["compile", "--select", "neighbors_of_image"], db, tmp_path, vars={"corpus": corpus, "image_id": 1})
    sql = compiled_sql(tmp_path, "neighbors_of_image", folder="analyses")
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(sql).fetchall() == []  # no such corpus: nothing, not every corpus
    assert _count(db, "select count(*) from raw.captions") > 0


def test_the_neighbours_analysis_still_answers_a_real_corpus(built: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = built
    dbt(["compile", "--select", "neighbors_of_image"], db, tmp_path, vars={"corpus": "coco", "image_id": 1})
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(compiled_sql(tmp_path, "neighbors_of_image", folder="analyses")).fetchall()
    assert [r[0] for r in rows] == [0, 1, 2, 3]


def test_the_neighbours_analysis_ranks_by_the_measure_var(built: tuple[Path, Path], tmp_path: Path) -> None:
    """var measure picks image_neighbors' list of that measure (the note's by default)."""
    db, _ = built
    dbt(
        ["compile", "--select", "neighbors_of_image"],
        db,
        tmp_path,
        vars={"corpus": "coco", "image_id": 1, "measure": "cosine"},
    )
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(compiled_sql(tmp_path, "neighbors_of_image", folder="analyses")).fetchall()
        stored = con.execute(
            "select rank, value, neighbor_id from image_neighbors "
            "where corpus = 'coco' and image_id = 1 and measure = 'cosine' order by rank"
        ).fetchall()
    assert [(r[0], r[1], r[3]) for r in rows] == [(0, None, 1), *stored]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("neighbors_k", "3; drop table raw.captions"),
        ("neighbors_k", 2.5),
        ("mds_axes", "10 --"),
        ("cosine_idf_exponent", "0.25) --"),
        ("cosine_idf_exponent", "0.25 + (select 1)"),
        ("cosine_idf_exponent", "nan"),
        ("cosine_idf_exponent", -1),
        ("cosine_idf_exponent", True),
        ("concept_hypernym_levels", "3 or 1=1"),
        ("portable_sql", "maybe'; --"),
        ("lexicon_variants", "maybe'; --"),
        ("image_id", "1 or 1=1"),
    ],
)
def test_number_and_switch_vars_are_validated(
    built: tuple[Path, Path], tmp_path: Path, name: str, value: object
) -> None:
    db, _ = built
    result = _compile_with(db, tmp_path, {name: value})
    assert result.returncode != 0
    assert f"var {name} must be" in result.stdout
    _one_line_naming(result.stdout, name, value)


# the models and the analysis that read the checked vars
_READERS = [
    "image_neighbors",
    "mds_spectrum",
    "int_pair_overlaps",
    "int_token_weights",
    "int_corpus_tokens",
    "int_corpora",
    "neighbors_of_image",
]


def _compile_with(db: Path, work: Path, vars: dict[str, object]) -> subprocess.CompletedProcess[str]:
    return dbt(["compile", "--select", *_READERS], db, work, vars=vars, check=False)


def _error_lines(stdout: str, name: str) -> list[str]:
    """dbt's output lines that name var ``name``, with the escapes of Jinja's tojson (' < > & as
    \\u00XX) read back."""
    lines = [line for line in stdout.splitlines() if f"var {name}" in line]
    return [re.sub(r"\\u00(27|3c|3e|26)", lambda m: chr(int(m[1], 16)), line) for line in lines]


def _one_line_naming(stdout: str, name: str, value: object) -> None:
    """The error is one line that names the var and shows the value given."""
    lines = _error_lines(stdout, name)
    shown = value if isinstance(value, str) else json.dumps(value)
    assert len(lines) == 1 and shown in lines[0], (value, stdout[-3000:])


@pytest.mark.parametrize(
    ("name", "value", "unknown"),
    [
        ("neighbor_measures", ["symmetric_difference", "euclidean"], "euclidean"),
        ("neighbor_measures", "jaccard, cosine) --", "cosine) --"),
        (
            "neighbor_measures",
            ["jaccard' as measure; drop table raw.captions; --"],
            "jaccard' as measure; drop table raw.captions; --",
        ),
        ("measure", "cosine' or '1'='1", "cosine' or '1'='1"),
    ],
)
def test_measure_name_vars_take_only_known_measures(
    built: tuple[Path, Path], tmp_path: Path, name: str, value: object, unknown: str
) -> None:
    """neighbor_measures (image_neighbors) and measure (analysis neighbors_of_image) name columns of
    image_pairs: a name that is not a known measure fails the compile, in one line naming the var."""
    db, _ = built
    result = _compile_with(db, tmp_path, {name: value})
    assert result.returncode != 0
    lines = _error_lines(result.stdout, name)
    assert len(lines) == 1 and f'"{unknown}"' in lines[0], result.stdout[-3000:]
    assert "is not one of" in lines[0]
    assert "cosine" in lines[0] and "symmetric_difference" in lines[0]  # it lists the known ones


def test_measure_name_vars_must_name_one(built: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = built
    for value in ([], {"a": 1}):
        result = _compile_with(db, tmp_path, {"neighbor_measures": value})
        assert result.returncode != 0 and "var neighbor_measures must" in result.stdout, value


def test_valid_measure_and_number_vars_compile(built: tuple[Path, Path], tmp_path: Path) -> None:
    """The checks refuse only bad values: a string list of measures, an exponent as a string."""
    db, _ = built
    result = _compile_with(
        db,
        tmp_path,
        {"neighbor_measures": "cosine, jaccard", "cosine_idf_exponent": "0.5", "concept_hypernym_levels": "2"},
    )
    assert result.returncode == 0, result.stdout[-3000:]
    # DuckDB's default: the kernel's lists, kept for exactly these measures
    assert "computed.measure in ('cosine', 'jaccard')" in compiled_sql(tmp_path, "image_neighbors")
    sql_path = tmp_path / "sql"
    result = _compile_with(db, sql_path, {"neighbor_measures": "cosine, jaccard", "large_corpus_kernel": "sql"})
    assert result.returncode == 0, result.stdout[-3000:]
    neighbours = compiled_sql(sql_path, "image_neighbors")  # the SQL top-k ranks these measures only
    assert "'cosine' as measure" in neighbours and "'jaccard' as measure" in neighbours
    assert "'symmetric_difference' as measure" not in neighbours
    weights = compiled_sql(tmp_path, "int_token_weights", folder="models/intermediate")
    assert "power(token_weights.idf, 1.0)" in weights  # 2α


def test_string_switches_mean_what_they_say(built: tuple[Path, Path], tmp_path: Path) -> None:
    """`--vars '{portable_sql: "false"}'` is false (a non-empty string used to count as true): the
    engine's top-k kernel, not the portable window; the same for lexicon_variants."""
    db, _ = built
    dbt(
        ["compile", "--select", "image_neighbors", "int_corpora"],
        db,
        tmp_path,
        vars={"portable_sql": "false", "lexicon_variants": "false", "large_corpus_kernel": "sql"},
    )
    assert "min_by(" in compiled_sql(tmp_path, "image_neighbors")
    assert "('lemma', 'captions', false)" in compiled_sql(tmp_path, "int_corpora", folder="models/intermediate")
    portable = tmp_path / "portable"
    dbt(
        ["compile", "--select", "image_neighbors"],
        db,
        portable,
        vars={"portable_sql": "true", "large_corpus_kernel": "sql"},
    )
    compiled = compiled_sql(portable, "image_neighbors")
    assert "min_by(" not in compiled and "row_number()" in compiled


def test_a_crafted_export_dir_writes_nothing_else(built: tuple[Path, Path], tmp_path: Path) -> None:
    """The export folder reaches COPY as one quoted literal: a stacked statement in it stays text."""
    db, work = built
    stolen = tmp_path / "stolen.csv"
    crafted = f"{tmp_path}/x') ; copy raw.captions to '{stolen}' (format csv) ; select ('"
    dbt(
        ["run-operation", "export_marts", "--args", json.dumps({"models": ["corpora"], "formats": ["csv"]})],
        db,
        tmp_path,
        vars={"export_dir": crafted},
        check=False,
    )
    assert not stolen.exists()
    written = list(tmp_path.rglob("corpora.csv"))
    assert all(str(p).startswith(crafted) for p in written)  # if anything, inside the literal folder


def test_export_names_and_formats_are_checked(built: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = built
    for args in ({"models": ["corpora; drop table x"]}, {"formats": ["parquet') --"]}):
        result = dbt(
            ["run-operation", "export_marts", "--args", json.dumps(args)],
            db,
            tmp_path,
            vars={"export_dir": str(tmp_path / "out")},
            check=False,
        )
        assert result.returncode != 0 and "export_marts:" in result.stdout


@pytest.mark.parametrize("corpus", HOSTILE)
def test_semspace_neighbors_binds_the_corpus(built: tuple[Path, Path], corpus: str) -> None:
    db, _ = built
    with pytest.raises(SemspaceError, match="no corpus"):
        cli.neighbors(str(db), 1, corpus, "symmetric_difference", 3, None)


def test_semspace_sql_cannot_change_the_warehouse(built: tuple[Path, Path]) -> None:
    db, _ = built
    before = _count(db, "select count(*) from raw.captions")
    for statement in ("delete from raw.captions", "drop table raw.captions", "select 1; delete from raw.captions"):
        with pytest.raises(SemspaceError, match="read-only|failed"):
            cli.sql(str(db), statement, 10)
    assert _count(db, "select count(*) from raw.captions") == before


@pytest.mark.parametrize("name", ["../../x", "..", "a/b", "/etc", "", "a\\b", "x\0y"])
def test_paths_derived_from_names_stay_inside(tmp_path: Path, name: str) -> None:
    with pytest.raises(SemspaceError):
        paths.inside(tmp_path, name, "map.html")


def test_the_map_command_refuses_a_corpus_that_leaves_its_folder(
    built: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = built
    out = tmp_path / "reports"
    assert cli.main(["map", "--db", str(db), "--corpus", "../../x", "--out", str(out)]) == 1
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not list(tmp_path.parent.glob("x/map.html"))
