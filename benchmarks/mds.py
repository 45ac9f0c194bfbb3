"""Benchmark of the MDS step: against full `scipy.linalg.eigh`, and landmark MDS's memory at scale.

1. **full** (a built warehouse, COCO by default): the whole `analysis.mds(..., method="full")` step
   — read the distances from the warehouse, double-centre, all eigenvalues (values only), the top-k
   eigenvectors by a partial solver, write the three tables — against `scipy.linalg.eigh` (values
   and vectors) of the same double-centred matrix alone, each the median of `--repeats` runs in this
   process, the two alternating. The reference is timed without reading or writing anything, which
   favours it, with OpenBLAS's own thread count (all cores) unless `--eigh-threads`; MDS picks its
   own (the idle cores, `analysis.mds.blas_threads`). Checks: the whole spectrum equal to eigh's
   (max |Δλ| / max |λ| printed, ≤ 1e-12), the same positive count at the same tolerance, and the
   same top-2 coordinates up to sign. Prints the medians, their ratio (target ≤ 0.3), the load
   average before and after, and the progress lines of the median MDS run.
2. **landmark** (synthetic corpora of 25k, 50k, 100k images, ~28 tokens per image over a Zipf
   vocabulary, written straight into `token_sets`): `python -m analysis mds --method landmark` in a
   child process per size; its wall time and peak resident memory (getrusage of a wrapper whose only child it is), next to the
   memory one copy of the N × N distance matrix that full MDS needs would take.

Run: `python benchmarks/mds.py --db data/semspace.duckdb` (after `make run`); `--help` for options.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import scipy.linalg
from threadpoolctl import threadpool_info, threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import analysis  # noqa: E402
from analysis.mds import double_centre, load_distances  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(fn, repeats: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


TARGET = 0.3  # issue 15: the whole MDS step ≤ 0.3 × full eigh of the same matrix


class Lines(logging.Handler):
    """Collects the progress lines of analysis.mds."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def bench_full(db: Path, corpus: str, repeats: int, k: int, eigh_threads: int | None) -> dict:
    work = Path(tempfile.mkdtemp(prefix="semspace-mds-bench-"))
    mds_log = logging.getLogger("analysis.mds")
    try:
        copy = work / "warehouse.duckdb"
        shutil.copy(db, copy)
        with duckdb.connect(str(copy), read_only=True) as con:
            _, distances = load_distances(con, corpus, source="pairs")  # the reference reads image_pairs
        b = double_centre(distances)
        del distances
        log(f"full eigh of {len(b)} × {len(b)} and analysis.mds(method='full'), alternating, {repeats}× each")
        load_before = os.getloadavg()
        ref_times, ours_times, ours_lines = [], [], []
        mds_log.setLevel(logging.INFO)
        for _ in range(repeats):  # alternate, so a change in the machine's load hits both sides alike
            with threadpool_limits(eigh_threads, user_api="blas"):  # None: as OpenBLAS has it
                _, (elapsed,), (values, vectors) = timed(lambda: scipy.linalg.eigh(b, check_finite=False), 1)
            ref_times.append(elapsed)
            log(f"  eigh {elapsed:.2f} s")
            lines = Lines()
            mds_log.addHandler(lines)
            try:
                _, (elapsed,), result = timed(lambda: analysis.mds(corpus, copy, k=k, method="full"), 1)
            finally:
                mds_log.removeHandler(lines)
            ours_times.append(elapsed)
            ours_lines.append(lines.lines)
            log(f"  analysis.mds {elapsed:.2f} s")
        load_after = os.getloadavg()
        ref_median, ours_median = statistics.median(ref_times), statistics.median(ours_times)
        values, vectors = values[::-1], vectors[:, ::-1]
        spectrum_error = float(np.abs(result.eigenvalues - values).max() / np.abs(values).max())
        same_count = int((values > result.tolerance).sum()) == result.n_positive
        same_axes = True
        for r in range(2):
            reference = vectors[:, r] * np.sqrt(values[r])
            ours = result.coordinates[:, r]
            same_axes &= np.allclose(ours, reference, atol=1e-8) or np.allclose(ours, -reference, atol=1e-8)
        median_run = sorted(range(repeats), key=lambda i: ours_times[i])[(repeats - 1) // 2]
        return {
            "n": len(b),
            "eigh": ref_median,
            "eigh_times": ref_times,
            "eigh_threads": eigh_threads or threadpool_info_threads(),
            "ours": ours_median,
            "ours_times": ours_times,
            "ours_lines": ours_lines[median_run],
            "ratio": ours_median / ref_median,
            "n_positive": result.n_positive,
            "spectrum_error": spectrum_error,
            "same_spectrum": spectrum_error <= 1e-12,
            "same_count": same_count,
            "same_axes": same_axes,
            "load": (load_before[0], load_after[0]),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def threadpool_info_threads() -> int:
    """The thread count OpenBLAS (SciPy's) runs with when not limited."""
    return max(int(info["num_threads"]) for info in threadpool_info() if info.get("user_api") == "blas")


def synthetic_token_sets(n: int, vocabulary: int, mean_tokens: float, seed: int) -> pa.Table:
    """n images' distinct tokens: sizes ~ Poisson(mean_tokens), tokens drawn with Zipf weights."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, vocabulary + 1)
    draws = np.maximum(rng.poisson(mean_tokens * 1.2, size=n), 2)  # draws repeat; distinct ≈ mean_tokens
    images = np.repeat(np.arange(n, dtype=np.int64), draws)
    tokens = rng.choice(vocabulary, size=len(images), p=weights / weights.sum())
    keys = np.unique(images * vocabulary + tokens)
    image_ids, token_ids = keys // vocabulary, keys % vocabulary
    return pa.table(
        {
            "corpus": pa.array(np.full(len(keys), "synthetic")).dictionary_encode(),
            "image_id": pa.array(image_ids.astype(np.int32)),
            "token": pa.array(np.char.add("t", token_ids.astype(str))),
        }
    )


def peak_rss_of(cmd: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS bytes, stdout) of a command run under WRAPPER, which prints the
    peak resident memory of its one child (RUSAGE_CHILDREN of a process with a single child)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    rss_line = [line for line in err.splitlines() if line.startswith("peak_rss_kb=")]
    return wall, int(rss_line[-1].split("=")[1]) * 1024, out.strip()


WRAPPER = """
import os, resource, subprocess, sys
proc = subprocess.run(sys.argv[1:])
print(f"peak_rss_kb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
sys.exit(proc.returncode)
"""


def bench_landmark(sizes: list[int], landmarks: int, vocabulary: int, mean_tokens: float, seed: int) -> list[dict]:
    rows = []
    work = Path(tempfile.mkdtemp(prefix="semspace-lmds-bench-"))
    try:
        for n in sizes:
            db = work / f"synthetic_{n}.duckdb"
            table = synthetic_token_sets(n, vocabulary, mean_tokens, seed)
            with duckdb.connect(str(db)) as con:
                con.register("new_token_sets", table)
                con.execute(
                    "create table token_sets as select corpus::varchar as corpus, image_id, token from new_token_sets"
                )
                con.execute(
                    "create table set_sizes as select corpus, image_id, count(*)::integer as n_tokens "
                    "from token_sets group by all"
                )
                con.execute("create table corpora as select 'synthetic' as corpus")
                n_cells = con.execute("select count(*) from token_sets").fetchone()[0]
            log(f"landmark MDS of {n} synthetic images ({n_cells / n:.1f} tokens per image), {landmarks} landmarks")
            cmd = [
                sys.executable,
                "-c",
                WRAPPER,
                sys.executable,
                "-m",
                "analysis",
                "mds",
                "--corpus",
                "synthetic",
                "--method",
                "landmark",
                "--landmarks",
                str(landmarks),
                "--db",
                str(db),
            ]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            wall, rss, out = peak_rss_of(cmd, env)
            rows.append(
                {
                    "n": n,
                    "tokens_per_image": n_cells / n,
                    "wall": wall,
                    "peak_rss": rss,
                    "full_matrix": 8.0 * n * n,
                    "summary": out,
                }
            )
            db.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python benchmarks/mds.py", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--db",
        default=os.environ.get("SEMSPACE_DB", str(ROOT / "data" / "semspace.duckdb")),
        help="a warehouse after `make run` (copied; default: $SEMSPACE_DB or data/semspace.duckdb)",
    )
    p.add_argument("--corpus", default="coco")
    p.add_argument("--repeats", type=int, default=3, help="runs of each side of the full comparison (medians)")
    p.add_argument("--k", type=int, default=10)
    p.add_argument(
        "--eigh-threads", type=int, default=None, help="BLAS threads of the eigh reference (default: OpenBLAS's own)"
    )
    p.add_argument("--sizes", default="25000,50000,100000", help="synthetic corpus sizes for landmark MDS")
    p.add_argument("--landmarks", type=int, default=2000)
    p.add_argument("--vocabulary", type=int, default=20000)
    p.add_argument("--tokens", type=float, default=28.0, help="mean distinct tokens per synthetic image")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-full", action="store_true")
    p.add_argument("--skip-landmark", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    ok = True
    if not args.skip_full:
        db = Path(args.db)
        if not db.is_file():
            print(f"mds benchmark: no warehouse at {db}: run `make run` first or pass --db", file=sys.stderr)
            return 1
        r = bench_full(db, args.corpus, args.repeats, args.k, args.eigh_threads)
        met = r["ratio"] <= TARGET
        ok &= r["same_spectrum"] and r["same_count"] and r["same_axes"] and met
        print(f"\n## full MDS of {args.corpus} ({r['n']} images), medians of {args.repeats}\n")
        print("| step | median s | runs s |")
        print("|---|---|---|")
        print(
            f"| scipy.linalg.eigh (values + vectors, {r['eigh_threads']} BLAS threads) | {r['eigh']:.2f} | "
            f"{', '.join(f'{t:.2f}' for t in r['eigh_times'])} |"
        )
        print(f"| analysis.mds, whole step | {r['ours']:.2f} | {', '.join(f'{t:.2f}' for t in r['ours_times'])} |")
        print(
            f"\nratio ours / eigh = {r['ratio']:.2f} (target ≤ {TARGET}: {'met' if met else 'NOT met'}); "
            f"spectrum max |Δλ| / max |λ| = {r['spectrum_error']:.1e}; "
            f"same positive count ({r['n_positive']}): {r['same_count']}; same top-2 axes up to sign: {r['same_axes']}; "
            f"load average {r['load'][0]:.1f} before, {r['load'][1]:.1f} after ({len(os.sched_getaffinity(0))} cores)"
        )
        print("\nprogress lines of the median run:\n")
        for line in r["ours_lines"]:
            print(f"    {line}")
    if not args.skip_landmark:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        rows = bench_landmark(sizes, args.landmarks, args.vocabulary, args.tokens, args.seed)
        print(f"\n## landmark MDS, {args.landmarks} random landmarks, synthetic corpora\n")
        print("| images | tokens/image | wall s | peak RSS MB | one N×N float64 matrix MB |")
        print("|---|---|---|---|---|")
        for row in rows:
            print(
                f"| {row['n']:,} | {row['tokens_per_image']:.1f} | {row['wall']:.1f} | "
                f"{row['peak_rss'] / 2**20:,.0f} | {row['full_matrix'] / 2**20:,.0f} |"
            )
        if len(rows) >= 2:
            first, last = rows[0], rows[-1]
            growth = (last["peak_rss"] - first["peak_rss"]) / (last["n"] - first["n"])
            print(
                f"\npeak memory grows {growth / 1024:.1f} KB per extra image (linear: the token matrix and the "
                f"N × k coordinates); full MDS would need {last['full_matrix'] / 2**30:.0f} GB for one matrix "
                f"at {last['n']:,}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
