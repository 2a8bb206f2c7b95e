"""Training views of a verified version: GRPO prompts with teacher targets, SFT conversations.

`to_grpo(dataset)` and `to_sft(dataset)` are what mentor-train calls; `mentor-data export` writes
the same views to a folder or a store version.

GRPO rows (`GRPO_FEATURES`), one per kept trajectory:

| column | what the trainer / rewards do with it |
|---|---|
| `prompt` | system message (if any) + user message; the trainer appends the generation |
| `answer` | ground truth, read by the correctness check of every reward |
| `problem_id` | groups rows and joins logs back to the store |
| `tool_names` | names of the tools offered on the row (the hallucination check reads it) |
| `teacher_tools`, `teacher_tool_counts`, `teacher_tool_sequence` | alignment targets (verify) |
| `teacher_n_calls`, `teacher_answer` | alignment targets (verify) |
| `family` | the row's family as its domain reads it (`metadata.family`; BFCL: the category) |
| `domain` | the row's domain: its judge scores the completions, its environment runs the tools |
| `metadata` | the row's metadata as a JSON string (judge inputs, e.g. BFCL's ground truth) |
| `tools` | the offered tool schemas as a JSON string (a row's own prompt and tools) |

Every GRPO file is self-contained: a trainer needs nothing but the file and the domain.

SFT rows (`SFT_FEATURES`): `messages` (the whole conversation, `List(Json())`: tool-call
arguments of different tools must not merge into one struct), `tools`, the offered tool
schemas as a JSON string, and `domain` and `metadata` (a JSON string); the SFT trainer reads
`messages` and `tools` only. TRL 1.16's SFTTrainer decodes a string `tools` itself and passes a list
to the chat template as is; both render identically (tested with a 1-step SFTTrainer run), and
a string survives every Arrow, pandas and older-`datasets` round trip unchanged.

Only verified rows are exported unless `include_failed=True`; a dataset without verification
columns is refused (`ExportError`: run `mentor-data verify` first).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, Json, List, Value

from mentor_data.domains import family_of

logger = logging.getLogger(__name__)

FORMATS = ("grpo", "sft")

_str = Value("string")

GRPO_FEATURES = Features(
    {
        "prompt": List({"role": _str, "content": _str}),
        "answer": _str,
        "problem_id": _str,
        "tool_names": List(_str),
        "teacher_tools": List(_str),
        "teacher_tool_counts": Json(),
        "teacher_tool_sequence": List(_str),
        "teacher_n_calls": Value("int64"),
        "teacher_answer": _str,
        "family": _str,
        "domain": _str,
        "metadata": _str,
        "tools": _str,
    }
)
"""Columns of a GRPO export, in order. `metadata` and `tools` are JSON strings (Arrow would merge
the structs of different rows' metadata and tool schemas)."""

SFT_FEATURES = Features({"messages": List(Json()), "tools": _str, "domain": _str, "metadata": _str})
"""Columns of an SFT export: the conversation, the offered tool schemas as a JSON string, and
the row's domain and metadata (a JSON string), so a file is self-contained."""

_GRPO_INPUT = (
    "messages",
    "answer",
    "problem_id",
    "tools",
    "metadata",
    "teacher_tools",
    "teacher_tool_counts",
    "teacher_tool_sequence",
    "teacher_n_calls",
    "teacher_answer",
    "domain",
)


class ExportError(ValueError):
    """The dataset cannot be exported as asked; the message says what to do."""


def _text(content: Any) -> str:
    """Message content as text (None and lists of `{"type": "text"}` parts included)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _require_verified(dataset: Dataset, what: str) -> None:
    if "verified" not in dataset.column_names:
        raise ExportError(
            f"{what} has no verification columns (verified, reason, teacher_tools, ...): "
            "run `mentor-data verify NAME@vN` first and export the version it writes"
        )


def _kept(dataset: Dataset, include_failed: bool) -> Dataset:
    if include_failed:
        return dataset
    flags = dataset["verified"]  # not `.data.table`: that ignores an index map (a `select`)
    return dataset.select([i for i, ok in enumerate(flags) if ok])


def prompt_messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """The GRPO prompt of a conversation: its system message (if first) and its first user message.

    Example:
        >>> prompt_messages([{"role": "system", "content": "Be brief."},
        ...                  {"role": "user", "content": "1+2?"},
        ...                  {"role": "assistant", "content": "3"}])
        [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': '1+2?'}]
    """
    prompt = []
    if messages and messages[0].get("role") == "system":
        prompt.append({"role": "system", "content": _text(messages[0].get("content"))})
    user = next((m for m in messages if m.get("role") == "user"), None)
    if user is not None:
        prompt.append({"role": "user", "content": _text(user.get("content"))})
    return prompt


def _tool_names(tools: list[Any]) -> list[str]:
    names = []
    for schema in tools or []:
        function = schema.get("function") if isinstance(schema, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.append(function["name"])
    return names


def to_grpo(dataset: Dataset, *, include_failed: bool = False) -> Dataset:
    """The GRPO view of a verified dataset (columns in `GRPO_FEATURES`).

    Args:
        dataset: a verified version (`Store.load`), with the verification columns.
        include_failed: export every row, not only the verified ones.

    Returns:
        A `Dataset` with one row per kept trajectory.

    Raises:
        ExportError: the dataset has no verification columns.
    """
    _require_verified(dataset, "this dataset")
    kept = _kept(dataset, include_failed)
    rows = []
    for row in kept.select_columns(list(_GRPO_INPUT)):
        metadata = row["metadata"] if isinstance(row["metadata"], dict) else {}
        family = family_of(row["domain"], metadata)
        out = {
            "prompt": prompt_messages(row["messages"] or []),
            "answer": row["answer"],
            "problem_id": row["problem_id"],
            "tool_names": _tool_names(row["tools"]),
            "teacher_tools": row["teacher_tools"],
            "teacher_tool_counts": row["teacher_tool_counts"],
            "teacher_tool_sequence": row["teacher_tool_sequence"],
            "teacher_n_calls": row["teacher_n_calls"],
            "teacher_answer": row["teacher_answer"],
            "family": family,
            "domain": row["domain"],
            "metadata": json.dumps(metadata, ensure_ascii=False, default=str),
            "tools": json.dumps(row["tools"] or [], ensure_ascii=False),
        }
        rows.append(out)
    return _from_rows(rows, GRPO_FEATURES)


def to_sft(dataset: Dataset, *, include_failed: bool = False) -> Dataset:
    """The SFT view of a verified dataset: `messages` and `tools` (a JSON string).

    Args:
        dataset: a verified version, with the verification columns.
        include_failed: export every row, not only the verified ones (rarely wanted: SFT
            imitates what it is given).

    Returns:
        A `Dataset` for `trl.SFTTrainer` (conversational, with tools).

    Raises:
        ExportError: the dataset has no verification columns.
    """
    _require_verified(dataset, "this dataset")
    rows = [
        {
            "messages": row["messages"],
            "tools": json.dumps(row["tools"] or [], ensure_ascii=False),
            "domain": row["domain"],
            "metadata": json.dumps(row["metadata"], ensure_ascii=False, default=str),
        }
        for row in _kept(dataset, include_failed).select_columns(
            ["messages", "tools", "domain", "metadata"]
        )
    ]
    return _from_rows(rows, SFT_FEATURES)


def _from_rows(rows: list[dict[str, Any]], features: Features) -> Dataset:
    if not rows:
        return Dataset.from_dict({k: [] for k in features}, features=features)
    return Dataset.from_list(rows, features=features)


@dataclass(frozen=True)
class ExportResult:
    """Where an export went: a folder (`path`) or a store version (`ref`), and its rows."""

    rows: int
    path: Path | None = None
    ref: str | None = None


def export_version(
    ref: str,
    fmt: str,
    *,
    store: Any = None,
    out: str | Path | None = None,
    name: str | None = None,
    include_failed: bool = False,
    command: str | None = None,
) -> ExportResult:
    """Export a verified store version as a training view.

    Args:
        ref: the verified version (`NAME@vN`).
        fmt: `grpo` or `sft`.
        store: the `Store` (default: `Store()`).
        out: write `OUT/train.parquet` (`datasets.load_dataset(OUT)` reads it).
        name: else write a store version of this name (default `NAME-FMT`, parent = `ref`).
        include_failed: export failed rows too.
        command: the command line recorded in a store manifest.

    Returns:
        An `ExportResult`.

    Raises:
        ExportError: an unknown format, or a version without verification columns.
    """
    from mentor_data.store import Store

    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not known: use {' or '.join(FORMATS)}")
    store = store or Store()
    info = store.resolve(ref)
    dataset = store.load(info)
    if "verified" not in dataset.column_names:
        raise ExportError(
            f"{info.ref} is not verified: run `mentor-data verify {info.ref}` "
            "first and export the version it writes"
        )
    view = (to_grpo if fmt == "grpo" else to_sft)(dataset, include_failed=include_failed)
    if out is not None:
        path = Path(out) / "train.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        view.to_parquet(str(path))
        logger.info("exported %s as %s: %d rows -> %s", info.ref, fmt, len(view), path)
        return ExportResult(len(view), path=path)
    lineage = {"export": {"input": info.ref, "format": fmt, "include_failed": include_failed}}
    written = store.write_version(
        name or f"{info.name}-{fmt}",
        view,
        features=view.features,
        command=command,
        parent=info.ref,
        lineage=lineage,
    )
    logger.info("exported %s as %s: %d rows -> %s", info.ref, fmt, len(view), written.ref)
    return ExportResult(len(view), ref=written.ref)


__all__ = [
    "FORMATS",
    "GRPO_FEATURES",
    "SFT_FEATURES",
    "ExportError",
    "ExportResult",
    "export_version",
    "prompt_messages",
    "to_grpo",
    "to_sft",
]
