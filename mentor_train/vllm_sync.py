"""Colocated vLLM rollouts on CPU for `mentor-train grpo`: engine settings and the weight sync.

The one module that knows vLLM's CPU internals. With `use_vllm: true, vllm_mode: colocate`, TRL
(1.16) builds a `vllm.LLM` inside the trainer and, before each step's rollouts, copies the policy
into it (`VLLMGeneration.sync_weights`): one `model.load_weights([(name, tensor)])` call per
parameter. On vLLM's CPU backend that fails at the first sync with `AttributeError: 'Parameter'
object has no attribute 'weight_loader'`: after loading, the CPU backend repacks each linear
layer's weight for its GEMM kernel (oneDNN, sgl-kernel or zentorch;
`vllm.model_executor.layers.utils.dispatch_cpu_unquantized_gemm`) and leaves an empty placeholder
parameter without a loader. Which kernel is used depends on the CPU and dtype (an AVX2-only CPU
packs float32 weights but falls back to `F.linear`, keeping the weights, in bfloat16), so the
failure comes and goes between machines.

`CPUWeightSync` replaces that sync on the vLLM CPU platform only:

1. `model_runner.reload_weights(weights_iterator=...)`: vLLM's in-place reload puts every layer
   back in checkpoint layout, loads the policy's tensors (TRL's own `_iter_named_params`, which
   handles PEFT merging and gathering) and re-runs each layer's post-load processing, repacking
   included, into the same storage;
2. the CPU GEMM dispatch is re-run for the embedding and the LM head
   (`VocabParallelEmbedding`s): a tied `lm_head` loads nothing (its weight is the embedding's), so
   the reload never re-processes it and its packed copy would stay the pre-training one (log-probs
   then drift: -267.9 vs -269.6 in a probe), and an untied one keeps a kernel built on the
   reload's scratch tensor;
3. `llm.reset_prefix_cache()`, as TRL does: cached prompt blocks hold the old weights' keys/values.

The first sync also checks that the engine's embedding now equals the policy's (a reload that
loaded nothing would otherwise go unnoticed). Everywhere else (GPU, `vllm_mode: server`, no vLLM)
TRL's own sync is left alone. If an internal this relies on is missing, the trainer fails at start
with `VLLMSyncError` naming the installed versions; it never falls back silently.

`engine_settings` also gives the colocated engine CPU-sane arguments that `GRPOConfig` has no key
for: eager mode (vLLM's CPU backend otherwise compiles for 100-170 s at every start, for about the
same speed), the policy's dtype (on-policy rollouts; vLLM would run a float32 checkpoint in
bfloat16, which is also 2.7x slower on an AVX2-only CPU) and a 1 GiB KV cache unless
`VLLM_CPU_KVCACHE_SPACE` is set (without either, the engine asks for a share of all memory). The
recipe keys `vllm_dtype` and `vllm_enforce_eager` (`configs.MentorGRPOConfig`) override them.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import inspect
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

WRITTEN_FOR = "vllm-cpu 0.32.0 and trl 1.16.0"
"""The versions whose internals `CPUWeightSync` was written and tested against."""
SETUP_HINT = "`make setup-vllm`, then run .venv-vllm/bin/mentor-train"
CPU_KV_CACHE_BYTES = 1 << 30
"""KV cache of a colocated CPU engine when `VLLM_CPU_KVCACHE_SPACE` is unset (1 GiB)."""
DTYPES = ("auto", "float32", "bfloat16", "float16")


class VLLMSyncError(RuntimeError):
    """vLLM rollouts cannot run here (vLLM missing, an internal changed, a CPU-only setting)."""


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions() -> str:
    """The installed vLLM (CPU or GPU distribution) and TRL versions, for error messages."""
    vllm = _version("vllm-cpu")
    vllm = f"vllm-cpu {vllm}" if vllm != "not installed" else f"vllm {_version('vllm')}"
    return f"{vllm}, trl {_version('trl')}"


def require_vllm() -> None:
    """Fail in one line when `use_vllm` is set but vLLM cannot be imported.

    Without this, TRL raises its ImportError after loading the model, with a long traceback and a
    `pip install trl[vllm]` hint that installs a CUDA build.

    Raises:
        VLLMSyncError: vLLM is not importable in this environment.
    """
    try:
        import vllm  # noqa: F401
    except Exception as exc:  # ImportError, or a broken build (CUDA torchvision, ...)
        raise VLLMSyncError(
            f"use_vllm: true, but vLLM cannot be imported here ({type(exc).__name__}: {exc}); "
            f"on CPU: {SETUP_HINT}; or set use_vllm: false (rollouts with transformers)"
        ) from None


def on_cpu_platform() -> bool:
    """Whether vLLM runs on its CPU backend (`vllm.platforms.current_platform.is_cpu()`)."""
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


def colocated(args: Any) -> bool:
    """Whether the trainer builds its own vLLM engine (`use_vllm` with `vllm_mode: colocate`)."""
    return bool(getattr(args, "use_vllm", False)) and getattr(args, "vllm_mode", "") == "colocate"


# -- engine settings ------------------------------------------------------------------------------
def policy_dtype(args: Any, model_path: str | None) -> str:
    """The dtype TRL loads the policy in: `model_init_kwargs.dtype`, TRL's default float32, or
    with `dtype: auto` the checkpoint's own."""
    dtype = (getattr(args, "model_init_kwargs", None) or {}).get("dtype", "float32")
    if dtype in (None, "auto"):
        config = Path(model_path or "") / "config.json"
        try:
            data = json.loads(config.read_text())
            dtype = data.get("dtype") or data.get("torch_dtype") or "float32"
        except (OSError, ValueError):
            dtype = "float32"
    return str(dtype).removeprefix("torch.")


