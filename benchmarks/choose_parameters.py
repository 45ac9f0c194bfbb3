"""How the cosine's α (var cosine_idf_exponent) and the concept variant's hypernym levels (var
concept_hypernym_levels) were chosen: mAP@R of the ECCV Caption evaluation on each fixed half of
the queries (half A: even COCO ids, where the choice is made; half B: odd ids, held out).

    .venv/bin/python benchmarks/choose_parameters.py [--db data/semspace.duckdb]

Reads a warehouse built by `make run` (read-only): the variants' token multisets (token_sets) for
α, and for the levels the same features int_corpus_tokens builds (caption tokens without stop
words, their lemma feature, their concepts from raw.lexicon) with the depth cut varied. The cosine
is computed here with scipy from those counts, as image_pairs computes it in SQL (without its
fixed point), and scored with analysis.evaluation's metrics.
"""

from __future__ import annotations

import argparse
import os

import duckdb
import numpy as np
import scipy.sparse as sp

from analysis.evaluation import eccv
from analysis.evaluation.metrics import relevance_matrix, score_matrix
from analysis.evaluation.store import query_halves

ALPHAS = (0.25, 0.5, 1.0)
LEVELS = (0, 1, 2, 3, 4, 99)


def cosine(rows: list[tuple[int, str, int]], n_images: int, alpha: float) -> np.ndarray:
    """The n × n cosine of the vectors n_captions · idf^α (idf = ln(N / df), the corpus's own)."""
    features: dict[str, int] = {}
    image = np.array([r[0] for r in rows])
    column = np.array([features.setdefault(r[1], len(features)) for r in rows])
    counts = sp.csr_matrix((np.array([r[2] for r in rows], float), (image, column)), shape=(n_images, len(features)))
    idf = np.log(n_images / np.asarray((counts > 0).sum(0)).ravel())
    x = sp.csr_matrix(counts.multiply(idf**alpha))
    norm = np.sqrt(np.asarray(x.multiply(x).sum(1)).ravel())
    norm[norm == 0] = 1
    x = sp.diags(1 / norm) @ x
    return (x @ x.T).toarray()


def concept_rows(con: duckdb.DuckDBPyConnection, dataset: str, levels: int) -> list[tuple[int, str, int]]:
    """The -concept variant's features of ``dataset`` with hypernyms up to ``levels`` links."""
    return con.execute(
        """
        with stop as (select distinct lower(word) as word from staging.stop_words),
        tokens as (
            select distinct image_id, caption_index, token, lower(trim(token)) as word
            from intermediate.int_captions_tokenized
            where dataset = $dataset and lower(trim(token)) not in (select word from stop)
        ),
        lemmas as (select word, min(feature) as feature from raw.lexicon where kind = 'lemma' group by word),
        features as (
            select image_id, caption_index, token as feature from tokens
            union all
            select image_id, caption_index, coalesce(lemmas.feature, 'lemma:' || tokens.word)
            from tokens left join lemmas using (word)
            union all
            select image_id, caption_index, lexicon.feature
            from tokens inner join raw.lexicon as lexicon
                on lexicon.word = tokens.word and lexicon.kind = 'concept' and lexicon.depth <= $levels
        )
        select image_id, feature, count(distinct caption_index) from features group by all
        """,
        {"dataset": dataset, "levels": levels},
    ).fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=os.environ.get("SEMSPACE_DB", "data/semspace.duckdb"))
    parser.add_argument("--dataset", default="coco")
    args = parser.parse_args()
    con = duckdb.connect(args.db, read_only=True)
    ids, coco = eccv.corpus_images(con, args.dataset)
    query_rows, relevance = relevance_matrix(eccv.default_positives(), coco)
    halves = query_halves(coco[query_rows])

    def score(matrix: np.ndarray) -> str:
        parts = []
        for half, chosen in halves.items():
            m = score_matrix(matrix, ids, query_rows[chosen], relevance[chosen], True)["map_at_r"]
            parts.append(f"{half} {m:.4f}")
        return ", ".join(parts)

    for variant in ("nostop", "lemma", "concept"):
        corpus = f"{args.dataset}-{variant}"
        rows = con.execute("select image_id, token, n_captions from token_sets where corpus = ?", [corpus]).fetchall()
        for alpha in ALPHAS:
            print(f"{corpus:<16} cosine alpha {alpha:<5} {score(cosine(rows, len(ids), alpha))}", flush=True)
    for levels in LEVELS:
        rows = concept_rows(con, args.dataset, levels)
        label = "all" if levels == LEVELS[-1] else str(levels)
        print(
            f"{args.dataset}-concept hypernym levels {label:<4} cosine alpha 0.25 {score(cosine(rows, len(ids), 0.25))}"
        )


if __name__ == "__main__":
    main()
