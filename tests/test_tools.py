"""mentor_data.tools: the twelve tools, the registry, the executor's validation and bounds."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import time
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentor_data.tools import (
    ARITHMETIC,
    MAX_LIST_LENGTH,
    MathError,
    Tool,
    TooLargeError,
    ToolRegistry,
    ToolResult,
    arithmetic,
    execute,
    execute_batch,
    get_registry,
    render_number,
)

NAMES = [
    "add",
    "subtract",
    "multiply",
    "divide",
    "sum_numbers",
    "floor",
    "ceil",
    "round_number",
    "power",
    "sqrt",
    "abs_value",
    "modulo",
]
CODES = {"unknown_tool", "invalid_arguments", "math_error", "too_large", "internal_error"}
# Generous for a loaded 2-core CI box; typical calls take tens of microseconds.
MAX_CALL_S = 0.05


def timed_execute(name, arguments, registry=ARITHMETIC) -> ToolResult:
    """execute(), asserting it returns within MAX_CALL_S (best of two, to absorb a GC pause)."""
    elapsed = []
    for _ in range(2):
        start = time.perf_counter()
        result = execute(name, arguments, registry)
        elapsed.append(time.perf_counter() - start)
        if elapsed[-1] < MAX_CALL_S:
            break
    assert min(elapsed) < MAX_CALL_S, f"{name} took {min(elapsed) * 1000:.1f} ms"
    return result


# -- the tools on valid arguments ----------------------------------------------------------------
@pytest.mark.parametrize(
    "name, arguments, expected",
    [
        ("add", {"a": 17, "b": 25}, "42"),
        ("add", {"a": 0.1, "b": 0.2}, "0.3"),
        ("add", {"a": -5, "b": 2.5}, "-2.5"),
        ("subtract", {"a": 3, "b": 15}, "-12"),
        ("subtract", {"a": 10.5, "b": 0.5}, "10"),
        ("multiply", {"a": 17, "b": 23}, "391"),
        ("multiply", {"a": 123456789, "b": 987654321}, "121932631112635269"),
        ("multiply", {"a": 2.5, "b": 4}, "10"),
        ("divide", {"a": 6, "b": 3}, "2"),
        ("divide", {"a": 1, "b": 3}, "0.333333333333"),
        ("divide", {"a": 7, "b": 2}, "3.5"),
        ("divide", {"a": -1, "b": 8}, "-0.125"),
        ("divide", {"a": 10**30, "b": 10**10}, "100000000000000000000"),
        ("divide", {"a": 1.5, "b": 0.5}, "3"),
        ("sum_numbers", {"numbers": [1, 2, 3, 4]}, "10"),
        ("sum_numbers", {"numbers": [0.1] * 10}, "1"),
        ("sum_numbers", {"numbers": [1, 2.5]}, "3.5"),
        ("sum_numbers", {"numbers": []}, "0"),
        ("sum_numbers", {"numbers": [1] * MAX_LIST_LENGTH}, "1000"),
        ("floor", {"x": 2.7}, "2"),
        ("floor", {"x": -2.5}, "-3"),
        ("floor", {"x": 5}, "5"),
        ("ceil", {"x": 2.1}, "3"),
        ("ceil", {"x": -2.5}, "-2"),
        ("round_number", {"x": 2.5}, "3"),
        ("round_number", {"x": 3.5}, "4"),
        ("round_number", {"x": -2.5}, "-3"),
        ("round_number", {"x": 2.4}, "2"),
        ("round_number", {"x": 2.675, "ndigits": 2}, "2.68"),
        ("round_number", {"x": 1.005, "ndigits": 2}, "1.01"),
        ("round_number", {"x": 3.14159, "ndigits": 3}, "3.142"),
        ("round_number", {"x": 1250, "ndigits": -2}, "1300"),
        ("round_number", {"x": 1234.5, "ndigits": -1}, "1230"),
        ("round_number", {"x": 7, "ndigits": 2}, "7"),
        ("round_number", {"x": 2.5, "ndigits": 0.0}, "3"),
        ("round_number", {"x": 0.1 + 0.2, "ndigits": 2}, "0.3"),
        ("power", {"base": 2, "exponent": 10}, "1024"),
        ("power", {"base": 3, "exponent": 40}, "12157665459056928801"),
        ("power", {"base": 2, "exponent": -3}, "0.125"),
        ("power", {"base": -2, "exponent": 3}, "-8"),
        ("power", {"base": -2, "exponent": 2.0}, "4"),
        ("power", {"base": 2, "exponent": 0.5}, "1.41421356237"),
        ("power", {"base": 0, "exponent": 0}, "1"),
        ("power", {"base": 10, "exponent": 100}, "1" + "0" * 100),
        ("power", {"base": 2, "exponent": -(10**6)}, "0"),
        ("sqrt", {"x": 144}, "12"),
        ("sqrt", {"x": 2}, "1.41421356237"),
        ("sqrt", {"x": 6.25}, "2.5"),
        ("sqrt", {"x": 10**100}, "1" + "0" * 50),
        ("abs_value", {"x": -12}, "12"),
        ("abs_value", {"x": -0.0}, "0"),
        ("abs_value", {"x": -3.25}, "3.25"),
        ("modulo", {"a": 17, "b": 5}, "2"),
        ("modulo", {"a": -7, "b": 3}, "2"),
        ("modulo", {"a": 7, "b": -3}, "-2"),
        ("modulo", {"a": 5.5, "b": 2}, "1.5"),
        ("modulo", {"a": 0.3, "b": 0.1}, "0"),
    ],
)
def test_tool_outputs(name, arguments, expected):
    result = timed_execute(name, arguments)
    assert result == ToolResult(ok=True, output=expected)
    assert result.observation() == expected
    assert result.to_json() == {"ok": True, "output": expected}


def test_ints_stay_ints_and_exact_division():
    assert arithmetic.multiply(10**50, 10**49) == 10**99
    assert isinstance(arithmetic.divide(6, 3), int)
    assert arithmetic.divide(1, 3) == 1 / 3
    assert isinstance(arithmetic.floor(2.5), int) and isinstance(arithmetic.ceil(2.5), int)
    assert isinstance(arithmetic.round_number(2.5), int)
    assert arithmetic.round_number(2.567, 1) == 2.6


# -- hostile arguments ---------------------------------------------------------------------------
HUGE_INT = 10**100_000  # a 100,001-digit int: str() of it would raise, and be quadratic


@pytest.mark.parametrize(
    "name, arguments, code, message",
    [
        ("power", {"base": 10, "exponent": 10**9}, "too_large", "above 1e100"),
        ("power", {"base": 10, "exponent": 101}, "too_large", "above 1e100"),
        ("power", {"base": 0.5, "exponent": -1000}, "too_large", "above 1e100"),
        ("power", {"base": -8, "exponent": 0.5}, "math_error", "negative base"),
        ("power", {"base": 0, "exponent": -1}, "math_error", "negative power"),
        ("add", {"a": HUGE_INT, "b": 1}, "too_large", "argument 'a' is too large"),
        ("add", {"a": -HUGE_INT, "b": 1}, "too_large", "argument 'a' is too large"),
        ("add", {"a": 10**100 + 1, "b": 0}, "too_large", "argument 'a'"),
        ("add", {"a": 1e101, "b": 0}, "too_large", "argument 'a'"),
        ("multiply", {"a": 1e60, "b": 1e60}, "too_large", "result"),
        ("multiply", {"a": 10**60, "b": 10**60}, "too_large", "result"),
        ("divide", {"a": 1e100, "b": 1e-300}, "too_large", "result"),
        ("sqrt", {"x": -1}, "math_error", "negative number"),
        ("divide", {"a": 1, "b": 0}, "math_error", "division by zero"),
        ("divide", {"a": 1.5, "b": 0.0}, "math_error", "division by zero"),
        ("modulo", {"a": 1, "b": 0}, "math_error", "modulo by zero"),
        ("add", {"a": float("nan"), "b": 1}, "invalid_arguments", "finite"),
        ("add", {"a": float("inf"), "b": 1}, "invalid_arguments", "finite"),
        ("add", {"a": 1, "b": float("-inf")}, "invalid_arguments", "argument 'b'"),
        ("add", {"a": True, "b": 1}, "invalid_arguments", "got boolean true"),
        ("floor", {"x": False}, "invalid_arguments", "got boolean false"),
        ("add", {"a": "3", "b": 1}, "invalid_arguments", "must be a number, got string '3'"),
        ("add", {"a": None, "b": 1}, "invalid_arguments", "got null"),
        ("add", {"a": [1], "b": 1}, "invalid_arguments", "got array"),
        ("add", {"a": {"v": 1}, "b": 1}, "invalid_arguments", "got object"),
        ("add", {"a": 1}, "invalid_arguments", "argument 'b' is missing"),
        ("add", {}, "invalid_arguments", "'a', 'b' are missing"),
        ("add", {"a": 1, "b": 2, "c": 3}, "invalid_arguments", "unexpected argument 'c'"),
        ("add", {"x": 1, "y": 2}, "invalid_arguments", "expected a, b"),
        ("add", None, "invalid_arguments", "JSON object"),
        ("add", [1, 2], "invalid_arguments", "JSON object"),
        ("add", 3, "invalid_arguments", "JSON object"),
        ("add", '"a string"', "invalid_arguments", "JSON object"),
        ("add", "{a: 1}", "invalid_arguments", "not valid JSON"),
        ("add", "[" * 100_001, "too_large", "characters"),
        ("add", "[" * 50_000, "invalid_arguments", "not valid JSON"),
        ("add", '{"a": ' + "9" * 5000 + ', "b": 1}', "invalid_arguments", "not valid JSON"),
        ("sum_numbers", {"numbers": [1] * 1_000_000}, "too_large", "at most 1000"),
        ("sum_numbers", {"numbers": [1, [2, 3]]}, "invalid_arguments", "'numbers[1]'"),
        ("sum_numbers", {"numbers": [[[[[]]]]]}, "invalid_arguments", "'numbers[0]'"),
        ("sum_numbers", {"numbers": [1, "2"]}, "invalid_arguments", "'numbers[1]'"),
        ("sum_numbers", {"numbers": 5}, "invalid_arguments", "must be an array"),
        ("sum_numbers", {"numbers": [1e100] * 20}, "too_large", "result"),
        ("round_number", {"x": 2.5, "ndigits": 0.5}, "invalid_arguments", "must be an integer"),
        ("round_number", {"x": 2.5, "ndigits": "2"}, "invalid_arguments", "must be an integer"),
        ("bogus", {"a": 1}, "unknown_tool", "unknown tool 'bogus'"),
        (None, {}, "unknown_tool", "must be a string"),
        (["add"], {}, "unknown_tool", "must be a string"),
    ],
)
def test_hostile_calls(name, arguments, code, message):
    result = timed_execute(name, arguments)
    assert not result.ok and result.output is None
    assert result.code == code, result.error
    assert message in result.error
    assert result.observation() == f"Error: {result.error}"
    assert result.to_json() == {"ok": False, "error": result.error, "code": code}


def test_messages_name_the_argument_and_the_fix():
    assert execute("add", {"a": 1}).error == "argument 'b' is missing; expected a, b"
    assert (
        execute("add", {"a": 1, "b": 2, "c": 3}).error == "unexpected argument 'c'; expected a, b"
    )
    assert execute("add", {"a": "3", "b": 1}).error == (
        "argument 'a' must be a number, got string '3'; write the number without quotes"
    )
    assert "available: add, subtract" in execute("bogus", {}).error


def test_arguments_as_json_string():
    assert execute("add", '{"a": 1, "b": 2}').output == "3"
    assert execute("sum_numbers", '{"numbers": [1.5, 2.5]}').output == "4"
    assert execute("add", '{"a": NaN, "b": 1}').code == "invalid_arguments"


def test_integer_parameter_accepts_integral_float_only():
    assert execute("round_number", {"x": 3.14159, "ndigits": 2.0}).output == "3.14"
    assert execute("round_number", {"x": 3.14159, "ndigits": True}).code == "invalid_arguments"
    # A huge ndigits is refused like any huge number; a large one is clamped harmlessly.
    assert execute("round_number", {"x": 1.5, "ndigits": HUGE_INT}).code == "too_large"
    assert execute("round_number", {"x": 1.5, "ndigits": 10**99}).output == "1.5"
    assert execute("round_number", {"x": 1.5e99, "ndigits": -(10**99)}).output == "0"


def test_tool_functions_raise_typed_errors_when_called_directly():
    with pytest.raises(MathError):
        arithmetic.divide(1, 0)
    with pytest.raises(MathError):
        arithmetic.sqrt(-4)
    with pytest.raises(TooLargeError):
        arithmetic.power(10, 10**9)
    with pytest.raises(TooLargeError):
        arithmetic.sum_numbers([1] * (MAX_LIST_LENGTH + 1))


def test_unexpected_exception_is_internal_error():
    def broken(x: float) -> float:
        raise RuntimeError("boom")

    schema = {
        "type": "function",
        "function": {
            "name": "broken",
            "description": "Fail.",
            "parameters": {"type": "object", "properties": {"x": {"type": "number"}}},
        },
    }
    result = execute("broken", {"x": 1}, ToolRegistry([Tool("broken", broken, schema)]))
    assert result.code == "internal_error" and "RuntimeError" in result.error


def test_execute_batch_keeps_line_order():
    lines = [
        '{"name": "add", "arguments": {"a": 1, "b": 2}}',
        "not json",
        "",
        '{"arguments": {}}',
        '{"name": "sqrt", "arguments": {"x": -1}}',
    ]
    results = list(execute_batch(lines))
    assert results[0] == {"ok": True, "output": "3"}
    assert results[1]["error"].startswith("line 2: not valid JSON")
    assert results[2]["error"] == "line 3: empty line"
    assert results[3]["error"].startswith('line 4: no string "name"')
    assert results[4]["code"] == "math_error"


# -- rendering ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, expected",
    [
        (391, "391"),
        (-12, "-12"),
        (0, "0"),
        (2.0, "2"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.3"),
        (1 / 3, "0.333333333333"),
        (2 / 3, "0.666666666667"),
        (2.5, "2.5"),
        (123456789.125, "123456789.125"),
        (1e14, "100000000000000"),
        (1e15, "1e+15"),
        (1.5e15, "1.5e+15"),
        (1e20, "1e+20"),
        (2.5e-7, "2.5e-07"),
        (10**30, "1" + "0" * 30),
        (2.9999999999999996, "3"),
    ],
)
def test_render_number(value, expected):
    assert render_number(value) == expected


def test_render_number_refuses_what_it_cannot_render_quickly():
    start = time.perf_counter()
    with pytest.raises(ValueError):
        render_number(HUGE_INT)
    assert time.perf_counter() - start < MAX_CALL_S
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            render_number(bad)
    with pytest.raises(TypeError):
        render_number(True)


# -- registry ----------------------------------------------------------------------------------
def test_arithmetic_registry_order_and_api():
    assert ARITHMETIC.names() == NAMES
    assert len(ARITHMETIC) == 12 and "add" in ARITHMETIC and "bogus" not in ARITHMETIC
    assert [tool.name for tool in ARITHMETIC] == NAMES
    assert [s["function"]["name"] for s in ARITHMETIC.schemas()] == NAMES
    assert ARITHMETIC.get("bogus") is None and ARITHMETIC.get("add").fn is arithmetic.add
    assert ARITHMETIC.get("round_number").signature == "round_number(x: number, ndigits?: integer)"


def test_schemas_are_copies():
    ARITHMETIC.schemas()[0]["function"]["name"] = "changed"
    assert ARITHMETIC.schemas()[0]["function"]["name"] == "add"


def test_register_subset_and_get_registry():
    registry = get_registry()
    assert registry is not ARITHMETIC and registry.names() == NAMES
    with pytest.raises(ValueError, match="already registered"):
        registry.register(ARITHMETIC.get("add"))
    with pytest.raises(ValueError, match="schema"):
        registry.register(Tool("other", arithmetic.add, ARITHMETIC.get("add").schema))
    subset = ARITHMETIC.subset(["multiply", "add"])
    assert subset.names() == ["multiply", "add"]
    assert execute("divide", {"a": 1, "b": 2}, subset).code == "unknown_tool"
    with pytest.raises(KeyError, match="bogus"):
        ARITHMETIC.subset(["add", "bogus"])
    with pytest.raises(ValueError, match="arithmetic"):
        get_registry("chemistry")


def test_schemas_equal_get_json_schema():
    from transformers.utils import get_json_schema

    for tool in ARITHMETIC:
        schema = get_json_schema(tool.fn)
        schema["function"].pop("return")  # OpenAI's format has no return entry
        assert schema == tool.schema, tool.name
    params = {t.name: t.parameters["properties"] for t in ARITHMETIC}
    assert params["add"]["a"]["type"] == "number"
    assert params["sum_numbers"]["numbers"]["items"] == {"type": "number"}
    assert params["round_number"]["ndigits"]["type"] == "integer"
    assert ARITHMETIC.get("round_number").parameters["required"] == ["x"]


def test_trl_tools_keep_names_signatures_docstrings():
    from transformers.utils import get_json_schema

    wrappers = ARITHMETIC.trl_tools()
    for wrapper, tool in zip(wrappers, ARITHMETIC, strict=True):
        assert wrapper.__name__ == tool.name
        assert wrapper.__doc__ == tool.fn.__doc__
        original = inspect.signature(tool.fn)
        assert inspect.signature(wrapper).parameters == original.parameters
        # What TRL renders into the prompt is exactly the registry's schema.
        assert get_json_schema(wrapper) == tool.schema
        assert not hasattr(wrapper, "__wrapped__")


def test_trl_tools_return_observation_strings():
    tools = {fn.__name__: fn for fn in ARITHMETIC.trl_tools()}
    assert tools["multiply"](a=17, b=23) == "391"
    assert tools["multiply"](17, 23) == "391"
    assert tools["sum_numbers"](numbers=[1, 2.5]) == "3.5"
    assert tools["divide"](a=1, b=0).startswith("Error: division by zero")
    assert tools["power"](base=10, exponent=10**9).startswith("Error: ")
    assert tools["add"](a=1, b=2, c=3) == "Error: unexpected argument 'c'; expected a, b"
    assert tools["add"](1, a=2).startswith("Error: argument 'a' was given twice")
    assert tools["floor"](1, 2).startswith("Error: floor takes 1 argument")
    # A subset's wrappers only see the subset.
    assert [fn.__name__ for fn in ARITHMETIC.subset(["sqrt"]).trl_tools()] == ["sqrt"]


def test_import_does_not_load_transformers():
    code = "import sys, mentor_data.tools; print('transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- properties --------------------------------------------------------------------------------
special_numbers = st.sampled_from(
    [0, -0.0, 1, -1, 0.5, 2, 10**100, -(10**100), 10**100 + 1, 1e100, 1e101, 1e-300, 5e-324,
     10**9, 1e308, float("nan"), float("inf"), float("-inf"), 2**333, 1e15, 0.1]
)  # fmt: skip
# Built by a map: hypothesis cannot repr a 100,000-digit int inside sampled_from.
huge_ints = st.sampled_from([1, -1]).map(lambda sign: sign * HUGE_INT)
dumpable_numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**120), max_value=10**120),
    st.floats(),
    special_numbers,
)
numbers = dumpable_numbers | huge_ints
json_scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=10))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=10,
)
param_names = st.sampled_from(["a", "b", "x", "numbers", "ndigits", "base", "exponent", "c"])
long_lists = st.builds(lambda n, v: [v] * n, st.integers(0, MAX_LIST_LENGTH + 50), numbers)
arguments = st.one_of(
    json_values,
    st.dictionaries(param_names, json_values | numbers | long_lists, max_size=4),
    st.dictionaries(param_names, dumpable_numbers, max_size=3).map(lambda d: json.dumps(d)[:200]),
    st.text(max_size=30),
)
PROPERTY_SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(name=st.sampled_from(NAMES) | st.text(max_size=8), args=arguments)
def test_execute_never_raises_and_is_fast(name, args):
    result = timed_execute(name, args)
    assert isinstance(result, ToolResult)
    assert isinstance(result.observation(), str)
    if result.ok:
        float(result.output)  # the output is a number the model can read back
        assert result.error is None and result.code is None
    else:
        assert result.code in CODES and result.error
        assert result.code != "internal_error", result.error
    json.dumps(result.to_json())


@PROPERTY_SETTINGS
@given(name=st.sampled_from(NAMES), data=st.data())
def test_execute_on_well_formed_numbers(name, data):
    """Right argument names, arbitrary numbers: a result or a classified error, never a bug."""
    params = ARITHMETIC.get(name).parameters["properties"]
    args = {
        p: data.draw(st.lists(numbers, max_size=5) if spec["type"] == "array" else numbers, p)
        for p, spec in params.items()
    }
    result = timed_execute(name, args)
    assert result.ok or result.code in {"invalid_arguments", "math_error", "too_large"}


bounded_ints = st.integers(min_value=-(10**60), max_value=10**60)


@settings(max_examples=200, deadline=None)
@given(a=bounded_ints, b=bounded_ints)
def test_integer_arithmetic_is_exact(a, b):
    assert execute("add", {"a": a, "b": b}).output == str(a + b)
    assert execute("subtract", {"a": a, "b": b}).output == str(a - b)
    product = execute("multiply", {"a": a, "b": b})
    if abs(a * b) <= 10**100:
        assert product.output == str(a * b)
    else:
        assert product.code == "too_large"
    if b:
        assert execute("modulo", {"a": a, "b": b}).output == str(a % b)
        quotient = Fraction(a, b)
        expected = quotient.numerator if quotient.denominator == 1 else float(quotient)
        assert execute("divide", {"a": a, "b": b}).output == render_number(expected)


@settings(max_examples=200, deadline=None)
@given(
    x=st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),
    ndigits=st.integers(min_value=-3, max_value=6),
)
def test_round_number_is_half_up_on_the_decimal(x, ndigits):
    expected = Decimal(repr(x)).quantize(Decimal(1).scaleb(-ndigits), rounding=ROUND_HALF_UP)
    value = int(expected) if ndigits <= 0 else float(expected)
    assert execute("round_number", {"x": x, "ndigits": ndigits}).output == render_number(value)
