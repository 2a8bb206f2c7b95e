"""`judge_bfcl`: reason codes of mutated calls, irrelevance, multi-turn state, the executor."""

from __future__ import annotations

import copy
import decimal
import time

import pytest

pytest.importorskip("bfcl_eval", reason="bfcl-eval is not installed (make setup installs it)")

from mentor_data.bfcl import checker  # noqa: E402
from mentor_data.bfcl.checker import BfclVerdict, calls_by_user_turn, judge_bfcl  # noqa: E402
from mentor_data.bfcl.executor import MultiTurnEnv  # noqa: E402
from mentor_data.bfcl.oracle import oracle_calls  # noqa: E402
from mentor_data.problems import load_problems  # noqa: E402


def _meta(spec: str) -> dict:
    return load_problems(spec)[0].metadata


def _call(name: str, **arguments) -> dict:
    return {"name": name, "arguments": arguments}


SIMPLE = "bfcl:simple_python?n=1"  # calculate_triangle_area(base=10, height=5[, unit])
MULTIPLE = "bfcl:multiple?n=1"  # triangle_properties.get(side1=5, side2=4, side3=3) of two
PARALLEL = "bfcl:parallel?n=1"  # spotify.play twice
MULTI_TURN = "bfcl:multi_turn_base?n=1"


def test_the_oracle_is_right():
    for spec in (SIMPLE, MULTIPLE, PARALLEL, "bfcl:irrelevance?n=1", MULTI_TURN):
        meta = _meta(spec)
        assert judge_bfcl(meta, oracle_calls(meta)) == BfclVerdict(True, None), spec


@pytest.mark.parametrize(
    "calls, reason",
    [
        ([[_call("calculate_triangle_area", base=11, height=5)]], "wrong_arguments"),
        ([[_call("calculate_triangle_area", height=5)]], "missing_argument"),
        ([[_call("calculate_triangle_area", base="10", height=5)]], "wrong_type"),
        ([[_call("calculate_triangle_area", base=10, height=5, colour="red")]], "wrong_arguments"),
        (
            [[_call("calculate_triangle_area", base=10, height=5)] * 2],
            "extra_call",
        ),
        ([[_call("triangle_area", base=10, height=5)]], "unknown_function"),
        ([[]], "missing_call"),
        ([], "missing_call"),
        ([[{"name": "calculate_triangle_area", "arguments": "base=10"}]], "malformed_call"),
        ([[{"arguments": {}}]], "malformed_call"),
        ("not a list", "malformed_call"),
    ],
)
def test_mutated_simple_calls(calls, reason):
    verdict = judge_bfcl(_meta(SIMPLE), calls)
    assert verdict.correct is False and verdict.reason == reason, verdict
    assert verdict.detail


def test_an_optional_parameter_may_be_given():
    calls = [[_call("calculate_triangle_area", base=10, height=5, unit="units")]]
    assert judge_bfcl(_meta(SIMPLE), calls).correct is True
    wrong = [[_call("calculate_triangle_area", base=10, height=5, unit="cm")]]
    assert judge_bfcl(_meta(SIMPLE), wrong).reason == "wrong_arguments"


def test_a_wrong_but_offered_function():
    calls = [[_call("circle_properties.get", radius=5.0)]]
    assert judge_bfcl(_meta(MULTIPLE), calls).reason == "wrong_call"


def test_parallel_order_does_not_matter_but_values_do():
    meta = _meta(PARALLEL)
    calls = oracle_calls(meta)
    assert judge_bfcl(meta, [list(reversed(calls[0]))]).correct is True
    wrong = copy.deepcopy(calls)
    wrong[0][1]["arguments"]["duration"] = 16
    assert judge_bfcl(meta, wrong).reason == "wrong_arguments"
    typed = copy.deepcopy(calls)
    typed[0][0]["arguments"]["duration"] = "20"
    assert judge_bfcl(meta, typed).reason == "wrong_type"
    assert judge_bfcl(meta, [calls[0][:1]]).reason == "missing_call"
    # Calls of several turn lists are read together on single-turn rows.
    assert judge_bfcl(meta, [calls[0][:1], calls[0][1:]]).correct is True


