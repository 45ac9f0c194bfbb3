"""`generate`: the chain's exact prompts and round structure, resume, subsets, run identity, tokens and
bad input, with a fake backend (answers are a pure function of the prompt) on a small warehouse."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import FrozenInstanceError, replace
from pathlib import Path

import duckdb
import pytest

import generate
import generate.__main__ as cli
from generate import PROMPT_INSTRUCTION, GenerationParams, Interrupted
from generate.chain import RunPlan
from generate.tokens import TOKENIZATION, token_strings
from semspace.errors import SemspaceError
from tests.conftest import BLIP_A
from tests.generate_helpers import FALCON_DIR, FakeBackend, fake_answer

pytestmark = pytest.mark.usefixtures("ingest_env")

NOTE_INSTRUCTION = "What do you associate with the following sentences? Describe the answer in one sentence. :\n"
ALPHA_CAPTIONS = {(i, k): c for i, rec in enumerate(BLIP_A) for k, c in enumerate(rec["caption"])}


def rows(database: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def chains(database: Path, run_id: str) -> dict[tuple[int, int], list[tuple]]:
    out: dict[tuple[int, int], list[tuple]] = {}
    for image_id, k, rnd, inp, gen, outp in rows(
        database,
        "select image_id, caption_index, round, input_text, generated_text, output_text from raw.associations "
        "where run_id = ? order by image_id, caption_index, round",
        [run_id],
    ):
        out.setdefault((image_id, k), []).append((rnd, inp, gen, outp))
    return out


# --- the chain itself -------------------------------------------------------------------------------


def test_prompt_is_the_notes_instruction_then_the_text() -> None:
    assert PROMPT_INSTRUCTION == NOTE_INSTRUCTION
    assert generate.prompt("A man rides a bike.") == NOTE_INSTRUCTION + "A man rides a bike."


def test_next_text_keeps_the_text_and_adds_the_answer() -> None:
    assert generate.next_text("A dog.", " It barks.") == "A dog. It barks."
    assert generate.next_text("A dog.", "It barks.") == "A dog.It barks."  # the pipeline's way: no space added
    assert generate.next_text("A dog.", "It barks.", chat=True) == "A dog. It barks."
    assert generate.next_text("A dog.", "\nIt barks.", chat=True) == "A dog.\nIt barks."


def test_chain_rounds_and_prompts_exact(good_warehouse: Path) -> None:
    backend = FakeBackend()
    summary = generate.run(
        RunPlan(dataset="alpha", model="fake-model", rounds=3, batch_size=4, tokenize=False),
        database=good_warehouse,
        backend=backend,
    )
    assert (summary.n_images, summary.n_captions, summary.generated, summary.stored) == (3, 6, 18, 18)
    run_id = summary.run_id
    assert run_id == "alpha-fake-model-" + run_id.rsplit("-", 1)[1]  # non-default backend: a hash suffix
    got = chains(good_warehouse, run_id)
    assert set(got) == set(ALPHA_CAPTIONS)
    sent = [p for prompts, _ in backend.calls for p in prompts]
    for key, chain in got.items():
        assert [r[0] for r in chain] == [1, 2, 3]
        text = ALPHA_CAPTIONS[key]
        for _round, inp, gen, outp in chain:
            assert inp == text  # round 1: the caption; round r: round r-1's output
            assert gen == fake_answer(NOTE_INSTRUCTION + inp)
            assert outp == inp + gen
            assert sent.count(NOTE_INSTRUCTION + inp) == 1
            text = outp
    assert len(sent) == 18
    # round-major: every prompt of round r is sent before any of round r+1; batches ≤ batch size
    rounds_in_order = [
        next(r for key, ch in got.items() for r, inp, *_ in ch if NOTE_INSTRUCTION + inp == p) for p in sent
    ]
    assert rounds_in_order == sorted(rounds_in_order)
    assert all(len(prompts) <= 4 for prompts, _ in backend.calls)
    # within a round: longest text first
    first_round = [p for prompts, _ in backend.calls[:2] for p in prompts]
    assert [len(p) for p in first_round] == sorted((len(p) for p in first_round), reverse=True)
    assert backend.closed is False  # a backend passed in is the caller's to close
    (run,) = rows(
        good_warehouse,
        "select run_id, dataset, model, backend, chat, prompt_template_version, prompt_template, params, rounds "
        "from raw.association_runs",
    )
    assert run[:7] == (run_id, "alpha", "fake-model", "fake", False, "note-v1", NOTE_INSTRUCTION + "{text}")
    assert run[8] == 3
    assert '"top_k": 10' in run[7] and '"max_length": 200' in run[7]


def test_rows_carry_the_generation_params(good_warehouse: Path) -> None:
    params = GenerationParams(max_new_tokens=7, max_length=None, temperature=0.7, top_k=5, seed=42)
    summary = generate.run(
        RunPlan(dataset="alpha", model="fake-model", params=params, rounds=1, batch_size=2, images=[0]),
        database=good_warehouse,
        backend=FakeBackend(),
    )
    got = rows(
        good_warehouse,
        "select max_new_tokens, do_sample, temperature, top_k, top_p, seed, sample_seed, finish_reason, n_new_tokens, "
        "created_at is not null from raw.associations where run_id = ?",
        [summary.run_id],
    )
    assert len(got) == 2
    for r in got:
        assert r[:6] == (7, True, 0.7, 5, 1.0, 42) and r[7:] == ("stop", 3, True)
    assert len({r[6] for r in got}) == 1  # one batch, one derived seed
    assert got[0][6] == generate.chain.batch_seed(42, 1, [(0, 1), (0, 0)])  # longest caption first


def test_batches_have_derived_seeds(good_warehouse: Path) -> None:
    backend = FakeBackend()
    generate.run(
        RunPlan(dataset="alpha", model="m", rounds=2, batch_size=2, tokenize=False),
        database=good_warehouse,
        backend=backend,
    )
    seeds = [params.seed for _, params in backend.calls]
    assert len(seeds) == 6 and len(set(seeds)) == 6  # 3 batches × 2 rounds, each its own seed


# --- resume -----------------------------------------------------------------------------------------


def test_interrupt_then_resume_gives_the_uninterrupted_rows(good_warehouse: Path, tmp_path: Path, raw_snapshot) -> None:
    import shutil

    reference = tmp_path / "reference.duckdb"
    shutil.copyfile(good_warehouse, reference)
    plan = RunPlan(dataset="alpha", model="m", rounds=3, batch_size=2, run_id="r1")
    generate.run(plan, database=reference, backend=FakeBackend())

    backend = FakeBackend(interrupt_after=5)  # Ctrl-C in the 5th batch: 4 batches (8 rows) stored
    with pytest.raises(Interrupted) as info:
        generate.run(plan, database=good_warehouse, backend=backend)
    assert isinstance(info.value, KeyboardInterrupt)
    assert "8 of 18 associations stored" in info.value.message and "rerun the same command" in info.value.message
    assert rows(good_warehouse, "select count(*) from raw.associations")[0][0] == 8
    assert rows(good_warehouse, "select count(*) from raw.association_tokens")[0][0] == 0

    backend = FakeBackend()
    summary = generate.run(plan, database=good_warehouse, backend=backend)
    assert (summary.generated, summary.stored) == (10, 18)
    assert sum(len(p) for p, _ in backend.calls) == 10  # nothing generated twice
    keep = "image_id, caption_index, round, input_text, generated_text, output_text, sample_seed"
    sql = f"select {keep} from raw.associations order by 1, 2, 3"
    assert rows(good_warehouse, sql) == rows(reference, sql)  # same rows, same batches, same seeds
    assert rows(
        good_warehouse, "select count(*), count(distinct (image_id, caption_index, round)) from raw.associations"
    ) == [(18, 18)]

    again = FakeBackend()
    summary = generate.run(plan, database=good_warehouse, backend=again)
    assert summary.generated == 0 and again.calls == []


def test_more_rounds_later_extends_each_chain(good_warehouse: Path) -> None:
    kwargs = dict(dataset="alpha", model="m", batch_size=4, run_id="grow", tokenize=False)
    generate.run(RunPlan(rounds=2, **kwargs), database=good_warehouse, backend=FakeBackend())
    summary = generate.run(RunPlan(rounds=4, **kwargs), database=good_warehouse, backend=FakeBackend())
    assert summary.generated == 12
    for chain in chains(good_warehouse, "grow").values():
        assert [r[0] for r in chain] == [1, 2, 3, 4]
        assert all(chain[i][1] == chain[i - 1][3] for i in range(1, 4))
    assert rows(good_warehouse, "select rounds from raw.association_runs") == [(4,)]


def test_subsets_images_and_limit(good_warehouse: Path) -> None:
    s = generate.run(
        RunPlan(dataset="alpha", model="m", rounds=1, images=[0, 2], run_id="sub", tokenize=False),
        database=good_warehouse,
        backend=FakeBackend(),
    )
    assert (s.n_images, s.n_captions) == (2, 5)
    s = generate.run(
        RunPlan(dataset="alpha", model="m", rounds=1, limit=2, run_id="sub", tokenize=False),
        database=good_warehouse,
        backend=FakeBackend(),
    )
    assert (s.n_images, s.generated) == (2, 1)  # images 0 and 1: only image 1's caption was missing
    assert rows(good_warehouse, "select distinct image_id from raw.associations order by 1") == [(0,), (1,), (2,)]
    assert generate.parse_images("1,2,5-9") == [1, 2, 5, 6, 7, 8, 9]
    assert generate.parse_images(" 3 , 1,1") == [1, 3]
    for bad in ("a", "5-2", "1,,x", "-3", ","):
        with pytest.raises(SemspaceError, match="--images"):
            generate.parse_images(bad)
    with pytest.raises(SemspaceError, match=r"dataset 'alpha' has no image 7 \(its image ids are 0–2\)"):
        generate.run(RunPlan(dataset="alpha", model="m", images=[1, 7]), database=good_warehouse, backend=FakeBackend())


def test_default_run_ids() -> None:
    assert generate.default_run_id("tiiuae/falcon-7b-instruct") == "falcon-7b-instruct"
    assert generate.default_run_id("smollm2") == "smollm2"
    assert generate.default_run_id("/models/My Falcon/") == "my-falcon"
    assert generate.default_run_id("tiiuae/falcon-7b-instruct", dataset="mine") == "mine-falcon-7b-instruct"
    other = generate.default_run_id("tiiuae/falcon-7b-instruct", params=GenerationParams(seed=1))
    assert other.startswith("falcon-7b-instruct-") and len(other) == len("falcon-7b-instruct-") + 6
    assert other != generate.default_run_id("tiiuae/falcon-7b-instruct", params=GenerationParams(seed=2))
    assert generate.default_run_id("tiiuae/falcon-7b-instruct", backend="openai") != "falcon-7b-instruct"


def test_budget_is_the_model_cards_max_length_per_prompt() -> None:
    p = GenerationParams()
    assert (p.max_length, p.do_sample, p.top_k, p.temperature, p.top_p) == (200, True, 10, 1.0, 1.0)
    assert p.budget(30) == 170 and p.budget(199) == 1 and p.budget(250) == 1 and p.budget(None) == 200
    assert GenerationParams(max_new_tokens=64).budget(30) == 64
    with pytest.raises(SemspaceError, match="budget"):
        GenerationParams(max_new_tokens=None, max_length=None)
    assert GenerationParams(temperature=0).sampling is False and GenerationParams(do_sample=False).sampling is False


def test_resume_with_other_settings_is_refused(good_warehouse: Path, raw_snapshot) -> None:
    plan = RunPlan(dataset="alpha", model="m", rounds=1, run_id="fixed")
    generate.run(replace(plan, tokenize=False), database=good_warehouse, backend=FakeBackend())
    before = raw_snapshot(good_warehouse)
    with pytest.raises(SemspaceError, match=r"run 'fixed' was started with other settings: params .*new --run-id"):
        generate.run(replace(plan, params=GenerationParams(seed=3)), database=good_warehouse, backend=FakeBackend())
    with pytest.raises(SemspaceError, match=r"dataset 'alpha' \(now 'beta'\)"):
        generate.run(replace(plan, dataset="beta"), database=good_warehouse, backend=FakeBackend())
    assert raw_snapshot(good_warehouse) == before


# --- tokens -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def falcon_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(FALCON_DIR)


def reference_tokens(tokenizer, text: str) -> set[str]:
    """Independently: the tokenizer's own token strings, each turned back into text and stripped."""
    pieces = tokenizer.tokenize(text)
    return {s for s in (tokenizer.convert_tokens_to_string([t]).strip() for t in pieces) if s}


