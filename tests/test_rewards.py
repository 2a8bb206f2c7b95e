"""The reward variants against the method doc's table (docs/method.md), gate by gate."""

from __future__ import annotations

import json
import math
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentor_data.formats import messages_to_text, parse_completion
from mentor_train.rewards import (
    REWARDS,
    VARIANTS,
    MentorReward,
    exact_match,
    get_reward,
    overlap,
    score,
    score_components,
    tool_f1,
    truncation_flags,
)

OFFERED = ["add", "subtract", "multiply", "divide", "sqrt"]
TEACHER = ["multiply", "add", "multiply"]  # duplicates: the set {add, multiply} counts


def messages(calls: list[str], answer: str | None, *, malformed: bool = False) -> list[dict]:
    """A multi-turn tail: one assistant turn with the calls, tool messages, a final turn."""
    out: list[dict] = []
    if calls or malformed:
        content = "<tool_call>{not json</tool_call>" if malformed else ""
        out.append(
            {
                "role": "assistant",
                "content": content,
                "tool_calls": [
                    {
                        "id": f"c{i}",
                        "type": "function",
                        "function": {"name": n, "arguments": {"a": 1}},
                    }
                    for i, n in enumerate(calls)
                ],
            }
        )
        out += [{"role": "tool", "name": n, "content": "1"} for n in calls]
    final = "I am done." if answer is None else f"The answer is \\boxed{{{answer}}}."
    out.append({"role": "assistant", "content": final})
    return out


def both_forms(calls, answer, **kw):
    m = messages(calls, answer, **kw)
    return [m, messages_to_text(m)]


def check(
    variant,
    calls,
    answer,
    expected,
    *,
    gold="12",
    teacher=TEACHER,
    offered=OFFERED,
    truncated=False,
    **kw,
):
    for completion in both_forms(calls, answer, **kw):
        got = score(variant, completion, gold, teacher, offered, truncated=truncated)
        form = "text" if isinstance(completion, str) else "messages"
        assert got == pytest.approx(expected, abs=1e-6), (variant, form, calls, answer, got)


# -- the table, cell by cell ----------------------------------------------------------------------
# (student calls, answer) -> correct? set match? overlap? hallucinated?
EXACT = ["add", "multiply", "multiply"]  # = teacher set
PARTIAL = ["add", "sqrt"]  # overlaps, not equal
DISJOINT = ["sqrt"]
BOGUS = "launch_rockets"

MENTOR_TABLE = [
    # correct answer: 0.7 + 0.3*match + 0.1*clean
    (EXACT, "12", 1.1),
    ([*EXACT, BOGUS], "12", 1.0),
    (PARTIAL, "12", 0.8),
    ([*PARTIAL, BOGUS], "12", 0.7),
    ([], "12", 0.8),  # no tool: no match credit
    ([BOGUS], "12", 0.7),
    # wrong answer: 0.2*0.3*match + 0.1*clean
    (EXACT, "13", 0.16),
    ([*EXACT, BOGUS], "13", 0.06),
    (PARTIAL, "13", 0.1),
    ([*PARTIAL, BOGUS], "13", 0.0),
    ([], "13", 0.1),
]

PARTIAL_TABLE = [  # 0.7 + 0.3*overlap | 0.2*0.3*overlap; no hallucination term
    (EXACT, "12", 1.0),
    (PARTIAL, "12", 1.0),
    ([*PARTIAL, BOGUS], "12", 1.0),
    (DISJOINT, "12", 0.7),
    ([], "12", 0.7),
    (PARTIAL, "13", 0.06),
    ([*PARTIAL, BOGUS], "13", 0.06),
    (DISJOINT, "13", 0.0),
    ([BOGUS], "13", 0.0),
]

HALLUCINATION_TABLE = [  # 0.7*correct + 0.1*clean, not scaled
    (EXACT, "12", 0.8),
    (DISJOINT, "12", 0.8),
    ([*EXACT, BOGUS], "12", 0.7),
    ([], "12", 0.8),
    (EXACT, "13", 0.1),
    ([BOGUS], "13", 0.0),
]

