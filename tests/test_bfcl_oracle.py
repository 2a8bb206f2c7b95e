"""The oracle teacher through the generation loop and verify: how many rows bfcl accepts.

The oracle replays the ground truth (first acceptable value of each parameter). bfcl's checker
rejects a few of those replays: each is a data defect of the release (its ground truth leaves
out a parameter the function requires, or lists one it does not take), listed here by id so
the counts in docs/bfcl.md are checked, not hidden.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest

pytest.importorskip("bfcl_eval", reason="bfcl-eval is not installed (make setup installs it)")

from mentor_data.bfcl import BFCL_SYSTEM_PROMPT  # noqa: E402
from mentor_data.bfcl.data import CATEGORIES  # noqa: E402
from mentor_data.problems import load_problems  # noqa: E402
from mentor_data.teachers import GenerationConfig, make_teacher, run_conversations  # noqa: E402
from mentor_data.teachers.oracle import OracleTeacher  # noqa: E402
from mentor_data.verify import REASONS, verify_row  # noqa: E402

PASSED = {
    "simple_python": (398, 400),
    "multiple": (200, 200),
    "parallel": (199, 200),
    "parallel_multiple": (198, 200),
    "irrelevance": (240, 240),
    "live_simple": (256, 258),
    "live_multiple": (1042, 1053),
    "live_parallel": (16, 16),
    "live_parallel_multiple": (24, 24),
    "live_irrelevance": (884, 884),
    "multi_turn_base": (200, 200),
}
"""Oracle trajectories that pass verify, per category (bfcl-eval 2026.3.23)."""

REJECTED = {
    # the ground truth omits a required parameter: no answer can pass bfcl's checker
    "simple_python_17": "missing_argument",
    "simple_python_200": "missing_argument",
    "parallel_88": "missing_argument",
    "parallel_multiple_87": "missing_argument",
    "parallel_multiple_119": "missing_argument",
    "live_simple_106-63-0": "missing_argument",
    "live_simple_112-68-0": "missing_argument",
    "live_multiple_68-29-0": "missing_argument",
    "live_multiple_69-30-0": "missing_argument",
    "live_multiple_77-35-1": "missing_argument",
    "live_multiple_114-44-1": "missing_argument",
    "live_multiple_144-56-0": "missing_argument",
    "live_multiple_507-149-4": "missing_argument",
    "live_multiple_834-178-9": "missing_argument",
    "live_multiple_905-186-2": "missing_argument",
    "live_multiple_906-186-3": "missing_argument",
    "live_multiple_964-207-0": "missing_argument",
    # the ground truth gives a parameter its function does not take (journey_start_time)
    "live_multiple_862-181-3": "wrong_arguments",
}


@pytest.fixture(scope="module")
def oracle_rows():
    problems = load_problems("bfcl:all")
    summary = run_conversations(OracleTeacher(), problems, GenerationConfig())
    # Through JSON, as rows come back from the store's Json columns.
    return [json.loads(json.dumps(row)) for row in summary.rows]


def test_oracle_trajectories_pass_verify_at_the_rate_bfcl_accepts(oracle_rows):
    passed: dict[str, Counter] = defaultdict(Counter)
    rejected = {}
    for row in oracle_rows:
        verdict = verify_row(row)
        assert verdict.reason in REASONS
        category = row["metadata"]["category"]
        passed[category]["rows"] += 1
        passed[category]["ok"] += verdict.verified
        if not verdict.verified:
            rejected[row["problem_id"]] = verdict.reason
            assert verdict.detail  # says what bfcl rejected
    got = {c: (passed[c]["ok"], passed[c]["rows"]) for c in CATEGORIES}
    print("\noracle pass rates:", json.dumps(got), "\nrejected:", json.dumps(rejected, indent=1))
    assert got == PASSED
    assert rejected == REJECTED


def test_oracle_rows_have_the_expected_shape(oracle_rows):
    by_id = {row["problem_id"]: row for row in oracle_rows}
    assert all(row["finish_reason"] == "stop" and row["error"] is None for row in oracle_rows)
    assert all(row["domain"] == "bfcl" for row in oracle_rows)
    ast = by_id["parallel_0"]
    assert [m["role"] for m in ast["messages"]] == ["system", "user", "assistant"]
    assert ast["messages"][0]["content"] == BFCL_SYSTEM_PROMPT
    assert [c["output"] for c in ast["tool_calls"]] == [None, None]  # judged, not executed
    assert ast["metadata"]["category"] == "parallel"  # the metadata contract travels along
    irrelevant = by_id["irrelevance_0"]
    assert irrelevant["tool_calls"] == [] and irrelevant["num_turns"] == 1
    live = next(r for r in oracle_rows if r["problem_id"].startswith("live_simple") and (
        r["metadata"]["turns"][0][0]["role"] == "system"
    ))  # fmt: skip
    system = live["messages"][0]
    assert system["role"] == "system" and system["content"].startswith(BFCL_SYSTEM_PROMPT)
    assert live["metadata"]["turns"][0][0]["content"] in system["content"]
    assert sum(m["role"] == "system" for m in live["messages"]) == 1
    multi = by_id["multi_turn_base_0"]
    roles = [m["role"] for m in multi["messages"]]
    assert roles.count("user") == 4 == len(multi["metadata"]["turns"])
    assert [c["output"] for c in multi["tool_calls"]][:2] == [
        '{"current_working_directory": "document"}',
        "None",
    ]
    assert multi["teacher"]["backend"] == "oracle"


def test_a_recorded_observation_that_replay_does_not_reproduce(oracle_rows):
    row = json.loads(
        json.dumps(next(r for r in oracle_rows if r["problem_id"] == "multi_turn_base_1"))
    )
    row["tool_calls"][0]["output"] = '{"current_directory_content": ["forged"]}'
    verdict = verify_row(row)
    assert verdict.reason == "tool_output_mismatch", verdict


def test_verify_reasons_of_mutated_rows(oracle_rows):
    row = json.loads(
        json.dumps(next(r for r in oracle_rows if r["problem_id"] == "simple_python_0"))
    )
    call = row["messages"][-1]["tool_calls"][0]["function"]
    call["arguments"]["base"] = 11
    row["tool_calls"][0]["arguments"]["base"] = 11
    v = verify_row(row)
    assert (v.reason, v.teacher_tools, v.teacher_n_calls) == (
        "wrong_arguments",
        ["calculate_triangle_area"],
        1,
    )
    # The tool_calls column must name the calls of the messages.
    row["tool_calls"][0]["arguments"]["base"] = 10
    assert verify_row(row).reason == "tool_output_mismatch"
    irrelevant = json.loads(
        json.dumps(next(r for r in oracle_rows if r["problem_id"] == "irrelevance_0"))
    )
    irrelevant["messages"][-1] = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "c", "function": {"name": "anything", "arguments": {}}}],
    }
    irrelevant["tool_calls"] = [
        {"turn": 0, "id": "c", "name": "anything", "arguments": {}, "output": None, "error": None}
    ]
    assert verify_row(irrelevant).reason == "unexpected_call"
    no_meta = dict(row, metadata=None)
    assert verify_row(no_meta).reason == "error"


def test_irrelevance_rows_pass_without_calls_by_default(oracle_rows):
    """BFCL's min_calls is 0: an irrelevance row is right to call nothing (no no_tool_call)."""
    irrelevant = [r for r in oracle_rows if r["metadata"]["category"].endswith("irrelevance")]
    assert irrelevant and all(r["tool_calls"] == [] for r in irrelevant)
    assert {verify_row(r).reason for r in irrelevant} == {"ok"}
    # Forcing a minimum of one call rejects them: the domain default is what lets them pass.
    row = next(r for r in irrelevant if r["problem_id"] == "irrelevance_0")
    assert verify_row(row, min_calls=1).reason == "no_tool_call"
    assert verify_row(row, min_calls=None).reason == "ok"