def test_tokens_per_image_are_the_distinct_decoded_tokens(good_warehouse: Path, falcon_tokenizer) -> None:
    backend = FakeBackend(tokenizer=falcon_tokenizer)
    summary = generate.run(
        RunPlan(dataset="alpha", model="m", rounds=2, run_id="tok"), database=good_warehouse, backend=backend
    )
    assert summary.tokens is not None and summary.tokens.n_images == 3
    got: dict[int, set[str]] = {}
    for image_id, token in rows(
        good_warehouse, "select image_id, token from raw.association_tokens where run_id='tok'"
    ):
        got.setdefault(image_id, set()).add(token)
    finals = rows(
        good_warehouse,
        "select image_id, output_text from raw.associations where run_id='tok' and round = 2 order by image_id, caption_index",
    )
    for image_id in range(3):
        text = " ".join(t for i, t in finals if i == image_id)
        assert text.startswith(BLIP_A[image_id]["caption"][0])  # the chain keeps its caption
        assert got[image_id] == reference_tokens(falcon_tokenizer, text)
    assert {"man", "rides", "bike", "A", "."} <= got[0]  # words without the byte-level space mark, case kept
    assert summary.tokens.n_tokens == sum(len(v) for v in got.values())
    assert rows(good_warehouse, "select tokenizer is not null, tokenization from raw.association_runs") == [
        (True, TOKENIZATION)
    ]
    assert rows(good_warehouse, "select count(*) = count(distinct (image_id, token)) from raw.association_tokens") == [
        (True,)
    ]


