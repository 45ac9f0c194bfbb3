"""The ``openai`` backend: any OpenAI-compatible HTTP server (vLLM, llama.cpp, TGI, Ollama, OpenAI).

``/v1/completions`` with the raw prompt (the note's way: the model continues the text), or with
``chat=True`` ``/v1/chat/completions`` with the prompt as the user message. Standard library only
(``urllib``); one request per prompt, ``concurrency`` of them at a time from a thread pool.

Seeds: prompt ``i`` of a batch is sent with ``seed = (params.seed + i) mod 2**31``; servers that
honour ``seed`` (vLLM does, per request) then give the same text for the same prompt and seed
whatever the batching. ``top_k`` is sent as the extra field that vLLM and llama.cpp accept.

Failures. Every way a server can go wrong ends in one :class:`~semspace.errors.SemspaceError` whose
one-line message names the URL, what was wrong and the fix; the chain stores a batch only after all
its answers have arrived, so a failed batch writes nothing.

- Retried with exponential backoff (``retries`` more tries, ``backoff * 2**attempt`` s apart), then
  given up: what is transient — HTTP 429 and 5xx (except 501 and 505), a refused or reset
  connection, a connection closed before or in the middle of the answer (a body shorter than its
  ``Content-Length``, a chunked body cut off), and a timeout.
- At once, never retried: any other HTTP status (a 4xx shows the server's own message, from its
  JSON error body where it has one); a redirect (not followed: a POST cannot be redirected safely;
  the message names the new address for ``--base-url``); a reply that is not HTTP (bad status line);
  a body over :data:`MAX_BODY_BYTES` (never read past the cap); a body that is not UTF-8, not JSON
  (an HTML page, a truncated JSON text) or JSON but not an object; ``choices`` missing, empty or not
  a list; ``choices[0].text`` (chat: ``choices[0].message.content``) missing, null or not a string;
  a ``finish_reason`` that is neither missing/null nor a known word; ``usage`` that is not an object
  and ``usage.completion_tokens`` that is not a whole number ≥ 0.
- The first failure of a batch ends it: the batch's other requests stop retrying.
- ``timeout`` bounds each wait on the socket (connect, the status line, each read) and the reading
  of the whole body: a server that trickles its answer slower than that times out as well.

Tolerated. A missing (or null) ``usage`` or ``usage.completion_tokens``: the token count is only
recorded, never needed (the budget comes from the request, the tokens table from the tokenizer), so
the row's ``n_new_tokens`` is null. A missing or null ``finish_reason`` is inferred: ``length`` when
the reported token count reached the budget, else ``stop``. Known finish reasons: ``stop`` and
``length``; TGI's ``eos_token`` and ``stop_sequence`` (and ``eos``) are stored as ``stop``;
``content_filter`` is kept as the server's own word.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from generate.backends.base import FINISH_LENGTH, FINISH_STOP, Generation, GenerationParams, Tokenizer
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://localhost:8000/v1"
RETRY_STATUS = {429} | {code for code in range(500, 600) if code not in (501, 505)}
"""HTTP statuses worth another try: too many requests, and server errors other than "not
implemented" and "HTTP version not supported" (which the next try would get again)."""
MAX_BODY_BYTES = 8 * 2**20
"""The most of an answer that is read: one completion is a few kilobytes; more is not an answer."""
MAX_ERROR_BYTES = 64 * 2**10
"""The most of an error answer that is read for its message."""
FINISH_REASONS = {
    "stop": FINISH_STOP,
    "length": FINISH_LENGTH,
    "eos": FINISH_STOP,
    "eos_token": FINISH_STOP,
    "stop_sequence": FINISH_STOP,
    "content_filter": "content_filter",
}
"""A server's ``finish_reason`` → the word stored."""
FIX_API = "check that --base-url points to an OpenAI-compatible API (e.g. http://host:8000/v1)"


class _Retryable(Exception):
    """A failure worth another try; ``status`` is the HTTP status, if any; ``kind`` is ``status``,
    ``timeout`` or ``connection``."""

    def __init__(self, message: str, status: int | None = None, kind: str = "connection") -> None:
        super().__init__(message)
        self.status = status
        self.kind = "status" if status is not None else kind


class _Aborted(Exception):
    """Another request of the batch failed: this one stops instead of retrying (never shown)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: the 3xx answer becomes an HTTPError, reported with its Location."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def api_root(base_url: str) -> str:
    """``http://host:8000`` and ``http://host:8000/v1`` both mean ``http://host:8000/v1``."""
    root = base_url.rstrip("/")
    return root if root.endswith("/v1") else root + "/v1"


