"""A stand-in `vllm` module for tests of the vllm teacher's plumbing without vLLM.

`install(monkeypatch)` puts it in `sys.modules["vllm"]`: `vllm.LLM(...)` records its keyword
arguments (`FakeLLM.instances`), `LLM.chat` answers every conversation with `reply`, and
`vllm.EngineArgs` names a few real engine arguments, so unknown keys are refused as with vLLM.
The real engine is tested in tests/test_vllm.py (`make test-vllm`).
"""

from __future__ import annotations

import dataclasses
import sys
import types
from typing import Any

REPLY = "The answer is \\boxed{3}."


@dataclasses.dataclass
class EngineArgs:
    """A few fields of `vllm.EngineArgs` (the names `check_engine_kwargs` accepts)."""

    model: str = ""
    seed: int = 0
    tensor_parallel_size: int = 1
    dtype: str = "auto"
    enforce_eager: bool = False
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.92
    kv_cache_memory_bytes: int | None = None


@dataclasses.dataclass
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 16
    seed: int | None = None


class FakeLLM:
    """Records its arguments; answers every conversation with `reply` (or raises `fail`)."""

    instances: list[FakeLLM] = []
    reply = REPLY
    fail: Exception | None = None

    def __init__(self, model: str, **kwargs: Any) -> None:
        if FakeLLM.fail is not None:
            raise FakeLLM.fail
        self.model, self.kwargs = model, kwargs
        self.chats: list[dict] = []
        FakeLLM.instances.append(self)

    def chat(self, messages, sampling_params=None, tools=None, use_tqdm=True):
        self.chats.append({"messages": messages, "tools": tools, "params": sampling_params})
        out = types.SimpleNamespace(text=self.reply, finish_reason="stop", token_ids=[1, 2, 3])
        return [
            types.SimpleNamespace(outputs=[out], prompt_token_ids=list(range(10))) for _ in messages
        ]


def install(monkeypatch: Any, *, cpu: bool = True) -> type[FakeLLM]:
    """Make `import vllm` return the fake (a CPU platform unless `cpu=False`)."""
    platform = types.SimpleNamespace(is_cpu=lambda: cpu)
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.EngineArgs = EngineArgs
    module.SamplingParams = SamplingParams
    module.platforms = types.SimpleNamespace(current_platform=platform)
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(FakeLLM, "instances", [])
    monkeypatch.setattr(FakeLLM, "fail", None)
    return FakeLLM
