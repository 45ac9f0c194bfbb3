"""Helpers for the `generate` tests and benchmarks: a tiny random Falcon saved like a real model, a
fake backend whose answers are a function of the prompt, and a local OpenAI-compatible HTTP server."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
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
    fail_first: int = 0
    """Answer this many POSTs with HTTP 500 before answering properly."""
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failures_sent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def stub_answer(prompt: str) -> str:
    return f" Stub {hashlib.sha1(prompt.encode()).hexdigest()[:6]}."


class _Handler(BaseHTTPRequestHandler):
    state: StubState

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "stub", "object": "model"}]})
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        state = self.state
        with state.lock:
            state.requests.append((self.path, body))
            fail = state.failures_sent < state.fail_first
            if fail:
                state.failures_sent += 1
        if fail:
            self._send(500, {"error": {"message": "stub: temporary failure"}})
            return
        if self.path == "/v1/completions":
            text = stub_answer(body["prompt"])
            choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "stop"}
        elif self.path == "/v1/chat/completions":
            text = stub_answer(body["messages"][-1]["content"]).lstrip()
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        else:
            self._send(404, {"error": {"message": f"no route {self.path}"}})
            return
        self._send(200, {"choices": [choice], "usage": {"completion_tokens": 4, "prompt_tokens": 10}})


class StubServer:
    """An OpenAI-compatible server on 127.0.0.1 (a free port) in a thread: ``with StubServer() as s``."""

    def __init__(self, fail_first: int = 0) -> None:
        self.state = StubState(fail_first=fail_first)
        handler = type("Handler", (_Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

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


def fake_chain(caption: str, rounds: int, said: str = " {word} makes me think of scene {r} and memory{m}"
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