F1_TABLE = [  # 0.7 + 0.3*F1 + 0.1*clean | 0.2*0.3*F1 + 0.1*clean
    (EXACT, "12", 1.1),
    (["add"], "12", 0.7 + 0.3 * 2 / 3 + 0.1),  # F1({add}, {add, multiply}) = 2/3
    (PARTIAL, "12", 0.7 + 0.3 * 0.5 + 0.1),  # F1({add, sqrt}, {add, multiply}) = 1/2
    ([*PARTIAL, BOGUS], "12", 0.7 + 0.3 * 0.5),
    (DISJOINT, "12", 0.8),
    ([], "12", 0.8),  # F1 = 0 when the student used no valid tool
    (EXACT, "13", 0.16),
    (["add"], "13", 0.2 * 0.3 * 2 / 3 + 0.1),
    ([*EXACT, BOGUS], "13", 0.06),
    (DISJOINT, "13", 0.1),
]

SPARSE_TABLE = [
    (EXACT, "12", 1.0),
    ([BOGUS], "12", 1.0),
    ([], "12", 1.0),
    (EXACT, "13", 0.1),
    ([], "13", 0.1),
]


@pytest.mark.parametrize(("calls", "answer", "expected"), MENTOR_TABLE)
def test_mentor_table(calls, answer, expected):
    check("mentor", calls, answer, expected)


@pytest.mark.parametrize(("calls", "answer", "expected"), PARTIAL_TABLE)
def test_partial_table(calls, answer, expected):
    check("ablation-partial", calls, answer, expected)


@pytest.mark.parametrize(("calls", "answer", "expected"), HALLUCINATION_TABLE)
def test_hallucination_table(calls, answer, expected):
    check("ablation-hallucination", calls, answer, expected)


@pytest.mark.parametrize(("calls", "answer", "expected"), F1_TABLE)
def test_f1_table(calls, answer, expected):
    check("ablation-f1", calls, answer, expected)


@pytest.mark.parametrize(("calls", "answer", "expected"), SPARSE_TABLE)
def test_sparse_table(calls, answer, expected):
    check("sparse", calls, answer, expected)


def test_totals_are_plain_sums():
    assert score("mentor", messages(EXACT, "12"), "12", TEACHER, OFFERED) == 1.1
    assert score("mentor", messages(EXACT, "13"), "12", TEACHER, OFFERED) == 0.16


# -- gates ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_truncated_scores_zero_whatever_it_contains(variant):
    check(variant, EXACT, "12", 0.0, truncated=True)
    check(variant, [], None, 0.0, truncated=True)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize(
    "final",
    [
        "no boxed answer at all",
        "\\boxed{}",
        "\\boxed{   }",
        "\\boxed{12",  # unclosed
        "\\boxed {",
    ],
)
def test_no_usable_boxed_scores_format_credit(variant, final):
    completion = [*messages(EXACT, None)[:-1], {"role": "assistant", "content": final}]
    for form in (completion, messages_to_text(completion)):
        assert score(variant, form, "12", TEACHER, OFFERED) == pytest.approx(0.1)


def test_boxed_in_an_earlier_turn_does_not_count():
    completion = [
        {
            "role": "assistant",
            "content": "Maybe \\boxed{12}.",
            "tool_calls": [
                {"type": "function", "function": {"name": "add", "arguments": {"a": 1}}}
            ],
        },
        {"role": "tool", "name": "add", "content": "1"},
        {"role": "assistant", "content": "Done."},
    ]
    assert score("mentor", completion, "12", ["add"], OFFERED) == pytest.approx(0.1)


def test_an_unclosed_block_then_a_boxed_answer_is_scored():
    # An unclosed block is not a call and does not hide the answer after it (the reference reads
    # the last \boxed anywhere): no valid tool against a teacher's {add} is no match, so MENTOR
    # pays 0.7 + 0.1 (clean), sparse 1.0.
    text = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n' + "\\boxed{3}"
    assert score("sparse", text, "3", None, OFFERED) == 1.0
    assert score("mentor", text, "3", ["add"], OFFERED) == pytest.approx(0.8)
    assert score("mentor", text, "4", ["add"], OFFERED) == pytest.approx(0.1)  # wrong: 0.1·clean
    parts = score_components("mentor", parse_completion(text), "3", ["add"], OFFERED)
    assert (parts.reason, parts.answer, parts.n_calls, parts.n_malformed) == ("scored", "3", 0, 1)


def test_last_boxed_of_the_final_turn_with_nested_braces():
    completion = [{"role": "assistant", "content": "\\boxed{1} then \\boxed{\\frac{24}{2}}"}]
    assert score("sparse", completion, "12", None, OFFERED) == 1.0


