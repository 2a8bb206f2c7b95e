"""Run one tool call safely: parse and validate the arguments, call the tool, render the result.

`execute(name, arguments)` never raises and returns whatever the model wrote, within
milliseconds for the built-in tools and within its `timeout_s` for a user tool; its `ToolResult`
is either an output or an error with a code:

| code | when |
|---|---|
| `unknown_tool` | the name is not in the registry |
| `invalid_arguments` | not a JSON object; a missing, unexpected or wrongly typed argument |
| `math_error` | no real result: divide or modulo by 0, sqrt(-1), 0 ** -1, (-8) ** 0.5 |
| `too_large` | a number above 1e100, a list over 1000 items, arguments over 100k, output over 20k |
| `timeout` | a user tool did not answer within its `timeout_s` |
| `tool_error` | a user tool raised: `Type: message` (clipped), for the model to read |
| `invalid_output` | a user tool returned what JSON cannot write (a set, NaN, an object) |
| `internal_error` | a bug in a built-in tool (logged); the message names the exception type only |

User tools (a `timeout_s`, or an `async def` function) run in a daemon thread that `execute`
waits on for at most `timeout_s`; built-in tools (`timeout_s=None`) are called directly: they
are bounded by construction and hot in verify and in rewards.

Arguments are checked against the tool's JSON schema by a small validator for the subset that
`get_json_schema` and MCP servers write: the parameters are an object with `properties` and
`required`, closed to other keys; `number` is an int or float, never a bool, finite and at most
1e100 in magnitude; `integer` is an int, or a float with an integral value (JSON does not tell 2
from 2.0 and some clients write 2.0), converted to int; `array` has `items` and at most
`MAX_LIST_LENGTH` of them; `object` is a dict (`properties`, `required`; other keys allowed
unless `additionalProperties` is false, checked against it when it is a schema); `string`,
`boolean`, `null` as usual; a list of types, `anyOf` or `oneOf`: the first that fits; `enum`;
`nullable: true` (get_json_schema's `X | None`) allows null; no `type` allows any value.

Tool results (see docs/tools.md): `render_number` writes an int in plain decimal (`391`, `-12`);
a float with an integral value and magnitude below 1e15 as that int (`2.0` -> `2`, `-0.0` -> `0`);
any other float with 12 significant digits, trailing zeros stripped, in exponent form only where
Python's `.12g` format uses it (`0.1 + 0.2` -> `0.3`, `1/3` -> `0.333333333333`,
`2.5e-07` -> `2.5e-07`, `1e20` -> `1e+20`). Twelve digits hide float noise (0.30000000000000004)
while keeping more precision than any word problem needs.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from mentor_data.tools.arithmetic import (
    BOUND_TEXT,
    MAX_INT_BITS,
    MAX_LIST_LENGTH,
    TooLargeError,
    ToolError,
    is_too_large,
)
from mentor_data.tools.registry import ARITHMETIC, ToolRegistry

logger = logging.getLogger(__name__)

# A JSON arguments string longer than this is refused before parsing: 1000 numbers of 25
# characters fit easily, and nothing larger is worth parsing.
MAX_ARGUMENTS_CHARS = 100_000
# Floats with an integral value below this render as ints: every such float is an exact int.
_INTEGRAL_FLOAT_LIMIT = 1e15
# Python refuses int -> str beyond 4300 digits; 14,000 bits is ~4,215 digits.
_MAX_RENDER_BITS = 14_000
# Longest output a model is shown: ~5k tokens, more than any answer a tool call should return;
# a longer one would crowd the context window (the python tool stops at 8 KiB by itself).
MAX_OUTPUT_CHARS = 20_000
# User tool calls running at once. A thread cannot be killed: a call past its timeout keeps its
# thread until it returns, and this bounds those threads (no slot in time is a `timeout` too).
MAX_RUNNING_CALLS = 32
_RUNNING = threading.BoundedSemaphore(MAX_RUNNING_CALLS)
_MAX_ERROR_CHARS = 300  # of a user tool's exception message, in a `tool_error`


class InvalidArgumentsError(ToolError):
    """The arguments do not match the tool's parameters."""

    code = "invalid_arguments"


