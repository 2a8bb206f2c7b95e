"""Parse BFCL call strings (`cd(folder='document')`) into a name and literal arguments; no eval.

BFCL's multi-turn ground truth (and the output of prompted models) is Python call syntax, which
bfcl's own runner executes with `eval()`. Here the text is parsed with `ast.parse` and only this
subset is accepted:

- a call `name(...)` whose name is a plain or dotted name (`f`, `math.sqrt`), no part starting
  with `_` (so no `__import__`, no dunder attributes);
- positional and keyword arguments that are literals: strings, numbers (a leading `-`/`+`
  allowed), booleans, None, and lists, tuples and dicts of literals.

Everything else is refused with `CallSyntaxError` naming the construct: attribute access on
anything but a name, calls nested in arguments, operators (`10**10**10`), comprehensions,
lambdas, variables, f-strings, `*args`/`**kwargs`. Sizes are bounded before and during the walk
(`MAX_CALL_CHARS`, `MAX_STRING_CHARS`, `MAX_INT_DIGITS`, `MAX_ITEMS`, `MAX_DEPTH`), so a hostile
text costs at most one bounded parse. Tuples become lists (arguments travel as JSON).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any

MAX_CALL_CHARS = 100_000
"""Longest call text parsed at all (checked before `ast.parse`)."""
MAX_STRING_CHARS = 50_000
"""Longest string literal or argument."""
MAX_INT_DIGITS = 30
"""Most digits of an integer literal or argument."""
MAX_ITEMS = 10_000
"""Most values in one call's arguments, all collections together."""
MAX_DEPTH = 16
"""Deepest nesting of lists and dicts."""
_INT_LIMIT = 10**MAX_INT_DIGITS


class CallSyntaxError(ValueError):
    """A call string that is not a plain call with literal arguments (or is too large)."""


@dataclass(frozen=True)
class ParsedCall:
    """One parsed call: `name(*args, **kwargs)` with literal values.

    Args:
        name (`str`): The function name, dots included (`math.sqrt`).
        args (`tuple`): Positional arguments.
        kwargs (`dict`): Keyword arguments, in written order.
    """

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def _refuse(what: str, node: ast.AST | None = None) -> CallSyntaxError:
    column = getattr(node, "col_offset", None)
    where = f" (column {column + 1})" if column is not None else ""
    return CallSyntaxError(f"refused: {what}{where}; only name(literal arguments) is accepted")


def _kind(node: ast.AST) -> str:
    """`an Attribute expression`, `a Call expression`: the node type, for messages."""
    name = type(node).__name__
    return f"{'an' if name[0] in 'AEIOU' else 'a'} {name} expression"


