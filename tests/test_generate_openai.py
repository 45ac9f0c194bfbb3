"""The openai backend against a local OpenAI-compatible server (http.server in a thread): completions
and chat, retries after a 500, concurrency, a server that is not there, and every way a server can
answer badly (each one SemspaceError with one line naming the URL, what was wrong and the fix;
retried only when transient; nothing stored for a failed batch)."""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

import generate
import generate.__main__ as cli
from generate import GenerationParams
from generate.backends.openai_compat import OpenAIBackend, api_root
from generate.chain import RunPlan
from semspace.errors import SemspaceError
from tests.generate_helpers import FALCON_DIR, StubServer, free_port, stub_answer, stub_prompt

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
        code = cli.main(
            [
                "run",
                "--backend",
                "openai",
                "--base-url",
                server.url,
                "--model",
                "stub",
                "--dataset",
                "alpha",
                "--rounds",
                "2",
                "--batch-size",
                "4",
                "--concurrency",
                "3",
                "--tokenizer",
                str(FALCON_DIR),
                "--db",
                str(good_warehouse),
            ]
        )
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
    for _, _, _, inp, gen, outp, n, reason in rows:
        assert gen == stub_answer(NOTE + inp) and outp == inp + gen and n == 4 and reason == "stop"


def test_chat_completions_and_a_retried_500(good_warehouse: Path) -> None:
    with StubServer(fail_first=2) as server:
        summary = generate.run(
            RunPlan(
                dataset="alpha",
                model="stub",
                backend="openai",
                chat=True,
                rounds=1,
                images=[0],
                params=GenerationParams(max_new_tokens=16),
                tokenize=False,
                backend_options={"base_url": server.url, "backoff": 0.01, "concurrency": 1},
            ),
            database=good_warehouse,
        )
        requests = list(server.state.requests)
    assert summary.generated == 2
    assert server.state.failures_sent == 2 and len(requests) == 4  # two 500s, retried
    assert {path for path, _ in requests} == {"/v1/chat/completions"}
    assert {b["messages"][0]["content"] for _, b in requests} == {
        NOTE + "A man rides a bike.",
        NOTE + "A person on a bicycle.",
    }
    assert all(len(b["messages"]) == 1 and b["messages"][0]["role"] == "user" for _, b in requests)
    assert all(b["max_tokens"] == 16 for _, b in requests)
    for _, _, _, inp, gen, outp, _, _ in stored(good_warehouse):
        assert gen == stub_answer(NOTE + inp).lstrip() and outp == inp + " " + gen  # a reply: joined with a space


