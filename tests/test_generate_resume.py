"""Resume after a real kill: `python -m generate run` on the tiny Falcon, SIGKILLed after some batches
are stored, then Ctrl-C (SIGINT) in a second go, then rerun to completion. The rows end exactly
as an uninterrupted run's: same count, no duplicate, same texts (same batches, same seeds, on CPU).
The final rerun calls ``generate.run`` in-process with the command's arguments (the command is a thin
wrapper around it), which saves a third interpreter start-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

import generate
from generate import GenerationParams
from generate.chain import BATCH_DELAY_ENV, RunPlan
from tests.generate_helpers import REPO_ROOT, shared_tiny_falcon

pytestmark = pytest.mark.usefixtures("ingest_env")

N_CAPTIONS, ROUNDS, BATCH = 6, 3, 2  # dataset alpha: 3 images, 6 captions → 3 batches per round


@pytest.fixture(scope="module")
def tiny_falcon(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_tiny_falcon(tmp_path_factory)


def command(model: Path, database: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "generate",
        "run",
        "--dataset",
        "alpha",
        "--model",
        str(model),
        "--rounds",
        str(ROUNDS),
        "--batch-size",
        str(BATCH),
        "--max-new-tokens",
        "4",
        "--device",
        "cpu",
        "--run-id",
        "resumed",
        "--db",
        str(database),
        "-v",
    ]


def run_plan(model: Path) -> RunPlan:
    """The command's arguments as the plan that ``generate.run`` takes."""
    return RunPlan(
        dataset="alpha",
        model=str(model),
        rounds=ROUNDS,
        batch_size=BATCH,
        run_id="resumed",
        params=GenerationParams(max_new_tokens=4, max_length=None),
        backend_options={"device": "cpu"},
    )


def run_until(argv: list[str], commits: int, sig: int) -> tuple[int, str]:
    """Start the command, wait for ``commits`` stored-batch lines on stderr, send ``sig``; (exit code, stderr)."""
    env = {**os.environ, BATCH_DELAY_ENV: "0.4", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        # a test run started in the background inherits SIGINT ignored, and Python then installs no
        # KeyboardInterrupt handler: give the command Ctrl-C's default, as a terminal would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    lines = []
    try:
        seen = 0
        for line in proc.stderr:
            lines.append(line)
            if "committed round" in line:
                seen += 1
                if seen == commits:
                    proc.send_signal(sig)
                    break
        lines.extend(proc.stderr)
        proc.wait(timeout=60)
    finally:
        watchdog.cancel()
        proc.stderr.close()
    return proc.returncode, "".join(lines)


def table(database: Path) -> list[tuple]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(
            "select image_id, caption_index, round, input_text, generated_text, output_text, n_new_tokens, "
            "sample_seed from raw.associations where run_id = 'resumed' order by 1, 2, 3"
        ).fetchall()
    finally:
        con.close()


def test_sigkill_then_ctrl_c_then_rerun(good_warehouse: Path, tiny_falcon: Path, tmp_path: Path) -> None:
    import shutil

    reference = tmp_path / "reference.duckdb"
    shutil.copyfile(good_warehouse, reference)
    argv = command(tiny_falcon, good_warehouse)

    code, err = run_until(argv, commits=2, sig=signal.SIGKILL)
    assert code == -signal.SIGKILL, err
    after_kill = table(good_warehouse)
    assert BATCH * 2 <= len(after_kill) < N_CAPTIONS * ROUNDS and len(after_kill) % BATCH == 0  # whole batches

    code, err = run_until(argv, commits=2, sig=signal.SIGINT)
    assert code == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("generate: interrupted: run 'resumed' has ") and "rerun the same command" in last
    after_int = table(good_warehouse)
    assert set(after_kill) <= set(after_int)
    assert len(after_int) >= len(after_kill) + 2 * BATCH and len(after_int) % BATCH == 0

    # rerun to completion (the same function the command calls, here in-process: no third start-up)
    summary = generate.run(run_plan(tiny_falcon), database=good_warehouse)
    assert summary.generated == N_CAPTIONS * ROUNDS - len(after_int)
    final = table(good_warehouse)
    assert len(final) == N_CAPTIONS * ROUNDS
    assert len({row[:3] for row in final}) == len(final)  # no duplicate (image, caption, round)
    assert set(after_int) <= set(final)  # nothing stored earlier was lost or rewritten

    # the same rows as one uninterrupted run (same batches and seeds; CPU arithmetic is deterministic)
    generate.run(run_plan(tiny_falcon), database=reference)
    assert final == table(reference)
