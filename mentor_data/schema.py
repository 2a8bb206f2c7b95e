"""The trajectory schema as `datasets.Features`, mirrored by `schemas/trajectory.schema.json`.

The JSON Schema is the documented contract; the Features below are what the code writes. A test
(`tests/test_schema.py`) converts the JSON Schema with `features_from_json_schema` and asserts the
two are identical, so neither can drift.

Messages, tool schemas and call arguments are `Json` columns (Arrow's JSON extension type): a
struct column would merge the argument dictionaries of different tools into one struct and give
`add` a phantom `"x": null` (notes/trl.md, pitfall 2).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

from datasets import Features, Json, List, Value

SCHEMA_VERSION = "1.0"

_str = Value("string")
_int = Value("int64")
_float = Value("float64")

TOOL_CALL_FEATURES = {
    "turn": _int,
    "id": _str,
    "name": _str,
    "arguments": Json(),
    "output": _str,
    "error": _str,
}

TRAJECTORY_FEATURES = Features(
    {
        "schema_version": _str,
        "problem_id": _str,
        "sample_id": _int,
        "domain": _str,
        "source": _str,
        "question": _str,
        "answer": _str,
        "messages": List(Json()),
        "tools": List(Json()),
        "teacher": {
            "backend": _str,
            "model": _str,
            "prompt_hash": _str,
            "sampling": {
                "temperature": _float,
                "top_p": _float,
                "max_tokens": _int,
                "max_turns": _int,
                "seed": _int,
            },
        },
        "tool_calls": List(TOOL_CALL_FEATURES),
        "final_answer": _str,
        "num_turns": _int,
        "finish_reason": _str,
        "error": _str,
        "usage": {"prompt_tokens": _int, "completion_tokens": _int},
        "latency_s": _float,
        "created_at": _str,
        "metadata": Json(),
    }
)

VERIFICATION_FEATURES = Features(
    {
        "verified": Value("bool"),
        "reason": _str,
        "reason_detail": _str,
        "teacher_tools": List(_str),
        "teacher_tool_counts": Json(),
        "teacher_tool_sequence": List(_str),
        "teacher_n_calls": _int,
        "teacher_answer": _str,
    }
)

FINISH_REASONS = ("stop", "length", "max_turns", "error")


def verified_features() -> Features:
    """Features of a verified version: the trajectory columns followed by verify's columns."""
    return Features({**TRAJECTORY_FEATURES, **VERIFICATION_FEATURES})


def features_for(columns: list[str]) -> Features:
    """Features for a set of known column names, in the given order.

    Raises:
        KeyError: when a column is not part of the schema.
    """
    known = verified_features()
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise KeyError(f"columns not in the trajectory schema: {unknown}")
    return Features({c: known[c] for c in columns})


def _feature_from_json(prop: dict[str, Any], where: str):
    if prop.get("x-arrow") == "json":
        return Json()
    types = prop.get("type")
    types = [types] if isinstance(types, str) else [t for t in (types or []) if t != "null"]
    if len(types) != 1:
        raise ValueError(f"{where}: need exactly one non-null type or x-arrow json, got {types}")
    kind = types[0]
    if kind == "string":
        return _str
    if kind == "integer":
        return _int
    if kind == "number":
        return _float
    if kind == "boolean":
        return Value("bool")
    if kind == "array":
        return List(_feature_from_json(prop["items"], f"{where}[]"))
    if kind == "object":
        return {k: _feature_from_json(v, f"{where}.{k}") for k, v in prop["properties"].items()}
    raise ValueError(f"{where}: unsupported JSON Schema type {kind!r}")


def features_from_json_schema(schema: dict[str, Any]) -> Features:
    """Convert the trajectory JSON Schema into `datasets.Features` (property order kept).

    Args:
        schema: the parsed `schemas/trajectory.schema.json`.

    Returns:
        Features of every property, verification columns included.
    """
    return Features({k: _feature_from_json(v, k) for k, v in schema["properties"].items()})


def prompt_hash(system_prompt: str | None, tools: list[dict[str, Any]]) -> str:
    """Hash of the instructions a teacher saw: the system prompt and the offered tool schemas.

    Example:
        >>> len(prompt_hash("You are a calculator.", []))
        16
    """
    payload = json.dumps([system_prompt or "", tools], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def utc_now() -> str:
    """The current UTC time in ISO 8601, the `created_at` format."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def empty_sampling() -> dict[str, Any]:
    """A `teacher.sampling` struct with every field null."""
    return dict.fromkeys(("temperature", "top_p", "max_tokens", "max_turns", "seed"))


def row_key(row: dict[str, Any]) -> tuple[str, int]:
    """The key of a trajectory row: (problem_id, sample_id)."""
    return (str(row["problem_id"]), int(row["sample_id"]))
