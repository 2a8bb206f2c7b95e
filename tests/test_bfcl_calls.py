"""BFCL call strings: parsed with ast into literals, hostile ones refused without evaluation."""

from __future__ import annotations

import time

import pytest

from mentor_data.bfcl.calls import (
    MAX_ITEMS,
    CallSyntaxError,
    ParsedCall,
    parse_call,
    parse_calls,
    value_problem,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cd(folder='document')", ParsedCall("cd", (), {"folder": "document"})),
        ("sort('final_report.pdf')", ParsedCall("sort", ("final_report.pdf",), {})),
        ("ls(a=True)", ParsedCall("ls", (), {"a": True})),
        (
            "tail(file_name='log.txt',lines=20)",
            ParsedCall("tail", (), {"file_name": "log.txt", "lines": 20}),
        ),
        (
            "mean(numbers=[1, -2.5, (3, 4)], d={'a': None, 1: +2})",
            ParsedCall("mean", (), {"numbers": [1, -2.5, [3, 4]], "d": {"a": None, 1: 2}}),
        ),
        ("uber.ride(loc='x', time=600)", ParsedCall("uber.ride", (), {"loc": "x", "time": 600})),
        ("  f()  ", ParsedCall("f", (), {})),
    ],
)
def test_calls_parse_into_literals(text, expected):
    assert parse_call(text) == expected


def test_a_list_of_calls():
    calls = parse_calls("[add(a=1, b=2), uber.ride(loc='x')]")
    assert [c.name for c in calls] == ["add", "uber.ride"]
    assert parse_calls("f(x=1)") == [ParsedCall("f", (), {"x": 1})]


HOSTILE = {
    "import": ("__import__('os').system('echo pwned')", "attribute access on a Call"),
    "dunder chain": ("().__class__.__bases__", "instead of a call"),
    "dunder call": (
        "().__class__.__bases__[0].__subclasses__()",
        "attribute access on a Subscript",
    ),
    "underscore name": ("__import__('os')", "starts with an underscore"),
    "private method": ("env._load_scenario({})", "starts with an underscore"),
    "power tower": ("f(x=10**10**10)", "BinOp"),
    "10 MB string": ("f(x='" + "a" * 10_000_000 + "')", "characters (limit"),
    "nested call": ("f(x=open('/etc/passwd'))", "a call nested in the arguments"),
    "comprehension": ("f(x=[i for i in range(10**9)])", "a comprehension"),
    "lambda": ("f(key=lambda: 1)", "a lambda"),
    "variable": ("f(x=secret)", "the variable 'secret'"),
    "f-string": ("f(x=f'{secret}')", "JoinedStr"),
    "starred": ("f(*args)", "*args"),
    "double starred": ("f(**kwargs)", "**kwargs"),
    "set": ("f(x={1, 2})", "Set"),
    "bytes": ("f(x=b'1')", "bytes literal"),
    "infinite": ("f(x=1e999)", "not finite"),
    "huge int": ("f(x=" + "9" * 40 + ")", "more than 30 digits"),
    "int too long to parse": ("f(x=" + "9" * 5000 + ")", "not a Python call"),
    "deep nesting": ("f(x=" + "[" * 300 + "]" * 300 + ")", "not a Python call"),
    "repeated argument": ("f(x=1, x=2)", "given twice"),
    "not a call": ("1 + 1", "instead of a call"),
    "walrus": ("f(x=(y := 1))", "NamedExpr"),
    "subscript": ("f(x=[1][0])", "Subscript"),
    "not python": ("f(x=", "not a Python call"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_call_strings_are_refused_without_evaluation(name):
    text, message = HOSTILE[name]
    start = time.perf_counter()
    with pytest.raises(CallSyntaxError, match="refused|not a Python call") as info:
        parse_call(text)
    assert message in str(info.value)
    assert time.perf_counter() - start < 1.0  # refused, not computed


def test_too_many_values():
    with pytest.raises(CallSyntaxError, match=f"more than {MAX_ITEMS} values"):
        parse_call("f(x=[" + "1," * (MAX_ITEMS + 1) + "])")


def test_not_a_string():
    with pytest.raises(CallSyntaxError, match="must be a string"):
        parse_call(None)


def test_value_bounds_for_json_arguments():
    assert value_problem({"a": [1, 2.5, "x", None, True, {"b": []}]}) is None
    assert value_problem(10**40) == "an integer with more than 30 digits"
    assert value_problem("x" * 60_000).startswith("a string longer than")
    assert value_problem(float("nan")) == "a number that is not finite"
    assert value_problem(object()) == "a value of type object"
    deep: list = []
    for _ in range(40):
        deep = [deep]
    assert "nested deeper" in value_problem(deep)
