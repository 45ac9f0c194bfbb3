"""semspace.lexicon (lemmas by lemminflect, WordNet 3.0 concepts) and the raw.lexicon rows that
`semspace ingest` writes for the words of every dataset it stores."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import ingest
import ingest.__main__ as cli
from semspace import contract, lexicon
from semspace.errors import SemspaceError
from tests.conftest import BLIP_A, BLIP_B, REPO_ROOT

LEMMINFLECT = f"lemminflect {importlib.metadata.version('lemminflect')}"


def texts(records: list[dict]) -> list[str]:
    return [c for r in records for c in r["caption"]]


def stored(database: Path) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute("select word, feature, kind, depth, source from raw.lexicon").fetchall()


def expected(words: set[str]) -> list[tuple]:
    return [tuple(r[c] for c in lexicon.COLUMNS) for r in lexicon.rows(words)]


# --- lemmas and concepts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "lemma"),
    [
        ("dogs", "dog"),
        ("sitting", "sit"),
        ("men", "man"),
        ("glasses", "glass"),
        ("standing", "stand"),
        ("is", "be"),
        ("table", "table"),
        ("people", "people"),
        ("zzqx", "zzqx"),
    ],
)
def test_lemma(word: str, lemma: str) -> None:
    assert lexicon.lemma(word) == lemma


def test_concepts_of_dog_are_its_first_sense_and_hypernyms() -> None:
    found = lexicon.concepts("dog")
    assert found[0] == ("concept:dog.n.02084071", 0)
    assert ("concept:canine.n.02083346", 1) in found
    assert ("concept:domestic_animal.n.01317541", 1) in found
    assert ("concept:entity.n.00001740", 8) in found  # every depth is kept; dbt cuts them
    assert len({f for f, _ in found}) == len(found)
    assert found == sorted(found, key=lambda fd: (fd[1], fd[0]))
    assert lexicon.concepts("dogs") == found  # through the lemma


def test_concepts_take_the_noun_first_then_the_verb() -> None:
    assert lexicon.concepts("sitting")[0] == ("concept:sit.v.01543123", 0)  # sit: a verb only
    assert all(f.startswith("concept:") and ".v." in f for f, _ in lexicon.concepts("sitting"))


def test_shortest_depth_where_two_paths_meet() -> None:
    depths = dict(lexicon.concepts("dog"))
    # dog -> canine -> carnivore -> placental -> mammal -> vertebrate -> chordate -> animal (7) and
    # dog -> domestic_animal -> animal (2): the shorter one counts
    assert depths["concept:animal.n.00015388"] == 2


def test_unknown_word_has_its_lemma_row_and_no_concepts() -> None:
    assert lexicon.concepts("zzqx") == []
    assert lexicon.rows(["zzqx"]) == [
        {"word": "zzqx", "feature": "lemma:zzqx", "kind": "lemma", "depth": 0, "source": LEMMINFLECT}
    ]


def test_rows_are_ordered_and_sourced() -> None:
    found = lexicon.rows(["dogs", "zzqx", "cat", "dogs"])
    assert [r["word"] for r in found] == sorted(r["word"] for r in found)
    dogs = [r for r in found if r["word"] == "dogs"]
    assert dogs[0] == {"word": "dogs", "feature": "lemma:dog", "kind": "lemma", "depth": 0, "source": LEMMINFLECT}
    assert [(r["feature"], r["depth"]) for r in dogs[1:]] == lexicon.concepts("dog")
    assert {r["source"] for r in dogs[1:]} == {"wordnet 3.0"} and {r["kind"] for r in dogs[1:]} == {"concept"}
    assert lexicon.rows([]) == []


def test_arrow_has_the_contract_columns() -> None:
    table = lexicon.arrow(["dogs", "zzqx"])
    assert tuple(table.column_names) == contract.table("raw.lexicon").column_names
    assert table.to_pylist() == lexicon.rows(["dogs", "zzqx"])


def test_words_of_texts_and_tokens() -> None:
    found = lexicon.words(["A Dog's day, 2 CATS!", "t-shirt"], [["  Dogs ", "", "  "], None, ["x2"]])
    # [a-z]+ of the text, of the text without Karpathy's deleted characters (dog's -> dogs), and the tokens
    assert found == {"a", "dog", "s", "dogs", "day", "cats", "t", "shirt", "x2"}
    assert lexicon.words([], []) == set()


def test_importing_the_module_loads_no_data() -> None:
    code = (
        "import sys, semspace.lexicon as l; assert 'lemminflect' not in sys.modules and 'wn' not in sys.modules; "
        "l.concepts('dog'); assert 'wn' not in sys.modules"  # the files are read, the package not imported
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


# --- written by ingest -----------------------------------------------------------------------------


@pytest.mark.usefixtures("ingest_env")
def test_ingest_writes_the_lexicon_of_its_words(tmp_path: Path, warehouse: Path, write_blip) -> None:
    ingest.load(write_blip(tmp_path / "alpha.json", BLIP_A), database=warehouse)
    alpha = lexicon.words(texts(BLIP_A), [])
    assert {"man", "rides", "bicycle", "cows", "rain"} <= alpha
    assert sorted(stored(warehouse)) == sorted(expected(alpha))
    rows = {(w, f) for w, f, *_ in stored(warehouse)}
    assert ("rides", "lemma:ride") in rows and ("cows", "concept:cow.n.02403454") in rows

    # another dataset: only its new words are added, the primary key holds
    gamma = [{"image": "photos/c.jpg", "caption": ["A man walks his dogs.", "Two dogs and a man."]}]
    assert cli.main([str(write_blip(tmp_path / "g.json", gamma)), "--db", str(warehouse), "--dataset", "gamma"]) == 0
    both = alpha | lexicon.words(texts(gamma), [])
    assert both - alpha and alpha & lexicon.words(texts(gamma), [])  # new words and shared ones
    assert sorted(stored(warehouse)) == sorted(expected(both))

    # replacing alpha's captions: the new words come in, none goes (the table is shared)
    new_alpha = [{"image": "other/x.jpg", "caption": ["Zebras graze."]}]
    ingest.load(write_blip(tmp_path / "v2" / "alpha.json", new_alpha), database=warehouse)
    ingest.load(write_blip(tmp_path / "v2" / "alpha.json", new_alpha), database=warehouse)  # nothing new
    every = both | {"zebras", "graze"}
    assert sorted(stored(warehouse)) == sorted(expected(every))
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select count(*) = count(distinct (word, feature)) from raw.lexicon").fetchone() == (True,)


@pytest.mark.usefixtures("ingest_env")
def test_ingest_adds_the_source_tokens(tmp_path: Path, warehouse: Path) -> None:
    entry = {
        "filepath": "val2014",
        "filename": "COCO_val2014_000000000005.jpg",
        "cocoid": 5,
        "split": "test",
        "sentences": [{"raw": "A Dog day.", "tokens": ["a", "Puppies", "day"]}],
    }
    source = tmp_path / "karpathy.json"
    source.write_text(json.dumps({"images": [entry]}))
    ingest.load(source, database=warehouse, fmt="karpathy", name="k")
    assert {w for w, *_ in stored(warehouse)} == {"a", "dog", "day", "puppies"}
    assert ("puppies", "lemma:puppy", "lemma", 0, LEMMINFLECT) in stored(warehouse)


@pytest.mark.usefixtures("ingest_env")
def test_lexicon_is_written_in_the_captions_transaction(
    tmp_path: Path, warehouse: Path, write_blip, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest.load(write_blip(tmp_path / "beta.json", BLIP_B), database=warehouse)
    before = sorted(stored(warehouse))

    def broken(words: object) -> object:
        raise RuntimeError("lexicon failed")

    monkeypatch.setattr(lexicon, "arrow", broken)
    with pytest.raises(RuntimeError, match="lexicon failed"):
        ingest.load(write_blip(tmp_path / "alpha.json", BLIP_A), database=warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select dataset from raw.datasets").fetchall() == [("beta",)]
    assert sorted(stored(warehouse)) == before


@pytest.mark.usefixtures("ingest_env")
def test_a_failed_ingest_writes_no_lexicon(tmp_path: Path, warehouse: Path, write_blip) -> None:
    ingest.load(write_blip(tmp_path / "beta.json", BLIP_B), database=warehouse)
    before = sorted(stored(warehouse))
    with pytest.raises(SemspaceError):
        ingest.load(write_blip(tmp_path / "alpha.json", BLIP_A), database=warehouse, name="beta-nostop")
    assert sorted(stored(warehouse)) == before