def _dotted_name(node: ast.AST) -> str:
    """`a.b.c` from Name/Attribute nodes; anything else (a call, a subscript...) is refused."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise _refuse(f"attribute access on {_kind(node)}", node)
    parts.append(node.id)
    for part in parts:
        if part.startswith("_"):
            raise _refuse(f"the name {part!r} starts with an underscore", node)
    return ".".join(reversed(parts))


class _Literals:
    """Walks argument nodes into Python values, counting items against `MAX_ITEMS`."""

    def __init__(self) -> None:
        self.items = 0

    def value(self, node: ast.AST, depth: int = 0) -> Any:
        self.items += 1
        if self.items > MAX_ITEMS:
            raise _refuse(f"more than {MAX_ITEMS} values in the arguments")
        if depth > MAX_DEPTH:
            raise _refuse(f"values nested deeper than {MAX_DEPTH}", node)
        if isinstance(node, ast.Constant):
            return _constant(node.value, node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = node.operand
            if isinstance(operand, ast.Constant) and type(operand.value) in (int, float):
                number = _constant(operand.value, operand)
                return -number if isinstance(node.op, ast.USub) else number
            raise _refuse("a sign on something that is not a number", node)
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.value(item, depth + 1) for item in node.elts]
        if isinstance(node, ast.Dict):
            out: dict[Any, Any] = {}
            for key, item in zip(node.keys, node.values, strict=True):
                if key is None:
                    raise _refuse("** unpacking in a dict", node)
                k = self.value(key, depth + 1)
                if isinstance(k, (list, dict)):
                    raise _refuse("a dict key that is not a string or a number", key)
                out[k] = self.value(item, depth + 1)
            return out
        if isinstance(node, ast.Call):
            raise _refuse("a call nested in the arguments", node)
        if isinstance(node, ast.Name):
            raise _refuse(f"the variable {node.id!r} (only literal values)", node)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            raise _refuse("a comprehension", node)
        if isinstance(node, ast.Lambda):
            raise _refuse("a lambda", node)
        raise _refuse(_kind(node), node)


def _constant(value: Any, node: ast.AST) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise _refuse(f"a string longer than {MAX_STRING_CHARS} characters", node)
        return value
    if isinstance(value, int):
        if abs(value) >= _INT_LIMIT:
            raise _refuse(f"an integer with more than {MAX_INT_DIGITS} digits", node)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _refuse("a number that is not finite", node)
        return value
    raise _refuse(f"a {type(value).__name__} literal", node)


def _parse_tree(text: Any) -> ast.expr:
    if not isinstance(text, str):
        raise CallSyntaxError(f"a call must be a string, got {type(text).__name__}")
    if len(text) > MAX_CALL_CHARS:
        raise _refuse(f"a call text of {len(text):,} characters (limit {MAX_CALL_CHARS:,})")
    try:
        return ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        why = str(exc) or "nested too deeply for the parser"
        raise CallSyntaxError(f"not a Python call ({type(exc).__name__}: {why})") from None


def _call(node: ast.expr) -> ParsedCall:
    if not isinstance(node, ast.Call):
        raise _refuse(f"{_kind(node)} instead of a call", node)
    name = _dotted_name(node.func)
    walker = _Literals()
    args = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise _refuse("*args", arg)
        args.append(walker.value(arg))
    kwargs: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise _refuse("**kwargs", keyword.value)
        if keyword.arg in kwargs:
            raise _refuse(f"the argument {keyword.arg!r} given twice", keyword.value)
        kwargs[keyword.arg] = walker.value(keyword.value)
    return ParsedCall(name=name, args=tuple(args), kwargs=kwargs)


def parse_call(text: str) -> ParsedCall:
    """Parse one call string; never evaluates anything.

    Args:
        text: `name(arg, key=value, ...)` with literal values.

    Returns:
        The `ParsedCall`.

    Raises:
        CallSyntaxError: the text is not such a call or exceeds a size bound (the message names
            the construct).

    Example:
        >>> parse_call("cd(folder='document')")
        ParsedCall(name='cd', args=(), kwargs={'folder': 'document'})
        >>> parse_call("sort('final_report.pdf')").args
        ('final_report.pdf',)
        >>> parse_call("__import__('os').system('echo pwned')")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mentor_data.bfcl.calls.CallSyntaxError: refused: attribute access on a Call expression...
    """
    return _call(_parse_tree(text))


def parse_calls(text: str) -> list[ParsedCall]:
    """Parse `[f(a=1), g(b=2)]` (a list or tuple of calls) or a single call.

    Raises:
        CallSyntaxError: as `parse_call`, for the first bad element.

    Example:
        >>> [c.name for c in parse_calls("[add(a=1, b=2), uber.ride(loc='x')]")]
        ['add', 'uber.ride']
    """
    node = _parse_tree(text)
    if isinstance(node, (ast.List, ast.Tuple)):
        if len(node.elts) > MAX_ITEMS:
            raise _refuse(f"more than {MAX_ITEMS} calls")
        return [_call(element) for element in node.elts]
    return [_call(node)]


def value_problem(value: Any, depth: int = 0, budget: list[int] | None = None) -> str | None:
    """Why a JSON-like argument value breaks the size bounds of this module, or None.

    The same bounds as for parsed literals, for arguments that arrive as JSON (a model's
    `tool_calls`) before they reach an API method.

    Example:
        >>> value_problem({"a": [1, 2, "x"]}) is None, value_problem(10**40)
        (True, 'an integer with more than 30 digits')
    """
    budget = budget if budget is not None else [MAX_ITEMS]
    budget[0] -= 1
    if budget[0] < 0:
        return f"more than {MAX_ITEMS} values"
    if depth > MAX_DEPTH:
        return f"values nested deeper than {MAX_DEPTH}"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return f"a string longer than {MAX_STRING_CHARS}" if len(value) > MAX_STRING_CHARS else None
    if isinstance(value, int):
        too_big = abs(value) >= _INT_LIMIT
        return f"an integer with more than {MAX_INT_DIGITS} digits" if too_big else None
    if isinstance(value, float):
        return None if math.isfinite(value) else "a number that is not finite"
    if isinstance(value, (list, tuple)):
        for item in value:
            problem = value_problem(item, depth + 1, budget)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = value_problem(key, depth + 1, budget)
            problem = problem or value_problem(item, depth + 1, budget)
            if problem:
                return problem
        return None
    return f"a value of type {type(value).__name__}"


__all__ = [
    "MAX_CALL_CHARS",
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "MAX_ITEMS",
    "MAX_STRING_CHARS",
    "CallSyntaxError",
    "ParsedCall",
    "parse_call",
    "parse_calls",
    "value_problem",
]
