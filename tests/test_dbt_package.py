"""semspace installed as a dbt package in another project: it builds, tests and exports with a
plain dbt-duckdb profile, without the semspace plugin the consumer does not know about."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

import ingest
from tests.dbt_helpers import REPO, SHARED_CAPTIONS


def _dbt(args: list[str], project: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("SEMSPACE_DB", None)
    result = subprocess.run(
        [str(exe), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"dbt {' '.join(args)}:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"
    return result


def test_a_consuming_project_builds_and_exports_without_the_plugin(tmp_path: Path) -> None:
    project = tmp_path / "consumer"
    project.mkdir()
    (project / "dbt_project.yml").write_text(
        'name: consumer\nversion: "1.0.0"\nconfig-version: 2\nprofile: consumer\n', encoding="utf-8"
    )
    (project / "packages.yml").write_text(f"packages:\n  - local: {REPO}\n", encoding="utf-8")
    db = tmp_path / "w.duckdb"
    (project / "profiles.yml").write_text(  # no plugins: what a user's own profile has
        f"consumer:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {db}\n"
        "      schema: main\n      threads: 2\n",
        encoding="utf-8",
    )
    records = json.loads(SHARED_CAPTIONS.read_text(encoding="utf-8"))[:10]
    source = tmp_path / "coco10.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    ingest.load(source, db, name="coco")

    _dbt(["deps"], project)
    built = _dbt(["build", "--select", "package:semspace"], project)
    assert "ERROR=0" in built.stdout
    out = tmp_path / "exports"
    out.mkdir()  # without the plugin the folder must exist (README, docs/warehouse.md)
    _dbt(
        [
            "run-operation",
            "semspace.export_marts",
            "--args",
            json.dumps({"models": ["image_pairs"]}),
            "--vars",
            json.dumps({"export_dir": str(out)}),
        ],
        project,
    )
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from image_pairs where corpus = 'coco'").fetchone() == (45,)
        exported = con.execute(
            "select count(*) from read_parquet(?) where corpus = 'coco'", [str(out / "image_pairs.parquet")]
        ).fetchone()
    assert exported == (45,)
    assert (out / "image_pairs.csv").is_file()
