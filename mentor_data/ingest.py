"""`mentor-data import`: bring trajectories made by other tools into the store.

Input is JSONL, one trajectory per line, in OpenAI chat format:
`{"id", "question", "answer", "messages", "tools"?, "sample_id"?, "model"?, "metadata"?}`, tool
calls either as `tool_calls` entries (arguments as an object or a JSON string) or as
`<tool_call>` text in assistant content. Everything is validated before anything is written: a
bad row is reported with its line number and field, and no version appears.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor_data.formats import normalize_tool_calls, text_to_assistant_message
from mentor_data.store import Store, StoreError, VersionInfo
from mentor_data.trajectory import make_row

ROLES = ("system", "user", "assistant", "tool")
MAX_REPORTED_ERRORS = 20
INT64_MAX = 2**63 - 1  # the store's integer columns (sample_id) are int64


def input_file_problem(path: str | Path) -> str | None:
    """Why `path` cannot be read as an input file, or None when it can.

    Any readable non-directory counts: a regular file, a FIFO, `/dev/stdin`, `/dev/fd/N`.
    """
    path = Path(path)
    try:
        if path.is_dir():
            return f"{path}: is a directory; give a file (JSONL) inside it"
        if not path.exists():
            return f"{path}: no such file"
    except OSError as exc:  # e.g. a name too long, a loop of symlinks
        return f"{path}: cannot be read ({exc.strerror or exc})"
    if not os.access(path, os.R_OK):
        return f"{path}: permission denied; make it readable or copy it somewhere readable"
    return None


def unencodable_field(value: Any, where: str) -> str | None:
    """The dotted path (under `where`) of the first string in `value` that is not valid
    Unicode (a lone surrogate such as "\\ud800", which no UTF-8 file or Arrow column can hold),
    or None when there is none."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return where
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = unencodable_field(str(key), f"{where} (a key)") or unencodable_field(
                item, f"{where}.{key}"
            )
            if found:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = unencodable_field(item, f"{where}[{i}]")
            if found:
                return found
    return None


class InvalidRowsError(StoreError):
    """Some rows of an import file are invalid; `errors` lists them as "line N: field: why"."""

    def __init__(self, path: Path, errors: list[str], total_bad: int):
        self.errors = errors
        more = f"\n  ... and {total_bad - len(errors)} more" if total_bad > len(errors) else ""
        super().__init__(
            f"{path}: {total_bad} invalid row(s), nothing was written:\n  "
            + "\n  ".join(errors)
            + more
            + "\nfix the rows, or pass --skip-invalid to import only the valid ones"
        )


@dataclass
class ImportResult:
    version: VersionInfo
    rows: int
    skipped: list[str] = field(default_factory=list)


def _normalize_message(msg: Any, where: str) -> dict[str, Any]:
    if not isinstance(msg, dict):
        raise ValueError(f"{where}: must be an object with role and content")
    role = msg.get("role")
    if role not in ROLES:
        raise ValueError(f"{where}.role: {role!r} is not one of {', '.join(ROLES)}")
    content = msg.get("content")
    if content is not None and not isinstance(content, (str, list)):
        raise ValueError(f"{where}.content: must be a string, a list of parts or null")
    if role == "assistant":
        text = content if isinstance(content, str) else ""
        if msg.get("tool_calls"):
            if not isinstance(msg["tool_calls"], list):
                raise ValueError(f"{where}.tool_calls: must be a list")
            out = {
                "role": "assistant",
                "content": text,
                "tool_calls": normalize_tool_calls(msg["tool_calls"]),
            }
        else:  # tool calls written as <tool_call> text become structured calls
            out = text_to_assistant_message(text)
        return out
    out = {"role": role, "content": content if content is not None else ""}
    if role == "tool":
        for key in ("tool_call_id", "name"):
            if msg.get(key) is not None:
                out[key] = str(msg[key])
    return out


