"""``semspace``: one command for every stage and question.

    semspace ingest [SOURCE]        captions into raw.* (python -m ingest)
    semspace generate run ...       the note's LLM association chain (python -m generate)
    semspace build [DBT ARGS]       dbt build with the project's profile
    semspace mds | evaluate | report | map
    semspace run                    the whole default pipeline (make run)
    semspace neighbors IMAGE        the nearest images, with distances and captions
    semspace sql "select ..."       an ad-hoc read-only query
    semspace export                 the marts as Parquet/CSV files

Every subcommand takes ``--db`` (default ``$SEMSPACE_DB`` or data/semspace.duckdb), prints one clear
line and exits 1 on bad input, and exits 130 on Ctrl-C, keeping what was stored.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from semspace import contract, db, warehouse
from semspace.errors import SemspaceError
from semspace.measures import MEASURES

PROG = "semspace"


def project_dir() -> Path:
    """The dbt project: ``$SEMSPACE_PROJECT_DIR``, else the checkout this package runs from."""
    folder = Path(os.environ.get("SEMSPACE_PROJECT_DIR") or Path(__file__).resolve().parent.parent)
    if not (folder / "dbt_project.yml").is_file():
        raise SemspaceError(f"{folder}: no dbt_project.yml here; set SEMSPACE_PROJECT_DIR to the semspace checkout")
    return folder


def _dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def check_buildable(database: str | None) -> Path:
    """The warehouse file, after checking, before any long work, that it exists, holds ingested
    captions and can be opened for writing now (not locked by another process, not read-only)."""
    path = db.check_writable(database)
    with db.connect(path, read_only=True) as con:
        if not warehouse.table_exists(con, "raw", "captions"):
            raise SemspaceError(f"{path}: no captions ingested yet; run `semspace ingest` first")
        stale = [t.qualified for t in contract.tables() if contract.missing_columns(con, t)]
    if stale:  # a warehouse written before the contract gained a column: add it (nullable) first
        with db.connect(path) as con:
            contract.migrate(con, stale)
    return path


def dbt(args: Sequence[str], database: str | None, *, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """``dbt ARGS`` on the warehouse, with the project's folder and profile, in a subprocess (dbt-duckdb
    keeps the file open in-process)."""
    folder = project_dir()
    env = {
        **os.environ,
        "SEMSPACE_DB": str(db.db_path(database).resolve()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": os.environ.get("DBT_SEND_ANONYMOUS_USAGE_STATS", "false"),
    }
    env.setdefault("DBT_PROFILES_DIR", str(folder))
    cmd = [_dbt_executable(), *args, "--project-dir", str(folder)]
    try:
        return subprocess.run(cmd, env=env, text=True, capture_output=capture, check=False)
    except FileNotFoundError as exc:
        raise SemspaceError("dbt is not installed in this environment; run `make setup` (or pip install -e .)") from exc


def build(database: str | None, extra: Sequence[str] = (), quiet: bool = False) -> str:
    """`dbt build` (plus ``extra`` dbt arguments); returns dbt's closing 'Done. PASS=…' line."""
    check_buildable(database)
    result = dbt(["build", *extra], database, capture=quiet)
    output = (result.stdout or "") + (result.stderr or "")
    done = next((line.split("Done.", 1)[1].strip() for line in reversed(output.splitlines()) if "Done." in line), "")
    if result.returncode != 0:
        if quiet:
            errors = [line for line in output.splitlines() if "ERROR" in line or "FAIL" in line][-5:]
            sys.stderr.write("\n".join(errors) + "\n")
        raise SemspaceError(
            f"dbt build failed{' (' + done + ')' if done else ''}; see dbt's messages above and logs/dbt.log"
        )
    return done


