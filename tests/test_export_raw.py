"""`python -m ingest export-raw`: the raw tables as Parquet folders (the dbt spark target's input)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingest.__main__ import main
from ingest.export import TABLE_NAMES, export_raw
from semspace.errors import SemspaceError


def _read(folder: Path, table: str, order: str = "all") -> list[tuple]:
    files = sorted((folder / table).iterdir())
    assert [f.name for f in files] == ["data.parquet"]
    return duckdb.connect().execute(f"select * from read_parquet('{files[0]}') order by {order}").fetchall()


def _columns(folder: Path, table: str) -> list[tuple[str, str]]:
    rows = duckdb.connect().execute(f"describe select * from read_parquet('{folder}/{table}/data.parquet')")
    return [(row[0], row[1]) for row in rows.fetchall()]


def test_every_table_is_written_with_all_rows(good_warehouse: Path, good_rows: dict, tmp_path: Path) -> None:
    out = tmp_path / "raw"
    counts = export_raw(out, good_warehouse)
    assert list(counts) == list(TABLE_NAMES)
    for table in ("datasets", "images", "captions", "lexicon"):
        assert sorted(_read(out, table), key=repr) == good_rows[table]
        assert counts[table] == len(good_rows[table])
    assert counts["lexicon"] > 0  # ingest wrote the words of both datasets
    # no generate run yet: the association tables exist, empty, with generate's columns
    assert counts["association_runs"] == counts["associations"] == counts["association_tokens"] == 0
    assert _columns(out, "association_tokens") == [
        ("run_id", "VARCHAR"),
        ("dataset", "VARCHAR"),
        ("image_id", "INTEGER"),
        ("token", "VARCHAR"),
        ("n_chains", "INTEGER"),
    ]
    assert [c[0] for c in _columns(out, "lexicon")] == ["word", "feature", "kind", "depth", "source"]


def test_a_subset_of_images_and_datasets(good_warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "raw"
    counts = export_raw(out, good_warehouse, images=2, datasets=["alpha"])
    assert counts["datasets"] == 1 and counts["images"] == 2
    datasets = _read(out, "datasets")
    assert [(d[0], d[3], d[4]) for d in datasets] == [("alpha", 2, 3)]  # counts of what was exported
    assert {(c[0], c[1]) for c in _read(out, "captions")} == {("alpha", 0), ("alpha", 1)}


def test_the_lexicon_is_exported_whole_with_a_subset(good_warehouse: Path, good_rows: dict, tmp_path: Path) -> None:
    """raw.lexicon has no dataset or image column (shared by all datasets): --images and --dataset
    leave it whole."""
    out = tmp_path / "raw"
    for options in ({"images": 1}, {"datasets": ["beta"]}, {"images": 0, "datasets": ["alpha", "beta"]}):
        counts = export_raw(out, good_warehouse, **options)
        assert counts["lexicon"] == len(good_rows["lexicon"]) > 0, options
        assert sorted(_read(out, "lexicon"), key=repr) == good_rows["lexicon"], options


def test_a_column_the_contract_gained_since_is_written_as_nulls(good_warehouse: Path, tmp_path: Path) -> None:
    """A warehouse whose raw.association_tokens predates n_chains (generate adds it on its next
    write): the export still has the contract's columns, n_chains null."""
    con = duckdb.connect(str(good_warehouse))
    con.execute(
        "create table raw.association_tokens (run_id varchar, dataset varchar, image_id integer, token varchar)"
    )
    con.execute("insert into raw.association_tokens values ('r1', 'alpha', 0, 'bike'), ('r1', 'beta', 1, 'caption')")
    con.close()
    out = tmp_path / "raw"
    counts = export_raw(out, good_warehouse, datasets=["alpha"])
    assert counts["association_tokens"] == 1
    assert [c[0] for c in _columns(out, "association_tokens")] == ["run_id", "dataset", "image_id", "token", "n_chains"]
    assert _columns(out, "association_tokens")[-1] == ("n_chains", "INTEGER")
    assert _read(out, "association_tokens") == [("r1", "alpha", 0, "bike", None)]


def test_a_second_export_replaces_each_table_folder(good_warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "raw"
    export_raw(out, good_warehouse)
    (out / "unrelated.txt").write_text("kept")
    export_raw(out, good_warehouse, images=1)
    assert len(_read(out, "images")) == 2  # one per dataset
    assert (out / "unrelated.txt").read_text() == "kept"
    assert sorted(p.name for p in out.iterdir()) == sorted([*TABLE_NAMES, "unrelated.txt"])


def test_cli(good_warehouse: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "raw"
    assert main(["export-raw", "--db", str(good_warehouse), "--out", str(out), "--images", "1"]) == 0
    assert "datasets 2, images 2, captions 3" in capsys.readouterr().out
    assert main(["export-raw", "--db", str(good_warehouse), "--out", str(out), "--dataset", "gamma"]) == 1
    assert "no dataset 'gamma'" in capsys.readouterr().err


def test_no_warehouse_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SemspaceError, match="no warehouse here yet"):
        export_raw(tmp_path / "raw", tmp_path / "missing.duckdb")
    assert not (tmp_path / "raw").exists()
