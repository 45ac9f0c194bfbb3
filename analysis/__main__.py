"""``python -m analysis mds --corpus coco``: classical MDS of a corpus into the warehouse."""

from __future__ import annotations

import argparse
import logging
import sys

from analysis import mds
from semspace import db
from semspace.errors import SemspaceError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis", description="Analyses downstream of the dbt marts.")
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("mds", help="classical MDS: mds_spectrum, mds_eigenvalues, mds_coordinates")
    m.add_argument("--corpus", default="coco", help="corpus to embed (default: coco)")
    m.add_argument("--k", type=int, default=10, help="coordinates kept per image (default: 10)")
    m.add_argument("--db", help=f"warehouse file (default: $SEMSPACE_DB or {db.DEFAULT_DB})")
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    args = parser().parse_args(argv)
    try:
        result = mds(args.corpus, args.db, k=args.k)
    except SemspaceError as exc:
        print(f"analysis: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    top = result.eigenvalues[:2] / result.sum_positive
    print(f"mds {result.corpus}: {len(result.eigenvalues)} points, {result.n_positive} positive / "
          f"{result.n_negative} negative / {result.n_zero} zero eigenvalues (tolerance {result.tolerance:.3g}); axes 1+2 carry {100 * top.sum():.1f}% of the positive sum")
    return 0


if __name__ == "__main__":
    sys.exit(main())