# -- tool sets ------------------------------------------------------------------------------------
def test_hallucinated_names_only_remove_the_bonus():
    # {add, bogus} against a teacher's {add}: an exact match without the 0.1
    check("mentor", ["add", BOGUS], "12", 1.0, teacher=["add"])
    parts = score_components(
        "mentor", parse_completion(messages(["add", BOGUS], "12")), "12", ["add"], OFFERED
    )
    assert parts.student_tools == ["add"]
    assert parts.invalid_tools == [BOGUS]
    assert parts.exact_match and not parts.no_hallucination


def test_malformed_blocks_are_not_calls():
    # a block that does not parse is neither a used nor a hallucinated tool
    check("mentor", EXACT, "12", 1.1, malformed=True)
    check("mentor", [], "12", 0.8, malformed=True)
    parts = score_components(
        "mentor", parse_completion(messages([], "12", malformed=True)), "12", TEACHER, OFFERED
    )
    assert parts.n_malformed == 1 and parts.n_calls == 0 and parts.no_hallucination


def test_duplicates_collapse_on_both_sides():
    check("mentor", ["add", "add", "multiply", "add"], "12", 1.1, teacher=["add", "multiply"])
    check("mentor", ["add", "multiply"], "12", 1.1, teacher=["add", "add", "multiply", "add"])


@pytest.mark.parametrize(
    ("variant", "calls", "expected"),
    [
        ("mentor", [], 1.1),  # match = [student used no valid tool]
        ("mentor", ["add"], 0.8),
        ("mentor", [BOGUS], 1.0),  # no valid tool: a match, but a hallucination
        ("ablation-f1", [], 1.1),  # F1(empty, empty) = 1
        ("ablation-f1", ["add"], 0.8),
        ("ablation-partial", [], 1.0),
        ("ablation-partial", ["add"], 0.7),
    ],
)
def test_teacher_without_tools(variant, calls, expected):
    check(variant, calls, "12", expected, teacher=[])


def test_offered_tools_come_from_the_row():
    # multiply is offered by the registry but not by this row: calling it is a hallucination
    reward = get_reward("mentor")
    completion = messages(["add", "multiply"], "12")
    row_offers_add = reward(
        completions=[completion], answer=["12"], teacher_tools=[["add"]], tool_names=[["add"]]
    )
    registry_offers_all = reward(completions=[completion], answer=["12"], teacher_tools=[["add"]])
    assert row_offers_add == [pytest.approx(1.0)]  # {add} == {add}, minus the bonus
    assert registry_offers_all == [pytest.approx(0.8)]  # {add, multiply} != {add}


def test_tools_of_the_reward_when_the_row_has_none():
    reward = get_reward("mentor", tools=["add"])
    assert reward(
        completions=[messages(["add", "sqrt"], "12")], answer=["12"], teacher_tools=[["add"]]
    ) == [pytest.approx(1.0)]


def test_set_components():
    a, am, s, e = (
        frozenset({"add"}),
        frozenset({"add", "multiply"}),
        frozenset({"sqrt"}),
        frozenset(),
    )
    assert exact_match(a, a) and exact_match(e, e) and not exact_match(e, a)
    assert overlap(am, a) and overlap(e, e) and not overlap(s, e) and not overlap(s, a)
    assert tool_f1(e, e) == 1.0 and tool_f1(e, a) == 0.0 and tool_f1(s, e) == 0.0
    assert tool_f1(a, am) == pytest.approx(2 / 3)


# -- correctness --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pred", "gold", "correct"),
    [
        ("\\frac{3}{4}", "0.75", True),
        ("3/4", "0.75", True),
        ("0.75", "\\frac{3}{4}", True),
        ("391.0", "391", True),
        ("1,000", "1000", True),
        ("x = 7", "7", True),
        ("17 apples", "17", True),
        ("12^2", "144", True),
        ("\\sqrt{4}", "2", True),
        ("0.3333", "1/3", False),
        ("3.14", "\\pi", False),
        ("12", "-12", False),
    ],
)
def test_equivalent_answer_forms(pred, gold, correct):
    expected = 1.1 if correct else 0.16
    check("mentor", EXACT, pred, expected, gold=gold)


def test_unusable_gold_is_skipped_not_scored():
    for gold in (None, "", "   "):
        for cut in (False, True):
            assert (
                score("mentor", messages(EXACT, "12"), gold, TEACHER, OFFERED, truncated=cut)
                is None
            )


