"""The ``openai`` backend: any OpenAI-compatible HTTP server (vLLM, llama.cpp, TGI, Ollama, OpenAI).

``/v1/completions`` with the raw prompt (the note's way: the model continues the text), or with
``chat=True`` ``/v1/chat/completions`` with the prompt as the user message. Standard library only
(``urllib``); one request per prompt, ``concurrency`` of them at a time from a thread pool; a 5xx
answer, a 429 or a broken connection is retried with exponential backoff, other answers fail at once.

Seeds: prompt ``i`` of a batch is sent with ``seed = (params.seed + i) mod 2**31``; servers that
honour ``seed`` (vLLM does, per request) then give the same text for the same prompt and seed
whatever the batching. ``top_k`` is sent as the extra field that vLLM and llama.cpp accept.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from generate.backends.base import Generation, GenerationParams, Tokenizer
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://localhost:8000/v1"
RETRY_STATUS = {429, 500, 502, 503, 504}


class _Retryable(Exception):
    """A failure worth another try (5xx, 429, connection trouble); ``status`` is the HTTP status, if any."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def api_root(base_url: str) -> str:
    """``http://host:8000`` and ``http://host:8000/v1`` both mean ``http://host:8000/v1``."""
    root = base_url.rstrip("/")
    return root if root.endswith("/v1") else root + "/v1"


class OpenAIBackend:
    """Requests to ``{base_url}/completions`` (or ``/chat/completions`` with ``chat``)."""

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        chat: bool = False,
        api_key: str | None = None,
        concurrency: int = 8,
        retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 120.0,
        tokenizer: Tokenizer | None = None,
        probe: bool = True,
    ) -> None:
        if concurrency < 1:
            raise SemspaceError(f"--concurrency must be at least 1, not {concurrency}")
        if retries < 0:
            raise SemspaceError(f"--retries must be ≥ 0, not {retries}")
        self.model = model
        self.root = api_root(base_url)
        self.chat = chat
        self.api_key = api_key
        self.concurrency = concurrency
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.tokenizer = tokenizer
        self.model_source = f"{self.root} ({model})"
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="generate-http")
        if probe:
            self._probe()

    # -- HTTP ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.root + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            if exc.code in RETRY_STATUS:
                raise _Retryable(f"HTTP {exc.code} from {self.root + path}: {detail}", exc.code) from exc
            raise SemspaceError(f"the server at {self.root + path} answered HTTP {exc.code}: {' '.join(detail.split())}") from exc
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Retryable(f"cannot reach {self.root + path}: {reason}") from exc
        except json.JSONDecodeError as exc:
            raise SemspaceError(f"the server at {self.root + path} did not answer JSON: {exc}") from exc

    def _probe(self) -> None:
        """One quick ``GET /models``: a server that is not there fails now, before anything is written.
        Any HTTP answer (even 404, from servers without that route) counts as reachable."""
        try:
            self._request("GET", "/models", timeout=min(self.timeout, 10.0))
        except _Retryable as exc:
            if exc.status is not None:
                return  # the server is there, only busy
            raise SemspaceError(
                f"{exc}; start an OpenAI-compatible server there (e.g. `vllm serve {self.model}`) "
                f"or pass its address with --base-url"
            ) from None
        except SemspaceError:
            return

    def _with_retries(self, body: dict[str, Any], path: str) -> Any:
        for attempt in range(self.retries + 1):
            try:
                return self._request("POST", path, body)
            except _Retryable as exc:
                if attempt == self.retries:
                    raise SemspaceError(f"{exc} (gave up after {self.retries + 1} tries)") from None
                delay = self.backoff * (2**attempt)
                log.warning("%s; retrying in %.1f s", exc, delay)
                time.sleep(delay)
        raise AssertionError("unreachable")

    # -- generation ---------------------------------------------------------------------------
    def _budget(self, prompt: str, params: GenerationParams) -> int:
        n_prompt = None
        if params.max_new_tokens is None and self.tokenizer is not None:
            n_prompt = len(self.tokenizer([prompt], add_special_tokens=False)["input_ids"][0])
        return params.budget(n_prompt)

    def _one(self, index: int, prompt: str, params: GenerationParams) -> Generation:
        budget = self._budget(prompt, params)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": budget,
            "temperature": params.temperature if params.sampling else 0.0,
            "top_p": params.top_p if params.sampling else 1.0,
            "seed": (params.seed + index) % 2**31,
            "n": 1,
        }
        if params.sampling and params.top_k:
            body["top_k"] = params.top_k
        if self.chat:
            body["messages"] = [{"role": "user", "content": prompt}]
            answer = self._with_retries(body, "/chat/completions")
        else:
            body["prompt"] = prompt
            answer = self._with_retries(body, "/completions")
        try:
            choice = answer["choices"][0]
            text = choice["message"]["content"] if self.chat else choice["text"]
        except (KeyError, IndexError, TypeError) as exc:
            raise SemspaceError(f"the server at {self.root} answered without choices[0] text: {str(answer)[:200]}") from exc
        usage = answer.get("usage") or {}
        n_new = usage.get("completion_tokens")
        reason = choice.get("finish_reason") or "stop"
        return Generation(
            text=text or "", n_new_tokens=int(n_new) if n_new is not None else None,
            finish_reason=str(reason), max_new_tokens=budget,
        )

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[Generation]:
        futures = [self._pool.submit(self._one, i, p, params) for i, p in enumerate(prompts)]
        try:
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