def test_irrelevance_rows_pass_only_without_calls():
    meta = _meta("bfcl:irrelevance?n=1")
    assert judge_bfcl(meta, []).correct is True
    assert judge_bfcl(meta, [[]]).correct is True
    called = judge_bfcl(meta, [[_call(meta["functions"][0]["name"])]])
    assert called.correct is False and called.reason == "unexpected_call"


def test_underscored_names_are_mapped_back():
    meta = _meta("bfcl:live_simple?n=3&offset=2&names=underscore")  # uber.ride as uber_ride
    calls = oracle_calls(meta)
    assert calls[0][0]["name"] == "uber_ride"
    assert judge_bfcl(meta, calls).correct is True
    dotted = copy.deepcopy(calls)
    dotted[0][0]["name"] = "uber.ride"
    assert judge_bfcl(meta, dotted).reason == "unknown_function"


def test_multi_turn_mutations():
    meta = _meta(MULTI_TURN)  # turn 0: cd(document), mkdir(temp), mv(final_report.pdf, temp)
    calls = oracle_calls(meta)
    dropped = copy.deepcopy(calls)
    del dropped[0][1]  # no mkdir: mv renames the file instead
    assert judge_bfcl(meta, dropped).reason == "wrong_state"
    swapped = copy.deepcopy(calls)
    swapped[0][0], swapped[0][1] = swapped[0][1], swapped[0][0]  # mkdir before cd
    assert judge_bfcl(meta, swapped).reason == "wrong_order"
    silent = copy.deepcopy(calls)
    silent[1] = []
    assert judge_bfcl(meta, silent).reason == "missing_call"
    no_grep = copy.deepcopy(calls)  # turn 1: cd(temp), grep(...): the grep result is missing
    no_grep[1] = no_grep[1][:1]
    assert judge_bfcl(meta, no_grep).reason == "missing_call"
    other_pattern = copy.deepcopy(calls)
    other_pattern[1][1]["arguments"]["pattern"] = "revenue"
    assert judge_bfcl(meta, other_pattern).reason == "wrong_arguments"
    assert judge_bfcl(meta, calls[:2]).reason == "missing_call"  # stopped after two turns
    extra = copy.deepcopy(calls) + [[_call("ls")]]
    assert judge_bfcl(meta, extra).reason == "extra_call"
    # As in bfcl, a harmless extra call (even to an unknown name) fails nothing.
    chatty = copy.deepcopy(calls)
    chatty[0] = [_call("pwd"), _call("no_such_function"), *chatty[0]]
    assert judge_bfcl(meta, chatty).correct is True


def test_unjudged_rows():
    meta = _meta(SIMPLE)
    assert judge_bfcl({**meta, "ground_truth": None}, [[]]) == BfclVerdict(
        None, "no_ground_truth", "the row has no ground-truth calls"
    )


def test_a_crashing_checker_is_not_a_verdict(monkeypatch):
    def boom(*args):
        raise KeyError("number")

    monkeypatch.setattr(checker, "_ast_checker", lambda: (boom, None))
    verdict = judge_bfcl(_meta(SIMPLE), oracle_calls(_meta(SIMPLE)))
    assert verdict.correct is None and verdict.reason == "judge_error"
    assert "KeyError" in verdict.detail


@pytest.mark.parametrize("metadata", [{}, {"category": "simple_java"}, None, {"family": "x"}])
def test_metadata_that_is_not_bfcl_is_a_clear_error(metadata):
    with pytest.raises(ValueError, match="not the metadata of a BFCL row.*bfcl:CATEGORY"):
        judge_bfcl(metadata, [[]])


def test_the_ast_checker_loads_without_the_cloud_sdks():
    import sys

    checker._ast_checker()
    assert "bfcl_eval.constants.model_config" not in sys.modules  # the stand-in is gone


