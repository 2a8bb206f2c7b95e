"""Rewards on BFCL rows: BFCL's checker decides correctness, no `\\boxed{}` gate, same variants.

The rows are real BFCL rows (`bfcl:simple_python`, `bfcl:irrelevance`, loaded from bfcl-eval);
the completions are written by hand.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("bfcl_eval")

from mentor_data.problems import load_problems  # noqa: E402
from mentor_train.rewards import get_reward, score_components  # noqa: E402

TRIANGLE = "calculate_triangle_area"  # simple_python_0: base 10, height 5, unit optional


@pytest.fixture(scope="module")
def simple():
    """simple_python_0 as a GRPO row would carry it: metadata, offered names, teacher names."""
    problem = load_problems("bfcl:simple_python?n=1")[0]
    return problem.metadata, [t["function"]["name"] for t in problem.tools]


@pytest.fixture(scope="module")
def irrelevant():
    problem = load_problems("bfcl:irrelevance?n=1")[0]
    return problem.metadata, [t["function"]["name"] for t in problem.tools]


def call(name: str, **arguments) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def scores(variant, completions, row, teacher_tools, truncated=None, metadata_as_text=False):
    metadata, offered = row
    meta = json.dumps(metadata) if metadata_as_text else metadata
    reward = get_reward(variant, tools=[])
    n = len(completions)
    return reward(
        completions=completions,
        domain=["bfcl"] * n,
        metadata=[meta] * n,
        tool_names=[offered] * n,
        teacher_tools=[teacher_tools] * n,
        truncated=truncated,
    )


def test_a_correct_call_scores_full_marks(simple):
    good = call(TRIANGLE, base=10, height=5)
    assert scores("sparse", [good], simple, [TRIANGLE]) == [1.0]
    # 0.7 correct + 0.3 the teacher's function set + 0.1 no hallucinated function
    assert scores("mentor", [good], simple, [TRIANGLE]) == [1.1]
    # metadata as the JSON string a GRPO view stores scores the same
    assert scores("mentor", [good], simple, [TRIANGLE], metadata_as_text=True) == [1.1]


def test_no_boxed_gate_for_function_calling(simple):
    """The same text is a format failure on an arithmetic row and correct on the BFCL row."""
    good = call(TRIANGLE, base=10, height=5, unit="units")
    reward = get_reward("sparse", tools=[TRIANGLE])
    assert reward(completions=[good], answer=["50"], domain=["arithmetic"]) == [0.1]
    assert scores("sparse", [good], simple, [TRIANGLE]) == [1.0]


def test_a_wrong_value_is_wrong(simple):
    wrong = call(TRIANGLE, base=11, height=5)
    assert scores("sparse", [wrong], simple, [TRIANGLE]) == [0.1]
    # wrong answer: 0.2 * 0.3 for the matching function set + 0.1 clean
    assert scores("mentor", [wrong], simple, [TRIANGLE]) == [0.16]
    parts = get_reward("mentor", tools=[]).components(
        [wrong], None, [[TRIANGLE]], [simple[1]], domain=["bfcl"], metadata=[simple[0]]
    )[0]
    assert parts.reason == "scored" and parts.correct is False and parts.exact_match is True


def test_a_hallucinated_function_loses_the_clean_term(simple):
    wrong = call(TRIANGLE, base=11, height=5)
    with_bogus = wrong + call("triangle.area_magic", base=10)
    assert scores("mentor", [wrong, with_bogus], simple, [TRIANGLE]) == [0.16, 0.06]
    reward = get_reward("mentor", tools=[])
    parts = reward.components(
        [with_bogus], None, [[TRIANGLE]], [simple[1]], domain=["bfcl"], metadata=[simple[0]]
    )[0]
    assert parts.student_tools == [TRIANGLE] and parts.invalid_tools == ["triangle.area_magic"]
    assert parts.no_hallucination is False
    # a right call plus an invented one is an extra call for BFCL's checker: wrong, not clean
    good_plus = call(TRIANGLE, base=10, height=5) + call("triangle.area_magic")
    assert scores("mentor", [good_plus], simple, [TRIANGLE]) == [0.06]


def test_irrelevance_rows_are_correct_without_a_call(irrelevant):
    refusal = "None of these functions computes the area of a triangle."
    called = call("determine_body_mass_index", weight=70.0, height=1.8)
    assert scores("sparse", [refusal, called], irrelevant, []) == [1.0, 0.1]
    # the teacher called nothing: match = [no valid call]
    assert scores("mentor", [refusal, called], irrelevant, []) == [1.1, 0.1]


def test_truncated_completions_score_zero(simple):
    good = call(TRIANGLE, base=10, height=5)
    assert scores("sparse", [good, good], simple, [TRIANGLE], truncated=[True, False]) == [
        0.0,
        1.0,
    ]
    assert scores("mentor", [good], simple, [TRIANGLE], truncated=[True]) == [0.0]


def test_a_malformed_block_is_never_correct(simple, irrelevant):
    broken = call(TRIANGLE, base=10, height=5) + '<tool_call>{"name": "x", </tool_call>'
    assert scores("sparse", [broken], simple, [TRIANGLE]) == [0.1]
    # not even on an irrelevance row, where BFCL's leaderboard would count it as an abstention
    assert scores("sparse", ["<tool_call>{oops</tool_call>"], irrelevant, []) == [0.1]


def test_messages_and_text_completions_score_the_same(simple):
    messages = [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"type": "function", "function": {"name": TRIANGLE, "arguments": {"base": 10}}}
            ],
        }
    ]
    text = call(TRIANGLE, base=10)
    assert scores("mentor", [messages], simple, [TRIANGLE]) == scores(
        "mentor", [text], simple, [TRIANGLE]
    )
    right = [
        {
            **messages[0],
            "tool_calls": [
                {"function": {"name": TRIANGLE, "arguments": {"base": 10, "height": 5}}}
            ],
        }
    ]
    assert scores("sparse", [right], simple, [TRIANGLE]) == [1.0]


def test_unjudgeable_rows_score_none(simple):
    good = call(TRIANGLE, base=10, height=5)
    no_truth = {**simple[0], "ground_truth": []}  # the checker answers correct=None
    assert scores("sparse", [good], (no_truth, simple[1]), [TRIANGLE]) == [None]
    reward = get_reward("sparse", tools=[])
    for broken in (None, "not json", {"category": "chess"}):  # no usable metadata: no_gold
        parts = reward.components([good], domain=["bfcl"], metadata=[broken])[0]
        assert parts.total is None and parts.reason == "no_gold"
    # the mentor variant still needs teacher_tools
    assert scores("mentor", [good], simple, None) == [None]


def test_arithmetic_rows_in_the_same_batch_are_unchanged(simple):
    good = call(TRIANGLE, base=10, height=5)
    reward = get_reward("mentor", tools=["add"])
    out = reward(
        completions=["\\boxed{3}", good],
        answer=["3", None],
        teacher_tools=[[], [TRIANGLE]],
        tool_names=[["add"], simple[1]],
        domain=["arithmetic", "bfcl"],
        metadata=[None, simple[0]],
    )
    assert out == [1.1, 1.1]


def test_score_components_takes_a_correctness(simple):
    from mentor_data.formats import parse_completion
    from mentor_train.rewards import row_correctness

    good = call(TRIANGLE, base=10, height=5)
    parts = score_components(
        "ablation-f1",
        parse_completion(good),
        None,
        [TRIANGLE],
        simple[1],
        correctness=row_correctness({"domain": "bfcl", "metadata": simple[0]}, good),
    )
    assert parts.total == 1.1 and parts.answer is None and parts.tool_f1 == 1.0


def test_reward_cli_scores_bfcl_rows(simple, tmp_path):
    from typer.testing import CliRunner

    from mentor_train.cli import app

    rows = tmp_path / "rows.jsonl"
    row = {
        "completion": call(TRIANGLE, base=10, height=5),
        "teacher_tools": [TRIANGLE],
        "tool_names": simple[1],
        "domain": "bfcl",
        "metadata": simple[0],
    }
    rows.write_text(json.dumps(row) + "\n")
    result = CliRunner().invoke(app, ["reward", str(rows), "--variant", "mentor"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["total"] == 1.1 and out["correct"] is True and out["reason"] == "scored"