def test_retries_give_up_with_a_clear_error(good_warehouse: Path, good_rows, raw_snapshot) -> None:
    with StubServer(fail_first=100) as server:
        with pytest.raises(SemspaceError, match=r"/v1/completions answered HTTP 500 .*gave up after 3 tries"):
            generate.run(
                RunPlan(
                    dataset="alpha",
                    model="stub",
                    backend="openai",
                    rounds=1,
                    backend_options={"base_url": server.url, "backoff": 0.01, "retries": 2, "concurrency": 2},
                ),
                database=good_warehouse,
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


def test_unreachable_server(good_warehouse: Path, good_rows, raw_snapshot, capsys, caplog) -> None:
    port = free_port()
    caplog.set_level(logging.WARNING, logger="generate.backends.openai_compat")
    code = cli.main(
        [
            "run",
            "--backend",
            "openai",
            "--base-url",
            f"http://127.0.0.1:{port}",
            "--model",
            "stub",
            "--dataset",
            "alpha",
            "--db",
            str(good_warehouse),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"generate: error: cannot reach http://127.0.0.1:{port}/v1/models")
    assert "start an OpenAI-compatible server there" in err and "--base-url" in err
    assert "retrying" not in caplog.text  # the probe fails at once, no backoff
    assert raw_snapshot(good_warehouse) == good_rows


def test_api_root() -> None:
    assert api_root("http://h:8000") == "http://h:8000/v1"
    assert api_root("http://h:8000/v1/") == "http://h:8000/v1"


# -- a malformed server: one clear line each ------------------------------------------------------

FIX_API = r"check that --base-url points to an OpenAI-compatible"
FIX_ANSWER = FIX_API + r" server and that it serves --model 'stub'$"
FIX_BODY = FIX_API + r" API \(e\.g\. http://host:8000/v1\)"
PROMPTS = [NOTE + f"caption {i}" for i in range(3)]


def only_the_third(path: str, body: dict[str, Any]) -> bool:
    return stub_prompt(body).endswith("caption 2")


def fail_with(server: StubServer, chat: bool = False, prompts: list[str] = PROMPTS, **options: Any) -> SemspaceError:
    """Run one batch against ``server``; the SemspaceError it must raise."""
    options = {"retries": 2, "backoff": 0.01, "concurrency": 3, "timeout": 5.0, **options}
    backend = OpenAIBackend("stub", base_url=server.url, chat=chat, **options)
    try:
        with pytest.raises(SemspaceError) as info:
            backend.generate(prompts, GenerationParams(max_new_tokens=4))
    finally:
        backend.close()
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return info.value


ANSWERED_BADLY = [  # (stub mode, the message after "response 3 of 3 in the batch ")
    ("not-object", r'is an array \(\[\{"choices": .*\), not a JSON object; '),
    ("json-string", r'is a string \("ok"\), not a JSON object; '),
    ("no-choices", r"has no choices; "),
    ("empty-choices", r"has an empty choices list; "),
    ("choices-not-list", r"has choices an object, not a list; "),
    ("choice-not-object", r"has choices\[0\] a string, not an object; "),
    ("no-text", r"has no choices\[0\]\.text; "),
    ("text-null", r"has choices\[0\]\.text null, not a string; "),
    ("text-number", r"has choices\[0\]\.text a number \(42\), not a string; "),
    ("text-list", r"has choices\[0\]\.text an array \(.*\), not a string; "),
    (
        "finish-unknown",
        r'has finish_reason "banana", not one of content_filter, eos, eos_token, length, stop, '
        r"stop_sequence; ",
    ),
    ("finish-number", r"has finish_reason a number \(1\), not a string; "),
    ("usage-not-object", r"has usage an array \(\[4\]\), not an object; "),
    ("usage-string", r'has usage.completion_tokens a string \("4"\), not a whole number; '),
    ("usage-negative", r"has usage.completion_tokens -3, not ≥ 0; "),
    ("usage-fraction", r"has usage.completion_tokens a number \(2.5\), not a whole number; "),
    ("error-200", r"is an error: stub: the model is overloaded; "),
]


@pytest.mark.parametrize(("mode", "what"), ANSWERED_BADLY, ids=[m for m, _ in ANSWERED_BADLY])
def test_a_bad_answer_names_the_response_and_is_not_retried(mode: str, what: str) -> None:
    with StubServer(mode=mode, mode_when=only_the_third) as server:
        error = fail_with(server)
        third = [b for _, b in server.state.requests if only_the_third("", b)]
    assert re.fullmatch(
        re.escape(f"the server at {server.url}/completions: response 3 of 3 in the batch ") + what + FIX_ANSWER,
        str(error),
    ), str(error)
    assert len(third) == 1  # not retried


@pytest.mark.parametrize(
    ("mode", "what"),
    [
        ("no-text", r"has no choices\[0\]\.message\.content; "),
        ("text-null", r"has choices\[0\]\.message\.content null, not a string; "),
        ("text-number", r"has choices\[0\]\.message\.content a number \(42\), not a string; "),
        ("no-message", r"has no choices\[0\]\.message; "),
        ("no-choices", r"has no choices; "),
    ],
)
def test_a_bad_chat_answer_names_the_field(mode: str, what: str) -> None:
    with StubServer(mode=mode, mode_when=only_the_third) as server:
        error = fail_with(server, chat=True)
    assert re.fullmatch(
        re.escape(f"the server at {server.url}/chat/completions: response 3 of 3 in the batch ") + what + FIX_ANSWER,
        str(error),
    ), str(error)


MALFORMED_HTTP = [  # (stub options, the message after "the server at URL/completions ")
    (
        {"mode": "bad-status-line"},
        r"did not answer HTTP \(BadStatusLine: SSH-2\.0-OpenSSH_9\.6\); check that "
        r"--base-url points to an OpenAI-compatible HTTP server",
    ),
    ({"mode": "non-utf8"}, r"answered a body that is not UTF-8 text \(byte 0xe9 at offset \d+\); " + FIX_BODY),
    ({"mode": "truncated-json"}, r"answered JSON that is cut off after \d+ bytes \('\{\"choices\": .*'\); " + FIX_BODY),
    ({"mode": "empty-body"}, r"answered an empty body, not JSON; " + FIX_BODY),
    (
        {"mode": "html"},
        r"answered HTML, not JSON \('<!DOCTYPE html> <html><head><title>Welcome to nginx!.*'\); "
        r"is --base-url the API root of an OpenAI-compatible server \(e\.g\. http://host:8000/v1\)\?",
    ),
    ({"mode": "huge"}, r"answered more than 8 MiB, which is no completion; " + FIX_BODY),
    ({"mode": "huge-chunked"}, r"answered more than 8 MiB, which is no completion; " + FIX_BODY),
    (
        {"mode": "error-json"},
        r"answered HTTP 404 \(The model `stub` does not exist\.\); check --base-url \(the API "
        r"root, e\.g\. http://host:8000/v1\) and --model \('stub': the name the server serves "
        r"the model under\)",
    ),
    (
        {"mode": "error-json", "error_status": 401},
        r"answered HTTP 401 \(The model `stub` does not exist\.\); "
        r"check --api-key \(or \$OPENAI_API_KEY\)",
    ),
    (
        {"mode": "error-message", "error_status": 400},
        r"answered HTTP 400 \(max_tokens must be at least 1\); "
        r"check --model \('stub'\) and the generation settings the "
        r"server refused",
    ),
    (
        {"mode": "error-detail", "error_status": 422},
        r"answered HTTP 422 \(Invalid token\); check --model \('stub'\) and the "
        r"generation settings the server refused",
    ),
    (
        {"mode": "error-text", "error_status": 400},
        r"answered HTTP 400 \(Bad Request something went wrong\); "
        r"check --model \('stub'\) and the generation settings the "
        r"server refused",
    ),
    ({"mode": "http-501"}, r"answered HTTP 501 \(stub: HTTP 501\); check the server"),
    (
        {"mode": "redirect-307"},
        r"answered HTTP 307, a redirect to http://127\.0\.0\.1:9/v1/completions, which is "
        r"not followed; pass the server's real address with --base-url",
    ),
]


@pytest.mark.parametrize(
    ("options", "what"), MALFORMED_HTTP, ids=["-".join(str(v) for v in o.values()) for o, _ in MALFORMED_HTTP]
)
def test_a_malformed_http_answer_is_one_line_and_not_retried(
    options: dict[str, Any], what: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="generate.backends.openai_compat")
    with StubServer(**options) as server:
        error = fail_with(server, prompts=PROMPTS[:1])
        n_requests = len(server.state.requests)
    assert re.fullmatch(re.escape(f"the server at {server.url}/completions ") + what, str(error)), str(error)
    assert n_requests == 1  # not retried
    assert "retrying" not in caplog.text  # nor waited for


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_a_redirect_is_not_followed(code: int) -> None:
    with (
        StubServer() as elsewhere,
        StubServer(mode=f"redirect-{code}", redirect_to=elsewhere.url + "/completions") as server,
    ):
        error = fail_with(server, prompts=PROMPTS[:1])
        assert elsewhere.state.requests == []  # the POST was not sent on (nor turned into a GET)
    assert str(error) == (
        f"the server at {server.url}/completions answered HTTP {code}, a redirect to {elsewhere.url}/completions, "
        f"which is not followed; pass the server's real address with --base-url"
    )


TRANSIENT = [  # (stub mode, what the message says, the fix)
    ("http-500", r"answered HTTP 500 \(stub: HTTP 500\)", "check the server (its log says why) or retry later"),
    ("http-429", r"answered HTTP 429 \(stub: HTTP 429\)", "check the server (its log says why) or retry later"),
    ("http-503", r"answered HTTP 503 \(stub: HTTP 503\)", "check the server (its log says why) or retry later"),
    ("reset", r"closed the connection without answering", "check that the server at --base-url is up and stays up"),
    (
        "truncated",
        r"closed the connection in the middle of its answer \(after \d+ of \d+ bytes\)",
        "check that the server at --base-url is up and stays up",
    ),
    (
        "chunked-cut",
        r"closed the connection in the middle of its answer \(after [1-9]\d* bytes\)",
        "check that the server at --base-url is up and stays up",
    ),
    ("slow", r"did not answer within 0\.3 s", "raise --timeout (now 0.3 s) or check the server"),
    ("trickle", r"did not finish its answer within 0\.3 s", "raise --timeout (now 0.3 s) or check the server"),
]


@pytest.mark.parametrize(("mode", "what", "fix"), TRANSIENT, ids=[m for m, _, _ in TRANSIENT])
def test_transient_failures_are_retried_then_given_up(mode: str, what: str, fix: str) -> None:
    with StubServer(fail_first=100, fail_mode=mode, delay=1.2) as server:
        error = fail_with(server, prompts=PROMPTS[:1], timeout=0.3)
        n_requests = len(server.state.requests)
    assert re.fullmatch(
        re.escape(f"the server at {server.url}/completions ") + what + re.escape(f" (gave up after 3 tries); {fix}"),
        str(error),
    ), str(error)
    assert n_requests == 3  # retries=2: three tries


@pytest.mark.parametrize("mode", [m for m, _, _ in TRANSIENT])
def test_transient_failures_recover(mode: str) -> None:
    with StubServer(fail_first=1, fail_mode=mode, delay=1.2) as server:
        backend = OpenAIBackend("stub", base_url=server.url, retries=2, backoff=0.01, timeout=0.3)
        try:
            [answer] = backend.generate(PROMPTS[:1], GenerationParams(max_new_tokens=4))
        finally:
            backend.close()
        n_requests = len(server.state.requests)
    assert answer.text == stub_answer(PROMPTS[0]) and answer.n_new_tokens == 4
    assert n_requests == 2


def test_one_failure_stops_the_batch_retrying() -> None:
    """A bad answer fails the batch at once: the other prompts' retries (503s, an hour apart here)
    stop waiting instead of running out first. The batch runs in a thread: had the failure not cut
    the waits short, it would still be waiting an hour later; the join below only guards against
    that hang, it is no measure of speed."""

    def pick(path: str, body: dict[str, Any]) -> str:
        return "no-choices" if only_the_third(path, body) else "http-503"

    outcome: dict[str, BaseException] = {}

    def batch(url: str) -> None:
        backend = OpenAIBackend("stub", base_url=url, retries=5, backoff=3600.0, concurrency=3)
        try:
            backend.generate(PROMPTS, GenerationParams(max_new_tokens=4))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc
        finally:
            backend.close()

    with StubServer(pick_mode=pick) as server:
        worker = threading.Thread(target=batch, args=(server.url,), daemon=True)
        worker.start()
        worker.join(timeout=600)
        assert not worker.is_alive(), "the batch kept waiting on its retries after one answer failed"
        time.sleep(0.3)
        n_requests = len(server.state.requests)
    error = outcome.get("error")
    assert isinstance(error, SemspaceError), error
    assert "response 3 of 3 in the batch has no choices" in str(error)
    assert n_requests == 3  # no retry was sent after the failure


TOLERATED = [  # (stub mode, max_new_tokens, the n_new_tokens and finish_reason stored)
    ("no-usage", 4, None, "stop"),
    ("usage-null", 4, None, "stop"),
    ("usage-no-completion-tokens", 4, None, "stop"),
    ("usage-whole-float", 4, 4, "stop"),
    ("finish-null", 4, 4, "length"),  # inferred: the 4 tokens reached the budget of 4
    ("finish-missing", 16, 4, "stop"),  # 4 of 16: the model stopped
    ("finish-eos-token", 4, 4, "stop"),  # TGI's word
    ("finish-content-filter", 4, 4, "content_filter"),  # kept as the server's own word
]


@pytest.mark.parametrize(("mode", "budget", "n_new", "reason"), TOLERATED, ids=[m for m, *_ in TOLERATED])
def test_tolerated_answers(mode: str, budget: int, n_new: int | None, reason: str) -> None:
    """No ``usage``: the token count is only recorded, so it is stored as null; no finish_reason:
    inferred from the count and the budget."""
    with StubServer(mode=mode) as server:
        backend = OpenAIBackend("stub", base_url=server.url, concurrency=2)
        try:
            answers = backend.generate(PROMPTS, GenerationParams(max_new_tokens=budget))
        finally:
            backend.close()
    assert [a.text for a in answers] == [stub_answer(p) for p in PROMPTS]
    assert {(a.n_new_tokens, a.finish_reason, a.max_new_tokens) for a in answers} == {(n_new, reason, budget)}


def test_a_missing_usage_is_stored_as_null_through_the_cli(good_warehouse: Path, capsys) -> None:
    with StubServer(mode="no-usage") as server:
        code = cli.main(
            [
                "run",
                "--backend",
                "openai",
                "--base-url",
                server.url,
                "--model",
                "stub",
                "--dataset",
                "alpha",
                "--rounds",
                "1",
                "--max-new-tokens",
                "8",
                "--no-tokens",
                "--db",
                str(good_warehouse),
            ]
        )
    out = capsys.readouterr()
    assert code == 0, out.err
    rows = stored(good_warehouse)
    assert len(rows) == 6 and {(n, reason) for *_, n, reason in rows} == {(None, "stop")}


def test_connection_refused_during_a_run() -> None:
    """The server went away after the probe: retried, then one line with the fix."""
    port = free_port()
    backend = OpenAIBackend("stub", base_url=f"http://127.0.0.1:{port}", retries=1, backoff=0.01, probe=False)
    try:
        with pytest.raises(SemspaceError) as info:
            backend.generate(PROMPTS[:1], GenerationParams(max_new_tokens=4))
    finally:
        backend.close()
    assert re.fullmatch(
        re.escape(f"cannot reach http://127.0.0.1:{port}/v1/completions: ")
        + r"\[Errno 111\] Connection refused"
        + re.escape(" (gave up after 2 tries); check that the server at --base-url is up and stays up"),
        str(info.value),
    ), str(info.value)


def test_a_probe_that_times_out() -> None:
    with StubServer(probe_mode="slow", delay=1.0) as server:
        with pytest.raises(SemspaceError) as info:
            OpenAIBackend("stub", base_url=server.url, timeout=0.3)
    assert str(info.value) == (
        f"the server at {server.url}/models did not answer within 0.3 s; check the server (is it up and not "
        f"stuck?) or raise --timeout"
    )


@pytest.mark.parametrize("mode", ["bad-status-line", "html", "error-json", "non-utf8", "http-501"])
def test_a_malformed_probe_answer_counts_as_reachable(mode: str) -> None:
    """Any HTTP answer to ``GET /models`` means the server is there; the requests then say what is wrong."""
    with StubServer(probe_mode=mode) as server:
        backend = OpenAIBackend("stub", base_url=server.url)
        try:
            [answer] = backend.generate(PROMPTS[:1], GenerationParams(max_new_tokens=4))
        finally:
            backend.close()
    assert answer.text == stub_answer(PROMPTS[0])


def test_an_api_key_with_a_trailing_newline_is_sent_stripped() -> None:
    with StubServer() as server:
        backend = OpenAIBackend("stub", base_url=server.url, api_key="sk-test\n")
        try:
            [answer] = backend.generate(PROMPTS[:1], GenerationParams(max_new_tokens=4))
        finally:
            backend.close()
    assert answer.text == stub_answer(PROMPTS[0])
    assert server.state.headers[-1]["Authorization"] == "Bearer sk-test"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"base_url": "localhost:8000/v1"},
            "--base-url 'localhost:8000/v1' is not an http:// or https:// address; "
            "pass the server's API root, e.g. http://localhost:8000/v1",
        ),
        ({"base_url": "ftp://h/v1"}, "--base-url 'ftp://h/v1' is not an http:// or https:// address"),
        ({"base_url": "http://h:80a/v1"}, "--base-url 'http://h:80a/v1' is not an http:// or https:// address"),
        ({"base_url": "http://:8000/v1"}, "--base-url 'http://:8000/v1' is not an http:// or https:// address"),
        ({"api_key": "sk-1\nsk-2"}, "the API key (--api-key or $OPENAI_API_KEY) contains a line break"),
        ({"timeout": 0}, "--timeout must be more than 0 seconds, not 0"),
        ({"timeout": -1.0}, "--timeout must be more than 0 seconds, not -1.0"),
        ({"retries": -1}, "--retries must be ≥ 0, not -1"),
        ({"concurrency": 0}, "--concurrency must be at least 1, not 0"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SemspaceError, match=re.escape(message)):
        OpenAIBackend("stub", probe=False, **options)