def test_token_strings_drop_whitespace_and_keep_case(falcon_tokenizer) -> None:
    (tokens,) = token_strings(falcon_tokenizer, ["I love Pizza and pizza.\n\n  Dogs run."])
    assert tokens == ["I", "love", "Pizza", "and", "pizza", ".", "Dogs", "run", "."]  # "\n\n " (ĊĊĠ) dropped


def test_tokens_skip_unfinished_images_and_the_cli_rewrites_them(
    good_warehouse: Path, falcon_tokenizer, capsys
) -> None:
    plan = RunPlan(dataset="alpha", model=str(FALCON_DIR), rounds=2, batch_size=2, run_id="part")
    with pytest.raises(Interrupted):
        backend = FakeBackend(interrupt_after=5, tokenizer=falcon_tokenizer)
        generate.run(plan, database=good_warehouse, backend=backend)
    # round 1 done (3 batches), round 2: one batch of the two longest captions (image 0's 2nd and image 2's 1st)
    con = duckdb.connect(str(good_warehouse))
    try:
        summary = generate.tokenize_run(con, "part", falcon_tokenizer)
    finally:
        con.close()
    assert summary.n_skipped == 3 and summary.n_images == 0
    generate.run(replace(plan, tokenize=False), database=good_warehouse, backend=FakeBackend())
    assert cli.main(["tokens", "--run-id", "part", "--db", str(good_warehouse)]) == 0  # the run's model's tokenizer
    assert "over 3 images" in capsys.readouterr().out
    assert rows(good_warehouse, "select count(distinct image_id) from raw.association_tokens") == [(3,)]
    assert cli.main(["tokens", "--run-id", "nope", "--db", str(good_warehouse)]) == 1
    assert "generate: error: no association run 'nope' in this warehouse; it has: part" in capsys.readouterr().err


