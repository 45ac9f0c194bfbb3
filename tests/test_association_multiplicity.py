"""`raw.association_tokens.n_chains`: how many of an image's chains hold each of its tokens. The set
of tokens stays the joined text's; the count comes from a fast tokenizer's offsets or, without
them, from each chain tokenized alone. Checked with a small word tokenizer (with and without
offsets) and the real Falcon tokenizer (its offsets, and the same tokenizer with offsets hidden),
on runs of the fake backend, and the store's migration of a warehouse from before the column."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest

import generate
from generate import store
from generate.chain import RunPlan
from generate.tokens import chain_counts, token_strings
from tests.generate_helpers import FALCON_DIR, FakeBackend

pytestmark = pytest.mark.usefixtures("ingest_env")

_WORD = re.compile(r" ?\w+| ?[^\w\s]+|\s+")


class WordTokenizer:
    """A tiny tokenizer of the shape generate.tokens needs: words and punctuation runs, each with the
    space before it (like a byte-level BPE's ``Ġword``); ids handed out as pieces are first seen.
    ``fast``: it also gives character offsets (``return_offsets_mapping``), as fast tokenizers do."""

    def __init__(self, fast: bool = False) -> None:
        self.is_fast = fast
        self.name_or_path = f"word-{'fast' if fast else 'slow'}"
        self.ids: dict[str, int] = {}
        self.pieces: list[str] = []

    def _id(self, piece: str) -> int:
        if piece not in self.ids:
            self.ids[piece] = len(self.pieces)
            self.pieces.append(piece)
        return self.ids[piece]

    def __call__(
        self, text: list[str], *, add_special_tokens: bool = True, return_offsets_mapping: bool = False
    ) -> dict[str, Any]:
        if return_offsets_mapping and not self.is_fast:
            raise NotImplementedError("return_offsets_mapping is only for fast tokenizers")
        matches = [list(_WORD.finditer(t)) for t in text]
        out: dict[str, Any] = {"input_ids": [[self._id(m.group()) for m in ms] for ms in matches]}
        if return_offsets_mapping:
            out["offset_mapping"] = [[m.span() for m in ms] for ms in matches]
        return out

    def decode(self, token_ids: list[int], **kwargs: Any) -> str:
        return "".join(self.pieces[i] for i in token_ids)


class NoOffsets:
    """A fast tokenizer with its offsets hidden (as a slow one would be): the per-chain fallback."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name_or_path = inner.name_or_path

    def __call__(self, text: list[str], *, add_special_tokens: bool = True) -> Any:
        return self.inner(text, add_special_tokens=add_special_tokens)

    def decode(self, token_ids: list[int], **kwargs: Any) -> str:
        return self.inner.decode(token_ids, **kwargs)


@pytest.fixture(scope="module")
def falcon_tokenizer() -> Any:
    if not (FALCON_DIR / "tokenizer.json").exists():
        pytest.skip(f"no Falcon tokenizer at {FALCON_DIR}")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(FALCON_DIR))


TOKENIZERS = ["word-slow", "word-fast", "falcon", "falcon-no-offsets"]


def make_tokenizer(kind: str, request: pytest.FixtureRequest) -> Any:
    if kind.startswith("word"):
        return WordTokenizer(fast=kind == "word-fast")
    falcon = request.getfixturevalue("falcon_tokenizer")
    return falcon if kind == "falcon" else NoOffsets(falcon)


# --- independent references ---------------------------------------------------------------------


def reference_set(tokenizer: Any, text: str) -> set[str]:
    """The tokens of one text, not through generate.tokens: Falcon's own token strings turned back
    into text, or the word tokenizer's pattern, each stripped, empty ones dropped."""
    inner = getattr(tokenizer, "inner", tokenizer)
    if isinstance(inner, WordTokenizer):
        pieces = [m.group().strip() for m in _WORD.finditer(text)]
    else:
        pieces = [inner.convert_tokens_to_string([t]).strip() for t in inner.tokenize(text)]
    return {p for p in pieces if p}


def reference_counts(tokenizer: Any, chains: list[str]) -> dict[str, int]:
    """Each chain tokenized alone, as it stands in the joined text (a space before every chain but
    the first); a token's count is the number of chains whose tokens hold it."""
    sets = [reference_set(tokenizer, text if k == 0 else " " + text) for k, text in enumerate(chains)]
    return {token: sum(token in s for s in sets) for token in set().union(*sets)}