# -- through the command line: exit 1, one line, nothing written ----------------------------------

CLI_CASES = [  # (stub options, extra flags, the message after "generate: error: the server at URL/completions")
    ({"mode": "bad-status-line"}, [], " did not answer HTTP (BadStatusLine: SSH-2.0-OpenSSH_9.6)"),
    ({"mode": "truncated"}, ["--retries", "1"], " closed the connection in the middle of its answer"),
    ({"mode": "non-utf8"}, [], " answered a body that is not UTF-8 text"),
    ({"mode": "truncated-json"}, [], " answered JSON that is cut off"),
    ({"mode": "html"}, [], " answered HTML, not JSON"),
    ({"mode": "not-object"}, [], ": response 1 of 4 in the batch is an array"),
    ({"mode": "no-choices"}, [], ": response 1 of 4 in the batch has no choices"),
    ({"mode": "text-null"}, [], ": response 1 of 4 in the batch has choices[0].text null, not a string"),
    ({"mode": "finish-unknown"}, [], ': response 1 of 4 in the batch has finish_reason "banana"'),
    ({"mode": "usage-string"}, [], ': response 1 of 4 in the batch has usage.completion_tokens a string ("4")'),
    ({"mode": "usage-negative"}, [], ": response 1 of 4 in the batch has usage.completion_tokens -3, not ≥ 0"),
    ({"mode": "error-json"}, [], " answered HTTP 404 (The model `stub` does not exist.); check --base-url"),
    ({"mode": "redirect-307"}, [], " answered HTTP 307, a redirect to http://127.0.0.1:9/v1/completions"),
    ({"mode": "huge"}, [], " answered more than 8 MiB, which is no completion"),
    (
        {"mode": "slow", "delay": 1.0},
        ["--timeout", "0.3", "--retries", "1"],
        " did not answer within 0.3 s (gave up after 2 tries); raise --timeout (now 0.3 s) or check the server",
    ),
]


