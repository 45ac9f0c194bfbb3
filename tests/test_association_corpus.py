"""An association run becomes a corpus of its own in dbt: its images, token sets, pairs,
neighbours and summaries, next to the caption corpus and never mixed with it."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import duckdb
import pytest
import yaml

import ingest
from generate import store
from tests.dbt_helpers import SHARED_CAPTIONS, dbt
from tests.generate_helpers import fake_chain

RUN = "tiny-falcon"
IMAGES = (0, 1, 2, 3, 5, 8)  # a subset, as with --images
# the measures image_neighbors ranks by: the var's default in dbt_project.yml
NEIGHBOR_MEASURES = yaml.safe_load((Path(__file__).parents[1] / "dbt_project.yml").read_text(encoding="utf-8"))["vars"][
    "neighbor_measures"
]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, set[str]], dict[int, int]]:
    work = tmp_path_factory.mktemp("assoc")
    records = json.loads(SHARED_CAPTIONS.read_text(encoding="utf-8"))[:12]
    source = work / "coco12.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    db = work / "w.duckdb"
    ingest.load(source, db, name="coco")
    sets: dict[int, set[str]] = {}
    chars: dict[int, int] = {}
    con = duckdb.connect(str(db))
    store.ensure_schema(con)
    con.execute(
        "insert into raw.association_runs (run_id, dataset, model, backend, chat, prompt_template_version, "
        "prompt_template, params, rounds, tokenizer, created_at, updated_at) values "
        "(?, 'coco', 'tiny/falcon', 'transformers', false, 'v1', 't', '{}', 3, 'falcon', now(), now())",
        [RUN],
    )
    for image_id in IMAGES:
        sets[image_id], chars[image_id] = set(), 0
        for caption_index, caption in enumerate(records[image_id]["caption"]):
            chain = fake_chain(caption, 3)
            for r, (text_in, generated, text_out) in enumerate(chain, start=1):
                con.execute(
                    "insert into raw.associations (run_id, dataset, image_id, caption_index, round, model, "
                    "prompt_template_version, input_text, generated_text, output_text, n_new_tokens, finish_reason, "
                    "do_sample, created_at) values (?, 'coco', ?, ?, ?, 'tiny/falcon', 'v1', ?, ?, ?, 9, 'eos', true, now())",
                    [RUN, image_id, caption_index, r, text_in, generated, text_out],
                )
            sets[image_id].update(chain[-1][2].split())
            chars[image_id] += len(chain[-1][2])  # the chain's text: its last round's output
        con.executemany(
            "insert into raw.association_tokens (run_id, dataset, image_id, token) values (?, 'coco', ?, ?)",
            [[RUN, image_id, token] for token in sorted(sets[image_id])],
        )
    # image 9 has chains but no tokens yet (a stopped run): not part of the corpus
    con.execute(
        "insert into raw.associations (run_id, dataset, image_id, caption_index, round, model, "
        "prompt_template_version, input_text, generated_text, output_text, n_new_tokens, finish_reason, "
        "do_sample, created_at) values (?, 'coco', 9, 0, 1, 'tiny/falcon', 'v1', 'a', 'b', 'ab', 1, 'eos', true, now())",
        [RUN],
    )
    con.close()
    dbt(["build"], db, work, vars={"neighbors_k": 3})
    return db, sets, chars


def test_the_run_is_a_corpus_of_its_own(warehouse) -> None:
    db, sets, chars = warehouse
    with duckdb.connect(str(db), read_only=True) as con:
        corpora = con.execute(
            "select corpus, kind, dataset, tokenizer, source from corpora where variant = 'all' order by corpus"
        ).fetchall()
        summary = con.execute(
            "select corpus, n_images, n_captions, n_caption_chars, n_tokens, n_distinct_tokens from corpus_summary "
            "where corpus in (select corpus from corpora where variant = 'all') order by corpus"
        ).fetchall()
        multiplicities = con.execute(
            "select distinct n_captions from token_sets where corpus in (?, ?)", [RUN, f"{RUN}-nostop"]
        ).fetchall()
        images = con.execute("select image_id from set_sizes where corpus = ? order by 1", [RUN]).fetchall()
        n_captions = con.execute(
            f"select sum(n_captions) from images where dataset = 'coco' and image_id in {tuple(IMAGES)}"
        ).fetchone()[0]
    assert corpora == [
        ("coco", "captions", "coco", "karpathy", corpora[0][4]),
        (RUN, "associations", "coco", "falcon", "tiny/falcon"),
    ]
    assert [i for (i,) in images] == list(IMAGES)
    vocabulary = set().union(*sets.values())
    assert summary[1] == (
        RUN,
        len(IMAGES),
        n_captions,
        sum(chars.values()),
        sum(len(s) for s in sets.values()),
        len(vocabulary),
    )
    assert summary[0][:3] == ("coco", 12, summary[0][2])  # the caption corpus keeps all 12 images
    # tokens written without n_chains (before the column existed) count once each
    assert multiplicities == [(1,)]


def test_association_pairs_match_python_sets(warehouse) -> None:
    db, sets, _ = warehouse
    with duckdb.connect(str(db), read_only=True) as con:
        got = con.execute(
            "select image_i, image_j, n_intersection, n_union, symmetric_difference from image_pairs "
            "where corpus = ? order by image_i, image_j",
            [RUN],
        ).fetchall()
        coco_pairs = con.execute("select count(*) from image_pairs where corpus = 'coco'").fetchone()[0]
        neighbours = con.execute(
            "select measure, image_id, count(*) from image_neighbors where corpus = ? group by 1, 2 order by 1, 2",
            [RUN],
        ).fetchall()
    assert got == [
        (i, j, len(sets[i] & sets[j]), len(sets[i] | sets[j]), len(sets[i] ^ sets[j]))
        for i, j in itertools.combinations(IMAGES, 2)
    ]
    assert coco_pairs == 12 * 11 // 2  # corpora never mix
    assert neighbours == [(m, i, 3) for m in sorted(NEIGHBOR_MEASURES) for i in IMAGES]  # k = 3 per measure


def _stop_words() -> set[str]:
    """The words of models/staging/stop_words.sql's VALUES list, read independently of dbt."""
    sql = (Path(__file__).parents[1] / "models" / "staging" / "stop_words.sql").read_text(encoding="utf-8")
    words = re.findall(r"\('([a-z]+)'\)", sql)
    assert len(words) == len(set(words)) == 178
    return set(words)


