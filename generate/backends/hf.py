"""The ``transformers`` backend: ``AutoModelForCausalLM`` with batched, left-padded generation.

All prompts of one call go through one ``model.generate`` (not one pipeline call per prompt). Each
prompt keeps its own token budget (:meth:`GenerationParams.budget`): a per-row stopping criterion
ends a row when its budget is spent, exactly as a pipeline call with ``max_length`` would for that
prompt alone. Only the new tokens are decoded.

Sampling with top-k (the note's ``top_k=10``) draws from the k candidates only (:class:`TopKSampler`):
the same distribution as transformers' own warpers (temperature, then top-k, then top-p) followed by
``torch.multinomial`` over the whole vocabulary, but O(k) instead of O(vocabulary) random draws per
row and step; on a CPU that sampling was most of the time of a small model with Falcon's 65k
vocabulary. ``sampler="hf"`` keeps transformers' own (also used when top-k is off).

Shared-prefix caching: the prompts of one call usually begin with the same tokens (the note's
instruction, and with ``--chat`` the template's system turn: 42 of SmolLM2's ~62 round-1 tokens).
That prefix is run through the model once, its key/value cache kept (and reused by later calls
with the same prefix) and copied into every row; each row then feeds only its own suffix, padded
between prefix and suffix (the attention mask hides the padding, position ids follow the mask, so
every real token keeps its position). Outputs are the same tokens as without it (a test checks it);
``prefix_cache=False`` turns it off.

Seeded sampling: ``torch.manual_seed(params.seed)`` right before ``generate``, so the same prompts in
the same batch, on the same device, dtype and library versions, give the same tokens (bitwise on
CPU; on a GPU as far as its kernels are deterministic). A prompt's text depends on its batch-mates
(the random numbers are drawn for the whole batch, and padding changes the arithmetic slightly).
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Sequence
from typing import Any

from generate.backends.base import FINISH_LENGTH, FINISH_STOP, Generation, GenerationParams, chat_format
from generate.models import ModelSource, load_failure_hint, resolve
from semspace.errors import SemspaceError

log = logging.getLogger(__name__)


def _import_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise SemspaceError(
            f"the transformers backend needs torch and transformers ({exc}); "
            f"install them with `pip install torch transformers accelerate`"
        ) from exc
    return torch


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()).rstrip(".")
    return text if len(text) <= 300 else text[:297] + "..."


def load_tokenizer(source: ModelSource, *, local_only: bool = False) -> Any:
    """The model's own tokenizer (from the folder, the hub or its cache, or the GGUF file);
    ``local_only``: never the network."""
    _import_torch()
    from transformers import AutoTokenizer

    kwargs: dict[str, Any] = {"local_files_only": True} if local_only else {}
    if source.gguf_file:
        kwargs["gguf_file"] = source.gguf_file
        _need_gguf(source)
    try:
        return AutoTokenizer.from_pretrained(source.path, **kwargs)
    except Exception as exc:  # noqa: BLE001 - OSError, ValueError, HTTP errors...: all mean "cannot load"
        raise SemspaceError(
            f"cannot load the tokenizer of {source.model!r}: {_one_line(exc)}; {load_failure_hint(source.path)}"
        ) from exc


def _need_gguf(source: ModelSource) -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise SemspaceError(
            f"model {source.model!r} is a GGUF file: loading it needs `pip install gguf accelerate`"
        ) from None


def pick_device(device: str = "auto") -> str:
    torch = _import_torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SemspaceError(f"--device {device}: torch sees no CUDA GPU here; use --device cpu")
    return device


def pick_dtype(dtype: str, device: str) -> Any:
    """``auto``: bfloat16 on a GPU (the note's setting; float16 where bf16 is unsupported), float32 on CPU."""
    torch = _import_torch()
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[dtype]
    except KeyError:
        raise SemspaceError(f"--dtype must be auto, bfloat16, float16 or float32, not {dtype!r}") from None


class TopKSampler:
    """A logits processor that samples the next token itself and leaves only that token finite, so
    that greedy decoding picks it. Temperature, top-k and top-p act as transformers' warpers do
    (top-p on the renormalised top-k, keeping the fewest best tokens whose mass reaches top_p)."""

    def __init__(self, temperature: float, top_k: int, top_p: float) -> None:
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p

    def candidates(self, scores: Any) -> tuple[Any, Any]:
        """``(token ids, probabilities)`` per row: the k best, renormalised, top-p applied."""
        top, index = (scores / self.temperature).topk(min(self.top_k, scores.shape[-1]), dim=-1)
        probs = top.float().softmax(dim=-1)
        if self.top_p < 1.0:
            before = probs.cumsum(dim=-1) - probs  # the mass of the better tokens
            probs = probs.masked_fill(before >= self.top_p, 0.0)
            probs = probs / probs.sum(dim=-1, keepdim=True)
        return index, probs

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        index, probs = self.candidates(scores)
        choice = index.gather(-1, torch.multinomial(probs, 1))
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(-1, choice, 0.0)


class TransformersBackend:
    """``AutoTokenizer`` + ``AutoModelForCausalLM.from_pretrained(model)``; ``chat`` wraps each
    prompt as the user message of the model's chat template (``add_generation_prompt=True``).
    ``sampler``: ``topk`` (:class:`TopKSampler`, when top-k is on) or ``hf`` (transformers' own).
    ``prefix_cache``: compute the prompts' shared leading tokens once (see the module's text)."""

    name = "transformers"
    # a shared prefix shorter than this is not worth a separate forward pass
    MIN_SHARED_PREFIX = 8

    def __init__(
        self,
        model: str | ModelSource,
        *,
        chat: bool | None = None,
        device: str = "auto",
        dtype: str = "auto",
        sampler: str = "topk",
        prefix_cache: bool = True,
    ) -> None:
        _import_torch()
        from transformers import AutoModelForCausalLM

        source = resolve(model) if isinstance(model, str) else model
        device = pick_device(device)
        torch_dtype = pick_dtype(dtype, device)
        tokenizer = load_tokenizer(source)
        kwargs: dict[str, Any] = {"dtype": torch_dtype}
        if source.gguf_file:
            kwargs["gguf_file"] = source.gguf_file
        if device != "cpu":
            kwargs["device_map"] = device  # straight onto the GPU, not through host memory
        try:
            loaded = AutoModelForCausalLM.from_pretrained(source.path, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise SemspaceError(
                f"cannot load model {source.model!r}: {_one_line(exc)}; {load_failure_hint(source.path)}"
            ) from exc
        network: Any = loaded  # transformers types .to() oddly on the loaded model
        self._setup(network.to(device), tokenizer, source, source.chat if chat is None else chat, sampler, prefix_cache)
        log.info("loaded %s on %s (%s)", self.model_source, self.device, str(self.dtype).removeprefix("torch."))

    @classmethod
    def from_loaded(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "loaded model",
        chat: bool = False,
        sampler: str = "topk",
        device: str | None = None,
        prefix_cache: bool = True,
    ) -> TransformersBackend:
        """Wrap a model and tokenizer already in memory (benchmarks; models built in code);
        ``device``: move the model there first (default: where it is)."""
        if device is not None:
            model = model.to(pick_device(device))
        backend = cls.__new__(cls)
        backend._setup(
            model, tokenizer, ModelSource(model=name, path=name, description=name), chat, sampler, prefix_cache
        )
        return backend

    def _setup(
        self, model: Any, tokenizer: Any, source: ModelSource, chat: bool, sampler: str, prefix_cache: bool = True
    ) -> None:
        if sampler not in ("topk", "hf"):
            raise SemspaceError(f"sampler must be 'topk' or 'hf', not {sampler!r}")
        self._torch = _import_torch()
        self.source, self.chat, self.sampler = source, chat, sampler
        self.prefix_cache = prefix_cache
        self._prefix: tuple[tuple[int, ...], Any] | None = None  # (token ids, their key/value cache)
        # transformers 5.x renamed generate's and forward's past_key_values to cache
        forward = inspect.signature(type(model).forward).parameters
        self._cache_kwarg = "cache" if "cache" in forward else "past_key_values"
        self.model, self.tokenizer = model, tokenizer
        self.device, self.dtype = str(model.device), model.dtype
        model.eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.eos_ids = self._eos_ids()
        if not self.eos_ids:
            raise SemspaceError(
                f"model {source.model!r}: its tokenizer and generation config name no end-of-text token"
            )
        if chat and not getattr(tokenizer, "chat_template", None):
            raise SemspaceError(f"model {source.model!r} has no chat template; run without --chat")
        self.model_source = source.description or source.path

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        for value in (configured if isinstance(configured, list) else [configured]) + [self.tokenizer.eos_token_id]:
            if isinstance(value, int) and value not in ids:
                ids.append(value)
        return ids

    def format(self, prompt: str) -> str:
        """The text the model sees: the prompt itself, or the chat template around it."""
        return chat_format(self.tokenizer, prompt, self.chat)

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[Generation]:
        if not prompts:
            return []
        torch = self._torch
        from transformers import LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        texts = [self.format(p) for p in prompts]
        rows = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        lengths = [len(r) for r in rows]
        inputs = self._inputs(rows)
        width = inputs["input_ids"].shape[1]
        budgets = [params.budget(int(n)) for n in lengths]
        budget_tensor = torch.tensor(budgets, device=self.device)

        class RowBudget(StoppingCriteria):
            """Ends each row at its own budget (a per-prompt ``max_length``)."""

            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return (input_ids.shape[1] - width) >= budget_tensor

        kwargs: dict[str, Any] = {
            "max_new_tokens": max(budgets),
            "do_sample": params.sampling,
            "eos_token_id": self.eos_ids,
            "pad_token_id": self.tokenizer.pad_token_id,
            "stopping_criteria": StoppingCriteriaList([RowBudget()]),
        }
        if params.sampling and params.top_k and self.sampler == "topk":
            kwargs.update(
                do_sample=False,
                temperature=None,
                top_k=None,
                top_p=None,
                logits_processor=LogitsProcessorList([TopKSampler(params.temperature, params.top_k, params.top_p)]),
            )
        elif params.sampling:
            kwargs.update(temperature=params.temperature, top_k=params.top_k or 0, top_p=params.top_p)
        else:  # greedy: override sampling defaults a model's generation config may carry
            kwargs.update(temperature=None, top_k=None, top_p=None)
        torch.manual_seed(params.seed)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kwargs)
        new_tokens = out[:, width:].tolist()
        results = []
        eos = set(self.eos_ids)
        for row, budget in zip(new_tokens, budgets):
            kept: list[int] = []
            reason = FINISH_LENGTH
            for token in row[:budget]:
                kept.append(token)
                if token in eos:
                    reason = FINISH_STOP
                    break
            body = kept[:-1] if reason == FINISH_STOP else kept
            text = self.tokenizer.decode(body, skip_special_tokens=True)
            results.append(Generation(text=text, n_new_tokens=len(kept), finish_reason=reason, max_new_tokens=budget))
        return results

    def shared_prefix(self, rows: Sequence[Sequence[int]]) -> int:
        """How many leading tokens every row shares, leaving each row at least one of its own."""
        if len(rows) < 2:
            return 0
        limit = min(len(r) for r in rows) - 1
        first = rows[0]
        n = 0
        while n < limit and all(r[n] == first[n] for r in rows):
            n += 1
        return n

    def _prefix_cache_of(self, prefix: tuple[int, ...]) -> Any:
        """The key/value cache of ``prefix`` (one row), computed once per distinct prefix."""
        if self._prefix is None or self._prefix[0] != prefix:
            from transformers import DynamicCache

            torch = self._torch
            with torch.inference_mode():
                out = self.model(
                    torch.tensor([prefix], device=self.device),
                    use_cache=True,
                    **{self._cache_kwarg: DynamicCache(config=self.model.config)},
                )
            self._prefix = (prefix, getattr(out, "cache", None) or out.past_key_values)
        return self._prefix[1]

    def _inputs(self, rows: list[list[int]]) -> dict[str, Any]:
        """``generate``'s inputs: left-padded rows, or with a shared prefix, the prefix, padding and
        each row's suffix, with the prefix's cache copied into every row."""
        torch = self._torch
        pad = self.tokenizer.pad_token_id
        shared = self.shared_prefix(rows) if self.prefix_cache else 0
        if shared < self.MIN_SHARED_PREFIX:
            width = max(len(r) for r in rows)
            ids = [[pad] * (width - len(r)) + r for r in rows]
            mask = [[0] * (width - len(r)) + [1] * len(r) for r in rows]
            return {
                "input_ids": torch.tensor(ids, device=self.device),
                "attention_mask": torch.tensor(mask, device=self.device),
            }
        prefix = tuple(rows[0][:shared])
        cache = copy.deepcopy(self._prefix_cache_of(prefix))
        cache.batch_repeat_interleave(len(rows))
        width = max(len(r) for r in rows) - shared
        ids = [list(prefix) + [pad] * (width - len(r) + shared) + r[shared:] for r in rows]
        mask = [[1] * shared + [0] * (width - len(r) + shared) + [1] * (len(r) - shared) for r in rows]
        return {
            "input_ids": torch.tensor(ids, device=self.device),
            "attention_mask": torch.tensor(mask, device=self.device),
            self._cache_kwarg: cache,
        }

    def close(self) -> None:
        self._prefix = None
        self.model = None
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()