@pytest.mark.parametrize(
    ("options", "flags", "message"), CLI_CASES, ids=["-".join(str(v) for v in o.values()) for o, _, _ in CLI_CASES]
)
def test_a_malformed_server_through_the_cli(
    good_warehouse: Path,
    good_rows,
    raw_snapshot,
    capsys,
    options: dict[str, Any],
    flags: list[str],
    message: str,
) -> None:
    with StubServer(**options) as server:
        code = cli.main(
            [
                "run",
                "--backend",
                "openai",
                "--base-url",
                server.url,
                "--model",
                "stub",
                "--dataset",
                "alpha",
                "--batch-size",
                "4",
                "--concurrency",
                "1",
                "--max-new-tokens",
                "8",
                "--db",
                str(good_warehouse),
                *flags,
            ]
        )
    captured = capsys.readouterr()
    err = captured.err
    assert code == 1, captured
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"generate: error: the server at {server.url}/completions{message}"), err
    assert raw_snapshot(good_warehouse) == good_rows  # raw.associations (and every raw table) unchanged


def test_a_failed_batch_stores_nothing_of_it(good_warehouse: Path, capsys) -> None:
    """Batch 1 of round 1 (4 captions) is stored; batch 2 fails on its second prompt, so neither of its
    two generations is, though the first one succeeded."""
    with StubServer(mode="no-choices", mode_when=lambda path, body: stub_prompt(body).endswith("Rain.")) as server:
        code = cli.main(
            [
                "run",
                "--backend",
                "openai",
                "--base-url",
                server.url,
                "--model",
                "stub",
                "--dataset",
                "alpha",
                "--rounds",
                "2",
                "--batch-size",
                "4",
                "--concurrency",
                "2",
                "--max-new-tokens",
                "8",
                "--no-tokens",
                "--db",
                str(good_warehouse),
            ]
        )
        prompts = [stub_prompt(b) for _, b in server.state.requests]
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1, err
    assert err == (
        f"generate: error: the server at {server.url}/completions: response 2 of 2 in the batch has no choices; "
        f"check that --base-url points to an OpenAI-compatible server and that it serves --model 'stub'\n"
    )
    assert NOTE + "Cows in a field." in prompts  # answered, but its batch failed
    rows = stored(good_warehouse)
    assert sorted(inp for _, _, _, inp, *_ in rows) == [
        "A boy holds an umbrella.",
        "A man rides a bike.",
        "A person on a bicycle.",
        "A woman cuts a cake.",
    ]
    assert {rnd for _, _, rnd, *_ in rows} == {1}
