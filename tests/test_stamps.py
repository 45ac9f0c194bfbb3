"""semspace.stamps: which steps of `semspace run` a second run skips."""

from __future__ import annotations

import os
from pathlib import Path

from semspace.stamps import Stamps, code_hash

STEPS = ("ingest", "build", "mds")


def _run(db: Path, inputs: dict[str, object], outputs: dict[str, list[Path]] | None = None) -> list[str]:
    """One pipeline run over STEPS; returns the steps that ran (each appends to the warehouse)."""
    stamps = Stamps(db)
    ran = []
    for step in STEPS:
        key = stamps.key(step, [inputs.get(step)])
        if stamps.fresh(step, key, (outputs or {}).get(step, [])):
            continue
        with db.open("ab") as f:
            f.write(step.encode())
        ran.append(step)
        stamps.done(step, key)
    return ran


def test_a_second_run_skips_and_a_change_reruns_from_there(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    assert _run(db, {}) == list(STEPS)
    assert _run(db, {}) == []
    assert _run(db, {"build": "other vars"}) == ["build", "mds"]  # a step's input: it and what follows
    assert _run(db, {"build": "other vars"}) == []
    assert _run(db, {"ingest": "new captions", "build": "other vars"}) == list(STEPS)


def test_a_warehouse_changed_elsewhere_or_a_missing_output_reruns(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    out = tmp_path / "report.html"
    out.write_text("r")
    assert _run(db, {}, {"mds": [out]}) == list(STEPS)
    with db.open("ab") as f:  # e.g. a dbt run by hand
        f.write(b"!")
    assert _run(db, {}, {"mds": [out]}) == list(STEPS)
    out.unlink()
    assert _run(db, {}, {"mds": [out]}) == ["mds"]
    db.unlink()
    assert _run(db, {}) == list(STEPS)  # no warehouse: every stamp is void
    (tmp_path / "w.duckdb.stamps.json").write_text("{not json")
    assert _run(db, {}) == list(STEPS)


def test_the_code_hash_follows_code_and_settings(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "models").mkdir()
    model = tmp_path / "models" / "m.sql"
    model.write_text("select 1")
    first = code_hash(tmp_path)
    assert code_hash(tmp_path) == first
    model.write_text("select 2")
    second = code_hash(tmp_path)
    assert second != first
    monkeypatch.setenv("SEMSPACE_MEMORY_LIMIT", "1GB")
    assert code_hash(tmp_path) != second
    monkeypatch.delenv("SEMSPACE_MEMORY_LIMIT")
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "elsewhere"))  # where dbt writes: not an input
    assert code_hash(tmp_path) == second
    assert os.environ.get("DBT_TARGET_PATH")
