"""Training data for `mentor-train grpo` and `sft`: a store version or a path, as a training view.

* `NAME@vN` (`NAME`, `NAME@latest`): a store version; it must be verified, and is exported on
  the fly with `to_grpo` / `to_sft` (verified rows only).
* a path (a `save_to_disk` folder, a `.parquet` / `.jsonl` / `.json` file, or a folder of
  `.parquet` files): an exported view (a `prompt` column for GRPO, `messages` + `tools` for SFT)
  is used as is; verified trajectories are exported like a store version.

Unverified trajectories are refused with the command that verifies them: rewards and SFT must
only see teacher trajectories whose final answer was checked.

Function-calling rows (`domain` = `bfcl`) need more than the arithmetic GRPO view holds: the
rewards judge them on their `metadata` (BFCL's ground truth) and the prompt must show the row's
own tools. So the GRPO view of a version with BFCL rows gets three more columns from the
trajectories: `domain`, `metadata` (a JSON string) and `tools` (the offered schemas, a JSON
string), and `family` is the BFCL category. `render_prompts` then renders each prompt with its
own tools through the student's chat template (`tool_registry: none`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from datasets import Dataset

logger = logging.getLogger(__name__)

VIEWS = ("grpo", "sft")
GRPO_REQUIRED = ("prompt", "answer")
SFT_REQUIRED = ("messages",)
_TRAJECTORY_MARKERS = ("schema_version", "sample_id", "finish_reason")


class DataError(ValueError):
    """Training data that cannot be used as asked; the message names the fix."""


def _is_path(spec: str) -> bool:
    return Path(spec).exists() or "/" in spec or spec.endswith((".parquet", ".jsonl", ".json"))


def _read_path(path: Path) -> Dataset:
    if not path.exists():
        raise DataError(f"dataset path {path} does not exist")
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "state.json").is_file():
            from datasets import load_from_disk

            loaded = load_from_disk(str(path))
            if not isinstance(loaded, Dataset):  # a DatasetDict: take its train split
                if "train" not in loaded:
                    raise DataError(f"{path} holds splits {list(loaded)}; expected a train split")
                loaded = loaded["train"]
            return loaded
        shards = sorted(str(p) for p in path.glob("*.parquet"))
        if not shards:
            raise DataError(
                f"{path} is neither a save_to_disk folder nor a folder of .parquet files"
            )
        return Dataset.from_parquet(shards)
    if path.suffix == ".parquet":
        return Dataset.from_parquet(str(path))
    if path.suffix in (".jsonl", ".json"):
        return Dataset.from_json(str(path))
    raise DataError(f"{path}: unsupported file type; use .parquet, .jsonl, .json or a folder")


def _export(dataset: Dataset, view: str, what: str) -> Dataset:
    from mentor_data.export import ExportError, to_grpo, to_sft

    try:
        out = (to_grpo if view == "grpo" else to_sft)(dataset)
    except ExportError as exc:
        raise DataError(f"{what}: {exc}") from None
    if len(out) == 0:
        raise DataError(
            f"{what} has no verified rows to train on (all {len(dataset)} failed "
            "verification); look at `mentor-data stats` for the reasons"
        )
    return out


def _row_tools(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else None
    return list(value) if value else None


def render_prompts(dataset: Dataset, tokenizer: Any) -> Dataset:
    """Each row's prompt as text, rendered with the row's own tools by the student's template.

    This is the prompt the hf backend of generate and eval renders
    (`apply_chat_template(messages, tools=row_tools, add_generation_prompt=True)`), so a student
    trains and is evaluated on the same text. GRPOTrainer then gets plain-text prompts and
    applies no template or tools of its own.

    Args:
        dataset: a GRPO view with a conversational `prompt` and a `tools` column (schemas, a
            list or a JSON string).
        tokenizer: the student's tokenizer (with a chat template).

    Returns:
        The dataset with `prompt` replaced by the rendered text.

    Raises:
        DataError: the dataset has no `tools` column or a prompt is already text.
    """
    if "tools" not in dataset.column_names:
        raise DataError(
            "tool_registry: none renders each row's own tools into its prompt, but the data has "
            "no `tools` column: train on a verified store version (NAME@vN) with BFCL rows, or "
            "add a `tools` column of OpenAI tool schemas"
        )
    bos = _added_bos(tokenizer)
    texts = []
    for prompt, tools in zip(dataset["prompt"], dataset["tools"], strict=True):
        if isinstance(prompt, str):
            raise DataError(
                "a prompt is already text; tool_registry: none renders conversational prompts "
                "(lists of messages) with each row's tools"
            )
        text = tokenizer.apply_chat_template(
            prompt, tools=_row_tools(tools), tokenize=False, add_generation_prompt=True
        )
        # TRL tokenizes text prompts with special tokens added: keep a BOS from appearing twice.
        texts.append(text[len(bos) :] if bos and text.startswith(bos) else text)
    return dataset.remove_columns(["prompt"]).add_column("prompt", texts)


def _added_bos(tokenizer: Any) -> str | None:
    """The BOS text the tokenizer prepends on its own (None when it adds none)."""
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if bos_id is None:
        return None
    ids = tokenizer("x")["input_ids"]
    return tokenizer.bos_token if ids and ids[0] == bos_id else None


def load_training_data(
    spec: str, view: str, *, data_dir: str | None = None, max_samples: int | None = None
) -> Dataset:
    """Load a store version or a path as the GRPO or SFT training view.

    Args:
        spec: `NAME@vN` or a path (see the module docstring).
        view: `grpo` or `sft`.
        data_dir: the store folder (default `$MENTOR_DATA_DIR` or `./data`).
        max_samples: keep the first N rows.

    Returns:
        A `Dataset` with the view's columns.

    Raises:
        DataError: a missing dataset, unverified trajectories, no rows, or missing columns.
        StoreError: an unknown store version (the message lists what exists).
    """
    if view not in VIEWS:
        raise DataError(f"unknown view {view!r}; use grpo or sft")
    if _is_path(spec):
        dataset = _read_path(Path(spec))
        what = str(spec)
    else:
        from mentor_data.store import Store

        store = Store(data_dir)
        info = store.resolve(spec)
        dataset = store.load(info)
        what = info.ref
    columns = set(dataset.column_names)
    if "verified" in columns:
        dataset = _export(dataset, view, what)
    elif any(c in columns for c in _TRAJECTORY_MARKERS):
        raise DataError(
            f"{what} holds trajectories that are not verified: run "
            f"`mentor-data verify {spec}` and train on the version it writes"
        )
    required = GRPO_REQUIRED if view == "grpo" else SFT_REQUIRED
    missing = [c for c in required if c not in dataset.column_names]
    if missing:
        raise DataError(
            f"{what} has no column(s) {missing} for {view}: give a verified store "
            f"version or a `mentor-data export --format {view}` output"
        )
    if len(dataset) == 0:
        raise DataError(f"{what} has no rows")
    if max_samples is not None and max_samples < len(dataset):
        dataset = dataset.select(range(max_samples))
    logger.info("training data %s: %d rows (%s view)", what, len(dataset), view)
    return dataset


__all__ = ["DataError", "load_training_data", "render_prompts"]