def test_stop_word_variants_are_corpora_of_their_own(warehouse) -> None:
    """`coco-nostop` and `<run>-nostop`: the base corpus's images and texts, its token sets less the
    stop words (compared lowercased and stripped), and pairs that agree with Python sets. The caption
    corpus also gets its lexicon variants `coco-lemma` and `coco-concept`; the run (model tokens,
    not words) only `-nostop`."""
    db, sets, _ = warehouse
    stop = _stop_words()
    with duckdb.connect(str(db), read_only=True) as con:
        variants = con.execute(
            "select corpus, kind, base_corpus, variant from corpora where variant <> 'all' order by corpus"
        ).fetchall()
        token_sets = {}
        for corpus in ("coco", "coco-nostop", RUN, f"{RUN}-nostop"):
            token_sets[corpus] = {
                i: set() for (i,) in con.execute("select image_id from set_sizes where corpus = ?", [corpus]).fetchall()
            }
            for image_id, token in con.execute(
                "select image_id, token from token_sets where corpus = ?", [corpus]
            ).fetchall():
                token_sets[corpus][image_id].add(token)
        summary = dict(
            (c, rest)
            for c, *rest in con.execute(
                "select corpus, n_images, n_captions, n_caption_chars from corpus_summary"
            ).fetchall()
        )
        pairs = con.execute(
            "select image_i, image_j, n_intersection, symmetric_difference from image_pairs "
            "where corpus = ? order by image_i, image_j",
            [f"{RUN}-nostop"],
        ).fetchall()
    assert variants == [
        ("coco-concept", "captions", "coco", "concept"),
        ("coco-lemma", "captions", "coco", "lemma"),
        ("coco-nostop", "captions", "coco", "nostop"),
        (f"{RUN}-nostop", "associations", RUN, "nostop"),
    ]
    for variant in ("coco-concept", "coco-lemma"):  # the same images and texts as coco
        assert summary[variant] == summary["coco"], variant
    for base in ("coco", RUN):
        variant = token_sets[f"{base}-nostop"]
        assert variant.keys() == token_sets[base].keys()  # the same images
        assert summary[f"{base}-nostop"] == summary[base]  # the same texts
        for image_id, tokens in token_sets[base].items():
            assert variant[image_id] == {t for t in tokens if t.strip().lower() not in stop}
    removed = set().union(*sets.values()) - set().union(*token_sets[f"{RUN}-nostop"].values())
    assert {"A", "of", "and", "me"} <= removed  # case folded: the chains' "A ..." goes too
    nostop = {i: {t for t in s if t.lower() not in stop} for i, s in sets.items()}
    assert pairs == [
        (i, j, len(nostop[i] & nostop[j]), len(nostop[i] ^ nostop[j])) for i, j in itertools.combinations(IMAGES, 2)
    ]


def test_a_warehouse_without_runs_still_builds(tmp_path: Path) -> None:
    """Before any `python -m generate`, the association sources do not exist: staging reads empty
    relations. (With stop_word_variants off, the caption corpus has no `-nostop` variant; its
    lexicon variants, another switch, are still there.)"""
    records = json.loads(SHARED_CAPTIONS.read_text(encoding="utf-8"))[:5]
    source = tmp_path / "coco5.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    db = tmp_path / "w.duckdb"
    ingest.load(source, db, name="coco")
    dbt(["build"], db, tmp_path, vars={"neighbors_k": 2, "stop_word_variants": False})
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select corpus, kind, variant from corpora order by corpus").fetchall() == [
            ("coco", "captions", "all"),
            ("coco-concept", "captions", "concept"),
            ("coco-lemma", "captions", "lemma"),
        ]
        assert con.execute("select count(*) from staging.stg_raw__associations").fetchone() == (0,)
