"""The one naming rule (semspace.names) for datasets, corpora and runs, and where `generate` applies
it: RunPlan's --dataset and --run-id, the default run id, and a run id that would name the same
corpus as a dataset or another run (`ingest`'s side is in test_ingest_errors)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import generate
import generate.__main__ as generate_cli
from generate import GenerationParams, store
from generate.chain import RunPlan
from semspace import names
from semspace.errors import SemspaceError
from tests.generate_helpers import FakeBackend

pytestmark = pytest.mark.usefixtures("ingest_env")

VALID = [
    "a",
    "0",
    "coco",
    "coco_karpathy_test",
    "dataset_coco_val",
    "falcon-7b-instruct",
    "smollm2-1a2b3c",
    "llama-3.1-8b",
    "a" * 64,
    "x.y-z_0",
    "9lives",
    "nostop",
    "coco-nostop2",
    "coco_nostop",
]
INVALID = {
    "": "it is empty",
    " ": "it is blank",
    "\t\n": "it is blank",
    "Coco": "uppercase letter 'C'",
    "coco-nostop": "ends in '-nostop'",
    "a" * 65: "65 characters long, over 64",
    "a b": "the character ' '",
    "a/b": "the character '/'",
    "..": "starts with '.'",
    ".hidden": "starts with '.'",
    "-x": "starts with '-'",
    "_x": "starts with '_'",
    "x-": "ends with '-'",
    "x.": "ends with '.'",
    "x'y": 'the character "\'"',
    'x"y': "the character '\"'",
    "x;y": "the character ';'",
    "x--y;--": "the character ';'",
    "é": "the character 'é'",
    "a\x00": "the character '\\x00'",
    "ａ": "the character 'ａ'",  # a full-width letter
}


@pytest.mark.parametrize("value", VALID)
def test_valid_names(value: str) -> None:
    assert names.problem(value) is None
    assert names.check_name("--dataset", value) == value


@pytest.mark.parametrize("value", list(INVALID), ids=[repr(v)[:20] for v in INVALID])
def test_invalid_names_are_one_line_naming_the_value_and_the_rule(value: str) -> None:
    with pytest.raises(SemspaceError) as info:
        names.check_name("--run-id", value, hint="pass another --run-id")
    message = str(info.value)
    assert INVALID[value] in names.problem(value)  # type: ignore[operator]
    assert message.startswith("--run-id ") and "\n" not in message
    assert names.RULE in message and message.endswith("; pass another --run-id")
    if value.strip():
        assert repr(value) in message


def test_non_strings_are_refused() -> None:
    with pytest.raises(SemspaceError, match=r"^--dataset 7 is not a valid name: it is int, not a string"):
        names.check_name("--dataset", 7)


def test_derived_names_and_clashes() -> None:
    assert names.corpus_names("coco") == ("coco", "coco-nostop", "coco-lemma", "coco-concept")
    assert names.clash("coco", ["alpha", "coco"]) == "coco"
    assert names.clash("coco", ["alpha", "beta"]) is None
    assert names.clash("coco", ["coco-nostop"]) == "coco-nostop"  # an older name from before the rule
    assert names.clash("coco-nostop", ["coco"]) == "coco"


# --- generate: RunPlan fields and the default run id ---------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        (dict(run_id="Falcon"), "--run-id 'Falcon' is not a valid name: it has the uppercase letter 'F'"),
        (dict(run_id="coco-nostop"), "--run-id 'coco-nostop' is not a valid name: it ends in '-nostop'"),
        (dict(run_id="runs/1"), "--run-id 'runs/1' is not a valid name: it has the character '/'"),
        (dict(run_id="r" * 65), "it is 65 characters long"),
        (dict(run_id=""), "--run-id must not be empty"),
        (dict(dataset="Alpha"), "--dataset 'Alpha' is not a valid name"),
        (dict(dataset="alpha-nostop"), "--dataset 'alpha-nostop' is not a valid name: it ends in '-nostop'"),
        (dict(dataset=" "), "--dataset must not be empty or blank"),
    ],
)
def test_run_plan_checks_names(fields: dict[str, str], fragment: str) -> None:
    with pytest.raises(SemspaceError) as info:
        RunPlan(**fields)  # type: ignore[arg-type]
    assert fragment in str(info.value) and names.RULE in str(info.value) and "\n" not in str(info.value)


def test_invalid_default_run_id_is_refused_before_anything_is_opened(
    good_warehouse: Path, good_rows, raw_snapshot
) -> None:
    model = "org/" + "m" * 70  # the default run id is the model's short name: 70 characters
    with pytest.raises(SemspaceError) as info:
        generate.run(RunPlan(dataset="alpha", model=model, rounds=1), database=good_warehouse, backend=FakeBackend())
    message = str(info.value)
    assert message.startswith(f"the default run id of model {model!r} on dataset 'alpha', ")
    assert "is not a valid name" in message and message.endswith("pass --run-id NAME")
    assert raw_snapshot(good_warehouse) == good_rows


# --- generate: run ids that clash with a dataset or another run ----------------------------------------


def test_run_id_equal_to_a_dataset_is_refused(good_warehouse: Path, good_rows, raw_snapshot, capsys) -> None:
    """A run named like a dataset gave two corpora of one name in every mart."""
    backend = FakeBackend()
    with pytest.raises(SemspaceError) as info:
        generate.run(
            RunPlan(dataset="alpha", model="m", rounds=1, run_id="beta"), database=good_warehouse, backend=backend
        )
    assert str(info.value).startswith("--run-id 'beta' clashes with the dataset 'beta'")
    assert str(info.value).endswith("pass another --run-id")
    assert backend.calls == []
    assert raw_snapshot(good_warehouse) == good_rows
    # the command line refuses it before any model is loaded
    assert (
        generate_cli.main(
            ["run", "--dataset", "alpha", "--model", "no/such-model", "--run-id", "alpha", "--db", str(good_warehouse)]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("generate: error: --run-id 'alpha' clashes with the dataset 'alpha'") and err.count("\n") == 1
    assert raw_snapshot(good_warehouse) == good_rows


def test_default_run_id_equal_to_a_dataset_is_refused(
    tmp_path: Path, good_warehouse: Path, write_blip, raw_snapshot
) -> None:
    import ingest

    default = generate.default_run_id("m", "alpha", "fake", GenerationParams(), False)
    ingest.load(
        write_blip(tmp_path / "x.json", [{"image": "x.jpg", "caption": ["x"]}]), database=good_warehouse, name=default
    )
    before = raw_snapshot(good_warehouse)
    with pytest.raises(SemspaceError, match=rf"^--run-id '{default}' clashes with the dataset '{default}'"):
        generate.run(RunPlan(dataset="alpha", model="m", rounds=1), database=good_warehouse, backend=FakeBackend())
    assert raw_snapshot(good_warehouse) == before


def test_run_id_whose_variant_is_an_older_dataset_name(good_warehouse: Path, raw_snapshot) -> None:
    """A dataset from before the rule named 'zeta-nostop' is the derived corpus of a run 'zeta'."""
    with duckdb.connect(str(good_warehouse)) as con:
        con.execute("update raw.datasets set dataset = 'zeta-nostop' where dataset = 'beta'")
    before = raw_snapshot(good_warehouse)
    with pytest.raises(SemspaceError, match=r"^--run-id 'zeta' clashes with the dataset 'zeta-nostop'"):
        generate.run(
            RunPlan(dataset="alpha", model="m", rounds=1, run_id="zeta"), database=good_warehouse, backend=FakeBackend()
        )
    assert raw_snapshot(good_warehouse) == before


def test_resuming_a_run_is_not_a_clash(good_warehouse: Path) -> None:
    plan = RunPlan(dataset="alpha", model="m", rounds=1, run_id="again", tokenize=False)
    generate.run(plan, database=good_warehouse, backend=FakeBackend())
    summary = generate.run(plan, database=good_warehouse, backend=FakeBackend())
    assert (summary.generated, summary.stored) == (0, 6)


def test_insert_run_refuses_a_clash_inside_the_transaction(good_warehouse: Path, good_rows, raw_snapshot) -> None:
    """The store's own check: a caller that skips chain.run's still cannot write a clashing run."""
    record = store.RunRecord(
        run_id="alpha",
        dataset="alpha",
        model="m",
        model_source=None,
        backend="fake",
        chat=False,
        prompt_template_version="note-v1",
        prompt_template="{text}",
        params={},
        rounds=1,
    )
    row = {c: None for c in store.ASSOCIATION_COLUMNS} | {
        "run_id": "alpha",
        "dataset": "alpha",
        "image_id": 0,
        "caption_index": 0,
        "round": 1,
        "model": "m",
        "prompt_template_version": "note-v1",
        "input_text": "x",
        "generated_text": "y",
        "output_text": "xy",
        "finish_reason": "stop",
        "do_sample": True,
    }
    con = duckdb.connect(str(good_warehouse))
    try:
        with pytest.raises(SemspaceError, match=r"^--run-id 'alpha' clashes with the dataset 'alpha'"):
            store.insert_associations(con, [row], new_run=record)
    finally:
        con.close()
    snapshot = raw_snapshot(good_warehouse)
    assert {k: v for k, v in snapshot.items() if k in good_rows} == good_rows
    assert not snapshot.get("associations") and not snapshot.get("association_runs")