def stored(database: Path, run_id: str) -> dict[int, dict[str, int | None]]:
    with duckdb.connect(str(database), read_only=True) as con:
        got: dict[int, dict[str, int | None]] = {}
        for image_id, token, n in con.execute(
            "select image_id, token, n_chains from raw.association_tokens where run_id = ?", [run_id]
        ).fetchall():
            got.setdefault(image_id, {})[token] = n
        return got


def run_chains(database: Path, run_id: str, rounds: int) -> dict[int, list[str]]:
    with duckdb.connect(str(database), read_only=True) as con:
        out: dict[int, list[str]] = {}
        for image_id, text in con.execute(
            "select image_id, output_text from raw.associations where run_id = ? and round = ? "
            "order by image_id, caption_index",
            [run_id, rounds],
        ).fetchall():
            out.setdefault(image_id, []).append(text)
        return out


# --- a run's stored counts ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_a_runs_token_sets_stay_and_counts_match_the_chains(
    kind: str, good_warehouse: Path, request: pytest.FixtureRequest
) -> None:
    tokenizer = make_tokenizer(kind, request)
    summary = generate.run(
        RunPlan(dataset="alpha", model="m", rounds=2, run_id="mult"),
        database=good_warehouse,
        backend=FakeBackend(tokenizer=tokenizer),
    )
    got = stored(good_warehouse, "mult")
    chains = run_chains(good_warehouse, "mult", 2)
    assert summary.tokens is not None and summary.tokens.n_images == len(chains) == 3
    assert summary.tokens.n_tokens == sum(len(v) for v in got.values())
    with duckdb.connect(str(good_warehouse), read_only=True) as con:
        n_captions = dict(
            con.execute("select image_id, count(*) from raw.captions where dataset = 'alpha' group by 1").fetchall()
        )
    for image_id, texts in chains.items():
        joined = " ".join(texts)
        # (a) the set is the joined text's, as before the count existed
        assert set(got[image_id]) == reference_set(tokenizer, joined)
        assert set(got[image_id]) == set(token_strings(tokenizer, [joined])[0])
        # (b) the count is the number of chains holding the token
        assert got[image_id] == reference_counts(tokenizer, texts)
        # (c) between 1 and the image's captions
        assert all(n is not None and 1 <= n <= n_captions[image_id] for n in got[image_id].values())
    # image 0's two captions both say "A" and "a"; only the first rides a bike
    assert got[0]["A"] == 2 and got[0]["a"] == 2 and got[0]["bike"] == 1
    assert max(got[2].values()) == 3  # three captions, "." in each


# --- chain_counts on chosen and on random texts ---------------------------------------------------


CHOSEN = [
    ["A man rides a bike.", "A man walks a dog.", "Pizza on a plate."],
    ["A", "A"],  # the second "A" starts on the separator: it is the second chain's
    ["Rain."],
    ["dogs, cats", "  two spaces\n\nand lines", "dogs"],
]


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_chain_counts_on_chosen_texts(kind: str, request: pytest.FixtureRequest) -> None:
    tokenizer = make_tokenizer(kind, request)
    counts = chain_counts(tokenizer, CHOSEN)
    assert counts[0]["A"] == 2 and counts[0]["a"] == 3 and counts[0]["."] == 3 and counts[0]["man"] == 2
    assert counts[0]["rides"] == counts[0]["Pizza"] == 1
    assert counts[1] == {"A": 2}
    assert counts[2] == {"Rain": 1, ".": 1}
    assert counts[3]["dogs"] == 2 and counts[3]["cats"] == 1
    for chains, got in zip(CHOSEN, counts):
        joined = " ".join(chains)
        assert list(got) == list(dict.fromkeys(token_strings(tokenizer, [joined])[0]))  # the set, in order
        assert got == reference_counts(tokenizer, chains)


def random_chains(rng: random.Random, n_images: int) -> list[list[str]]:
    words = ["A", "a", "man", "dog", "Dogs", "pizza", "Pizza", "café", "über", "42", "2024", "x1"]
    marks = [".", ",", "!", "?", "'s", "...", ";", " -", "\n", "\n\n", "  "]
    images = []
    for _ in range(n_images):
        chains = []
        for _ in range(rng.randint(1, 5)):
            parts = [rng.choice(words)]
            for _ in range(rng.randint(0, 12)):
                parts.append(rng.choice(marks) if rng.random() < 0.3 else " " + rng.choice(words))
            chains.append("".join(parts) + rng.choice([".", "", "!"]))
        images.append(chains)
    return images


