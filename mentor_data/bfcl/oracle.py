"""`oracle_calls(metadata)`: the ground truth of a BFCL row replayed as the calls a model makes.

- AST rows: one call per ground-truth entry, in order, each parameter given its first
  acceptable value; a parameter whose acceptable values include `""` may be omitted, and is.
  A `dict` parameter's answer is itself a dict of acceptable-value lists (bfcl's format, one
  level deep): each key gets its first value the same way.
- Multi-turn rows: the ground-truth call strings of each turn, parsed (never evaluated) and
  their positional arguments bound to the method's parameter names.
- Irrelevance rows: no call.

The `oracle` teacher (`mentor_data.teachers.oracle`) writes these calls as trajectories; the
tests measure how many of them bfcl's checker accepts (docs/bfcl.md has the numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mentor_data.bfcl.data import AST_CATEGORIES, IRRELEVANCE_CATEGORIES, tool_name

_OMIT = object()


def _choice(values: Any, schema: Any) -> Any:
    """The first acceptable value, `_OMIT` for an optional parameter (`""` acceptable).

    bfcl writes the answer of a `dict` parameter as a dict of acceptable-value lists (and of an
    array of dicts as a list of such dicts), one level deep, as its `dict_checker` reads them.
    """
    if not isinstance(values, list) or not values or "" in values:
        return _OMIT
    value = values[0]
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    items = schema.get("items") if isinstance(schema, Mapping) else None
    if kind == "dict" and isinstance(value, dict):
        return _first_values(value)
    item_kind = items.get("type") if isinstance(items, Mapping) else None
    if kind in ("array", "tuple") and item_kind == "dict" and isinstance(value, list):
        return [_first_values(v) if isinstance(v, dict) else v for v in value]
    return value


def _first_values(answer: dict) -> dict:
    """A dict of acceptable-value lists as a dict of first values (optional keys left out)."""
    out = {}
    for key, values in answer.items():
        if not isinstance(values, list):
            out[key] = values  # not in answer form: taken as it is
        elif values and "" not in values:
            out[key] = values[0]
    return out


def ast_oracle_call(
    answer: Mapping[str, Mapping[str, list]],
    function: Mapping[str, Any] | None = None,
    names: str = "keep",
) -> dict:
    """One ground-truth entry `{function: {parameter: [acceptable values]}}` as a call.

    Each parameter gets its first acceptable value; one whose values include `""` is optional
    and left out. A `dict` parameter (per the function doc) gets each of its keys' first value.

    Args:
        answer: The ground-truth entry.
        function: The BFCL doc of the function (for the parameter types), if known.
        names: `keep` or `underscore` (the row's name style).

    Example:
        >>> ast_oracle_call({"f": {"x": [3, 4], "unit": ["", "cm"]}})
        {'name': 'f', 'arguments': {'x': 3}}
        >>> doc = {"parameters": {"properties": {"d": {"type": "dict"}}}}
        >>> ast_oracle_call({"f": {"d": [{"a": ["x", "y"], "b": ["", 1]}]}}, doc)
        {'name': 'f', 'arguments': {'d': {'a': 'x'}}}
    """
    if not isinstance(answer, Mapping) or len(answer) != 1:
        raise ValueError(f"a ground-truth entry must map one function to its parameters: {answer}")
    ((name, params),) = answer.items()
    parameters = (function or {}).get("parameters") or {}
    properties = parameters.get("properties") or {}
    arguments: dict[str, Any] = {}
    for param, values in (params or {}).items():
        value = _choice(values, properties.get(param))
        if value is not _OMIT:
            arguments[param] = value
    return {"name": tool_name(name, names), "arguments": arguments}


def oracle_calls(metadata: Mapping[str, Any]) -> list[list[dict]]:
    """The ground truth of a BFCL row as calls per user turn (the input of `judge_bfcl`).

    Args:
        metadata: The row's metadata (`category`, `ground_truth`, and for multi-turn rows
            `involved_classes`).

    Returns:
        `[[call, ...]]` for single-turn rows (`[[]]` for irrelevance), one list per user turn
        for multi-turn rows; each call `{"name": str, "arguments": dict}`.

    Raises:
        ValueError: not a BFCL row's metadata, or a ground truth that does not parse (a
            multi-turn call string that is not a plain call with literal arguments).

    Example:
        >>> from mentor_data.problems import load_problems
        >>> oracle_calls(load_problems("bfcl:multi_turn_base?n=1")[0].metadata)[0]
        ... # doctest: +NORMALIZE_WHITESPACE
        [{'name': 'cd', 'arguments': {'folder': 'document'}},
         {'name': 'mkdir', 'arguments': {'dir_name': 'temp'}},
         {'name': 'mv', 'arguments': {'source': 'final_report.pdf', 'destination': 'temp'}}]
    """
    category = metadata.get("category") if isinstance(metadata, Mapping) else None
    if category in IRRELEVANCE_CATEGORIES:
        return [[]]
    ground_truth = metadata.get("ground_truth")
    if not isinstance(ground_truth, list):
        raise ValueError(f"BFCL row without a ground truth (category {category!r})")
    if category in AST_CATEGORIES:
        names = "underscore" if metadata.get("underscore_to_dot") else "keep"
        docs = {f.get("name"): f for f in metadata.get("functions") or [] if isinstance(f, dict)}
        return [[ast_oracle_call(a, docs.get(next(iter(a), None)), names) for a in ground_truth]]
    if metadata.get("involved_classes"):
        return _multi_turn_calls(ground_truth, tuple(metadata["involved_classes"]))
    raise ValueError(
        f"not the metadata of a supported BFCL row (category {category!r}); load problems "
        "with --problems bfcl:CATEGORY"
    )


def _multi_turn_calls(ground_truth: list, classes: tuple[str, ...]) -> list[list[dict]]:
    from mentor_data.bfcl.calls import CallSyntaxError, parse_call
    from mentor_data.bfcl.executor import bind_arguments, method_signatures

    signatures = method_signatures(classes)
    turns: list[list[dict]] = []
    for t, turn in enumerate(ground_truth):
        calls = []
        for text in turn:
            try:
                parsed = parse_call(text)
                if parsed.name not in signatures:
                    raise ValueError(f"{parsed.name} is no method of {', '.join(classes)}")
                arguments = bind_arguments(signatures[parsed.name][1], parsed.args, parsed.kwargs)
            except (CallSyntaxError, TypeError, ValueError) as exc:
                raise ValueError(f"ground truth of turn {t}: {str(text)[:120]!r}: {exc}") from exc
            calls.append({"name": parsed.name, "arguments": arguments})
        turns.append(calls)
    return turns


__all__ = ["ast_oracle_call", "oracle_calls"]