def test_multi_turn_turn_limit_counts_per_user_turn():
    problems = load_problems("bfcl:multi_turn_base?n=5")
    rows = run_conversations(OracleTeacher(), problems, GenerationConfig(max_turns=2)).rows
    assert all(r["finish_reason"] == "stop" for r in rows)  # 2 assistant turns per user turn
    rows = run_conversations(OracleTeacher(), problems, GenerationConfig(max_turns=1)).rows
    assert all(r["finish_reason"] == "max_turns" for r in rows)
    assert all(verify_row(r).reason == "max_turns" for r in rows)


def test_the_oracle_refuses_other_domains():
    teacher = make_teacher("oracle")
    rows = run_conversations(teacher, load_problems("builtin:clock?n=2"), GenerationConfig()).rows
    assert [r["finish_reason"] for r in rows] == ["error", "error"]
    assert "no ground-truth calls" in rows[0]["error"] and "--teacher solver" in rows[0]["error"]


def test_a_system_prompt_option_replaces_the_bfcl_default():
    problems = load_problems("bfcl:simple_python?n=1")
    config = GenerationConfig(system_prompt="Call functions.")
    row = run_conversations(OracleTeacher(), problems, config).rows[0]
    assert row["messages"][0] == {"role": "system", "content": "Call functions."}
    none = run_conversations(OracleTeacher(), problems, GenerationConfig(system_prompt="")).rows[0]
    assert none["messages"][0]["role"] == "user"
    default = run_conversations(OracleTeacher(), problems, GenerationConfig()).rows[0]
    assert row["teacher"]["prompt_hash"] != default["teacher"]["prompt_hash"]
