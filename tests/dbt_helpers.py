"""Run dbt from tests: in a subprocess (dbt-duckdb keeps the DuckDB file open in-process), against
a warehouse file of the test's own, with target/ and logs/ in the test's temp dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED_CAPTIONS = REPO.parent / "shared" / "data" / "coco_karpathy_test.json"

EXPORTABLE_MARTS = (
    "corpora",
    "images",
    "image_captions",
    "token_sets",
    "set_sizes",
    "token_weights",
    "image_pairs",
    "image_neighbors",
    "corpus_summary",
    "pair_summary",
    "mds_spectrum",
    "mds_eigenvalues",
    "mds_coordinates",
    "evaluation_scores",
)
"""The marts with meta.export_order (macro export_marts): every mart of the project."""


def dbt(
    args: list[str],
    db: Path,
    work: Path,
    vars: dict[str, Any] | None = None,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``dbt ARGS`` on warehouse ``db``; target and logs go under ``work``; ``env`` adds or
    overrides environment variables (e.g. SEMSPACE_TARGET)."""
    exe = Path(sys.executable).with_name("dbt")
    cmd = [
        str(exe),
        *args,
        "--project-dir",
        str(REPO),
        "--profiles-dir",
        str(REPO),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
    ]
    if vars:
        cmd += ["--vars", json.dumps(vars)]
    env = {
        **os.environ,
        "SEMSPACE_DB": str(db),
        "SEMSPACE_EXPORT_DIR": str(work / "exports"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **(env or {}),
    }
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(
            f"dbt {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        )
    return result


def compiled_sql(work: Path, node: str, folder: str = "models/marts") -> str:
    return (work / "target" / "compiled" / "semspace" / folder / f"{node}.sql").read_text()