def test_missing_teacher_tools_is_unscorable_for_variants_that_read_them():
    assert score("mentor", messages(EXACT, "12"), "12", None, OFFERED) is None
    assert score("ablation-f1", messages(EXACT, "12"), "12", None, OFFERED) is None
    assert score("sparse", messages(EXACT, "12"), "12", None, OFFERED) == 1.0
    assert score("ablation-hallucination", messages(EXACT, "12"), "12", None, OFFERED) == 0.8
    # the gates do not need the teacher
    assert score("mentor", messages(EXACT, None), "12", None, OFFERED) == pytest.approx(0.1)


def test_judge_error_is_none(monkeypatch):
    from mentor_data import answers

    monkeypatch.setattr(answers, "check_answer", lambda pred, gold, **kw: answers.Verdict.ERROR)
    assert score("mentor", messages(EXACT, "12"), "12", TEACHER, OFFERED) is None
    assert score("mentor", messages(EXACT, None), "12", TEACHER, OFFERED) == pytest.approx(0.1)


# -- as GRPOTrainer calls them --------------------------------------------------------------------
def test_called_exactly_as_grpo_trainer_calls_rewards():
    from transformers import TrainerState

    prompts = [[{"role": "user", "content": "What is 3 * 4?"}]] * 4
    completions = [
        messages(EXACT, "12"),
        messages(PARTIAL, "13"),
        messages([BOGUS], None),
        messages(EXACT, "12"),
    ]
    completion_ids = [[5, 6, 2], [5, 6, 0], [5, 6, 2], [5, 6, 7]]  # the last one is cut
    extra, metric = {}, {}
    columns = {  # every dataset column except prompt, repeated per generation (to_grpo names)
        "answer": ["12"] * 4,
        "problem_id": ["p0"] * 4,
        "tool_names": [OFFERED] * 4,
        "teacher_tools": [TEACHER] * 4,
        "teacher_tool_counts": [{"add": 1, "multiply": 2}] * 4,
        "teacher_tool_sequence": [["multiply", "add", "multiply"]] * 4,
        "teacher_n_calls": [3] * 4,
        "teacher_answer": ["12"] * 4,
        "family": ["shopping"] * 4,
    }
    for name, reward in REWARDS.items():
        bound = get_reward(name, eos_token_ids=[2, 0])
        out = bound(
            prompts=prompts,
            completions=completions,
            completion_ids=completion_ids,
            trainer_state=TrainerState(),
            log_extra=lambda c, v: extra.__setitem__(c, v),
            log_metric=lambda n, v: metric.__setitem__(n, v),
            **columns,
        )
        assert len(out) == 4 and out[3] == 0.0, name
        assert all(isinstance(x, float) for x in out), name
        assert bound.__name__ == reward.__name__ == f"{name.replace('-', '_')}_reward"
    assert extra["mentor_reward/student_tools"] == ["add,multiply", "add,sqrt", "", "add,multiply"]
    assert extra["mentor_reward/correct"] == [True, False, None, None]
    assert all(len(v) == 4 for v in extra.values())
    assert metric["mentor_reward/tool_call_rate"] == 1.0
    assert metric["mentor_reward/truncated_rate"] == 0.25
    assert metric["mentor_reward/invalid_tool_rate"] == pytest.approx(1 / 9)
    assert metric["mentor_reward/set_match_rate"] == pytest.approx(0.5)


def test_plain_text_completions_and_no_hooks():
    out = REWARDS["mentor"](
        prompts=["q"],
        completions=[messages_to_text(messages(EXACT, "12"))],
        answer=["12"],
        teacher_tools=[TEACHER],
    )
    assert out == [pytest.approx(1.1)]


def test_truncation_sources():
    assert truncation_flags(2, [True, False], [[1], [2]], [2]) == [True, False]  # column wins
    assert truncation_flags(3, None, [[1, 2], [1, 3], []], [2, 0]) == [False, True, True]
    assert truncation_flags(2, None, [[1, 3], [1, 3]], None) == [False, False]


def test_registry_and_names():
    assert (
        set(REWARDS)
        == set(VARIANTS)
        == {"mentor", "sparse", "ablation-partial", "ablation-hallucination", "ablation-f1"}
    )
    assert get_reward("mentor_reward").variant == "mentor"
    assert get_reward("ablation_f1").__name__ == "ablation_f1_reward"
    with pytest.raises(ValueError, match="known: mentor"):
        get_reward("dense")
    reward = pickle.loads(pickle.dumps(get_reward("mentor", eos_token_ids=[2])))
    assert isinstance(reward, MentorReward) and reward.eos_token_ids == [2]


