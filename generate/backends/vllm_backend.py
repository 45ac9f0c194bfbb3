"""The ``vllm`` backend (optional): ``vllm.LLM`` in this process, imported only when chosen.

Each prompt gets its own ``SamplingParams`` with its own budget and seed
(``(params.seed + i) mod 2**31``): vLLM seeds each request separately, so a prompt's text does not
depend on its batch-mates.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from generate.backends.base import Generation, GenerationParams, chat_format
from generate.models import ModelSource, load_failure_hint, resolve
from semspace.errors import SemspaceError


class VLLMBackend:
    name = "vllm"

    def __init__(self, model: str | ModelSource, *, chat: bool | None = None, dtype: str = "auto") -> None:
        try:
            import vllm
        except ImportError as exc:
            raise SemspaceError(
                f"the vllm backend needs the vllm package, which is not installed ({exc}): "
                f"`pip install vllm` on a machine with a supported GPU, or use --backend transformers "
                f"(or --backend openai with a running `vllm serve`)"
            ) from None
        source = resolve(model) if isinstance(model, str) else model
        self.source = source
        self.chat = source.chat if chat is None else chat
        path = os.path.join(source.path, source.gguf_file) if source.gguf_file else source.path
        try:
            self.llm = vllm.LLM(model=path, dtype="bfloat16" if dtype == "auto" else dtype)
        except Exception as exc:  # noqa: BLE001
            raise SemspaceError(
                f"vllm cannot load model {source.model!r}: {' '.join(str(exc).split())[:300]}; {load_failure_hint(source.path)}"
            ) from exc
        self._vllm = vllm
        self.tokenizer = self.llm.get_tokenizer()
        self.model_source = source.description or source.path

    def format(self, prompt: str) -> str:
        """The text the model sees: the prompt itself, or the chat template around it."""
        return chat_format(self.tokenizer, prompt, self.chat)

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[Generation]:
        if not prompts:
            return []
        texts = [self.format(p) for p in prompts]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        budgets = [params.budget(n) for n in lengths]
        sampling: list[Any] = [
            self._vllm.SamplingParams(
                n=1,
                max_tokens=budget,
                temperature=params.temperature if params.sampling else 0.0,
                top_k=(params.top_k or -1) if params.sampling else -1,
                top_p=params.top_p if params.sampling else 1.0,
                seed=(params.seed + i) % 2**31,
                skip_special_tokens=True,
            )
            for i, budget in enumerate(budgets)
        ]
        outputs = self.llm.generate(texts, sampling, use_tqdm=False)
        results = []
        for out, budget in zip(outputs, budgets):
            best = out.outputs[0]
            results.append(
                Generation(
                    text=best.text,
                    n_new_tokens=len(best.token_ids),
                    finish_reason=str(best.finish_reason or "stop"),
                    max_new_tokens=budget,
                )
            )
        return results

    def close(self) -> None:
        self.llm = None
