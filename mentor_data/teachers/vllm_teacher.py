"""The `vllm` teacher: the offline `vllm.LLM` engine, every live conversation of a turn in one call.

vLLM schedules the batch itself (continuous batching, prefix caching of the shared system prompt
and tool list), so the loop hands it up to `batch_size` (default 1024) conversations per call and
refills the batch after every turn. The chat template renders the tool schemas (`tools=`); the
generated text is parsed with `mentor_data.formats` (`<tool_call>` tags, as Qwen-style models
write them). GPU only: install with `pip install 'mentor[vllm]'` in a CUDA environment.
"""

from __future__ import annotations

from typing import Any

from mentor_data.teachers.base import (
    BlockingTeacher,
    GenerationConfig,
    TurnResult,
    reply_message,
)
from mentor_data.teachers.rollout import Conversation

VLLM_MISSING = "vLLM is not installed: pip install 'mentor[vllm]' on a GPU machine"


def import_vllm() -> Any:
    """Import vllm or raise an ImportError that says how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise ImportError(VLLM_MISSING) from exc
    return vllm


class VLLMTeacher(BlockingTeacher):
    """A local model served by the offline vLLM engine.

    Args:
        model (`str`): A Hub name or a local folder.
        tensor_parallel_size (`int`, *optional*, defaults to `1`): GPUs the engine spans.
        engine_kwargs (`dict`, *optional*): More `vllm.LLM(...)` arguments (e.g.
            `gpu_memory_utilization`, `max_model_len`, `dtype`).
    """

    backend = "vllm"
    default_batch_size = 1024

    def __init__(
        self, model: str, tensor_parallel_size: int = 1, engine_kwargs: dict | None = None
    ) -> None:
        import_vllm()  # fail at construction, before any data is touched
        self.model = model
        self.tensor_parallel_size = tensor_parallel_size
        self.engine_kwargs = engine_kwargs or {}
        self._llm = None

    async def start(self, config: GenerationConfig) -> None:
        if self._llm is None:
            vllm = import_vllm()
            self._llm = vllm.LLM(
                model=self.model,
                tensor_parallel_size=self.tensor_parallel_size,
                seed=config.seed,
                **self.engine_kwargs,
            )

    def _generate(
        self, conversations: list[Conversation], config: GenerationConfig
    ) -> list[TurnResult]:
        vllm = import_vllm()
        results: list[TurnResult | None] = [None] * len(conversations)
        # llm.chat takes one tool list per call: group conversations by their offered tools.
        groups: dict[int, list[int]] = {}
        tool_lists: dict[int, list[dict]] = {}
        for i, conv in enumerate(conversations):
            key = id(conv.problem.tools) if conv.problem.tools else 0
            groups.setdefault(key, []).append(i)
            tool_lists[key] = conv.tools
        for key, indices in groups.items():
            params = [
                vllm.SamplingParams(
                    temperature=config.temperature,
                    top_p=config.top_p,
                    max_tokens=config.max_tokens,
                    seed=conversations[i].seed,
                )
                for i in indices
            ]
            outputs = self._llm.chat(
                [conversations[i].messages for i in indices],
                sampling_params=params,
                tools=tool_lists[key] or None,
                use_tqdm=False,
            )
            for i, out in zip(indices, outputs, strict=True):
                gen = out.outputs[0]
                results[i] = TurnResult(
                    message=reply_message(gen.text, turn=conversations[i].turn),
                    finish="length" if gen.finish_reason == "length" else "stop",
                    prompt_tokens=len(out.prompt_token_ids or []),
                    completion_tokens=len(gen.token_ids or []),
                )
        return results
