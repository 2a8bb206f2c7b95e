"""Each row's own tools in GRPO rollouts: TRL environments built from the rows' domains.

With `tool_registry: domain` every GRPO row runs the tools it offers (its `tools` column, as
exported), in a fresh environment of its domain (`Domain.environment`: a stateful domain's own
state, the user's `--tools`/`--mcp` tools, the python sandbox), for every rollout. This is TRL's
`environment_factory` with one factory per distinct (domain, offered tools) pair, selected by an
`environment` column that `with_environments` adds to the dataset:

- TRL builds one instance per rollout and calls `reset(**row)` with the row's columns: the
  instance opens the row's domain environment;
- TRL reads the tools from the class's public methods: one method per offered tool, whose
  signature and Google-style docstring are written from the offered schema, so the student's
  prompt lists the row's tools, and whose body runs the call through the domain environment and
  so through the bounded executor (argument validation, timeout, output size): the observation
  is what data generation showed the teacher (`ToolResult.observation`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from mentor_data.domains import as_metadata, get_domain

ENVIRONMENT_COLUMN = "environment"
"""The dataset column TRL reads to pick a row's environment factory."""

_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "object": dict,
}


class RowToolEnvironment:
    """One rollout's tools: `reset(**row)` opens the row's domain environment (fresh state)."""

    def __init__(self) -> None:
        self._env = None

    def reset(self, **row: Any) -> None:
        """Open a fresh environment of the row's domain for its offered tools."""
        tools = row.get("tools")
        schemas = json.loads(tools) if isinstance(tools, str) else list(tools or [])
        domain = get_domain(row.get("domain"))
        metadata = as_metadata(row.get("metadata"))
        self._env = domain.environment({"tools": schemas, "metadata": metadata})
        return None

    def _run(self, name: str, arguments: dict[str, Any]) -> str:
        if self._env is None:
            return f"Error: {name}: no environment is open (reset was not called)"
        return self._env.run(name, arguments).observation()


def _python_type(schema: Mapping[str, Any]) -> Any:
    """The Python hint whose `get_json_schema` rendering is closest to a JSON-schema property."""
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return Literal[tuple(schema["enum"])]
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: the non-null part
        kind = next((k for k in kind if k != "null"), None)
    if kind == "array":
        item = _python_type(schema.get("items") or {})
        return list[item] if item is not Any else list
    return _JSON_TYPES.get(kind, Any) if isinstance(kind, str) else Any


def tool_method(schema: Mapping[str, Any]) -> Callable[..., str]:
    """A method for TRL from an OpenAI tool schema: its name, typed parameters and a
    Google-style docstring (what `get_json_schema` reads), and a body that runs the call in the
    instance's domain environment.

    Raises:
        ValueError: a schema without a usable function name.
    """
    function = schema.get("function") or {}
    name = function.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"tool schema without a usable function name: {str(name)[:60]!r}")
    params = function.get("parameters") or {}
    props = params.get("properties") or {}
    required = set(params.get("required") or [])
    signature = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    hints: dict[str, Any] = {}
    lines = []
    # Required parameters first: a Python signature cannot put a default before a non-default.
    for key in sorted(props, key=lambda k: k not in required):
        if not key.isidentifier():
            raise ValueError(f"tool {name!r}: parameter {key!r} is not a Python identifier")
        hint = _python_type(props[key] or {})
        optional = key not in required
        hints[key] = hint | None if optional and hint is not Any else hint
        default = None if optional else inspect.Parameter.empty
        signature.append(
            inspect.Parameter(
                key, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hints[key]
            )
        )
        text = " ".join(str((props[key] or {}).get("description") or key).split())
        lines.append(f"    {key}: {text}")

    def method(self: RowToolEnvironment, **kwargs: Any) -> str:
        # Unset optional arguments stay out of the call, as the model left them out.
        return self._run(name, {k: v for k, v in kwargs.items() if v is not None})

    description = " ".join(str(function.get("description") or name).split())
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"{description}\n\nArgs:\n" + "\n".join(lines) if lines else description
    method.__signature__ = inspect.Signature(signature)
    method.__annotations__ = hints
    return method


def environment_key(domain: Any, tools: Any) -> str:
    """The environment name of a row: its domain and a digest of its offered schemas."""
    text = tools if isinstance(tools, str) else json.dumps(tools or [], sort_keys=True)
    return f"{domain or 'default'}-{hashlib.sha1(text.encode()).hexdigest()[:10]}"


def environment_factories(dataset: Any) -> dict[str, type[RowToolEnvironment]]:
    """One environment class per distinct (domain, offered tools) of a GRPO dataset.

    Raises:
        ValueError: the dataset lacks `domain` or `tools`, or a schema cannot become a method.
    """
    missing = [c for c in ("domain", "tools") if c not in dataset.column_names]
    if missing:
        raise ValueError(
            f"tool_registry: domain runs each row's own tools, but the data has no "
            f"{', '.join(missing)} column: train on a verified store version (NAME@vN) or a "
            "GRPO export (mentor-data export --format grpo)"
        )
    factories: dict[str, type[RowToolEnvironment]] = {}
    for domain, tools in zip(dataset["domain"], dataset["tools"], strict=True):
        key = environment_key(domain, tools)
        if key in factories:
            continue
        schemas = json.loads(tools) if isinstance(tools, str) else list(tools or [])
        methods = {}
        for schema in schemas:
            method = tool_method(schema)
            methods[method.__name__] = method
        factories[key] = type(f"Env_{key.replace('-', '_')}", (RowToolEnvironment,), methods)
    return factories


def with_environments(dataset: Any) -> Any:
    """The dataset with the `environment` column that selects each row's factory."""
    keys = [environment_key(d, t) for d, t in zip(dataset["domain"], dataset["tools"], strict=True)]
    if ENVIRONMENT_COLUMN in dataset.column_names:
        dataset = dataset.remove_columns(ENVIRONMENT_COLUMN)
    return dataset.add_column(ENVIRONMENT_COLUMN, keys)


__all__ = [
    "ENVIRONMENT_COLUMN",
    "RowToolEnvironment",
    "environment_factories",
    "environment_key",
    "tool_method",
    "with_environments",
]