def export(database: str | None, out: str | None, formats: Sequence[str] | None, marts: Sequence[str] | None) -> Path:
    """The marts as files through dbt's export_marts macro; returns the folder."""
    if not db.db_path(database).exists():
        raise SemspaceError(f"{db.db_path(database)}: no warehouse here yet; run `semspace run` first")
    folder = Path(out or os.environ.get("SEMSPACE_EXPORT_DIR") or "data/exports")
    folder.mkdir(parents=True, exist_ok=True)  # DuckDB's COPY does not create it
    args: dict[str, list[str]] = {}
    if marts:
        args["models"] = list(marts)
    if formats:
        args["formats"] = list(formats)
    command = ["run-operation", "export_marts", "--vars", json.dumps({"export_dir": str(folder.resolve())})]
    if args:
        command += ["--args", json.dumps(args)]
    result = dbt(command, database)
    if result.returncode != 0:
        raise SemspaceError("export failed; see dbt's message above")
    return folder


# ------------------------------------------------------------------------------------- questions


def neighbors(database: str | None, image_id: int, corpus: str, measure: str, k: int, captions: int | None) -> str:
    """The text `semspace neighbors` prints: the image, then its k nearest images by ``measure``."""
    from semspace import measures, warehouse

    m = measures.get(measure)
    with db.connect(database, read_only=True) as con:
        warehouse.require_marts(con, "corpora", "set_sizes", "images", "image_captions")
        row = warehouse.corpus(con, corpus)
        near = warehouse.neighbours(con, corpus, image_id, measure, k)
        ids = [image_id, *(n.image_id for n in near)]
        texts = warehouse.captions(con, row["dataset"], ids)
        info = warehouse.images(con, row["dataset"], ids)
        size = con.execute(
            "select n_tokens from set_sizes where corpus = ? and image_id = ?", [corpus, image_id]
        ).fetchone()

    def coco(i: int) -> str:
        value = info.get(i, {}).get("coco_id")
        return "" if value is None else f"COCO {value}"

    def shown(i: int) -> list[str]:
        lines = texts.get(i, [])
        return lines if captions is None else lines[:captions]

    value_width = max(len(m.name), 8)
    out = [f"image {image_id} of corpus {corpus} ({coco(image_id) or 'no COCO id'}, {size[0] if size else 0} tokens)"]
    out += [f"      {c}" for c in shown(image_id)]
    out.append(f"{'rank':>4}  {'image':>6}  {m.name:>{value_width}}  COCO id")
    for n in near:
        value = f"{n.value:.0f}" if not m.larger_is_closer and float(n.value).is_integer() else f"{n.value:.4f}"
        out.append(f"{n.rank:>4}  {n.image_id:>6}  {value:>{value_width}}  {coco(n.image_id).removeprefix('COCO ')}")
        out += [f"      {c}" for c in shown(n.image_id)]
    return "\n".join(line.rstrip() for line in out)


def sql(database: str | None, query: str, limit: int) -> str:
    """An ad-hoc query on a read-only connection (nothing a query says can change the warehouse)."""
    import duckdb

    with db.connect(database, read_only=True) as con:
        try:
            relation = con.sql(query)
        except duckdb.Error as exc:
            raise SemspaceError(f"the query failed: {' '.join(str(exc).split())}") from exc
        if relation is None:
            return "(no result)"
        return str(relation.limit(limit)) if limit > 0 else str(relation)


# -------------------------------------------------------------------------------------- pipeline


def _source_state(source: str | None) -> list[object]:
    """What the ingest step's stamp compares: the caption file's path, size and modification
    time; a source that is not a local file (hf:…, a URL) is never taken as unchanged."""
    from ingest.sources import default_source
    from semspace.stamps import file_state

    try:
        path = Path(source) if source else default_source(download=False)
    except SemspaceError:
        return [source, time.time_ns()]
    return file_state(path) or [source, time.time_ns()]