# --- bad input: one line, nothing written -----------------------------------------------------------


def test_run_plan_checks_its_fields() -> None:
    plan = RunPlan(images=[2, 0], backend_options={"device": "cpu"})
    assert plan.images == (2, 0)  # a tuple, the order kept
    assert (plan.dataset, plan.rounds, plan.batch_size, plan.run_id, plan.chat) == ("coco", 5, 16, None, None)
    with pytest.raises(FrozenInstanceError):
        plan.rounds = 3  # type: ignore[misc]
    options = {"api_key": "secret"}
    plan = RunPlan(backend="openai", backend_options=options)
    options["api_key"] = "changed"
    assert plan.backend_options == {"api_key": "secret"} and "secret" not in repr(plan)
    for fields, message in [
        (dict(rounds=0), "--rounds must be at least 1, not 0"),
        (dict(batch_size=-1), "--batch-size must be at least 1, not -1"),
        (dict(limit=0), "--limit must be at least 1, not 0"),
        (dict(run_id=""), "--run-id must not be empty"),
        (dict(run_id="  "), "--run-id must not be empty"),
        (dict(images=[]), "--images names no image"),
        (dict(images=[3, -1]), "--images: image ids are ≥ 0, not -1"),
        (dict(dataset=""), "--dataset must not be empty"),
        (dict(model=" "), "--model must not be empty"),
        (dict(backend="tgi"), "unknown backend 'tgi': choose one of transformers, openai, vllm"),
        (dict(params=None), "RunPlan.params must be a GenerationParams"),
    ]:
        with pytest.raises(SemspaceError) as info:
            RunPlan(**fields)
        assert message in str(info.value) and "\n" not in str(info.value), fields