class UnknownToolError(ToolError):
    """No tool of that name in the registry."""

    code = "unknown_tool"


class UserToolError(ToolError):
    """A user tool failed: `timeout`, `tool_error` or `invalid_output` (the code is given)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one tool call.

    Args:
        ok (`bool`): Whether the tool returned a result.
        output (`str` or `None`): The canonical rendering of the result when `ok`.
        error (`str` or `None`): A message for the model when not `ok`.
        code (`str` or `None`): One of the codes in the module docstring when not `ok`.
    """

    ok: bool
    output: str | None = None
    error: str | None = None
    code: str | None = None

    @classmethod
    def success(cls, output: str) -> ToolResult:
        return cls(ok=True, output=output)

    @classmethod
    def failure(cls, code: str, error: str) -> ToolResult:
        return cls(ok=False, error=error, code=code)

    def observation(self) -> str:
        """What the model reads in the tool turn: the output, or `Error: <message>`."""
        return self.output if self.ok else f"Error: {self.error}"

    def to_json(self) -> dict:
        """`{"ok": True, "output": ...}` or `{"ok": False, "error": ..., "code": ...}`."""
        if self.ok:
            return {"ok": True, "output": self.output}
        return {"ok": False, "error": self.error, "code": self.code}


def render_number(x: int | float) -> str:
    """The canonical text of a number in tool observations (rules in the module docstring).

    Args:
        x: An int (at most ~4,200 digits) or a finite float; not a bool.

    Returns:
        The rendering, e.g. `391`, `2` for 2.0, `0.333333333333`, `1e+20`.

    Example:
        >>> render_number(0.1 + 0.2), render_number(-0.0), render_number(1 / 3)
        ('0.3', '0', '0.333333333333')
    """
    if isinstance(x, bool) or not isinstance(x, int | float):
        raise TypeError(f"render_number takes an int or a float, got {type(x).__name__}")
    if isinstance(x, int):
        if x.bit_length() > _MAX_RENDER_BITS:  # before str(): int -> str is quadratic
            raise ValueError(f"int too large to render ({x.bit_length()} bits)")
        return str(x)
    if not math.isfinite(x):
        raise ValueError(f"cannot render a non-finite float ({x})")
    if x.is_integer() and abs(x) < _INTEGRAL_FLOAT_LIMIT:
        return str(int(x))  # also turns -0.0 into "0"
    text = format(x, ".12g")  # "g" strips trailing zeros already
    return "0" if text == "-0" else text