def run_pipeline(database: str | None, out: str, source: str | None = None) -> None:
    """`make run`: ingest the default captions, dbt build, MDS of coco, the ECCV evaluation of every
    caption corpus of the dataset (coco and its variants), the report and the map; one line per step
    with its elapsed time. A step whose inputs, code and warehouse are unchanged since it last
    completed is skipped and says so (semspace.stamps)."""
    import logging

    from semspace import paths
    from semspace.stamps import Stamps, code_hash

    logging.getLogger().setLevel(logging.WARNING)
    started = time.perf_counter()
    stamps = Stamps(db.db_path(database))
    code = code_hash()

    def step(
        label: str, fn: Callable[..., object], inputs: Sequence[object] = (), outputs: Sequence[Path] = ()
    ) -> None:
        t = time.perf_counter()
        key = stamps.key(label, [code, *inputs])
        if stamps.fresh(label, key, [db.db_path(database), *outputs]):
            print(f"{label:<9}unchanged since the last run: skipped  ({time.perf_counter() - t:.1f} s)", flush=True)
            return
        result = fn()
        stamps.done(label, key)
        summary = result if isinstance(result, str) else ""
        print(f"{label:<9}{summary}  ({time.perf_counter() - t:.1f} s)", flush=True)

    import ingest

    def do_ingest() -> str:
        ds = ingest.load(source, database)
        return f"dataset {ds.name!r}: {len(ds.images)} images, {ds.n_captions} captions from {ds.source}"

    def do_mds() -> str:
        import analysis

        r = analysis.mds("coco", database)
        return f"coco: {r.n_points} points, {r.n_positive} positive / {r.n_negative} negative / {r.n_zero} zero eigenvalues"

    def do_evaluate() -> str:
        from analysis import evaluate

        with db.connect(database, read_only=True) as con:
            corpora = [c["corpus"] for c in warehouse.corpora(con) if c["base_corpus"] == "coco"]
        scores = {}
        for corpus in corpora:
            for r in evaluate.evaluate(database, corpus=corpus):
                if r["metric"] == "map_at_r":
                    scores[(corpus, r["measure"])] = r["value"]
        best = max(scores, key=lambda key: scores[key])
        return f"{len(corpora)} corpora × {len(scores) // max(len(corpora), 1)} measures; best mAP@R {scores[best]:.3f} ({best[0]}, {best[1]})"

    def do_report() -> str:
        from analysis import report

        return f"{report.build(database, out_dir=out, maps=['coco'])}"  # the map step below writes coco's

    def do_map() -> str:
        from analysis import map as semantic_map

        return f"{semantic_map.build(database, corpus='coco', out_path=paths.inside(out, 'coco', 'map.html'))}"

    report_dir = Path(out)
    step("ingest", do_ingest, inputs=[_source_state(source)])
    step("build", lambda: "dbt build: " + build(database, quiet=True))
    step("mds", do_mds)
    step("evaluate", do_evaluate)
    step("report", do_report, inputs=[str(report_dir.resolve())], outputs=[report_dir / "index.html"])
    step("map", do_map, inputs=[str(report_dir.resolve())], outputs=[paths.inside(out, "coco", "map.html")])
    print(f"{'done':<9}{db.db_path(database)}  ({time.perf_counter() - started:.1f} s in all)")


# ------------------------------------------------------------------------------------------ parser