def engine_kwargs(args: Any, model_path: str | None, *, cpu: bool) -> dict[str, Any]:
    """Extra `vllm.LLM` arguments for the colocated engine (see the module docstring).

    Off the CPU backend only explicitly set recipe keys apply, so GPU runs keep TRL's engine.

    Raises:
        VLLMSyncError: `vllm_enable_sleep_mode` on CPU (vLLM's CPU worker has no sleep mode).
    """
    dtype = getattr(args, "vllm_dtype", "auto") or "auto"
    eager = getattr(args, "vllm_enforce_eager", None)
    extra: dict[str, Any] = {}
    if cpu:
        if getattr(args, "vllm_enable_sleep_mode", False):
            raise VLLMSyncError(
                "vllm_enable_sleep_mode: true does not work on vLLM's CPU backend (it has no "
                "sleep mode, and a sleeping engine would keep stale weights); set it to false"
            )
        extra["dtype"] = policy_dtype(args, model_path) if dtype == "auto" else dtype
        extra["enforce_eager"] = True if eager is None else bool(eager)
        if not os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
            extra["kv_cache_memory_bytes"] = CPU_KV_CACHE_BYTES
    else:
        if dtype != "auto":
            extra["dtype"] = dtype
        if eager is not None:
            extra["enforce_eager"] = bool(eager)
    return extra


@contextlib.contextmanager
def engine_settings(args: Any, model_path: str | None) -> Iterator[dict[str, Any]]:
    """While the trainer is built, give TRL's `vllm.LLM(...)` call the `engine_kwargs`.

    TRL builds the colocated engine inside `GRPOTrainer.__init__` from a fixed argument list; the
    only way in is the `LLM` name its generation module calls. Yields the arguments added (empty
    when vLLM rollouts are off or not colocated, and then nothing is patched).
    """
    if not colocated(args):
        yield {}
        return
    import trl.generation.vllm_generation as generation

    extra = engine_kwargs(args, model_path, cpu=on_cpu_platform())
    original = getattr(generation, "LLM", None)
    if not extra:
        yield extra
        return
    if original is None:
        raise VLLMSyncError(
            f"trl.generation.vllm_generation.LLM is missing ({versions()}; written for "
            f"{WRITTEN_FOR}): pin those versions or set use_vllm: false"
        )

    def build(*a: Any, **kw: Any) -> Any:
        logger.info("colocated vLLM engine: %s", ", ".join(f"{k}={v}" for k, v in extra.items()))
        return original(*a, **{**kw, **extra})

    generation.LLM = build
    try:
        yield extra
    finally:
        generation.LLM = original


# -- weight sync ----------------------------------------------------------------------------------
def _missing(what: str) -> VLLMSyncError:
    return VLLMSyncError(
        f"vLLM CPU weight sync: {what} is missing ({versions()}; written for {WRITTEN_FOR}): "
        "install those versions (constraints-vllm.txt) or set use_vllm: false"
    )


