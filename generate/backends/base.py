"""The one small interface every backend implements, and the generation parameters it receives."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from semspace.errors import SemspaceError

FINISH_STOP = "stop"
"""The model ended the text itself (its end-of-text token)."""
FINISH_LENGTH = "length"
"""The token budget ran out first."""


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings of a run; the defaults are falcon-7b-instruct's model card (the note's settings).

    The model card calls ``pipeline(..., max_length=200, do_sample=True, top_k=10,
    eos_token_id=tokenizer.eos_token_id)``. ``max_length`` counts the prompt's tokens too, so the
    exact equivalent in ``max_new_tokens`` differs per prompt: ``max(1, max_length - prompt tokens)``
    (Hugging Face generates at least one token when the prompt is already that long). That is the
    default budget (:meth:`budget`); ``max_new_tokens``, when set, replaces it with a fixed budget.
    Temperature 1.0 and top_p 1.0 are the pipeline's defaults (the model's generation config sets
    neither). ``seed`` is the run's seed; the run derives one seed per batch from it
    (:func:`generate.chain.batch_seed`) and hands that to the backend in this field.
    """

    max_new_tokens: int | None = None
    max_length: int | None = 200
    do_sample: bool = True
    temperature: float = 1.0
    top_k: int | None = 10
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens is None and self.max_length is None:
            raise SemspaceError("generation needs a token budget: --max-new-tokens or --max-length")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise SemspaceError(f"--max-new-tokens must be at least 1, not {self.max_new_tokens}")
        if self.max_length is not None and self.max_length < 1:
            raise SemspaceError(f"--max-length must be at least 1, not {self.max_length}")
        if self.temperature < 0:
            raise SemspaceError(f"--temperature must be ≥ 0, not {self.temperature}")
        if self.top_k is not None and self.top_k < 0:
            raise SemspaceError(f"--top-k must be ≥ 0 (0: no top-k), not {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise SemspaceError(f"--top-p must be in (0, 1], not {self.top_p}")

    @property
    def sampling(self) -> bool:
        """Whether tokens are sampled (``False``: greedy; also for temperature 0, as in the OpenAI API)."""
        return self.do_sample and self.temperature > 0

    def budget(self, n_prompt_tokens: int | None) -> int:
        """New tokens allowed for a prompt of ``n_prompt_tokens`` tokens (``None``: unknown length)."""
        if self.max_new_tokens is not None:
            return self.max_new_tokens
        assert self.max_length is not None
        if n_prompt_tokens is None:
            return self.max_length
        return max(1, self.max_length - n_prompt_tokens)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal settings give equal strings."""
        return json.dumps(self.as_dict(), sort_keys=True)


@dataclass(frozen=True)
class Generation:
    """One prompt's answer: ``text`` is only the new text (never the prompt)."""

    text: str
    n_new_tokens: int | None
    """Tokens generated, the final end-of-text token included when ``finish_reason`` is ``stop``
    (``None`` where a server does not say)."""
    finish_reason: str
    """``stop`` or ``length`` (a server's own word is kept when it says something else)."""
    max_new_tokens: int | None = None
    """The budget this prompt had (see :meth:`GenerationParams.budget`)."""


def chat_format(tokenizer: Any, prompt: str, chat: bool) -> str:
    """The text a local model sees: the prompt itself, or with ``chat`` the tokenizer's chat
    template around it as the user's message, ready for the assistant's answer."""
    if not chat:
        return prompt
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )


@runtime_checkable
class Tokenizer(Protocol):
    """What :func:`generate.tokens.tokenize_run` needs of a tokenizer (a Hugging Face one fits)."""

    def __call__(self, text: list[str], *, add_special_tokens: bool = ...) -> Any: ...

    def decode(self, token_ids: list[int], **kwargs: Any) -> str: ...


class Backend(Protocol):
    """A text generator. ``generate`` answers every prompt, in order, with the same settings.

    ``name`` is the backend's name as recorded (``transformers``, ``openai``, ``vllm``);
    ``model_source`` says where the weights came from (a path, a hub id, a server URL);
    ``tokenizer`` is the model's own tokenizer, or ``None`` where it is not known (then the run
    writes no ``raw.association_tokens`` and says how to do it later).
    """

    name: str
    model_source: str
    tokenizer: Tokenizer | None

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[Generation]: ...

    def close(self) -> None: ...
