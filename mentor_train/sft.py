"""The SFT baseline: `mentor-train sft --recipe R.yaml` imitates verified teacher trajectories.

`trl.SFTTrainer` on the `to_sft` view (`messages` with tool calls and tool messages, `tools` as a
JSON string) with `assistant_only_loss=True`: only the assistant turns (tool calls and the final
answer) are trained, never the prompt or the tool observations. TRL swaps in its training chat
template (with `{% generation %}` markers) for known templates.

Two silent failures are turned into errors before training starts:

* an all-zero assistant mask (TRL#4879): `students.check_student` renders a tool conversation
  with the training template and requires assistant tokens;
* examples whose assistant turns lie beyond `max_length` (TRL trains nothing on them; with a small
  vocabulary the tool system prompt alone is ~600 tokens): `check_lengths` counts them and
  refuses the run when any example would train on nothing, naming a `max_length` that fits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from transformers import TrainerCallback

from mentor_train.configs import MentorSFTConfig, Recipe, SFTScriptArguments
from mentor_train.grpo import TrainingError, TrainResult, run_trainer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LengthReport:
    """Token lengths of an SFT dataset under a chat template.

    Attributes:
        n: examples checked.
        longest: the longest example in tokens.
        over_max_length: examples longer than `max_length` (their tail is cut).
        no_assistant_tokens: examples with no assistant token inside `max_length` (they would
            train on nothing).
    """

    n: int
    longest: int
    over_max_length: int
    no_assistant_tokens: int


def check_lengths(tokenizer, dataset, max_length: int | None) -> LengthReport:
    """Measure where the assistant tokens of every example fall against `max_length`.

    Args:
        tokenizer: the student's tokenizer.
        dataset: rows with `messages` (and optionally `tools`, a list or a JSON string).
        max_length: the SFT `max_length` (None: no limit).

    Returns:
        A `LengthReport`.
    """
    import json

    from trl.chat_template_utils import get_training_chat_template

    template = get_training_chat_template(tokenizer) or tokenizer.chat_template
    longest = over = empty = 0
    has_tools = "tools" in dataset.column_names
    for row in dataset:
        tools = row.get("tools") if has_tools else None
        if isinstance(tools, str):
            tools = json.loads(tools) if tools.strip() else None
        out = tokenizer.apply_chat_template(
            row["messages"],
            tools=tools or None,
            chat_template=template,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        mask = list(out["assistant_masks"])
        longest = max(longest, len(mask))
        if max_length is not None and len(mask) > max_length:
            over += 1
            mask = mask[:max_length]
        if not any(mask):
            empty += 1
    return LengthReport(len(dataset), longest, over, empty)


def build_trainer(
    script_args: SFTScriptArguments,
    training_args: MentorSFTConfig,
    *,
    train_dataset=None,
    callbacks: Sequence[TrainerCallback] = (),
):
    """Build the `SFTTrainer` of a recipe (nothing is trained yet).

    Raises:
        StudentError, DataError, TrainingError: a student, data or recipe that cannot train.
        RecipeError: a `model_init_kwargs` key the model does not accept.
    """
    from transformers import AutoTokenizer
    from trl import SFTTrainer

    from mentor_train.configs import model_init_kwargs_error
    from mentor_train.data import load_training_data
    from mentor_train.students import check_student, require_model_folder

    require_model_folder(script_args.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(script_args.model_name_or_path)
    if script_args.check_student:
        check_student(tokenizer)
    if train_dataset is None:
        train_dataset = load_training_data(
            script_args.dataset,
            "sft",
            data_dir=script_args.data_dir,
            max_samples=script_args.max_train_samples,
        )
    # SFT learns from the conversation and its tools; an export's domain and metadata stay out.
    extra = [c for c in ("domain", "metadata") if c in train_dataset.column_names]
    if extra:
        train_dataset = train_dataset.remove_columns(extra)
    if training_args.assistant_only_loss:
        report = check_lengths(tokenizer, train_dataset, training_args.max_length)
        if report.no_assistant_tokens:
            raise TrainingError(
                f"{report.no_assistant_tokens} of {report.n} SFT examples have no assistant token "
                f"within max_length={training_args.max_length} (the longest is {report.longest} "
                "tokens); they would train on nothing: raise max_length to at least "
                f"{report.longest}"
            )
        if report.over_max_length:
            logger.warning(
                "%d of %d SFT examples are longer than max_length=%s and are cut "
                "(longest: %d tokens)",
                report.over_max_length,
                report.n,
                training_args.max_length,
                report.longest,
            )
    try:
        return SFTTrainer(
            model=script_args.model_name_or_path,
            args=training_args,
            train_dataset=train_dataset,
            processing_class=tokenizer,
            callbacks=list(callbacks),
        )
    except TypeError as exc:
        error = model_init_kwargs_error(exc, training_args.model_init_kwargs)
        if error is None:
            raise
        raise error from None


def train(recipe: Recipe, *, resume: bool = False, train_dataset=None) -> TrainResult:
    """Run an SFT recipe end to end (what `mentor-train sft` calls).

    Args:
        recipe: `configs.load_recipe(path, "sft", overrides)`.
        resume: continue from the last checkpoint in `output_dir`.
        train_dataset: use this dataset instead of the recipe's `dataset`.

    Returns:
        A `TrainResult`.
    """
    trainer = build_trainer(recipe.script_args, recipe.training_args, train_dataset=train_dataset)
    return run_trainer(trainer, recipe.training_args.output_dir, resume=resume, recipe=recipe)


__all__ = ["LengthReport", "build_trainer", "check_lengths", "train"]