def _excerpt(text: str, limit: int = 120) -> str:
    """``text`` on one line, at most ``limit`` characters (then ``…``)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:g} MiB" if n_bytes >= 2**20 else f"{n_bytes / 2**10:g} KiB"


def _json_type(value: Any) -> str:
    """The JSON name of a parsed value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__


def _shown(value: Any) -> str:
    """A parsed JSON value as it appears in a message: short, one line."""
    return _excerpt(json.dumps(value, ensure_ascii=False, default=str), 60)


def _error_message(raw: bytes) -> str:
    """The message of an error answer: OpenAI's ``{"error": {"message": ...}}``, vLLM's older
    ``{"message": ...}``, TGI's ``{"error": "..."}``, FastAPI's ``{"detail": ...}``, else the text."""
    text = raw.decode("utf-8", "replace")
    try:
        answer = json.loads(text)
    except (ValueError, RecursionError):
        return _excerpt(text, 200)
    if isinstance(answer, dict):
        error = answer.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _excerpt(error["message"], 200)
        for value in (error, answer.get("message"), answer.get("detail")):
            if isinstance(value, str) and value.strip():
                return _excerpt(value, 200)
            if value is not None:
                return _shown(value)
    return _excerpt(text, 200)


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
        if not timeout > 0:
            raise SemspaceError(f"--timeout must be more than 0 seconds, not {timeout}")
        if backoff < 0:
            raise SemspaceError(f"the retry backoff must be ≥ 0 seconds, not {backoff}")
        parts = urllib.parse.urlsplit(base_url)
        try:
            valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
        except ValueError:  # a port that is not a number, or out of range
            valid = False
        if not valid:
            raise SemspaceError(
                f"--base-url {base_url!r} is not an http:// or https:// address; pass the server's API root, "
                f"e.g. {DEFAULT_BASE_URL}"
            )
        api_key = api_key.strip() if api_key else None
        if api_key and any(ord(c) < 32 or ord(c) == 127 for c in api_key):
            raise SemspaceError(
                "the API key (--api-key or $OPENAI_API_KEY) contains a line break or another "
                "control character; pass the key alone"
            )
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
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._closed = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="generate-http")
        if probe:
            self._probe()

    # -- HTTP ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float | None = None) -> Any:
        """The parsed JSON answer; :class:`_Retryable` for what is transient, SemspaceError for the rest."""
        url = self.root + path
        timeout = timeout or self.timeout
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        deadline = time.monotonic() + timeout
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                raw = self._read_body(resp, url, deadline, timeout)
                content_type = resp.headers.get("Content-Type") or ""
        except urllib.error.HTTPError as exc:
            raise self._status_error(exc, url) from None
        except http.client.IncompleteRead as exc:
            of = f" of {len(exc.partial) + exc.expected}" if exc.expected is not None else ""
            raise _Retryable(
                f"the server at {url} closed the connection in the middle of its answer "
                f"(after {len(exc.partial)}{of} bytes)"
            ) from None
        except http.client.RemoteDisconnected:
            raise _Retryable(f"the server at {url} closed the connection without answering") from None
        except http.client.HTTPException as exc:  # BadStatusLine, LineTooLong, too many headers ...
            raise SemspaceError(
                f"the server at {url} did not answer HTTP ({type(exc).__name__}: {_excerpt(str(exc), 80)}); "
                f"check that --base-url points to an OpenAI-compatible HTTP server"
            ) from None
        except TimeoutError:
            raise _Retryable(f"the server at {url} did not answer within {timeout:g} s", kind="timeout") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Retryable(f"the server at {url} did not answer within {timeout:g} s", kind="timeout") from None
            raise _Retryable(f"cannot reach {url}: {exc.reason}") from None
        except OSError as exc:  # a reset connection
            raise _Retryable(f"cannot reach {url}: {exc}") from None
        return self._parse_json(raw, url, content_type)

    def _read_body(self, resp: http.client.HTTPResponse, url: str, deadline: float, timeout: float) -> bytes:
        """The body, at most MAX_BODY_BYTES of it, read before ``deadline``."""
        too_big = f"the server at {url} answered more than {_size(MAX_BODY_BYTES)}, which is no completion; {FIX_API}"
        declared = resp.headers.get("Content-Length")
        expected = int(declared) if declared and declared.strip().isdigit() else None
        if expected is not None and expected > MAX_BODY_BYTES:
            raise SemspaceError(too_big)
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise _Retryable(f"the server at {url} did not finish its answer within {timeout:g} s", kind="timeout")
            try:
                chunk = resp.read1(64 * 2**10)
            except http.client.IncompleteRead:  # a chunked body cut off
                raise http.client.IncompleteRead(b"".join(chunks)) from None
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise SemspaceError(too_big)
            chunks.append(chunk)
        if expected is not None and size < expected:
            raise http.client.IncompleteRead(b"".join(chunks), expected - size)
        return b"".join(chunks)

    def _parse_json(self, raw: bytes, url: str, content_type: str) -> Any:
        fix = FIX_API
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SemspaceError(
                f"the server at {url} answered a body that is not UTF-8 text (byte {raw[exc.start]:#04x} at "
                f"offset {exc.start}); {fix}"
            ) from None
        text = text.removeprefix("\ufeff")
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            if not text.strip():
                what = "an empty body, not JSON"
            elif "html" in content_type.lower() or text.lstrip().startswith("<"):
                what = f"HTML, not JSON ({_excerpt(text, 60)!r})"
                fix = "is --base-url the API root of an OpenAI-compatible server (e.g. http://host:8000/v1)?"
            elif isinstance(exc, json.JSONDecodeError) and exc.pos >= len(text.rstrip()):
                what = f"JSON that is cut off after {len(raw)} bytes ({_excerpt(text, 60)!r})"
            else:
                reason = (
                    f"{exc.msg} at offset {exc.pos}" if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
                )
                what = f"invalid JSON ({reason}: {_excerpt(text, 60)!r})"
            raise SemspaceError(f"the server at {url} answered {what}; {fix}") from None

    def _status_error(self, exc: urllib.error.HTTPError, url: str) -> Exception:
        """An HTTP status other than 2xx: :class:`_Retryable` (429, 5xx) or SemspaceError."""
        code = exc.code
        try:
            detail = _error_message(exc.read(MAX_ERROR_BYTES))
        except (OSError, http.client.HTTPException, ValueError):
            detail = ""
        finally:
            exc.close()
        said = f" ({detail})" if detail else ""
        if code in RETRY_STATUS:
            return _Retryable(f"the server at {url} answered HTTP {code}{said}", code)
        if 300 <= code < 400:
            where = exc.headers.get("Location") if exc.headers else None
            target = f" to {where}" if where else ""
            return SemspaceError(
                f"the server at {url} answered HTTP {code}, a redirect{target}, which is not followed; pass the "
                f"server's real address with --base-url"
            )
        if code in (401, 403):
            fix = "check --api-key (or $OPENAI_API_KEY)"
        elif code in (404, 405):
            fix = (
                f"check --base-url (the API root, e.g. http://host:8000/v1) and --model ({self.model!r}: "
                f"the name the server serves the model under)"
            )
        elif 400 <= code < 500:
            fix = f"check --model ({self.model!r}) and the generation settings the server refused"
        else:
            fix = "check the server"
        return SemspaceError(f"the server at {url} answered HTTP {code}{said}; {fix}")

    def _probe(self) -> None:
        """One quick ``GET /models``: a server that is not there fails now, before anything is written.
        Any HTTP answer (even 404, from servers without that route, or a malformed one: the first
        request reports that) counts as reachable."""
        try:
            self._request("GET", "/models", timeout=min(self.timeout, 10.0))
        except _Retryable as exc:
            if exc.kind == "status":
                return  # the server is there, only busy
            if exc.kind == "timeout":
                raise SemspaceError(f"{exc}; check the server (is it up and not stuck?) or raise --timeout") from None
            raise SemspaceError(
                f"{exc}; start an OpenAI-compatible server there (e.g. `vllm serve {self.model}`) "
                f"or pass its address with --base-url"
            ) from None
        except SemspaceError:
            return

    def _with_retries(self, body: dict[str, Any], path: str, abort: threading.Event) -> Any:
        for attempt in range(self.retries + 1):
            if abort.is_set() or self._closed.is_set():
                raise _Aborted
            try:
                return self._request("POST", path, body)
            except _Retryable as exc:
                if abort.is_set() or self._closed.is_set():
                    raise _Aborted from None
                if attempt == self.retries:
                    tries = "1 try" if self.retries == 0 else f"{self.retries + 1} tries"
                    if exc.kind == "timeout":
                        fix = f"raise --timeout (now {self.timeout:g} s) or check the server"
                    elif exc.kind == "status":
                        fix = "check the server (its log says why) or retry later"
                    else:
                        fix = "check that the server at --base-url is up and stays up"
                    raise SemspaceError(f"{exc} (gave up after {tries}); {fix}") from None
                delay = self.backoff * (2**attempt)
                log.warning("%s; retrying in %.1f s", exc, delay)
                if abort.wait(delay) or self._closed.is_set():
                    raise _Aborted from None
        raise AssertionError("unreachable")

    # -- generation ---------------------------------------------------------------------------
    def _budget(self, prompt: str, params: GenerationParams) -> int:
        n_prompt = None
        if params.max_new_tokens is None and self.tokenizer is not None:
            n_prompt = len(self.tokenizer([prompt], add_special_tokens=False)["input_ids"][0])
        return params.budget(n_prompt)

    def _one(self, index: int, count: int, prompt: str, params: GenerationParams, abort: threading.Event) -> Generation:
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
        path = "/chat/completions" if self.chat else "/completions"
        if self.chat:
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            body["prompt"] = prompt
        answer = self._with_retries(body, path, abort)
        return self._generation(answer, f"{self.root}{path}", f"response {index + 1} of {count} in the batch", budget)

    def _generation(self, answer: Any, url: str, where: str, budget: int) -> Generation:
        """The Generation in a parsed answer, every field checked."""

        def bad(what: str) -> SemspaceError:
            return SemspaceError(
                f"the server at {url}: {where} {what}; check that --base-url points to an OpenAI-compatible "
                f"server and that it serves --model {self.model!r}"
            )

        if not isinstance(answer, dict):
            raise bad(f"is {_json_type(answer)} ({_shown(answer)}), not a JSON object")
        if "choices" not in answer:
            if "error" in answer:
                raise bad(f"is an error: {_error_message(json.dumps(answer).encode())}")
            raise bad("has no choices")
        choices = answer["choices"]
        if not isinstance(choices, list):
            raise bad(f"has choices {_json_type(choices)}, not a list")
        if not choices:
            raise bad("has an empty choices list")
        choice = choices[0]
        if not isinstance(choice, dict):
            raise bad(f"has choices[0] {_json_type(choice)}, not an object")
        if self.chat:
            field = "choices[0].message.content"
            message = choice.get("message")
            if not isinstance(message, dict):
                raise bad(
                    "has no choices[0].message"
                    if message is None
                    else f"has choices[0].message {_json_type(message)}, not an object"
                )
            text = message.get("content", ...)
        else:
            field = "choices[0].text"
            text = choice.get("text", ...)
        if text is ...:
            raise bad(f"has no {field}")
        if text is None:
            raise bad(f"has {field} null, not a string")
        if not isinstance(text, str):
            raise bad(f"has {field} {_json_type(text)} ({_shown(text)}), not a string")

        usage = answer.get("usage")
        n_new: int | None = None
        if usage is not None:
            if not isinstance(usage, dict):
                raise bad(f"has usage {_json_type(usage)} ({_shown(usage)}), not an object")
            count = usage.get("completion_tokens")
            if isinstance(count, float) and count.is_integer():
                count = int(count)
            if count is not None:
                if isinstance(count, bool) or not isinstance(count, int):
                    raise bad(f"has usage.completion_tokens {_json_type(count)} ({_shown(count)}), not a whole number")
                if count < 0:
                    raise bad(f"has usage.completion_tokens {count}, not ≥ 0")
                n_new = count

        reason = choice.get("finish_reason")
        if reason is None:
            finish = FINISH_LENGTH if n_new is not None and n_new >= budget else FINISH_STOP
        elif not isinstance(reason, str):
            raise bad(f"has finish_reason {_json_type(reason)} ({_shown(reason)}), not a string")
        elif reason.lower() in FINISH_REASONS:
            finish = FINISH_REASONS[reason.lower()]
        else:
            raise bad(f"has finish_reason {_shown(reason)}, not one of {', '.join(sorted(FINISH_REASONS))}")
        return Generation(text=text, n_new_tokens=n_new, finish_reason=finish, max_new_tokens=budget)

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[Generation]:
        """Every prompt's answer, in order; the first failure (by position) stops the others' retries."""
        abort = threading.Event()
        futures: list[Future[Generation]] = [
            self._pool.submit(self._one, i, len(prompts), p, params, abort) for i, p in enumerate(prompts)
        ]
        try:
            wait(futures, return_when=FIRST_EXCEPTION)
            failures: list[BaseException] = []
            for f in futures:
                error = f.exception() if f.done() and not f.cancelled() else None
                if error is not None and not isinstance(error, _Aborted):
                    failures.append(error)
            if failures:
                raise failures[0]
            return [f.result() for f in futures]
        except BaseException:
            abort.set()
            for f in futures:
                f.cancel()
            raise

    def close(self) -> None:
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
