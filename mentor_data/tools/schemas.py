"""OpenAI function schemas of the arithmetic tools, written out so that importing them is instant.

They are exactly what `transformers.utils.get_json_schema` builds from the docstrings in
`arithmetic.py` (less its `"return"` entry, which OpenAI's format lacks); `tests/test_tools.py`
checks that, so a docstring and its schema cannot drift. Importing transformers to build them at
run time would cost seconds on every `import mentor_data.tools`.
"""

from __future__ import annotations

from typing import Any


def _number(description: str) -> dict[str, Any]:
    return {"type": "number", "description": description}


def _function(name: str, description: str, properties: dict, optional: tuple = ()) -> dict:
    """One schema; every property is required unless named in `optional` (it has a default)."""
    required = [p for p in properties if p not in optional]
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


_DIVISOR = "The divisor, which must not be zero."

ARITHMETIC_SCHEMAS: dict[str, dict] = {
    s["function"]["name"]: s
    for s in [
        _function(
            "add",
            "Add two numbers.",
            {"a": _number("The first number."), "b": _number("The second number.")},
        ),
        _function(
            "subtract",
            "Subtract b from a.",
            {"a": _number("The number to subtract from."), "b": _number("The number to subtract.")},
        ),
        _function(
            "multiply",
            "Multiply two numbers.",
            {"a": _number("The first factor."), "b": _number("The second factor.")},
        ),
        _function(
            "divide",
            "Divide a by b.",
            {"a": _number("The dividend."), "b": _number(_DIVISOR)},
        ),
        _function(
            "sum_numbers",
            "Add up a list of numbers.",
            {
                "numbers": {
                    "type": "array",
                    "items": {"type": "number"},
                    "description": "The numbers to add up (at most 1000).",
                }
            },
        ),
        _function(
            "floor",
            "Round a number down to the nearest integer.",
            {"x": _number("The number to round down.")},
        ),
        _function(
            "ceil",
            "Round a number up to the nearest integer.",
            {"x": _number("The number to round up.")},
        ),
        _function(
            "round_number",
            "Round a number to ndigits decimal places, rounding halves away from zero (2.5 -> 3).",
            {
                "x": _number("The number to round."),
                "ndigits": {
                    "type": "integer",
                    "description": "How many decimal places to keep; negative values round to "
                    "tens, hundreds, ...",
                },
            },
            optional=("ndigits",),
        ),
        _function(
            "power",
            "Raise base to the power of exponent.",
            {"base": _number("The base."), "exponent": _number("The exponent.")},
        ),
        _function(
            "sqrt",
            "Take the square root of a non-negative number.",
            {"x": _number("The number, which must not be negative.")},
        ),
        _function(
            "abs_value",
            "Take the absolute value of a number.",
            {"x": _number("The number.")},
        ),
        _function(
            "modulo",
            "Compute the remainder of a divided by b; the result has the sign of b.",
            {"a": _number("The dividend."), "b": _number(_DIVISOR)},
        ),
    ]
}
