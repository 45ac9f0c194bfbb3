"""The openai backend against a local OpenAI-compatible server (http.server in a thread): completions
and chat, retries after a 500, concurrency, and a server that is not there."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

import generate
import generate.__main__ as cli
from generate import GenerationParams
from generate.backends.openai_compat import OpenAIBackend, api_root
from semspace.errors import SemspaceError
from tests.generate_helpers import FALCON_DIR, StubServer, free_port, stub_answer

pytestmark = pytest.mark.usefixtures("ingest_env")

NOTE = generate.PROMPT_INSTRUCTION


def stored(database: Path) -> list[tuple]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(
            "select image_id, caption_index, round, input_text, generated_text, output_text, n_new_tokens, "
            "finish_reason from raw.associations order by 1, 2, 3"
        ).fetchall()
    finally:
        con.close()


def test_completions_run_through_the_cli(good_warehouse: Path, capsys) -> None:
    with StubServer() as server:
        code = cli.main([
            "run", "--backend", "openai", "--base-url", server.url, "--model", "stub", "--dataset", "alpha",
            "--rounds", "2", "--batch-size", "4", "--concurrency", "3", "--tokenizer", str(FALCON_DIR),
            "--db", str(good_warehouse),
        ])
        requests = list(server.state.requests)
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "12 associations generated" in out.out and "tokens:" in out.out
    assert {path for path, _ in requests} == {"/v1/completions"}
    assert len(requests) == 12
    body = requests[0][1]
    assert body["model"] == "stub" and body["prompt"].startswith(NOTE) and body["top_k"] == 10
    assert body["temperature"] == 1.0 and body["n"] == 1
    # --tokenizer given: the budget is max_length minus the prompt's tokens, per prompt
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(FALCON_DIR)
    for _, b in requests:
        assert b["max_tokens"] == 200 - len(tok(b["prompt"])["input_ids"])
    rows = stored(good_warehouse)
    assert len(rows) == 12
    for _, _, rnd, inp, gen, outp, n, reason in rows:
        assert gen == stub_answer(NOTE + inp) and outp == inp + gen and n == 4 and reason == "stop"


def test_chat_completions_and_a_retried_500(good_warehouse: Path) -> None:
    with StubServer(fail_first=2) as server:
        summary = generate.run(
            good_warehouse, dataset="alpha", model="stub", backend="openai", chat=True, rounds=1, images=[0],
            params=GenerationParams(max_new_tokens=16), tokenize=False,
            backend_options={"base_url": server.url, "backoff": 0.01, "concurrency": 1},
        )
        requests = list(server.state.requests)
    assert summary.generated == 2
    assert server.state.failures_sent == 2 and len(requests) == 4  # two 500s, retried
    assert {path for path, _ in requests} == {"/v1/chat/completions"}
    assert {b["messages"][0]["content"] for _, b in requests} == {NOTE + "A man rides a bike.", NOTE + "A person on a bicycle."}
    assert all(len(b["messages"]) == 1 and b["messages"][0]["role"] == "user" for _, b in requests)
    assert all(b["max_tokens"] == 16 for _, b in requests)
    for _, _, _, inp, gen, outp, _, _ in stored(good_warehouse):
        assert gen == stub_answer(NOTE + inp).lstrip() and outp == inp + " " + gen  # a reply: joined with a space


def test_retries_give_up_with_a_clear_error(good_warehouse: Path, good_rows, raw_snapshot) -> None:
    with StubServer(fail_first=100) as server:
        with pytest.raises(SemspaceError, match=r"HTTP 500 from .*/v1/completions.*gave up after 3 tries"):
            generate.run(
                good_warehouse, dataset="alpha", model="stub", backend="openai", rounds=1,
                backend_options={"base_url": server.url, "backoff": 0.01, "retries": 2, "concurrency": 2},
            )
    assert raw_snapshot(good_warehouse) == good_rows


def test_concurrency_keeps_the_order(good_warehouse: Path) -> None:
    prompts = [NOTE + f"caption {i}" for i in range(20)]
    with StubServer() as server:
        backend = OpenAIBackend("stub", base_url=server.url, concurrency=8)
        try:
            answers = backend.generate(prompts, GenerationParams(max_new_tokens=4, seed=10))
        finally:
            backend.close()
        seeds = sorted(b["seed"] for _, b in server.state.requests)
    assert [a.text for a in answers] == [stub_answer(p) for p in prompts]
    assert seeds == list(range(10, 30))  # prompt i of the batch: seed + i


def test_unreachable_server(good_warehouse: Path, good_rows, raw_snapshot, capsys) -> None:
    port = free_port()
    started = time.monotonic()
    code = cli.main([
        "run", "--backend", "openai", "--base-url", f"http://127.0.0.1:{port}", "--model", "stub",
        "--dataset", "alpha", "--db", str(good_warehouse),
    ])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"generate: error: cannot reach http://127.0.0.1:{port}/v1/models")
    assert "start an OpenAI-compatible server there" in err and "--base-url" in err
    assert time.monotonic() - started < 10
    assert raw_snapshot(good_warehouse) == good_rows


def test_api_root() -> None:
    assert api_root("http://h:8000") == "http://h:8000/v1"
    assert api_root("http://h:8000/v1/") == "http://h:8000/v1"
