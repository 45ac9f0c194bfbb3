"""Helpers for the `generate` tests and benchmarks: a tiny random Falcon saved like a real model, a
fake backend whose answers are a function of the prompt, and a local OpenAI-compatible HTTP server."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from generate.backends import Generation, GenerationParams

REPO_ROOT = Path(__file__).resolve().parent.parent
FALCON_DIR = REPO_ROOT.parent / "shared" / "data" / "falcon-7b-instruct"
"""The real falcon-7b-instruct config and tokenizer (no weights)."""


def build_tiny_falcon(target: Path, *, seed: int = 0, hidden_size: int = 64, layers: int = 2, heads: int = 4) -> Path:
    """A randomly initialised ``FalconForCausalLM`` from falcon-7b-instruct's config.json with small
    sizes (its vocabulary of 65,024 kept) and the real tokenizer, saved with ``save_pretrained``:
    ``from_pretrained(target)`` then takes the real loading path."""
    import torch
    from transformers import AutoTokenizer, FalconConfig, FalconForCausalLM

    config = FalconConfig.from_pretrained(FALCON_DIR)
    config.hidden_size = hidden_size
    config.num_hidden_layers = layers
    config.num_attention_heads = heads
    torch.manual_seed(seed)
    model = FalconForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(FALCON_DIR).save_pretrained(target)
    return target


def shared_tiny_falcon(tmp_path_factory: Any) -> Path:
    """The tiny Falcon, built once per pytest session under its base temp folder (the test modules
    that use it share the one copy: ``tmp_path_factory`` is pytest's session-wide factory)."""
    target = Path(tmp_path_factory.getbasetemp()) / "generate-tiny-falcon"
    if not (target / "model.safetensors").exists():
        partial = Path(tmp_path_factory.mktemp("tiny-falcon-build"))
        build_tiny_falcon(partial / "model")
        (partial / "model").rename(target)
    return target


def fake_answer(prompt: str) -> str:
    """The fake backend's answer: a pure function of the prompt (so order and batching don't matter)."""
    return f" Assoc {hashlib.sha1(prompt.encode()).hexdigest()[:6]}."


@dataclass
class FakeBackend:
    """Answers every prompt with :func:`fake_answer`; records each call; ``interrupt_after`` raises
    KeyboardInterrupt at that call (1-based), as Ctrl-C would in the middle of a batch."""

    name: str = "fake"
    model_source: str = "fake"
    chat: bool = False
    tokenizer: Any = None
    interrupt_after: int | None = None
    calls: list[tuple[list[str], GenerationParams]] = field(default_factory=list)
    closed: bool = False

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[Generation]:
        if self.interrupt_after is not None and len(self.calls) + 1 >= self.interrupt_after:
            raise KeyboardInterrupt
        self.calls.append((list(prompts), params))
        return [
            Generation(text=fake_answer(p), n_new_tokens=3, finish_reason="stop", max_new_tokens=params.budget(None))
            for p in prompts
        ]

    def close(self) -> None:
        self.closed = True


@dataclass
class StubState:
    """What the stub server does, and what it saw. ``mode`` (and ``fail_mode`` for the first
    ``fail_first`` POSTs; ``probe_mode`` for ``GET /v1/models``) is one of :data:`STUB_MODES`."""

    fail_first: int = 0
    """Answer this many POSTs with ``fail_mode`` (default: HTTP 500) before answering properly."""
    fail_mode: str = "http-500"
    mode: str = "ok"
    """What every other POST gets (or only those ``mode_when(path, body)`` picks)."""
    mode_when: Callable[[str, dict[str, Any]], bool] | None = None
    pick_mode: Callable[[str, dict[str, Any]], str] | None = None
    """The mode of each POST from its path and body (instead of ``mode`` and ``mode_when``)."""
    probe_mode: str = "ok"
    delay: float = 1.0
    """Seconds a ``slow`` server waits before answering; a ``trickle`` one sends its body over this time."""
    redirect_to: str = "http://127.0.0.1:9/v1/completions"
    error_status: int = 404
    """The status of the ``error-*`` modes."""
    huge_bytes: int = 9 * 2**20
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    """The headers of each POST, in the order of ``requests``."""
    failures_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def stub_answer(prompt: str) -> str:
    return f" Stub {hashlib.sha1(prompt.encode()).hexdigest()[:6]}."


def stub_prompt(body: dict[str, Any]) -> str:
    """The prompt of a request body (completions or chat)."""
    return body["prompt"] if "prompt" in body else body["messages"][-1]["content"]


def _mutate(field_path: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    """An answer mutator setting (or, with ``...``, deleting) a dotted path; ``choice`` is choices[0],
    ``content`` its text (completions) or message.content (chat)."""

    def apply(answer: dict[str, Any]) -> Any:
        choice = answer["choices"][0]
        target: Any
        if field_path == "content":
            target, key = (choice["message"], "content") if "message" in choice else (choice, "text")
        elif field_path.startswith("choice."):
            target, key = choice, field_path.split(".", 1)[1]
        elif field_path.startswith("usage."):
            target, key = answer["usage"], field_path.split(".", 1)[1]
        else:
            target, key = answer, field_path
        if value is ...:
            target.pop(key, None)
        else:
            target[key] = value
        return answer

    return apply


ANSWER_MODES: dict[str, Callable[[dict[str, Any]], Any]] = {
    "no-usage": _mutate("usage", ...),
    "usage-null": _mutate("usage", None),
    "usage-not-object": _mutate("usage", [4]),
    "usage-no-completion-tokens": _mutate("usage.completion_tokens", ...),
    "usage-string": _mutate("usage.completion_tokens", "4"),
    "usage-negative": _mutate("usage.completion_tokens", -3),
    "usage-fraction": _mutate("usage.completion_tokens", 2.5),
    "usage-whole-float": _mutate("usage.completion_tokens", 4.0),
    "not-object": lambda answer: [answer],
    "json-string": lambda answer: "ok",
    "no-choices": _mutate("choices", ...),
    "empty-choices": _mutate("choices", []),
    "choices-not-list": lambda answer: {**answer, "choices": answer["choices"][0]},
    "choice-not-object": _mutate("choices", ["a text"]),
    "no-text": _mutate("content", ...),
    "text-null": _mutate("content", None),
    "text-number": _mutate("content", 42),
    "text-list": _mutate("content", [{"type": "text", "text": "hi"}]),
    "no-message": _mutate("choice.message", ...),
    "finish-unknown": _mutate("choice.finish_reason", "banana"),
    "finish-number": _mutate("choice.finish_reason", 1),
    "finish-null": _mutate("choice.finish_reason", None),
    "finish-missing": _mutate("choice.finish_reason", ...),
    "finish-eos-token": _mutate("choice.finish_reason", "eos_token"),
    "finish-content-filter": _mutate("choice.finish_reason", "content_filter"),
    "error-200": lambda answer: {"error": {"message": "stub: the model is overloaded", "code": 503}},
}
"""Modes that answer 200 with JSON: the proper answer, changed."""

TRANSPORT_MODES = (
    "ok",
    "http-500",
    "http-429",
    "http-503",
    "http-501",
    "bad-status-line",
    "reset",
    "truncated",
    "chunked-cut",
    "truncated-json",
    "non-utf8",
    "html",
    "empty-body",
    "redirect-301",
    "redirect-302",
    "redirect-307",
    "redirect-308",
    "error-json",
    "error-text",
    "error-detail",
    "error-message",
    "huge",
    "huge-chunked",
    "slow",
    "trickle",
)
STUB_MODES = TRANSPORT_MODES + tuple(ANSWER_MODES)


class _Handler(BaseHTTPRequestHandler):
    state: StubState

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunked(self, parts: Any, cut: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in parts:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        if not cut:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True

    def _behave(self, mode: str, answer: Any) -> None:
        """Answer in ``mode``; ``answer`` is the proper answer (None: this path has no route)."""
        state = self.state
        if answer is None:
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        if mode in ANSWER_MODES:
            if "choices" in answer:  # (the probe's answer has none: it is sent as it is)
                answer = ANSWER_MODES[mode](answer)
            mode = "ok"
        data = json.dumps(answer).encode()
        if mode == "ok":
            self._send(200, data)
        elif mode.startswith("http-"):
            status = int(mode.split("-")[1])
            self._send(status, {"error": {"message": f"stub: HTTP {status}", "type": "server_error"}})
        elif mode == "bad-status-line":
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            self.close_connection = True
        elif mode == "reset":
            self.close_connection = True  # no answer at all
        elif mode == "truncated":  # Content-Length says more than comes
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data) + 100))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            self.close_connection = True
        elif mode == "chunked-cut":
            self._chunked([data[: len(data) // 2]], cut=True)
        elif mode == "truncated-json":
            self._send(200, data[: len(data) // 2])
        elif mode == "non-utf8":
            self._send(200, data.replace(b"Stub", b"St\xe9b\xff", 1) if b"Stub" in data else data + b"\xff")
        elif mode == "html":
            self._send(
                200,
                b"<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n"
                b"<body><h1>Welcome to nginx!</h1></body></html>\n",
                "text/html; charset=utf-8",
            )
        elif mode == "empty-body":
            self._send(200, b"")
        elif mode.startswith("redirect-"):
            self.send_response(int(mode.split("-")[1]))
            self.send_header("Location", state.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif mode == "error-json":
            self._send(
                state.error_status,
                {
                    "error": {
                        "message": "The model `stub` does not exist.",
                        "type": "NotFoundError",
                        "code": state.error_status,
                    }
                },
            )
        elif mode == "error-message":  # vLLM's older ErrorResponse
            self._send(
                state.error_status,
                {
                    "object": "error",
                    "message": "max_tokens must be at least 1",
                    "type": "BadRequestError",
                    "code": state.error_status,
                },
            )
        elif mode == "error-detail":  # FastAPI's validation error
            self._send(state.error_status, {"detail": "Invalid token"})
        elif mode == "error-text":
            self._send(state.error_status, b"Bad Request\n\nsomething\twent wrong\n", "text/plain")
        elif mode == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(state.huge_bytes))
            self.end_headers()
            self._pad(state.huge_bytes)
        elif mode == "huge-chunked":
            block = b" " * 2**16
            self._chunked(block for _ in range(state.huge_bytes // len(block) + 1))
        elif mode == "slow":
            time.sleep(state.delay)
            self._send(200, data)
        elif mode == "trickle":  # headers at once, then the body a few bytes at a time over `delay` s
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            step = max(1, len(data) // 20)
            for i in range(0, len(data), step):
                self.wfile.write(data[i : i + step])
                self.wfile.flush()
                time.sleep(state.delay / 20)
        else:
            raise ValueError(f"unknown stub mode {mode!r}")

    def _pad(self, n_bytes: int) -> None:
        block = b" " * 2**16
        while n_bytes > 0:
            self.wfile.write(block[:n_bytes])
            n_bytes -= len(block)

    def _guarded(self, mode: str, answer: Any) -> None:
        try:
            self._behave(mode, answer)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up first: fine
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802
        answer = {"object": "list", "data": [{"id": "stub", "object": "model"}]} if self.path == "/v1/models" else None
        self._guarded(self.state.probe_mode, answer)

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        state = self.state
        with state.lock:
            state.requests.append((self.path, body))
            state.headers.append(dict(self.headers.items()))
            fail = state.failures_sent < state.fail_first
            if fail:
                state.failures_sent += 1
        if self.path == "/v1/completions":
            text = stub_answer(body["prompt"])
            choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "stop"}
        elif self.path == "/v1/chat/completions":
            text = stub_answer(body["messages"][-1]["content"]).lstrip()
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        else:
            self._guarded("ok", None)
            return
        answer = {"choices": [choice], "usage": {"completion_tokens": 4, "prompt_tokens": 10}}
        if fail:
            mode = state.fail_mode
        elif state.pick_mode is not None:
            mode = state.pick_mode(self.path, body)
        elif state.mode_when is None or state.mode_when(self.path, body):
            mode = state.mode
        else:
            mode = "ok"
        self._guarded(mode, answer)


class _StubHTTPServer(ThreadingHTTPServer):
    request_queue_size = 64  # (the default 5 drops the SYNs of a burst of requests: 1 s retransmits)


class StubServer:
    """An OpenAI-compatible server on 127.0.0.1 (a free port) in a thread: ``with StubServer() as s``.
    Keyword arguments set :class:`StubState` (``mode="html"``, ``fail_first=2`` ...)."""

    def __init__(self, fail_first: int = 0, **behaviour: Any) -> None:
        self.state = StubState(fail_first=fail_first, **behaviour)
        for mode in (self.state.mode, self.state.fail_mode, self.state.probe_mode):
            if mode not in STUB_MODES:
                raise ValueError(f"unknown stub mode {mode!r}: one of {', '.join(STUB_MODES)}")
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = _StubHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> StubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def free_port() -> int:
    """A loopback port with nothing listening (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fake_chain(
    caption: str, rounds: int, said: str = " {word} makes me think of scene {r} and memory{m}"
) -> list[tuple[str, str, str]]:
    """(input, generated, output) of each round of a made-up chain, as `python -m generate` stores
    them: each round's output is its input plus the new text (``said`` with the input's first word
    lowercased, the round r and r % 3 as m), so the last output holds the caption and every association."""
    rows, text = [], caption
    for r in range(1, rounds + 1):
        generated = said.format(word=text.split()[0].lower(), r=r, m=r % 3)
        rows.append((text, generated, text + generated))
        text = text + generated
    return rows
