"""GRPO with MENTOR rewards and native multi-turn tools: `mentor-train grpo --recipe R.yaml`.

A thin layer over `trl.GRPOTrainer`, built from a recipe (`mentor_train.configs`):

1. check the student's chat template (`students.check_student`),
2. load the data (`data.load_training_data`: a verified store version exported with `to_grpo`,
   or a path),
3. tools = the registry's `trl_tools()`: every call runs through the same bounded executor as data
   generation; TRL executes them, appends the observations and masks their tokens out of the loss,
   for at most `max_tool_calling_iterations` rounds. With `tool_registry: none` (function
   calling, BFCL) each row offers its own tools instead: its prompt is rendered as text with
   them by the student's chat template (`data.render_prompts`), TRL gets no tools and executes
   nothing, and a completion is one assistant turn of `<tool_call>` blocks,
4. rewards = `rewards.get_reward(name, tools=registry, eos_token_ids=...)` for each
   `reward_funcs` name (weights: `reward_weights`), bound to the trainer's EOS and pad ids so
   truncated completions score 0.0,
5. train (`--resume` continues from the last checkpoint in `output_dir`), save the model, the
   tokenizer, `mentor_recipe.yaml` and `log_history.json`.

Each reward logs `rewards/<name>/mean|std` and its tool-use rates (`<name>/tool_call_rate`, ...);
TRL logs `tools/call_frequency`, `tools/failure_frequency` and `completions/clipped_ratio`; with
`log_completions: true` every logged step writes `output_dir/completions/completions_NNNNN.parquet`
(completions as Qwen text: see `MentorGRPOTrainer`).
A smoke check stops the run with `ToolUseError` when the first logged steps make no tool call
(TRL's `tools/call_frequency`; with `tool_registry: none`, the rewards' `<name>/tool_call_rate`).

Rollouts come from transformers' `generate` unless `use_vllm: true`: then from a vLLM engine,
colocated in the process (`vllm_mode: colocate`) or a server; `mentor_train.vllm_sync` makes the
colocated engine work on vLLM's CPU backend (`recipes/tiny-cpu-grpo-mentor-vllm.yaml`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from trl import GRPOTrainer

from mentor_data.formats import messages_to_text
from mentor_train.configs import GRPOScriptArguments, MentorGRPOConfig, Recipe
from mentor_train.rewards import VARIANTS, MentorReward, get_reward

logger = logging.getLogger(__name__)

RECIPE_FILE = "mentor_recipe.yaml"
LOG_HISTORY_FILE = "log_history.json"


class ToolUseError(RuntimeError):
    """The student made no tool call in the first logged steps (the smoke check)."""


class TrainingError(RuntimeError):
    """A training run that cannot start or resume; the message names the fix."""


class ToolUseSmokeCheck(TrainerCallback):
    """Fail loudly when the first `steps` logged steps make zero tool calls.

    Tool-use GRPO that "doesn't work" is mostly configuration (TRL#5366): a template without tool
    support, tools not passed, or a student that never emits a call. With zero calls every
    tool reward term is constant and GRPO learns nothing about tools, silently.

    Args:
        steps: logged steps to watch (reads TRL's `tools/call_frequency`); 0 disables.
    """

    def __init__(self, steps: int = 1):
        self.steps = steps
        self.seen = 0
        self.calls = 0.0

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.steps <= 0 or self.seen >= self.steps or not logs:
            return
        key = self._call_key(logs)
        if key is None:
            return
        self.seen += 1
        self.calls += float(logs[key] or 0.0)
        if self.seen == self.steps and self.calls == 0.0:
            raise ToolUseError(
                f"smoke check: the first {self.steps} logged step(s) made no tool call "
                f"({key} = 0 at step {state.global_step}). The student never "
                "emits <tool_call> blocks, so no reward term about tools can teach anything. "
                "Fixes: start from an SFT'd student (recipes/tiny-cpu-sft.yaml), check that the "
                "chat template renders tools (`mentor-train check-student PATH`), raise "
                "max_completion_length, or set smoke_check_steps: 0 to train anyway."
            )

    @staticmethod
    def _call_key(logs: dict[str, Any]) -> str | None:
        # TRL logs tools/call_frequency only when it runs tools; without them (row tools) the
        # rewards' own tool-call rate says the same.
        if "tools/call_frequency" in logs:
            return "tools/call_frequency"
        return next((k for k in sorted(logs) if k.endswith("_reward/tool_call_rate")), None)


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes:
        output_dir: the folder with the final model, tokenizer, recipe and logs.
        global_step: optimizer steps done (resumed steps included).
        metrics: the final training metrics (`train_runtime`, `train_loss`, ...).
        log_history: every logged dict, in order (also in `output_dir/log_history.json`).
    """

    output_dir: Path
    global_step: int
    metrics: dict[str, Any] = field(default_factory=dict)
    log_history: list[dict[str, Any]] = field(default_factory=list)

    def last(self, key: str) -> Any:
        """The last logged value of a metric (None when never logged)."""
        for entry in reversed(self.log_history):
            if key in entry:
                return entry[key]
        return None


class MentorGRPOTrainer(GRPOTrainer):
    """`GRPOTrainer` with a storable completion log and working vLLM rollouts on CPU.

    1. The completion log holds each multi-turn completion as Qwen text. TRL's `log_completions`
       writes the conversational completions to Parquet through pandas, and Arrow cannot store
       model-written tool-call arguments whose types differ between completions
       (`{"numbers": [1, 2]}` in one, `{"numbers": 5}` in another): the run died at step 17 of
       `recipes/tiny-cpu-grpo-mentor.yaml` with `ArrowInvalid: cannot mix list and non-list`. The
       text form (`mentor_data.formats.messages_to_text`) always stores, reads well in the printed
       table and in wandb, and parses back to the same calls and answer (`parse_completion`).
    2. With `use_vllm: true, vllm_mode: colocate` on vLLM's CPU backend, the engine gets CPU-sane
       settings and TRL's weight sync, which fails there, is replaced by
       `vllm_sync.CPUWeightSync` (`vllm_weight_sync`; None where TRL's own sync runs).
    3. With `share_prompt_prefix: true`, the policy's log-probs run each group's prompt once
       (`shared_prefix.shared_prefix_logps`; `prompt_passes` counts rows and prompt passes).

    Nothing else differs from `GRPOTrainer`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from mentor_train import vllm_sync

        # GRPOTrainer(model, reward_funcs, args, ...): the engine is built inside its __init__
        training_args = kwargs.get("args", args[2] if len(args) > 2 else None)
        model = kwargs.get("model", args[0] if args else None)
        model_path = model if isinstance(model, str) else getattr(model, "name_or_path", None)
        with vllm_sync.engine_settings(training_args, model_path):
            super().__init__(*args, **kwargs)
        self.vllm_weight_sync = vllm_sync.install(self)
        self.prompt_passes = {"rows": 0, "passes": 0}
        if getattr(self.args, "share_prompt_prefix", False):
            from mentor_train.shared_prefix import unsupported_reason

            reason = unsupported_reason(self.model)
            if reason:
                raise TrainingError(f"share_prompt_prefix: {reason}; set it to false")

    def _get_per_token_logps_and_entropies(
        self,
        model,
        input_ids,
        attention_mask,
        logits_to_keep,
        batch_size=None,
        compute_entropy=False,
        compute_aux_loss=False,
        **extra: Any,
    ):
        plain = not compute_aux_loss and all(v is None for v in extra.values())
        if not (getattr(self.args, "share_prompt_prefix", False) and plain and model is self.model):
            return super()._get_per_token_logps_and_entropies(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                batch_size,
                compute_entropy,
                compute_aux_loss,
                **extra,
            )
        from mentor_train.shared_prefix import shared_prefix_logps

        with self.accelerator.autocast():
            logps, entropies, passes = shared_prefix_logps(
                model,
                input_ids,
                attention_mask,
                logits_to_keep,
                temperature=self.temperature,
                compute_entropy=compute_entropy,
            )
        self.prompt_passes["rows"] += input_ids.size(0)
        self.prompt_passes["passes"] += passes
        return logps, entropies, None

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        completions = getattr(self, "_logs", {}).get("completion")
        if completions:
            for i, completion in enumerate(completions):
                if not isinstance(completion, str):
                    completions[i] = messages_to_text(completion)
        super().log(logs, start_time)


def build_rewards(
    script_args: GRPOScriptArguments, registry=None, dataset=None
) -> list[MentorReward]:
    """The recipe's reward functions, offering the registry's tools (EOS ids bound later).

    With `tool_registry: none` the offered tools are each row's `tool_names`, unrestricted; with
    `domain` too, and the trainer runs them (`executable`: every row tool of the dataset).
    """
    if script_args.row_tools:
        return [get_reward(name, tools=[]) for name in script_args.reward_funcs]
    if script_args.domain_tools:
        names = sorted({n for row in (dataset["tool_names"] if dataset else []) for n in row})
        return [get_reward(name, tools=[], executable=names) for name in script_args.reward_funcs]
    registry = registry if registry is not None else script_args.registry()
    return [
        get_reward(name, tools=registry, executable=registry) for name in script_args.reward_funcs
    ]


def bind_eos_token_ids(rewards: Sequence[Any], trainer) -> list[int]:
    """Give the rewards the ids TRL treats as the end of a completion (EOS ids and the pad id).

    This is TRL's own truncation test (`completions/clipped_ratio`): a completion whose last id is
    none of these hit `max_completion_length`.
    """
    tokenizer = getattr(trainer.processing_class, "tokenizer", trainer.processing_class)
    ids = [int(i) for i in trainer.eos_token_ids]
    if tokenizer.pad_token_id is not None and tokenizer.pad_token_id not in ids:
        ids.append(int(tokenizer.pad_token_id))
    for reward in rewards:
        if isinstance(reward, MentorReward):
            reward.eos_token_ids = list(ids)
    return ids


def _check_columns(dataset, script_args: GRPOScriptArguments) -> None:
    needs_teacher = [
        n
        for n in script_args.reward_funcs
        if VARIANTS[get_reward(n, tools=[]).variant].needs_teacher
    ]
    if needs_teacher and "teacher_tools" not in dataset.column_names:
        raise TrainingError(
            f"reward(s) {needs_teacher} read the teacher_tools column, which {script_args.dataset} "
            "lacks: train on a verified version (verify writes teacher_tools) or use "
            "reward_funcs: [sparse]"
        )
    _check_rows(dataset, script_args)


def _mode(script_args: GRPOScriptArguments) -> str:
    if script_args.row_tools:
        return "none"
    return "domain" if script_args.domain_tools else "registry"


def _check_rows(dataset, script_args: GRPOScriptArguments) -> None:
    """Every row's domain can train in the recipe's tool mode (`Domain.grpo_problem`)."""
    from mentor_data.domains import DomainError, get_domain

    if "domain" not in dataset.column_names:
        return
    mode = _mode(script_args)
    columns = [c for c in ("domain", "metadata", "tools") if c in dataset.column_names]
    rows = dataset.select_columns(columns)
    seen: dict[str, tuple[str, int] | None] = {}
    for row in rows:
        name = row["domain"]
        if name in seen:
            if seen[name] is not None:
                seen[name] = (seen[name][0], seen[name][1] + 1)
            continue
        try:
            problem = get_domain(name).grpo_problem(row, mode)
        except DomainError as exc:
            raise TrainingError(f"{script_args.dataset}: {exc}") from None
        seen[name] = None if problem is None else (problem, 1)
    for name, found in seen.items():
        if found is not None:
            raise TrainingError(f"{script_args.dataset} has {name} rows: {found[0]}")


def build_trainer(
    script_args: GRPOScriptArguments,
    training_args: MentorGRPOConfig,
    *,
    train_dataset=None,
    callbacks: Sequence[TrainerCallback] = (),
):
    """Build the `GRPOTrainer` of a recipe (nothing is trained yet).

    Args:
        script_args: model, data, rewards, tools.
        training_args: the GRPO config.
        train_dataset: use this dataset instead of loading `script_args.dataset`.
        callbacks: extra trainer callbacks.

    Returns:
        A `MentorGRPOTrainer` (a `trl.GRPOTrainer`) whose rewards are bound to its EOS ids.

    Raises:
        StudentError, DataError, TrainingError: a student, data or recipe that cannot train
            (TrainingError also: `use_vllm` without an importable vLLM, or a vLLM whose internals
            the CPU weight sync needs have moved: `vllm_sync`).
        RecipeError: a `model_init_kwargs` key the model does not accept.
    """
    from mentor_train.configs import model_init_kwargs_error
    from mentor_train.data import load_training_data
    from mentor_train.students import check_student, require_model_folder
    from mentor_train.vllm_sync import VLLMSyncError, require_vllm

    if training_args.use_vllm:  # before loading anything: TRL would fail after the model loads
        try:
            require_vllm()
        except VLLMSyncError as exc:
            raise TrainingError(str(exc)) from None
    require_model_folder(script_args.model_name_or_path)
    if script_args.check_student:
        check_student(script_args.model_name_or_path)
    if train_dataset is None:
        train_dataset = load_training_data(
            script_args.dataset,
            "grpo",
            data_dir=script_args.data_dir,
            max_samples=script_args.max_train_samples,
        )
    _check_columns(train_dataset, script_args)
    registry = script_args.registry()
    if script_args.row_tools:  # tool_registry: none: each prompt shows its own row's tools
        from transformers import AutoTokenizer

        from mentor_train.data import DataError, render_prompts

        tokenizer = AutoTokenizer.from_pretrained(script_args.model_name_or_path)
        try:
            train_dataset = render_prompts(train_dataset, tokenizer)
        except DataError as exc:
            raise TrainingError(f"{script_args.dataset}: {exc}") from None
    factories = None
    if script_args.domain_tools:  # each row runs its own tools in its domain's environment
        from mentor_train.environments import environment_factories, with_environments

        try:
            factories = environment_factories(train_dataset)
        except ValueError as exc:
            raise TrainingError(f"{script_args.dataset}: {exc}") from None
        train_dataset = with_environments(train_dataset)
    rewards = build_rewards(script_args, registry, train_dataset)
    checks = (
        [ToolUseSmokeCheck(script_args.smoke_check_steps)] if script_args.smoke_check_steps else []
    )
    try:
        trainer = MentorGRPOTrainer(
            model=script_args.model_name_or_path,
            reward_funcs=rewards,
            args=training_args,
            train_dataset=train_dataset,
            tools=registry.trl_tools() if registry is not None else None,
            environment_factory=factories,
            callbacks=[*checks, *callbacks],
        )
    except TypeError as exc:
        error = model_init_kwargs_error(exc, training_args.model_init_kwargs)
        if error is None:
            raise
        raise error from None
    except VLLMSyncError as exc:  # a vLLM internal or setting the CPU rollouts need
        raise TrainingError(str(exc)) from None
    bind_eos_token_ids(rewards, trainer)
    return trainer


def resume_checkpoint(output_dir: str | Path) -> str:
    """The last checkpoint in `output_dir` (for `--resume`).

    Raises:
        TrainingError: there is none.
    """
    from transformers.trainer_utils import get_last_checkpoint

    path = Path(output_dir)
    last = get_last_checkpoint(str(path)) if path.is_dir() else None
    if last is None:
        raise TrainingError(
            f"--resume: no checkpoint-N folder in {path}; run without --resume, "
            "or set save_steps so that checkpoints are written"
        )
    return last


def run_trainer(
    trainer, output_dir: str | Path, *, resume: bool = False, recipe: Recipe | None = None
) -> TrainResult:
    """Train, then save the model, the tokenizer, the recipe and the log history.

    Shared by GRPO and SFT.
    """
    output_dir = Path(output_dir)
    checkpoint = resume_checkpoint(output_dir) if resume else None
    output_dir.mkdir(parents=True, exist_ok=True)
    if recipe is not None:
        (output_dir / RECIPE_FILE).write_text(recipe.to_yaml())
    if checkpoint:
        logger.info("resuming from %s", checkpoint)
    out = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(str(output_dir))
    history = list(trainer.state.log_history)
    (output_dir / LOG_HISTORY_FILE).write_text(json.dumps(history, indent=1, default=str) + "\n")
    return TrainResult(output_dir, int(trainer.state.global_step), dict(out.metrics), history)


def train(recipe: Recipe, *, resume: bool = False, train_dataset=None) -> TrainResult:
    """Run a GRPO recipe end to end (what `mentor-train grpo` calls).

    Args:
        recipe: `configs.load_recipe(path, "grpo", overrides)`.
        resume: continue from the last checkpoint in `output_dir`.
        train_dataset: use this dataset instead of the recipe's `dataset`.

    Returns:
        A `TrainResult`.

    Raises:
        ToolUseError: the smoke check found no tool call in the first logged steps.
    """
    from mentor_data.domains import DomainError
    from mentor_data.domains.session import tool_session

    args = recipe.script_args
    try:
        with tool_session(domain=args.domain, tools=args.tool_specs, mcp=args.mcp or ()):
            trainer = build_trainer(args, recipe.training_args, train_dataset=train_dataset)
            output_dir = recipe.training_args.output_dir
            return run_trainer(trainer, output_dir, resume=resume, recipe=recipe)
    except DomainError as exc:  # a domain or tool source that does not load
        raise TrainingError(str(exc)) from None


__all__ = [
    "LOG_HISTORY_FILE",
    "RECIPE_FILE",
    "MentorGRPOTrainer",
    "ToolUseError",
    "ToolUseSmokeCheck",
    "TrainResult",
    "TrainingError",
    "bind_eos_token_ids",
    "build_rewards",
    "build_trainer",
    "resume_checkpoint",
    "run_trainer",
    "train",
]