def parser() -> argparse.ArgumentParser:
    from analysis.__main__ import add_commands

    p = argparse.ArgumentParser(
        prog=PROG,
        description="semspace: images in a semantic space of caption tokens (DuckDB + dbt). "
        "Every subcommand has its own --help.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help=f"warehouse file (default: $SEMSPACE_DB or {db.DEFAULT_DB})")

    sub.add_parser("ingest", add_help=False, help="load captions into raw.* (`semspace ingest --help`)")
    sub.add_parser("generate", add_help=False, help="the LLM association chain (`semspace generate run --help`)")
    b = sub.add_parser(
        "build",
        parents=[common],
        help="dbt build with the project's profile (extra args go to dbt)",
        description="`dbt build` of the project on the warehouse; arguments after the options are "
        "passed to dbt, e.g. `semspace build --select +image_neighbors`.",
    )
    b.add_argument("dbt_args", nargs=argparse.REMAINDER, help="more dbt arguments")
    add_commands(sub, common)
    r = sub.add_parser(
        "run",
        parents=[common],
        help="the whole default pipeline: ingest, build, mds, evaluate, report, map (what `make run` does)",
    )
    r.add_argument("source", nargs="?", help="caption file (default: the COCO Karpathy test split)")
    r.add_argument("--out", default="reports", help="folder of the report and the map (default: reports)")

    n = sub.add_parser(
        "neighbors",
        parents=[common],
        help="the nearest images of one image, with distances and captions",
        description="The k nearest images of IMAGE (ties by the smaller id), with their captions.",
    )
    n.add_argument("image", type=int, help="image id (the 0-based position in the dataset, the note's image ID)")
    n.add_argument("--corpus", default="coco", help="corpus (default: coco)")
    n.add_argument(
        "--measure",
        default="symmetric_difference",
        help=f"{', '.join(MEASURES)} (default: symmetric_difference, the note's)",
    )
    n.add_argument("-k", type=int, default=10, help="neighbours (default: 10)")
    n.add_argument("--captions", type=int, default=None, metavar="N", help="captions shown per image (default: all)")

    q = sub.add_parser(
        "sql",
        parents=[common],
        help="an ad-hoc read-only SQL query on the marts",
        description="Run one query on a read-only connection, e.g. "
        "semspace sql \"select * from image_pairs where corpus = 'coco' and image_i = 82 "
        'and image_j = 100"',
    )
    q.add_argument("query")
    q.add_argument("--limit", type=int, default=50, help="rows shown (default 50; 0: all)")

    e = sub.add_parser(
        "export",
        parents=[common],
        help="the marts as Parquet and CSV files",
        description="Write every exportable mart (or --mart ones) as OUT/<mart>.<format>.",
    )
    e.add_argument("--out", default=None, help="folder (default: $SEMSPACE_EXPORT_DIR or data/exports)")
    e.add_argument("--format", action="append", choices=["parquet", "csv"], help="repeatable (default: both)")
    e.add_argument("--mart", action="append", help="repeatable (default: every exportable mart)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # the stages with parsers of their own get their arguments untouched
    if argv[:1] == ["ingest"]:
        from ingest.__main__ import main as ingest_main

        return ingest_main(argv[1:], prog=f"{PROG} ingest")
    if argv[:1] == ["generate"]:
        from generate.__main__ import main as generate_main

        return generate_main(argv[1:], prog=f"{PROG} generate")
    command_line = parser()
    # `build --select x`: argparse leaves an option-like first dbt argument unparsed instead of
    # giving it to the REMAINDER positional; what build does not know goes to dbt, in order
    args, unknown = command_line.parse_known_args(argv)
    if unknown and args.command != "build":
        command_line.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        if args.command == "build":
            extra = [a for a in [*unknown, *args.dbt_args] if a != "--"]
            print(f"build: {build(args.db, extra)}")
        elif args.command in ("mds", "evaluate", "report", "map"):
            from analysis.__main__ import run as run_analysis

            run_analysis(args)
        elif args.command == "run":
            run_pipeline(args.db, args.out, args.source)
        elif args.command == "neighbors":
            print(neighbors(args.db, args.image, args.corpus, args.measure, args.k, args.captions))
        elif args.command == "sql":
            print(sql(args.db, args.query, args.limit))
        elif args.command == "export":
            folder = export(args.db, args.out, args.format, args.mart)
            print(f"export: {folder}")
    except SemspaceError as exc:
        print(f"{PROG} {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted; what was stored before is kept", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `semspace sql ... | head`
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
