"""Teachers: one interface (`Teacher`), one multi-turn tool loop, five backends.

| backend | what writes the turns | needs |
|---|---|---|
| `solver` | the problem's reference program (offline, instant) | nothing |
| `oracle` | a BFCL row's ground-truth calls (offline, instant) | bfcl-eval |
| `openai` | any OpenAI-compatible endpoint (OpenAI, `vllm serve`, SGLang, ...) | a URL |
| `vllm` | the offline `vllm.LLM` engine (GPU, or CPU) | `mentor[vllm]` / `make setup-vllm` |
| `hf` | a local transformers model folder (CPU or GPU) | the model |

Backends are imported lazily by `make_teacher`, so importing this package loads no model library.
"""

from __future__ import annotations

from typing import Any

from mentor_data.teachers.base import (
    DEFAULT_SYSTEM_PROMPT,
    GenerationConfig,
    Teacher,
    TurnResult,
    sample_seed,
)
from mentor_data.teachers.rollout import (
    Conversation,
    RunSummary,
    run_conversations,
    run_conversations_async,
)

TEACHERS = ("solver", "oracle", "openai", "vllm", "hf")


def make_teacher(
    backend: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    tensor_parallel_size: int = 1,
    device: str | None = None,
    engine_kwargs: dict[str, Any] | None = None,
) -> Teacher:
    """Build a teacher by backend name.

    Args:
        backend: `solver`, `oracle`, `openai`, `vllm` or `hf`.
        model: Model name (openai), name or path (vllm) or local folder (hf); unused by solver
            and oracle.
        base_url: Endpoint of the openai backend, e.g. `http://localhost:8000/v1`.
        api_key: API key of the openai backend; default: the `api_key_env` variable.
        api_key_env: Environment variable holding the key (a dummy key is used when it is unset
            and `base_url` is set: local servers need none).
        tensor_parallel_size: GPUs per vLLM engine.
        device: Device of the hf backend (`cpu`, `cuda`, ...; default: cuda when available).
        engine_kwargs: More `vllm.LLM(...)` arguments of the vllm backend (`--engine-arg`, see
            `mentor_data.teachers.vllm_teacher.parse_engine_args`), e.g. `enforce_eager` and
            `dtype` on CPU.

    Raises:
        ValueError: an unknown backend, a missing required option, or engine arguments for
            another backend than vllm (or ones vLLM does not know).
        ImportError: the backend's library is not installed (the message says how to install).
    """
    if backend not in TEACHERS:
        raise ValueError(f"unknown teacher {backend!r}; use one of {', '.join(TEACHERS)}")
    if engine_kwargs and backend != "vllm":
        raise ValueError(
            f"--engine-arg ({', '.join(engine_kwargs)}) is for the vllm teacher only, not {backend}"
        )
    if backend == "solver":
        from mentor_data.teachers.solver import SolverTeacher

        return SolverTeacher()
    if backend == "oracle":
        from mentor_data.teachers.oracle import OracleTeacher

        return OracleTeacher()
    if not model:
        raise ValueError(f"the {backend} teacher needs --model")
    if backend == "openai":
        from mentor_data.teachers.openai_teacher import OpenAITeacher

        return OpenAITeacher(
            model=model, base_url=base_url, api_key=api_key, api_key_env=api_key_env
        )
    if backend == "vllm":
        from mentor_data.teachers.vllm_teacher import VLLMTeacher

        return VLLMTeacher(
            model=model, tensor_parallel_size=tensor_parallel_size, engine_kwargs=engine_kwargs
        )
    from mentor_data.teachers.hf_teacher import HFTeacher

    return HFTeacher(model=model, device=device)


__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "TEACHERS",
    "Conversation",
    "GenerationConfig",
    "RunSummary",
    "Teacher",
    "TurnResult",
    "make_teacher",
    "run_conversations",
    "run_conversations_async",
    "sample_seed",
]