def test_calls_by_user_turn():
    messages = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "1", "function": {"name": "cd", "arguments": {"folder": "x"}}},
            {"id": "2", "function": {"name": "bad", "arguments": "{not json"}},
        ]},
        {"role": "tool", "tool_call_id": "1", "content": "ok"},
        {"role": "tool", "tool_call_id": "2", "content": "Error: ..."},
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "3", "function": {"name": "ls", "arguments": {}}}]},
    ]  # fmt: skip
    assert calls_by_user_turn(messages) == [[_call("cd", folder="x")], [_call("ls")]]
    assert calls_by_user_turn([]) == [[]]


# -- the executor ---------------------------------------------------------------------------------
def _env() -> MultiTurnEnv:
    return MultiTurnEnv(_meta(MULTI_TURN))


def test_only_offered_public_methods_run():
    env = _env()
    assert env.run("pwd").ok
    for name in ("_load_scenario", "__init__", "__class__", "eval", "no_such", None, 3):
        result = env.run(name, {})
        assert not result.ok and result.code == "unknown_tool", name
        assert "unknown function" in result.error
    math_env = MultiTurnEnv(
        {"involved_classes": ["MathAPI"], "initial_config": {}, "functions": [{"name": "add"}]}
    )
    assert math_env.execute("add", {"a": 1, "b": 2}) == '{"result": 3}'
    assert math_env.run("subtract", {"a": 1, "b": 2}).code == "unknown_tool"  # not offered


def test_bad_arguments_are_observations():
    env = _env()
    missing = env.run("cd", {})
    assert missing.code == "invalid_arguments" and "folder" in missing.error
    unknown = env.run("cd", {"folder": "document", "evil": 1})
    assert unknown.code == "invalid_arguments"
    assert env.run("cd", ["document"]).code == "invalid_arguments"
    assert env.execute("cd", {"folder": "x" * 60_000}).startswith("Error: cd: a string longer")
    assert env.execute("cd", {"folder": "nowhere"}).startswith('{"error"')  # the API's answer


def test_costly_arguments_are_refused_and_numeric_settings_restored():
    import mpmath

    env = MultiTurnEnv(
        {
            "involved_classes": ["MathAPI"],
            "initial_config": {},
            "functions": [{"name": "logarithm"}, {"name": "square_root"}, {"name": "power"}],
        }
    )
    before = decimal.getcontext().prec, mpmath.mp.dps
    start = time.perf_counter()
    assert env.run("logarithm", {"value": 10, "base": 2, "precision": 10**6}).code == (
        "invalid_arguments"
    )
    assert env.run("power", {"base": 10, "exponent": 10**9}).code == "invalid_arguments"
    assert time.perf_counter() - start < 1
    # bfcl's rendering: a dict that json cannot dump is str()-ed.
    assert env.execute("square_root", {"number": 2, "precision": 5}) == (
        "{'result': Decimal('1.4142')}"
    )
    assert env.run("logarithm", {"value": 8, "base": 2, "precision": 30}).ok
    assert (decimal.getcontext().prec, mpmath.mp.dps) == before


def test_a_raising_method_is_an_error_observation():
    env = _env()
    env.execute("cd", {"folder": "document"})
    # tail compares lines with an int: a str makes the method itself raise TypeError.
    ok, text = env.invoke("tail", {"file_name": "final_report.pdf", "lines": "a"})
    assert not ok and text.startswith("Error during execution: ")  # as bfcl renders it
    result = env.run("tail", {"file_name": "final_report.pdf", "lines": "a"})
    assert result.code == "internal_error" and "not supported" in result.error
    assert env.execute("tail", {"file_name": "final_report.pdf", "lines": "a"}).startswith(
        "Error: "
    )
    # An API's own error answer is a result, not a failure.
    assert env.run("cd", {"folder": "nowhere"}).ok


def test_fresh_environments_do_not_share_state():
    first, second = _env(), _env()
    first.execute("mkdir", {"dir_name": "new_dir"})
    assert "new_dir" in first.execute("ls")
    assert "new_dir" not in second.execute("ls")


def test_the_docstring_examples_run():
    import doctest

    from mentor_data.bfcl import calls, conversation, data, executor, oracle

    for module in (calls, checker, conversation, data, executor, oracle):
        assert doctest.testmod(module).failed == 0, module.__name__