def parse_import_line(obj: Any, line_no: int) -> dict[str, Any]:
    """Validate one decoded JSONL object; raise ValueError("line N: field: why")."""
    where = f"line {line_no}"
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for key in ("id", "question", "messages"):
        if key not in obj:
            raise ValueError(f"{where}: missing field {key!r}")
    if not isinstance(obj["id"], (str, int)) or isinstance(obj["id"], bool) or obj["id"] == "":
        raise ValueError(f"{where}: field 'id' must be a non-empty string or integer")
    if not isinstance(obj["question"], str) or not obj["question"].strip():
        raise ValueError(f"{where}: field 'question' must be a non-empty string")
    answer = obj.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float, type(None))):
        raise ValueError(f"{where}: field 'answer' must be a string or a number")
    messages = obj["messages"]
    if not isinstance(messages, list) or not messages:
        raise ValueError(f"{where}: field 'messages' must be a non-empty list of chat messages")
    msgs = [_normalize_message(m, f"{where}: messages[{i}]") for i, m in enumerate(messages)]
    if not any(m["role"] == "assistant" for m in msgs):
        raise ValueError(f"{where}: field 'messages' has no assistant message")
    if not any(m["role"] == "user" for m in msgs):
        msgs.insert(
            next((i + 1 for i, m in enumerate(msgs) if m["role"] == "system"), 0),
            {"role": "user", "content": obj["question"]},
        )
    tools = obj.get("tools")
    if tools is not None and (
        not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools)
    ):
        raise ValueError(f"{where}: field 'tools' must be a list of tool schemas (objects)")
    sample_id = obj.get("sample_id")
    if sample_id is not None and (
        not isinstance(sample_id, int) or isinstance(sample_id, bool) or sample_id < 0
    ):
        raise ValueError(f"{where}: field 'sample_id' must be a non-negative integer")
    if sample_id is not None and sample_id > INT64_MAX:
        raise ValueError(
            f"{where}: field 'sample_id': {sample_id} is too large (at most 2**63 - 1); "
            "number the attempts of a problem 0, 1, 2, ..."
        )
    for key in ("id", "question", "answer", "messages", "tools", "model", "metadata"):
        bad = unencodable_field(obj.get(key), key)
        if bad is not None:
            raise ValueError(
                f"{where}: field {bad!r}: contains a lone surrogate (e.g. \\ud800), which is not "
                "valid Unicode; fix the text where the file was written"
            )
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise ValueError(f"{where}: field 'metadata' must be an object")
    return {
        "id": str(obj["id"]),
        "question": obj["question"],
        "answer": None if answer is None else str(answer),
        "messages": msgs,
        "tools": tools,
        "sample_id": sample_id,
        "model": obj.get("model"),
        "metadata": metadata,
    }


def import_jsonl(
    path: str | Path,
    name: str,
    *,
    store: Store | None = None,
    domain: str = "arithmetic",
    tools: list[dict[str, Any]] | None = None,
    model: str | None = None,
    skip_invalid: bool = False,
    command: str | None = None,
) -> ImportResult:
    """Validate a JSONL file of chat trajectories and write it as a new version of `name`.

    Args:
        path: the JSONL file.
        name: dataset name in the store.
        store: target store (default: `Store()`).
        domain: value of the `domain` column.
        tools: tool schemas offered, for rows without their own `tools` field.
        model: teacher model name recorded for rows without a `model` field.
        skip_invalid: import the valid rows and report the others instead of failing.
        command: the command line recorded in the manifest.

    Raises:
        InvalidRowsError: invalid rows (and skip_invalid is False); nothing is written.
        StoreError: the file does not exist or is empty.
    """
    path = Path(path)
    problem = input_file_problem(path)
    if problem is not None:
        raise StoreError(problem)
    store = store or Store()
    if tools is None:
        from mentor_data.tools import ARITHMETIC

        tools = ARITHMETIC.schemas()
    parsed: list[dict[str, Any]] = []
    errors: list[str] = []
    with open(path, "rb") as f:  # bytes: a line that is not UTF-8 is an invalid row, named
        for line_no, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                errors.append(
                    f"line {line_no}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                    f"{exc.start + 1}); save the file as UTF-8"
                )
                continue
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError) as exc:
                errors.append(f"line {line_no}: not valid JSON ({str(exc)[:80]})")
                continue
            try:
                parsed.append({**parse_import_line(obj, line_no), "line": line_no})
            except ValueError as exc:
                errors.append(str(exc))
    seen: Counter[str] = Counter()
    keys: dict[tuple[str, int], int] = {}
    rows = []
    for p in parsed:
        sample_id = p["sample_id"] if p["sample_id"] is not None else seen[p["id"]]
        seen[p["id"]] += 1
        key = (p["id"], sample_id)
        if key in keys:
            errors.append(
                f"line {p['line']}: fields 'id'/'sample_id': duplicate key {key} "
                f"(first on line {keys[key]}); give each attempt its own sample_id"
            )
            continue
        keys[key] = p["line"]
        rows.append(
            make_row(
                problem_id=p["id"],
                sample_id=sample_id,
                question=p["question"],
                answer=p["answer"],
                messages=p["messages"],
                tools=p["tools"] if p["tools"] is not None else tools,
                domain=domain,
                source=path.name,
                backend="import",
                model=p["model"] or model,
                metadata=p["metadata"],
            )
        )
    if errors and not skip_invalid:
        raise InvalidRowsError(path, errors[:MAX_REPORTED_ERRORS], len(errors))
    if not rows:
        raise StoreError(f"{path}: no valid rows to import")
    version = store.write_version(
        name, rows, command=command, lineage={"imported_from": str(path), "teacher_model": model}
    )
    return ImportResult(version, len(rows), errors)