class CPUWeightSync:
    """Copies the policy into a colocated vLLM engine on the CPU backend (module docstring).

    Installed as the `sync_weights` of TRL's `VLLMGeneration`, so TRL calls it where it called its
    own (once per optimizer step, before the step's first rollout). All internals are resolved
    here, at start-up, so a vLLM or TRL upgrade that moves them fails before training.

    Attributes:
        calls: syncs done.
        seconds: wall time of each sync.

    Raises:
        VLLMSyncError: an internal is missing (the message names the versions).
    """

    def __init__(self, generation: Any):
        self.generation = generation
        llm = getattr(generation, "llm", None)
        try:
            self.runner = llm.llm_engine.model_executor.driver_worker.model_runner
        except AttributeError:
            raise _missing("llm.llm_engine.model_executor.driver_worker.model_runner") from None
        reload = getattr(self.runner, "reload_weights", None)
        if reload is None or "weights_iterator" not in inspect.signature(reload).parameters:
            raise _missing(f"{type(self.runner).__name__}.reload_weights(weights_iterator=...)")
        if not callable(getattr(generation, "_iter_named_params", None)):
            raise _missing("trl VLLMGeneration._iter_named_params")
        if not callable(getattr(llm, "reset_prefix_cache", None)):
            raise _missing("LLM.reset_prefix_cache")
        try:
            from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm
            from vllm.model_executor.layers.vocab_parallel_embedding import (
                VocabParallelEmbedding,
            )
        except ImportError as exc:
            raise _missing(str(exc)) from None
        self.llm = llm
        self._dispatch = dispatch_cpu_unquantized_gemm
        self._embedding_cls = VocabParallelEmbedding
        self.calls = 0
        self.seconds: list[float] = []

    def __call__(self) -> None:
        start = time.perf_counter()
        self.runner.reload_weights(weights_iterator=self.generation._iter_named_params())
        model = self.runner.get_model()
        for module in model.modules():
            # what vLLM's embedding method does after loading (remove_weight=False keeps the
            # weight, which the lookup still reads)
            if isinstance(module, self._embedding_cls) and hasattr(module, "cpu_linear"):
                self._dispatch(module, remove_weight=False)
        self.llm.reset_prefix_cache()
        if self.calls == 0:
            self._check_embedding(model)
        self.calls += 1
        self.seconds.append(time.perf_counter() - start)

    def _check_embedding(self, engine_model: Any) -> None:
        """The engine's input embedding equals the policy's, in the engine's dtype."""
        import torch

        policy = self.generation.model
        if not hasattr(policy, "get_input_embeddings"):
            return
        want = policy.get_input_embeddings().weight.detach()
        have = next(
            (
                m.weight
                for m in engine_model.modules()
                if type(m) is self._embedding_cls and m.weight.dim() == 2
            ),
            None,
        )
        if have is None or have.shape[1] != want.shape[1] or have.shape[0] < want.shape[0]:
            return  # sharded or unusual layout: nothing comparable
        if not torch.equal(have[: want.shape[0]], want.to(have.dtype)):
            raise VLLMSyncError(
                f"vLLM CPU weight sync: after reload_weights the engine's embedding differs "
                f"from the policy's ({versions()}; written for {WRITTEN_FOR}): rollouts would "
                "come from stale weights; set use_vllm: false or pin those versions"
            )


def install(trainer: Any) -> CPUWeightSync | None:
    """Give a `GRPOTrainer` with a colocated engine on vLLM's CPU backend the `CPUWeightSync`.

    Returns:
        The installed sync, or None where TRL's own sync stays (no vLLM, server mode, GPU).

    Raises:
        VLLMSyncError: an internal the CPU sync needs is missing.
    """
    generation = getattr(trainer, "vllm_generation", None)
    if not colocated(trainer.args) or generation is None or not on_cpu_platform():
        return None
    sync = CPUWeightSync(generation)
    generation.sync_weights = sync  # TRL calls self.vllm_generation.sync_weights()
    return sync


__all__ = [
    "CPUWeightSync",
    "DTYPES",
    "VLLMSyncError",
    "colocated",
    "engine_kwargs",
    "engine_settings",
    "install",
    "on_cpu_platform",
    "policy_dtype",
    "require_vllm",
    "versions",
]
