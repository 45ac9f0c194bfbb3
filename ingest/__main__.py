"""``python -m ingest [SOURCE]``: load captions into the warehouse's raw tables.

``python -m ingest export-raw --out DIR [--images N]``: write those tables as Parquet (the input of
the dbt ``spark`` target)."""

from __future__ import annotations

import argparse
import logging
import sys

from ingest import load
from ingest.readers import KARPATHY_SPLITS
from ingest.sources import FORMATS
from semspace import db
from semspace.errors import SemspaceError


def parser(prog: str = "python -m ingest") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Load image captions into raw.images and raw.captions (one transaction; "
        "re-ingesting a dataset name replaces its rows and nothing else). "
        "`export-raw --out DIR` writes the raw tables as Parquet (see its --help).",
    )
    p.add_argument(
        "source",
        nargs="?",
        help="caption file (BLIP JSON list, Karpathy dataset_*.json, COCO captions_*.json, CSV/TSV/Parquet/JSONL) "
        "or hf:NAME[:SPLIT]; default: the COCO Karpathy test split "
        "($SEMSPACE_CAPTIONS, data/cache/, ../shared/data/, then download)",
    )
    p.add_argument(
        "--dataset",
        dest="name",
        help="dataset name (default: 'coco' for the default split, else the file stem); "
        "1-64 characters: lowercase letters, digits, '_', '-', '.', starting and ending with a letter or digit, "
        "not ending in '-nostop'",
    )
    p.add_argument(
        "--format", dest="fmt", choices=FORMATS, default="auto", help="source format (default: by extension and shape)"
    )
    p.add_argument("--split", choices=KARPATHY_SPLITS, default="test", help="Karpathy split to keep (default: test)")
    p.add_argument("--image-col", help="table/HF sources: the column naming the image")
    p.add_argument("--caption-col", help="table/HF sources: the column holding the caption(s)")
    p.add_argument(
        "--replace-runs",
        action="store_true",
        help="re-ingesting a dataset that has association runs (python -m generate) with other captions: "
        "delete those runs too (without it, that is refused)",
    )
    p.add_argument("--db", help=f"warehouse file (default: $SEMSPACE_DB or {db.DEFAULT_DB})")
    return p


def export_parser(prog: str = "python -m ingest") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{prog} export-raw",
        description="Write the warehouse's raw tables (datasets, images, captions, the lexicon and the "
        "association tables) and the computed tables (MDS, evaluation) as Parquet, one folder per table "
        "(OUT/<table>/data.parquet), for engines that read files: the dbt spark target registers these "
        "folders as its raw and computed tables. Tables the warehouse does not have yet are written empty. "
        "--images and --dataset cut the per-dataset tables; the lexicon (shared by all datasets) and the "
        "computed tables are written whole.",
    )
    p.add_argument("--out", required=True, help="folder to write into (each table's folder is replaced)")
    p.add_argument("--images", type=int, help="only the first N images of each dataset, with all their captions")
    p.add_argument("--dataset", dest="datasets", action="append", help="only this dataset (repeatable)")
    p.add_argument("--db", help=f"warehouse file (default: $SEMSPACE_DB or {db.DEFAULT_DB})")
    return p


def export_main(argv: list[str], prog: str = "python -m ingest") -> int:
    from ingest.export import export_raw

    args = export_parser(prog).parse_args(argv)
    try:
        counts = export_raw(args.out, args.db, images=args.images, datasets=args.datasets)
    except SemspaceError as exc:
        message = " ".join(str(exc).split())
        print(f"ingest export-raw: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ingest export-raw: interrupted; each table folder written so far is complete", file=sys.stderr)
        return 130
    rows = ", ".join(f"{table} {n}" for table, n in counts.items())
    print(f"exported the raw tables of {db.db_path(args.db)} to {args.out}: {rows}")
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m ingest") -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export-raw"]:
        return export_main(argv[1:], prog)
    args = parser(prog).parse_args(argv)
    try:
        dataset = load(
            args.source,
            args.db,
            replace_runs=args.replace_runs,
            name=args.name,
            fmt=args.fmt,
            split=args.split,
            image_col=args.image_col,
            caption_col=args.caption_col,
        )
    except SemspaceError as exc:
        message = " ".join(str(exc).split())  # one line: DuckDB's messages span several
        print(f"ingest: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ingest: interrupted; the warehouse is unchanged", file=sys.stderr)
        return 130
    print(
        f"ingested dataset {dataset.name!r} ({dataset.format}) from {dataset.source}: "
        f"{len(dataset.images)} images, {dataset.n_captions} captions into {db.db_path(args.db)}"
    )
    if dataset.dropped_runs:
        print(
            f"deleted the association runs of the old captions of {dataset.name!r} (--replace-runs): "
            + ", ".join(repr(r) for r in dataset.dropped_runs)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