# -- robustness -----------------------------------------------------------------------------------
_pieces = st.sampled_from(
    [
        *"<>/{}\\\"': ,abx0129\n",
        "<tool_call>",
        "</tool_call>",
        "<tool_response>",
        "\\boxed{",
        '{"name": "add"',
        '"arguments"',
    ]
)
_text = st.lists(_pieces, max_size=40).map("".join)
_message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["assistant", "tool", "user", None]),
        "content": st.one_of(st.none(), _text, st.integers()),
    },
    optional={
        "tool_calls": st.one_of(
            st.none(),
            st.text(max_size=5),
            st.lists(
                st.one_of(
                    st.dictionaries(
                        st.sampled_from(["function", "name", "type"]),
                        st.one_of(
                            st.text(max_size=5),
                            st.none(),
                            st.dictionaries(
                                st.sampled_from(["name", "arguments"]),
                                st.one_of(st.text(max_size=5), st.none()),
                            ),
                        ),
                    ),
                    st.integers(),
                ),
                max_size=3,
            ),
        )
    },
)
_completion = st.one_of(_text, st.lists(_message, max_size=4), st.none(), st.integers())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    completion=_completion,
    gold=st.one_of(st.sampled_from(["3", "1/2", ""]), st.none()),
    teacher=st.one_of(st.none(), st.lists(st.sampled_from(["add", "bogus", ""]), max_size=3)),
    offered=st.one_of(st.none(), st.lists(st.sampled_from(["add", "sqrt"]), max_size=2)),
    cut=st.booleans(),
)
def test_never_raises(completion, gold, teacher, offered, cut):
    for reward in REWARDS.values():
        out = reward(
            completions=[completion],
            answer=[gold],
            teacher_tools=[teacher],
            tool_names=[offered],
            truncated=[cut],
        )
        assert len(out) == 1
        assert out[0] is None or (0.0 <= out[0] <= 1.1 + 1e-9 and not math.isnan(out[0]))


def test_components_are_json_serialisable():
    parts = score_components(
        "ablation-f1", parse_completion(messages(PARTIAL, "12")), "12", TEACHER, OFFERED
    )
    row = json.loads(json.dumps(parts.to_dict()))
    assert row["total"] == pytest.approx(0.95) and row["tool_f1"] == pytest.approx(0.5)


def test_tools_the_trainer_does_not_run_are_hallucinated():
    # the row offers add and multiply (the teacher's tools), the recipe offers only add
    reward = get_reward("mentor", executable=["add"])
    out = reward(
        completions=[messages(["add", "multiply"], "12")],
        answer=["12"],
        teacher_tools=[["add"]],
        tool_names=[["add", "multiply"]],
    )
    assert out == [pytest.approx(1.0)]


def test_a_call_the_trainer_never_answered_is_truncated():
    # TRL's tool loop drops a tool result that would overflow max_completion_length (and stops
    # after max_tool_calling_iterations): the completion ends on the call, with an EOS id.
    answered = messages(["add"], None)[:2]  # assistant(call) -> tool: the call was answered
    cut = answered + [messages(["multiply"], None)[0]]  # ... -> assistant(call), no response
    garbled = answered + [{"role": "assistant", "content": "<tool_call>{not json</tool_call>"}]
    completions = [cut, messages_to_text(cut), garbled, answered]
    columns = {"answer": ["12"] * 4, "teacher_tools": [TEACHER] * 4, "tool_names": [OFFERED] * 4}
    metric: dict[str, float] = {}
    runs_tools = get_reward("sparse", tools=OFFERED, executable=OFFERED, eos_token_ids=[2])
    out = runs_tools(
        completions=completions,
        completion_ids=[[5, 2]] * 4,  # every one ends on an EOS id: the id test sees no cut
        log_metric=lambda n, v: metric.__setitem__(n, v),
        **columns,
    )
    # A malformed last block is no call (TRL ran nothing) and an answered call with no final
    # turn after it is the student's own stop: both are finished completions with no answer.
    assert out == [0.0, 0.0, pytest.approx(0.1), pytest.approx(0.1)]
    assert metric["sparse_reward/truncated_rate"] == pytest.approx(0.5)
    assert metric["sparse_reward/no_answer_rate"] == pytest.approx(0.5)
    # Without a trainer that runs the tools (function calling, offline scoring) a completion
    # that ends on its calls is finished: BFCL answers are exactly that.
    assert (
        get_reward("sparse", tools=OFFERED)(completions=completions, **columns)
        == [pytest.approx(0.1)] * 4
    )
