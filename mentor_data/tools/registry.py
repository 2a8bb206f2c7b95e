"""Tool registries: named sets of tools, each a typed function plus its OpenAI function schema.

The schema is what a teacher or student is shown; the function is what runs. A registry keeps
registration order (it is the order of the tool list in every prompt), hands out schemas for
chat templates and OpenAI-compatible APIs, and wraps its tools for `GRPOTrainer(tools=...)` so
that training calls go through the same bounded executor as data generation.
"""

from __future__ import annotations

import copy
import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mentor_data.tools.arithmetic import ARITHMETIC_TOOLS
from mentor_data.tools.python_tool import PYTHON_SCHEMA, python
from mentor_data.tools.schemas import ARITHMETIC_SCHEMAS


@dataclass(frozen=True)
class Tool:
    """One tool.

    Args:
        name (`str`): The name the model calls, equal to `schema["function"]["name"]`.
        fn (`Callable`): The typed Python function that computes the result.
        schema (`dict`): Its OpenAI function schema (`{"type": "function", "function": {...}}`).
        timeout_s (`float` or `None`, *optional*, defaults to `None`): Seconds one call may take
            before the executor returns a `timeout` error; None for tools that are bounded by
            construction (the arithmetic tools; the python tool bounds itself in its sandbox).
        deterministic (`bool`, *optional*, defaults to `True`): Whether a call with the same
            arguments (on the same state) returns the same output. Verify compares the
            re-executed output of deterministic tools only; other calls are re-run and counted.
    """

    name: str
    fn: Callable[..., Any]
    schema: dict
    timeout_s: float | None = None
    deterministic: bool = True

    @property
    def description(self) -> str:
        """The one-line description shown to the model."""
        return self.schema["function"].get("description", "")

    @property
    def parameters(self) -> dict:
        """The JSON schema of the arguments (an object schema)."""
        return self.schema["function"].get("parameters", {"type": "object", "properties": {}})

    @property
    def signature(self) -> str:
        """A readable signature from the schema, e.g. `round_number(x: number, ndigits?: integer)`.

        Parameters with a `?` are optional.
        """
        required = set(self.parameters.get("required", []))
        params = []
        for name, prop in self.parameters.get("properties", {}).items():
            kind = prop.get("type", "any")
            if kind == "array":
                kind = f"{prop.get('items', {}).get('type', 'any')}[]"
            params.append(f"{name}{'' if name in required else '?'}: {kind}")
        return f"{self.name}({', '.join(params)})"


class ToolRegistry:
    """An ordered set of tools with unique names.

    Args:
        tools (`Iterable[Tool]`, *optional*): Tools to register, in order (a registry is one).
    """

    def __init__(self, tools: Iterable[Tool] = ()):
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        """Add a tool; its name must be new and match its schema's name."""
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        if (
            tool.schema.get("type") != "function"
            or tool.schema.get("function", {}).get("name") != tool.name
        ):
            raise ValueError(
                f"tool {tool.name!r}: schema must be {{'type': 'function', 'function': "
                f"{{'name': {tool.name!r}, ...}}}}"
            )
        self._tools[tool.name] = tool

    def get(self, name: str) -> Tool | None:
        """The tool called `name`, or None."""
        return self._tools.get(name) if isinstance(name, str) else None

    def names(self) -> list[str]:
        """Tool names in registration order."""
        return list(self._tools)

    def schemas(self) -> list[dict]:
        """OpenAI tool schemas in registration order (copies: callers may edit them)."""
        return [copy.deepcopy(tool.schema) for tool in self._tools.values()]

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        """A new registry with the named tools, in the order given; unknown names -> KeyError."""
        names = list(names)
        unknown = [name for name in names if name not in self._tools]
        if unknown:
            raise KeyError(f"unknown tool(s) {unknown}; known: {', '.join(self._tools)}")
        return ToolRegistry(self._tools[name] for name in names)

    def trl_tools(self) -> list[Callable[..., str]]:
        """Callables for `GRPOTrainer(tools=...)` that run through `execute()`.

        Each has the tool's `__name__`, parameters and docstring, so `get_json_schema` builds the
        registry's schema from it, but returns the observation string (`"391"` or
        `"Error: ..."`), so the bounds and error messages of data generation apply in training.
        """
        return [_trl_tool(tool, self) for tool in self._tools.values()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names()})"


def _trl_tool(tool: Tool, registry: ToolRegistry) -> Callable[..., str]:
    """Wrap one tool: same name, parameters and docstring, body = `execute(...).observation()`."""
    # Imported here because executor.py imports this module (for its default registry).
    from mentor_data.tools.executor import execute

    signature = inspect.signature(tool.fn)
    params = list(signature.parameters)

    def call(*args: Any, **kwargs: Any) -> str:
        # TRL calls tools with keyword arguments only; positionals are mapped for direct use.
        if len(args) > len(params):
            return f"Error: {tool.name} takes {len(params)} argument(s), got {len(args)}"
        arguments = dict(zip(params, args, strict=False))
        clash = sorted(set(arguments) & set(kwargs))
        if clash:
            return f"Error: argument {clash[0]!r} was given twice"
        return execute(tool.name, {**arguments, **kwargs}, registry).observation()

    functools.update_wrapper(call, tool.fn)
    # Not `__wrapped__`: inspect.unwrap() would then find the raw, unbounded function.
    del call.__wrapped__
    # No return annotation: the wrapper returns a string, and get_json_schema would add a
    # "return" entry that the registry's schemas (and so the teacher's prompts) lack.
    hints = typing.get_type_hints(tool.fn)
    hints.pop("return", None)
    call.__annotations__ = hints
    call.__signature__ = signature.replace(return_annotation=inspect.Signature.empty)
    return call


ARITHMETIC = ToolRegistry(
    Tool(name=fn.__name__, fn=fn, schema=ARITHMETIC_SCHEMAS[fn.__name__]) for fn in ARITHMETIC_TOOLS
)

# The sandboxed code tool (`python_tool.py`); its worker processes start on its first call.
PYTHON = ToolRegistry([Tool(name="python", fn=python, schema=PYTHON_SCHEMA)])

_REGISTRIES = {"arithmetic": ARITHMETIC, "python": PYTHON}


def get_registry(name: str = "arithmetic") -> ToolRegistry:
    """A copy of a named registry (a copy, so registering into it leaves the shared one alone).

    Args:
        name: The registry name; known: `arithmetic`, `python`. Names joined by `+` combine
            registries in that order: `arithmetic+python` is the twelve tools, then `python`.

    Returns:
        A new `ToolRegistry` with that registry's tools.
    """
    parts = name.split("+") if isinstance(name, str) else [name]
    unknown = [part for part in parts if part not in _REGISTRIES]
    if unknown:
        raise ValueError(
            f"unknown tool registry {unknown[0]!r}; known: {', '.join(_REGISTRIES)} "
            "(join names with '+' to combine them)"
        )
    if len(set(parts)) < len(parts):
        raise ValueError(f"tool registry {name!r} names a registry twice")
    return ToolRegistry(tool for part in parts for tool in _REGISTRIES[part])