@pytest.mark.parametrize("kind", TOKENIZERS)
def test_chain_counts_on_random_texts(kind: str, request: pytest.FixtureRequest) -> None:
    tokenizer = make_tokenizer(kind, request)
    images = random_chains(random.Random(7), 150)
    for chains, got in zip(images, chain_counts(tokenizer, images), strict=True):
        joined_tokens = token_strings(tokenizer, [" ".join(chains)])[0]
        assert list(got) == list(dict.fromkeys(joined_tokens))
        assert all(1 <= n <= len(chains) for n in got.values())
        assert got == reference_counts(tokenizer, chains)


def test_falcon_offsets_agree_with_the_chains_alone(falcon_tokenizer: Any) -> None:
    """The real tokenizer, three chain texts like a run's: its offsets' counts are the per-chain ones."""
    chains = [
        "A young girl eating a slice of pizza. She reminds me of summer evenings in Naples.",
        "A girl holds a slice of pizza in her hand.\n\nPizza makes me think of friends and laughter.",
        "Child eats pizza at a table. Tables remind me of family dinners, 2019 and Italy's café culture.",
    ]
    assert falcon_tokenizer.is_fast
    (fast,) = chain_counts(falcon_tokenizer, [chains])
    (slow,) = chain_counts(NoOffsets(falcon_tokenizer), [chains])
    assert fast == slow == reference_counts(falcon_tokenizer, chains)
    assert fast["pizza"] == 3 and fast["slice"] == 2 and fast["Naples"] == 1 and fast["A"] == 2


def test_a_token_no_chain_yields_alone_counts_one() -> None:
    """Without offsets, a token that only the joined text has (a boundary effect) still counts 1."""

    class Glue(WordTokenizer):
        """Reads "b c" as one piece: in "a b" + " c d" joined there is a "b c" no chain has alone."""

        def __call__(self, text: list[str], *, add_special_tokens: bool = True, **kw: Any) -> dict[str, Any]:
            return {"input_ids": [[self._id(p) for p in re.findall(r" ?b c| ?\w+", t)] for t in text]}

    (got,) = chain_counts(Glue(), [["a b", "c d"]])
    assert got == {"a": 1, "b c": 1, "d": 1}


# --- the store ------------------------------------------------------------------------------------


def test_an_old_warehouse_gains_the_column_and_its_rows_read_null(good_warehouse: Path) -> None:
    with duckdb.connect(str(good_warehouse)) as con:
        con.execute("create schema if not exists raw")
        con.execute(
            "create table raw.association_tokens (run_id varchar not null, dataset varchar not null, "
            "image_id integer not null, token varchar not null, primary key (run_id, dataset, image_id, token))"
        )
        con.execute("insert into raw.association_tokens values ('old', 'alpha', 0, 'tok')")
    generate.run(
        RunPlan(dataset="alpha", model="m", rounds=1, run_id="new"),
        database=good_warehouse,
        backend=FakeBackend(tokenizer=WordTokenizer()),
    )
    with duckdb.connect(str(good_warehouse)) as con:
        columns = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'raw' and table_name = 'association_tokens' order by ordinal_position"
        ).fetchall()
        assert columns[-1] == ("n_chains", "INTEGER") and len(columns) == 5
        assert con.execute("select n_chains from raw.association_tokens where run_id = 'old'").fetchall() == [(None,)]
        n_rows, n_counted, least = con.execute(
            "select count(*), count(n_chains), min(n_chains) from raw.association_tokens where run_id = 'new'"
        ).fetchone()
        assert n_rows > 0 and n_counted == n_rows and least == 1
        store.ensure_schema(con)  # a second time: nothing to do
        assert len(con.execute("describe raw.association_tokens").fetchall()) == 5


def test_replace_tokens_counts_are_optional_and_a_repeated_pair_keeps_its_larger(good_warehouse: Path) -> None:
    generate.run(
        RunPlan(dataset="alpha", model="m", rounds=1, run_id="r", tokenize=False),
        database=good_warehouse,
        backend=FakeBackend(),
    )
    with duckdb.connect(str(good_warehouse)) as con:
        store.replace_tokens(con, "r", "alpha", [0], ["tok"], "fake", "test")  # as callers without counts do
        assert con.execute("select token, n_chains from raw.association_tokens").fetchall() == [("tok", None)]
        store.replace_tokens(con, "r", "alpha", [0, 0, 1], ["a", "a", "b"], "fake", "test", n_chains=[1, 2, 1])
        assert con.execute("select image_id, token, n_chains from raw.association_tokens order by all").fetchall() == [
            (0, "a", 2),
            (1, "b", 1),
        ]
        with pytest.raises(ValueError, match="2 chain counts for 3 tokens"):
            store.replace_tokens(con, "r", "alpha", [0, 0, 1], ["a", "c", "b"], "fake", "test", n_chains=[1, 2])