def test_cli_builds_the_plan_from_its_flags() -> None:
    args = cli.parser().parse_args(
        [
            "run",
            "--dataset",
            "alpha",
            "--model",
            "m",
            "--rounds",
            "2",
            "--batch-size",
            "3",
            "--limit",
            "4",
            "--images",
            "5-6,1",
            "--run-id",
            "x",
            "--seed",
            "7",
            "--greedy",
            "--chat",
            "--no-tokens",
            "--device",
            "cpu",
        ]
    )
    plan = cli.run_plan(args)
    assert plan == RunPlan(
        dataset="alpha",
        model="m",
        backend="transformers",
        backend_options={"device": "cpu", "dtype": "auto"},
        params=GenerationParams(do_sample=False, seed=7),
        chat=True,
        rounds=2,
        batch_size=3,
        images=(1, 5, 6),
        limit=4,
        run_id="x",
        tokenize=False,
    )
    assert cli.run_plan(cli.parser().parse_args(["run"])) == RunPlan(
        backend_options={"device": "auto", "dtype": "auto"}
    )


def test_unknown_dataset(good_warehouse: Path, good_rows, raw_snapshot, capsys) -> None:
    with pytest.raises(SemspaceError, match=r"unknown dataset 'nope'; the warehouse has 'alpha', 'beta'"):
        generate.run(RunPlan(dataset="nope"), database=good_warehouse, backend=FakeBackend())
    assert cli.main(["run", "--dataset", "nope", "--db", str(good_warehouse)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"generate: error: {good_warehouse}: unknown dataset 'nope'") and err.count("\n") == 1
    assert raw_snapshot(good_warehouse) == good_rows


def test_empty_warehouse(warehouse: Path, tmp_path: Path, capsys) -> None:
    assert cli.main(["run", "--db", str(warehouse)]) == 1
    assert "no warehouse here yet; load captions first with `python -m ingest`" in capsys.readouterr().err
    assert not warehouse.exists()  # not even created
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    assert cli.main(["run", "--db", str(empty)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"generate: error: {empty}: the warehouse has no captions (raw.captions); run `python -m ingest` first\n"
    )
    assert rows(empty, "select count(*) from information_schema.tables") == [(0,)]


def test_model_that_cannot_be_loaded(good_warehouse: Path, good_rows, raw_snapshot, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "no-model-here"
    assert cli.main(["run", "--dataset", "alpha", "--model", str(missing), "--db", str(good_warehouse)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"generate: error: cannot load the tokenizer of '{missing}'") and err.count("\n") == 1
    assert "--model" in err
    assert (
        cli.main(["run", "--dataset", "alpha", "--model", "no-such-org/no-such-model", "--db", str(good_warehouse)])
        == 1
    )
    err = capsys.readouterr().err
    assert "cannot load" in err and "needs the network" in err and "HF_HOME" in err and "--model /path/to/model" in err
    assert raw_snapshot(good_warehouse) == good_rows


def test_bad_numbers(good_warehouse: Path, good_rows, raw_snapshot, capsys) -> None:
    for argv, fragment in [
        (["--rounds", "0"], "--rounds must be at least 1"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--limit", "0"], "--limit must be at least 1"),
        (["--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
        (["--top-p", "0"], "--top-p must be in (0, 1]"),
        (["--images", "x"], "--images 'x'"),
    ]:
        assert cli.main(["run", "--dataset", "alpha", "--db", str(good_warehouse), *argv]) == 1
        assert fragment in capsys.readouterr().err
    assert raw_snapshot(good_warehouse) == good_rows


def test_locked_warehouse(good_warehouse: Path, good_rows, raw_snapshot, capsys) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            'import duckdb, time, sys; c = duckdb.connect(sys.argv[1]); print("ready", flush=True); time.sleep(30)',
            str(good_warehouse),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert cli.main(["run", "--dataset", "alpha", "--db", str(good_warehouse)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"generate: error: {good_warehouse}: the warehouse is locked") and err.count("\n") == 1
    finally:
        holder.kill()
        holder.wait(timeout=10)
        holder.stdout.close()
    assert raw_snapshot(good_warehouse) == good_rows
