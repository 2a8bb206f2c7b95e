"""verify: a reason code per tampered trajectory, alignment targets, selection, the dataset run."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mentor_data import answers
from mentor_data.cli import app
from mentor_data.schema import verified_features
from mentor_data.store import Store
from mentor_data.verify import (
    REASONS,
    RowVerdict,
    VerifyConfig,
    outputs_match,
    select_rows,
    structure_problem,
    verify_dataset,
    verify_row,
    verify_rows,
)
from tests.trajectory_fixtures import mixed_rows, traj


def reason(row) -> str:
    return verify_row(row).reason


# -- one tampered trajectory per reason code ------------------------------------------------------
def test_clean_trajectory_is_ok_with_targets():
    row = traj(
        [
            ("multiply", {"a": 3, "b": 6}),
            ("add", {"a": 18, "b": 18}),
            ("multiply", {"a": 36, "b": 1}),
        ],
        "36",
        "36",
    )
    v = verify_row(row)
    assert v.reason == "ok" and v.verified and v.detail is None
    assert v.teacher_tools == ["add", "multiply"]
    assert v.teacher_tool_counts == {"multiply": 2, "add": 1}
    assert v.teacher_tool_sequence == ["multiply", "add", "multiply"]
    assert v.teacher_n_calls == 3 and v.teacher_answer == "36"
    assert set(v.columns()) == set(verified_features()) - set(row)


def test_altered_observation_in_messages():
    row = traj()
    row["messages"][3]["content"] = "37"
    v = verify_row(row)
    assert v.reason == "tool_output_mismatch"
    assert "'37'" in v.detail and "'36'" in v.detail


def test_altered_observation_in_tool_calls_column():
    row = traj()
    row["tool_calls"][0]["output"] = "35"
    assert reason(row) == "tool_output_mismatch"


def test_tool_calls_column_disagrees_with_messages():
    row = traj()
    row["tool_calls"][0]["arguments"] = {"a": 4, "b": 12}
    assert reason(row) == "tool_output_mismatch"
    row = traj()
    row["tool_calls"] = []
    assert "0 call(s)" in verify_row(row).detail


def test_error_observation_must_stay_an_error():
    ok = traj([("divide", {"a": 1, "b": 0})], "undefined", "undefined")
    assert ok["messages"][3]["content"].startswith("Error: ")
    assert reason(ok) in ("ok", "wrong_answer", "judge_error")  # the calls check passed
    faked = traj([("divide", {"a": 1, "b": 0})], "5", "5", outputs={0: "5"})
    assert reason(faked) == "tool_output_mismatch"
    hidden = traj([("divide", {"a": 6, "b": 3})], "2", "2", outputs={0: "Error: no"})
    assert reason(hidden) == "tool_output_mismatch"


def test_wrong_answer():
    v = verify_row(traj(answer="35"))
    assert v.reason == "wrong_answer" and not v.verified and v.teacher_answer == "35"


@pytest.mark.parametrize("answer", ["3/4", "0.75", "\\frac{3}{4}", "\\dfrac{3}{4}"])
def test_equivalent_answer_in_another_form(answer):
    row = traj([("divide", {"a": 3, "b": 4})], answer, "0.75")
    assert reason(row) == "ok"


def test_unknown_tool():
    row = traj([("teleport", {"to": "mars"})], "1", "1", outputs={0: "ok"})
    v = verify_row(row)
    assert v.reason == "unknown_tool" and "teleport" in v.detail
    assert v.teacher_tools == ["teleport"]  # targets describe what the teacher did


def test_unknown_tool_is_judged_against_the_rows_own_tools():
    # `add` exists locally but this row offers only multiply: calling add is hallucinated.
    only_multiply = [t for t in traj()["tools"] if t["function"]["name"] == "multiply"]
    row = traj([("add", {"a": 18, "b": 18})], "36", "36", tools=only_multiply)
    assert reason(row) == "unknown_tool"


def test_offered_tool_without_local_implementation_fails_as_not_loaded():
    lookup = {
        "type": "function",
        "function": {
            "name": "lookup_price",
            "description": "Price of an item.",
            "parameters": {
                "type": "object",
                "properties": {"item": {"type": "string"}},
                "required": ["item"],
            },
        },
    }
    row = traj(
        [("lookup_price", {"item": "pen"}), ("multiply", {"a": 3, "b": 12})],
        "36",
        "36",
        tools=[*traj()["tools"], lookup],
        outputs={0: "12"},
    )
    v = verify_row(row)
    # Nothing passes silently: a recorded output no loaded tool can check fails the row.
    assert v.reason == "tool_not_loaded" and "lookup_price" in v.detail
    assert "--tools" in v.detail


def test_same_name_with_other_parameters_is_not_the_local_tool():
    other_add = {
        "type": "function",
        "function": {
            "name": "add",
            "parameters": {
                "type": "object",
                "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
            },
        },
    }
    row = traj([("add", {"x": 1, "y": 2})], "3", "3", tools=[other_add], outputs={0: "3"})
    v = verify_row(row)
    assert v.reason == "tool_not_loaded"


def test_malformed_call_json_in_text():
    row = traj()
    row["messages"][-1]["content"] = (
        '<tool_call>\n{"name": "add", "arguments": {"a": 1,\n</tool_call>\n\\boxed{36}'
    )
    v = verify_row(row)
    assert v.reason == "malformed_call" and "invalid JSON" in v.detail


def test_malformed_call_arguments_entry():
    row = traj()
    row["messages"][2]["tool_calls"][0]["function"]["arguments"] = '{"a": 3, "b": '
    assert reason(row) == "malformed_call"


def test_truncated_conversation():
    row = traj(finish_reason="length")
    row["messages"][-1]["content"] = "So the answer is \\boxed{3"
    assert reason(row) == "truncated"
    assert reason(traj(finish_reason="length")) == "truncated"  # even with a boxed answer


def test_max_turns():
    row = traj(finish_reason="max_turns")
    row["messages"].pop()  # the turn limit stopped it after the tool message
    assert reason(row) == "max_turns"


def test_no_answer():
    v = verify_row(traj(answer=None))
    assert v.reason == "no_answer" and v.teacher_answer is None


def test_error_rows():
    assert reason(traj(error="timeout after 3 retries", finish_reason="error")) == "error"
    assert reason(traj(finish_reason="error")) == "error"
    v = verify_row(traj(error="HTTP 500"))
    assert v.reason == "error" and "HTTP 500" in v.detail


def test_null_ground_truth():
    assert reason(traj(gold=None)) == "no_ground_truth"


def test_judge_error_is_neither_right_nor_wrong(monkeypatch):
    from mentor_data import answers

    monkeypatch.setattr(answers, "check_answer", lambda pred, gold, **kw: answers.Verdict.ERROR)
    v = verify_row(traj())
    assert v.reason == "judge_error" and not v.verified


def test_unusable_ground_truth_is_a_judge_error():
    v = verify_row(traj(gold="   "))
    assert v.reason == "judge_error" and "unusable ground truth" in v.detail


def test_huge_numbers():
    big = 10**40
    row = traj([("multiply", {"a": big, "b": big})], str(big * big), str(big * big))
    assert reason(row) == "ok"
    tampered = copy.deepcopy(row)
    tampered["messages"][3]["content"] = str(big * big + 1)  # one unit in 81 digits
    assert reason(tampered) == "tool_output_mismatch"
    floaty = traj([("power", {"base": 2.5, "exponent": 200})], "x", "x")
    observed = floaty["messages"][3]["content"]
    assert "e+79" in observed
    floaty["messages"][3]["content"] = observed.replace("3.87", "3.88", 1)
    assert reason(floaty) == "tool_output_mismatch"
    too_large = traj([("power", {"base": 10, "exponent": 200})], "x", "x")
    assert too_large["messages"][3]["content"].startswith("Error: ")
    assert reason(too_large) not in ("tool_output_mismatch", "bad_structure")


@pytest.mark.parametrize(
    ("mutate", "why"),
    [
        (lambda m: m.insert(1, m.pop(2)), "expected the user message"),  # assistant before user
        (lambda m: m.pop(2), "tool message before any assistant"),
        (lambda m: m.pop(3), "got 0 tool message(s)"),  # the call never answered
        (lambda m: m.insert(3, dict(m[3])), "answers an assistant turn that made 1"),
        (lambda m: m.__setitem__(3, {**m[3], "tool_call_id": "call_9"}), "matches no call"),
        (lambda m: m.insert(2, {"role": "user", "content": "again"}), "user message after"),
        (lambda m: m.__setitem__(2, {**m[2], "role": "bot"}), "'bot' is not one of"),
        (lambda m: m.append({"role": "assistant", "content": "more"}), "two assistant"),
        (lambda m: m.__delitem__(slice(2, None)), "no assistant turn"),
        (lambda m: m.clear(), "no messages"),
    ],
)
def test_bad_role_order(mutate, why):
    row = traj()
    mutate(row["messages"])
    v = verify_row(row)
    assert v.reason == "bad_structure" and why in v.detail, v.detail


def test_structure_allows_text_form_calls_and_no_system():
    row = traj()
    del row["messages"][0]
    assert structure_problem(row["messages"]) is None
    assert reason(row) == "ok"


def test_order_of_checks_first_failure_wins():
    row = traj(answer="35", finish_reason="length")
    row["messages"][3]["content"] = "99"
    assert reason(row) == "tool_output_mismatch"  # before truncated, before wrong_answer
    row["messages"][2]["tool_calls"][0]["function"]["name"] = "nope"
    assert reason(row) == "unknown_tool"
    row["error"] = "boom"
    assert reason(row) == "error"


class _Exploding(dict):
    def get(self, key, default=None):
        if key == "tools":
            raise RuntimeError("disk on fire")
        return super().get(key, default)


def test_a_row_that_makes_the_checker_raise_is_an_error_row():
    v = verify_row(_Exploding(traj()))
    assert v.reason == "error" and "RuntimeError: disk on fire" in v.detail
    assert verify_row(None).reason == "error"
    assert verify_row({"messages": "garbage"}).reason == "bad_structure"


# -- numbers --------------------------------------------------------------------------------------
def test_outputs_match_tolerance():
    assert outputs_match("0.333333333333", "0.3333333333333333")
    assert outputs_match("1e+20", "100000000000000000000")
    assert outputs_match("2", "2.0000000001")  # rel 5e-11
    assert not outputs_match("2", "2.00001")
    assert outputs_match("0", "1e-10")  # absolute tolerance near zero
    assert not outputs_match("12", "-12")
    assert not outputs_match("abc", "abd") and outputs_match("abc", "abc")
    assert not outputs_match("1e99999", "1")  # exponent beyond 4 digits: text only, no bignum
    assert not outputs_match("9" * 6000, "9" * 6000 + "0")


# -- selection ------------------------------------------------------------------------------------
def _v(reason: str, n: int, sig: str = "s") -> RowVerdict:
    return RowVerdict(reason, teacher_tool_sequence=["add"] * n, signature=sig)


def test_select_rows_keep_dedupe_per_problem():
    verdicts = [
        _v("ok", 2, "a"),
        _v("ok", 1, "b"),
        _v("wrong_answer", 1, "c"),
        _v("ok", 1, "b"),
        _v("ok", 3, "d"),
    ]
    pids = ["p", "p", "p", "p", "q"]
    sids = [0, 1, 2, 3, 0]
    assert select_rows(verdicts, pids, sids).indices == [0, 1, 3, 4]
    assert select_rows(verdicts, pids, sids, keep="failed").indices == [2]
    assert select_rows(verdicts, pids, sids, keep="all").indices == [0, 1, 2, 3, 4]
    s = select_rows(verdicts, pids, sids, dedupe=True)
    assert s.indices == [0, 1, 4] and s.dropped_duplicates == 1  # sample 3 repeats sample 1
    errors = [RowVerdict("error"), RowVerdict("error")]  # unparsed rows are never copies
    assert select_rows(errors, ["p", "p"], [0, 1], keep="all", dedupe=True).indices == [0, 1]
    s = select_rows(verdicts, pids, sids, per_problem=1)
    assert s.indices == [1, 4] and s.dropped_per_problem == 2  # fewest calls, then sample_id
    s = select_rows(verdicts, pids, sids, keep="all", per_problem=2)
    assert s.indices == [1, 3, 4]  # verified before failed
    with pytest.raises(ValueError):
        select_rows(verdicts, pids, sids, keep="some")


def test_verify_config_validates():
    for bad in ({"keep": "x"}, {"per_problem": 0}, {"workers": 0}, {"judge_timeout_s": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            VerifyConfig(**bad)


# -- never raise ----------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_BASE = traj([("multiply", {"a": 3, "b": 12}), ("add", {"a": 36, "b": 0})], "36", "36")


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


_ALL_PATHS = [p for p in _paths(_BASE) if p and p[0] != "tools"] + [("tools",), ("tools", 0)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_ALL_PATHS),
            json_values
            | st.sampled_from(["<tool_call>{", "\\boxed{", "Error: x", "1e309", "</tool_call>"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_verify_row_never_raises(mutations):
    row = copy.deepcopy(_BASE)
    for path, value in mutations:
        target = row
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    original = answers.check_answer  # the judge has its own tests
    answers.check_answer = lambda answer, gold, timeout_s=5.0: answers.Verdict.PASS
    try:
        v = verify_row(row)
    finally:
        answers.check_answer = original
    assert v.reason in REASONS
    json.dumps(v.columns())  # the columns are JSON-ready


# -- the dataset run ------------------------------------------------------------------------------
def test_verify_dataset_writes_a_verified_version(tmp_path):
    store = Store(tmp_path)
    rows = mixed_rows()
    store.write_version("arith", rows, lineage={"teacher": {"backend": "solver"}})
    summary = verify_dataset(
        "arith",
        store=store,
        config=VerifyConfig(workers=2, chunk_rows=3),
        command="mentor-data verify arith",
    )
    assert summary.rows == len(rows) and summary.workers == 2
    assert summary.reasons["ok"] == 9 and summary.reasons["wrong_answer"] == 1
    assert summary.reasons["no_answer"] == 1 and summary.reasons["truncated"] == 1
    assert list(summary.reasons) == list(REASONS)
    assert summary.output_ref == "arith@v2" and summary.kept == 9
    manifest = store.manifest("arith@v2")
    assert manifest["parent"] == "arith@v1" and manifest["columns"] == list(verified_features())
    assert manifest["lineage"]["teacher"] == {"backend": "solver"}  # carried from the parent
    assert manifest["lineage"]["verify"]["reasons"]["ok"] == 9
    assert manifest["lineage"]["verify"]["by_family"] == {
        "shopping": {"rows": 6, "passed": 4},
        "tally": {"rows": 6, "passed": 5},
    }
    ds = store.load("arith@v2")
    assert ds.features == verified_features()
    assert all(ds["verified"]) and set(ds["reason"]) == {"ok"}
    first = ds[0]
    assert first["teacher_tool_counts"] == {"multiply": 1} and first["teacher_n_calls"] == 1


def test_verify_dataset_inline_equals_parallel(tmp_path):
    store = Store(tmp_path)
    store.write_version("arith", mixed_rows())
    one = verify_dataset("arith", store=store, config=VerifyConfig(workers=1, keep="all"))
    two = verify_dataset(
        "arith", store=store, config=VerifyConfig(workers=2, chunk_rows=2, keep="all")
    )
    a, b = store.load(one.output_ref), store.load(two.output_ref)
    assert a["reason"] == b["reason"] and a["teacher_tool_sequence"] == b["teacher_tool_sequence"]


def test_reverify_replaces_columns_and_dedupe_per_problem(tmp_path):
    store = Store(tmp_path)
    store.write_version("arith", mixed_rows())
    first = verify_dataset("arith", store=store, config=VerifyConfig(workers=1, keep="all"))
    again = verify_dataset(
        first.output_ref,
        store=store,
        config=VerifyConfig(workers=1, dedupe=True, per_problem=1),
        name="best",
    )
    assert again.output_ref == "best@v1" and again.dropped_duplicates == 1
    ds = store.load("best@v1")
    assert sorted(zip(ds["problem_id"], ds["sample_id"], strict=True)) == [
        ("p0", 0),
        ("p1", 0),
        ("p2", 0),
        ("p3", 0),
    ]


def test_verify_empty_and_all_failed(tmp_path):
    store = Store(tmp_path)
    store.write_version("empty", [])
    summary = verify_dataset("empty", store=store)
    assert summary.rows == 0 and summary.output_ref == "empty@v2"
    store.write_version("bad", [traj(answer="1")])
    summary = verify_dataset("bad", store=store)
    assert summary.reasons["wrong_answer"] == 1 and summary.kept == 0
    assert store.load("bad@v2").features == verified_features()


def test_verify_cli(data_dir):
    Store(data_dir).write_version("arith", mixed_rows())
    result = CliRunner().invoke(app, ["verify", "arith", "--workers", "1", "--keep", "all"])
    assert result.exit_code == 0, result.output
    assert "9/12 verified" in result.output and "wrong_answer" in result.output
    assert "arith@v2" in result.output
    assert Store(data_dir).manifest("arith@v2")["command"].startswith("mentor-data verify")
    bad = CliRunner().invoke(app, ["verify", "arith", "--keep", "some"])
    assert bad.exit_code == 1 and "keep='some'" in bad.output
    missing = CliRunner().invoke(app, ["verify", "nope"])
    assert missing.exit_code == 1 and "no dataset 'nope'" in missing.output


@pytest.mark.parametrize("command", ["verify", "export", "stats", "card", "publish"])
def test_help(command):
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


# -- no_tool_call: a right answer reached without the tools is no tool-use demonstration --------
def mental_row(**kwargs):
    """An arithmetic row that answers right in its first turn without calling a tool."""
    return traj([], "36", "36", **kwargs)


def test_mental_arithmetic_row_is_no_tool_call_by_default():
    v = verify_row(mental_row())
    assert (v.reason, v.verified, v.teacher_answer, v.teacher_n_calls) == (
        "no_tool_call",
        False,
        "36",
        0,
    )
    assert "0 well-formed tool call(s), at least 1 required" in v.detail
    assert "no_tool_call" in REASONS
    ok = verify_row(mental_row(), min_calls=0)
    assert ok.reason == "ok" and ok.verified
    # Checked after the judge: a wrong mental answer stays wrong_answer.
    assert verify_row(traj([], "35", "36")).reason == "wrong_answer"
    # An explicit minimum above the domain's: one call is not enough for 2.
    assert verify_row(traj(), min_calls=2).reason == "no_tool_call"
    assert verify_row(traj(), min_calls=1).reason == "ok"
    assert [v.reason for v in verify_rows([mental_row(), traj()], min_calls=0)] == ["ok", "ok"]


def test_domain_min_calls_defaults():
    from mentor_data.domains import get_domain

    assert get_domain("arithmetic").min_calls == 1
    assert get_domain("tools").min_calls == 1
    assert get_domain("rag").min_calls == 1
    pytest.importorskip("bfcl_eval")
    assert get_domain("bfcl").min_calls == 0


def test_verify_dataset_min_calls(tmp_path):
    store = Store(tmp_path)
    rows = mixed_rows() + [mental_row(problem_id="p9", sample_id=s) for s in range(2)]
    store.write_version("arith", rows)
    default = verify_dataset("arith", store=store, config=VerifyConfig(workers=2, chunk_rows=3))
    assert default.reasons["no_tool_call"] == 2 and default.passed == 9 and default.kept == 9
    assert list(default.reasons) == list(REASONS)
    verify = store.manifest(default.output_ref)["lineage"]["verify"]
    assert verify["reasons"]["no_tool_call"] == 2 and verify["min_calls"] is None
    lenient = verify_dataset(
        "arith@v1", store=store, config=VerifyConfig(workers=1, min_calls=0, keep="all")
    )
    assert lenient.reasons["no_tool_call"] == 0 and lenient.passed == 11
    assert store.manifest(lenient.output_ref)["lineage"]["verify"]["min_calls"] == 0
    with pytest.raises(ValueError, match="min_calls"):
        VerifyConfig(min_calls=-1)


def test_verify_cli_min_calls(data_dir):
    Store(data_dir).write_version("arith", mixed_rows() + [mental_row(problem_id="p9")])
    result = CliRunner().invoke(app, ["verify", "arith", "--workers", "1", "--keep", "all"])
    assert result.exit_code == 0, result.output
    assert "9/13 verified" in result.output and "no_tool_call" in result.output
    assert "1 rows reached the answer without calling a tool" in result.output
    lenient = CliRunner().invoke(app, ["verify", "arith@v1", "--workers", "1", "--min-calls", "0"])
    assert lenient.exit_code == 0, lenient.output
    assert "10/13 verified" in lenient.output and "no_tool_call" not in lenient.output
    manifest = Store(data_dir).manifest("arith@v3")
    assert manifest["lineage"]["verify"]["min_calls"] == 0
    assert "--min-calls 0" in manifest["command"]
    bad = CliRunner().invoke(app, ["verify", "arith@v1", "--min-calls", "-1"])
    assert bad.exit_code != 0
