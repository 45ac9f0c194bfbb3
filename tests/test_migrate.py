"""A warehouse written before the contract gained a column: `semspace build` (check_buildable) and
the writers add the nullable columns first, keep every row, and do nothing the second time."""

from __future__ import annotations

from pathlib import Path

import duckdb

from semspace import cli, contract

OLD_TOKENS = (
    "create table raw.association_tokens (run_id varchar not null, dataset varchar not null, "
    "image_id integer not null, token varchar not null, primary key (run_id, dataset, image_id, token))"
)


def _old_warehouse(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema raw")
    contract.ensure(con, [f"raw.{name}" for name in contract.CAPTION_TABLES])
    con.execute(OLD_TOKENS)
    con.execute("insert into raw.association_tokens values ('run', 'coco', 1, 'dog'), ('run', 'coco', 1, 'cat')")
    con.close()


def test_migrate_adds_only_the_missing_nullable_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    _old_warehouse(db)
    with duckdb.connect(str(db)) as con:
        assert contract.migrate(con) == ["raw.association_tokens.n_chains"]
        assert contract.migrate(con) == []
        rows = con.execute("select token, n_chains from raw.association_tokens order by token").fetchall()
        types = {row[0]: row[1] for row in con.execute("describe raw.association_tokens").fetchall()}
    assert rows == [("cat", None), ("dog", None)]
    assert types["n_chains"] == "INTEGER"


def test_a_build_migrates_an_old_warehouse_first(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    _old_warehouse(db)
    assert cli.check_buildable(str(db)) == db
    with duckdb.connect(str(db), read_only=True) as con:
        assert not contract.missing_columns(con, contract.table("raw.association_tokens"))
        assert con.execute("select count(*) from raw.association_tokens where n_chains is null").fetchone() == (2,)