def _render_result(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return render_number(value)
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _render_user_result(value: Any) -> str:
    # Strict, unlike `_render_result`: `default=str` would show a set as the string "{1, 2}".
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return render_number(value)
        if isinstance(value, str):
            return value
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        problem = f"{type(value).__name__} that cannot be written as JSON ({str(exc)[:100]})"
        raise UserToolError("invalid_output", f"the tool returned a {problem}") from exc


def _run_user_tool(fn: Any, kwargs: dict) -> str:
    """Call a user tool and render its result (in the worker thread, so under the timeout)."""
    try:
        value = fn(**kwargs)
        if inspect.iscoroutine(value):  # an `async def` tool: its own event loop, in this thread
            value = asyncio.run(value)
    except ToolError:  # a tool may raise the package's errors to choose the code
        raise
    except BaseException as exc:  # SystemExit too; no KeyboardInterrupt reaches a worker thread
        message = str(exc)
        message = message[:_MAX_ERROR_CHARS] + "..." if len(message) > _MAX_ERROR_CHARS else message
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        raise UserToolError("tool_error", text) from exc
    return _render_user_result(value)


def _call_user_tool(name: str, fn: Any, kwargs: dict, timeout_s: float | None) -> str:
    """Run a user tool in a daemon thread and wait at most `timeout_s` for its rendered output.

    A daemon thread, not a ThreadPoolExecutor: the interpreter joins an executor's threads at
    exit, so one hung call would keep the process from ever exiting. A call past its timeout
    keeps its thread (and its slot in `_RUNNING`) until it returns.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    if not _RUNNING.acquire(timeout=timeout_s):
        raise UserToolError(
            "timeout",
            f"the tool did not answer within {timeout_s:g} s (too many calls are still running)",
        )
    future: Future[str] = Future()

    def work() -> None:
        try:
            future.set_result(_run_user_tool(fn, kwargs))
        except Exception as exc:
            future.set_exception(exc)
        finally:
            _RUNNING.release()

    threading.Thread(target=work, name=f"tool-{name}", daemon=True).start()
    try:
        return future.result(None if deadline is None else max(0.0, deadline - time.monotonic()))
    except FutureTimeout:  # the tool's own TimeoutError is a `tool_error` by now
        raise UserToolError("timeout", f"the tool did not answer within {timeout_s:g} s") from None


def _describe(value: Any) -> str:
    """A short description of a bad argument value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    if isinstance(value, int):
        return "a huge integer" if value.bit_length() > MAX_INT_BITS else f"integer {value}"
    if isinstance(value, float):
        return f"number {value!r}"
    if isinstance(value, list | tuple):
        return f"array of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _check_number(value: Any, where: str, kind: str = "number") -> int | float:
    """Validate one JSON number; `kind` is `number` or `integer`. Returns the value to pass."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = ""
        if isinstance(value, str):
            try:
                float(value[:100])
                hint = "; write the number without quotes"
            except ValueError:
                pass
        raise InvalidArgumentsError(
            f"argument '{where}' must be {'an integer' if kind == 'integer' else 'a number'}, "
            f"got {_describe(value)}{hint}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidArgumentsError(f"argument '{where}' must be a finite number, got {value!r}")
    if is_too_large(value):
        raise TooLargeError(f"argument '{where}' is too large: its magnitude is above {BOUND_TEXT}")
    if kind == "integer" and isinstance(value, float):
        if not value.is_integer():
            raise InvalidArgumentsError(f"argument '{where}' must be an integer, got {value!r}")
        return int(value)
    return value


# JSON schema types other than numbers, and the Python types of their values.
_JSON_TYPES = {
    "string": str,
    "boolean": bool,
    "array": (list, tuple),
    "object": dict,
    "null": type(None),
}


def _a(kind: str) -> str:
    """`a string`, `an array`, `null`: a schema type in a message."""
    return kind if kind == "null" else f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def _check_branches(value: Any, branches: list, where: str) -> Any:
    """The value checked against the first branch it fits (`anyOf`, `oneOf`, a list of types)."""
    relevant: ToolError | None = None
    kinds: list[str] = []
    nested = (f"argument '{where}[", f"argument '{where}.")
    for branch in branches:
        try:
            return _check_value(value, branch, where)
        except (InvalidArgumentsError, TooLargeError) as exc:
            # A bound, or an item of the right container, says more than "must be A or B".
            if relevant is None and (isinstance(exc, TooLargeError) or str(exc).startswith(nested)):
                relevant = exc
            kind = branch.get("type") if isinstance(branch, dict) else None
            names = kind if isinstance(kind, list) else [kind]
            kinds += [_a(k) for k in names if isinstance(k, str)]
    if relevant is not None:
        raise relevant
    expected = " or ".join(dict.fromkeys(kinds)) or "a value of another form"
    raise InvalidArgumentsError(f"argument '{where}' must be {expected}, got {_describe(value)}")


def _check_enum(value: Any, options: list, where: str) -> None:
    # `True == 1` in Python: a bool matches only a bool.
    if not any(value == o and isinstance(value, bool) == isinstance(o, bool) for o in options):
        shown = ", ".join(json.dumps(o, default=str) for o in options[:20])
        raise InvalidArgumentsError(
            f"argument '{where}' must be one of {shown}; got {_describe(value)}"
        )


def _check_object(value: dict, schema: dict, where: str) -> dict:
    properties = schema.get("properties", {})
    missing = [key for key in schema.get("required", []) if key not in value]
    if missing:
        raise InvalidArgumentsError(f"argument '{where}.{missing[0]}' is missing")
    other = schema.get("additionalProperties", True)
    checked = {}
    for key, item in value.items():
        inner = f"{where}.{str(key)[:40]}"
        if key in properties:
            checked[key] = _check_value(item, properties[key], inner)
        elif other is False:
            expected = ", ".join(properties) or "no keys"
            raise InvalidArgumentsError(
                f"argument '{where}' has an unexpected key {str(key)[:40]!r}; expected {expected}"
            )
        else:
            checked[key] = _check_value(item, other, inner) if isinstance(other, dict) else item
    return checked


def _check_value(value: Any, schema: dict, where: str) -> Any:
    if not isinstance(schema, dict):
        raise ToolError(f"the tool schema for '{where}' is not an object")
    if value is None and schema.get("nullable") is True:
        return None
    branches = schema.get("anyOf", schema.get("oneOf"))
    if isinstance(branches, list):
        value = _check_branches(value, branches, where)
    kind = schema.get("type")
    if isinstance(kind, list):
        rest = {k: v for k, v in schema.items() if k not in ("type", "anyOf", "oneOf", "enum")}
        value = _check_branches(value, [{**rest, "type": k} for k in kind], where)
    elif kind is not None:
        value = _check_kind(value, kind, schema, where)
    if isinstance(schema.get("enum"), list):
        _check_enum(value, schema["enum"], where)
    return value


def _check_kind(value: Any, kind: str, schema: dict, where: str) -> Any:
    if kind in ("number", "integer"):
        return _check_number(value, where, kind)
    if kind not in _JSON_TYPES:
        raise ToolError(f"the tool schema uses an unsupported type {kind!r} for '{where}'")
    if not isinstance(value, _JSON_TYPES[kind]):
        raise InvalidArgumentsError(
            f"argument '{where}' must be {_a(kind)}, got {_describe(value)}"
        )
    if kind in ("array", "object") and len(value) > MAX_LIST_LENGTH:  # before any item
        unit = "items" if kind == "array" else "keys"
        raise TooLargeError(
            f"argument '{where}' has {len(value)} {unit}; at most {MAX_LIST_LENGTH} are allowed"
        )
    if kind == "object":
        return _check_object(value, schema, where)
    if kind == "array":
        items = schema.get("items", {})
        return [_check_value(v, items, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def validate_arguments(arguments: dict, parameters: dict) -> dict:
    """Check call arguments against an object schema; return the keyword arguments to pass.

    Args:
        arguments: The parsed arguments.
        parameters: The tool's `parameters` schema (`type: object`, `properties`, `required`).

    Returns:
        The arguments, with integral floats given for `integer` parameters turned into ints.

    Raises:
        InvalidArgumentsError, TooLargeError: with a message naming the argument and the fix.
    """
    properties = parameters.get("properties", {})
    expected = ", ".join(properties) or "no arguments"
    unexpected = [key for key in arguments if key not in properties]
    if unexpected:
        names = ", ".join(repr(str(key)[:40]) for key in unexpected[:5])
        raise InvalidArgumentsError(
            f"unexpected argument{'s' if len(unexpected) > 1 else ''} {names}; expected {expected}"
        )
    missing = [key for key in parameters.get("required", []) if key not in arguments]
    if missing:
        names = ", ".join(repr(key) for key in missing)
        verb = "are" if len(missing) > 1 else "is"
        raise InvalidArgumentsError(
            f"argument{'s' if len(missing) > 1 else ''} {names} {verb} missing; expected {expected}"
        )
    return {key: _check_value(value, properties[key], key) for key, value in arguments.items()}


def _parse_arguments(arguments: Any) -> dict:
    """Accept a dict, or a JSON string of one (OpenAI and TRL pass arguments as JSON text)."""
    if isinstance(arguments, str):
        if len(arguments) > MAX_ARGUMENTS_CHARS:
            raise TooLargeError(
                f"the arguments are {len(arguments)} characters; at most {MAX_ARGUMENTS_CHARS}"
            )
        try:
            arguments = json.loads(arguments)
        except (ValueError, RecursionError) as exc:  # also int strings over 4300 digits
            raise InvalidArgumentsError(
                f"the arguments are not valid JSON ({str(exc)[:100]}); write a JSON object "
                'such as {"a": 1, "b": 2}'
            ) from exc
    if not isinstance(arguments, dict):
        raise InvalidArgumentsError(
            f'the arguments must be a JSON object such as {{"a": 1, "b": 2}}, '
            f"got {_describe(arguments)}"
        )
    return arguments


def execute(name: str, arguments: Any, registry: ToolRegistry = ARITHMETIC) -> ToolResult:
    """Run one tool call; never raises.

    Args:
        name: The tool name the model called.
        arguments: Its arguments: a dict, or a JSON string of one; anything else is an error.
        registry: The tools that may be called.

    Returns:
        A `ToolResult` with the rendered output, or an error message and code.

    Example:
        >>> execute("multiply", {"a": 17, "b": 23}).observation()
        '391'
        >>> execute("divide", '{"a": 1, "b": 0}').to_json()["code"]
        'math_error'
    """
    try:
        tool = registry.get(name)
        if tool is None:
            if not isinstance(name, str):
                raise UnknownToolError(f"the tool name must be a string, got {_describe(name)}")
            available = ", ".join(registry.names())
            raise UnknownToolError(f"unknown tool {name[:60]!r}; available: {available}")
        kwargs = validate_arguments(_parse_arguments(arguments), tool.parameters)
        if tool.timeout_s is None and not inspect.iscoroutinefunction(tool.fn):
            output = _render_result(tool.fn(**kwargs))  # a built-in tool: no thread
        else:
            output = _call_user_tool(tool.name, tool.fn, kwargs, tool.timeout_s)
        if len(output) > MAX_OUTPUT_CHARS:
            raise TooLargeError(
                f"the tool's output is {len(output):,} characters; at most {MAX_OUTPUT_CHARS:,} "
                "are shown: ask for less"
            )
        return ToolResult.success(output)
    except ToolError as exc:
        return ToolResult.failure(exc.code, str(exc))
    except ZeroDivisionError as exc:
        return ToolResult.failure("math_error", f"division by zero ({exc})")
    except OverflowError:
        return ToolResult.failure("too_large", f"the result's magnitude is above {BOUND_TEXT}")
    except Exception as exc:  # a bug in a tool must not end a rollout
        logger.warning("tool %r raised on %r", name, arguments, exc_info=True)
        return ToolResult.failure(
            "internal_error", f"the tool failed unexpectedly ({type(exc).__name__})"
        )


def execute_batch(
    lines: Iterable[str],
    registry: ToolRegistry = ARITHMETIC,
    *,
    run: Callable[[str, Any], ToolResult] | None = None,
) -> Iterator[dict]:
    """Run JSONL tool calls (`{"name": ..., "arguments": {...}}` per line), one result per line.

    Args:
        lines: The lines, in order; blank and malformed lines get an error result of their own
            (code `invalid_line`) so that outputs stay aligned with inputs.
        registry: The tools that may be called.
        run: Runs one call instead of `execute(name, arguments, registry)` (a domain's tool
            environment: `ToolEnv.run`, whose state the calls of one batch share).

    Returns:
        An iterator of `ToolResult.to_json()` dicts, one per input line.
    """
    for number, line in enumerate(lines, start=1):
        try:
            request = json.loads(line)
        except (ValueError, RecursionError) as exc:
            reason = "empty line" if not line.strip() else f"not valid JSON ({str(exc)[:100]})"
            yield {"ok": False, "error": f"line {number}: {reason}", "code": "invalid_line"}
            continue
        if not isinstance(request, dict) or not isinstance(request.get("name"), str):
            problem = 'no string "name"' if isinstance(request, dict) else "not an object"
            expected = '{"name": ..., "arguments": {...}}'
            error = f"line {number}: {problem}; expected {expected}"
            yield {"ok": False, "error": error, "code": "invalid_line"}
            continue
        arguments = request.get("arguments", {})
        result = (
            run(request["name"], arguments)
            if run
            else execute(request["name"], arguments, registry)
        )
        yield result.to_json()
