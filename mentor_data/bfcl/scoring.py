"""Scoring BFCL completions: correctness for rewards and eval, categories and leaderboard groups.

`mentor_data.bfcl.domain` calls these from its judge. BFCL rows are judged by BFCL's own
checker, through `mentor_data.bfcl.checker.judge_bfcl(metadata, calls)`, never by a
`\\boxed{}` answer: function calling has none. `metadata` is the row's `metadata` column (a
dict, or the JSON string a GRPO view stores); `calls` are the completion's well-formed calls
grouped by user turn, read with the one parser (`mentor_data.formats.parse_completion`).

Malformed call blocks are treated differently by the two consumers, on purpose:

* rewards (`reward_correct`): a malformed block makes the completion wrong. A half-written call
  must never earn the correct-answer term, even on an irrelevance row.
* eval (`eval_verdict`): BFCL's leaderboard rule. An output that does not decode is a wrong
  answer on AST rows and a correct abstention on irrelevance rows; on multi-turn rows it ends
  the model's turn and the other calls are judged. Eval reports how many irrelevance rows
  passed that way (`irrelevance_parse_failures`), so a model that only writes broken calls
  cannot hide behind its irrelevance score.

Leaderboard groups (`GROUPS`) aggregate categories as BFCL's overview does: non-live AST, live
AST, irrelevance, multi-turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mentor_data.bfcl.data import IRRELEVANCE_CATEGORIES, MULTI_TURN_CATEGORIES
from mentor_data.domains.base import as_metadata
from mentor_data.formats import parse_completion

IRRELEVANCE = frozenset(IRRELEVANCE_CATEGORIES)
"""Categories where the correct answer is to call no function."""
MULTI_TURN = frozenset(MULTI_TURN_CATEGORIES)
"""Categories run turn by turn against live APIs."""

GROUPS: dict[str, tuple[str, ...]] = {
    "non_live_ast": ("simple_python", "multiple", "parallel", "parallel_multiple"),
    "live_ast": ("live_simple", "live_multiple", "live_parallel", "live_parallel_multiple"),
    "irrelevance": ("irrelevance", "live_irrelevance"),
    "multi_turn": ("multi_turn_base",),
}
"""BFCL leaderboard groups and the categories each one averages."""


def usable_metadata(metadata: Any) -> dict[str, Any] | None:
    """The metadata when BFCL's checker can judge against it: a supported category, a ground
    truth (None for irrelevance rows) and the functions.

    Example:
        >>> meta = {"category": "irrelevance", "ground_truth": None, "functions": []}
        >>> usable_metadata(meta) is not None, usable_metadata({"category": "chess"})
        (True, None)
    """
    from mentor_data.bfcl.checker import check_metadata

    meta = as_metadata(metadata)
    try:
        check_metadata(meta)
    except ValueError:
        return None
    return meta


def category(metadata: Any) -> str | None:
    """The BFCL category of a row (`metadata["category"]`), or None.

    Example:
        >>> category('{"category": "multiple"}'), category(None)
        ('multiple', None)
    """
    meta = as_metadata(metadata)
    value = meta.get("category") if meta else None
    return value if isinstance(value, str) else None


def completion_calls(completion: Any) -> tuple[list[list[dict[str, Any]]], int]:
    """The well-formed calls of a completion per user turn, and how many blocks did not parse.

    A text completion (a GRPO rollout) is one turn; messages are grouped by
    `mentor_data.bfcl.checker.calls_by_user_turn` (the data side's grouping, which verify uses),
    so a TRL conversational tail, without user messages, is one turn too.

    Example:
        >>> completion_calls('<tool_call>{"name": "f", "arguments": {"x": 1}}</tool_call>'
        ...                  '<tool_call>{oops</tool_call>')
        ([[{'name': 'f', 'arguments': {'x': 1}}]], 1)
    """
    if isinstance(completion, str):
        parsed = parse_completion(completion)
        calls = [{"name": c.name, "arguments": c.arguments} for c in parsed.calls if c.ok]
        return [calls], len(parsed.malformed)
    from mentor_data.bfcl.checker import calls_by_user_turn

    messages = [completion] if isinstance(completion, Mapping) else list(completion or [])
    return calls_by_user_turn(messages), len(parse_completion(messages).malformed)


def reward_correct(metadata: Mapping[str, Any], completion: Any) -> bool | None:
    """Correctness of one completion for the rewards: False on any malformed call block.

    Returns:
        True or False, or None when the checker cannot decide (`judge_error`).
    """
    from mentor_data.bfcl.checker import judge_bfcl

    calls, malformed = completion_calls(completion)
    if malformed:
        return False
    return judge_bfcl(metadata, calls).correct


@dataclass(frozen=True)
class EvalVerdict:
    """How eval scored one BFCL conversation.

    Attributes:
        correct: BFCL's verdict (leaderboard rules: see the module docstring); None when the
            checker could not decide.
        verdict: `pass`, `fail`, `error` (undecided), `malformed_call` (an AST row whose output
            did not decode) or `abstain_parse_failure` (an irrelevance row passed because its
            output did not decode).
        reason: the checker's reason code (`wrong_arguments`, `judge_error`, ...), or None.
        calls: the well-formed calls per user turn, as judged.
        parse_failure: the conversation has a call block that did not parse.
    """

    correct: bool | None
    verdict: str
    reason: str | None
    calls: list[list[dict[str, Any]]]
    parse_failure: bool


def eval_verdict(metadata: Mapping[str, Any], messages: Sequence[Mapping[str, Any]]) -> EvalVerdict:
    """Judge a whole conversation as BFCL's leaderboard does.

    A malformed call block is a decoding failure: wrong on AST rows, a correct abstention on
    irrelevance rows (the model called no function it could run). On multi-turn rows it only
    ends that model turn in BFCL's runner, so the well-formed calls are judged as they are.
    """
    from mentor_data.bfcl.checker import judge_bfcl

    calls, malformed = completion_calls(messages)
    name = metadata.get("category")
    if malformed and name not in MULTI_TURN:
        if name in IRRELEVANCE:
            return EvalVerdict(True, "abstain_parse_failure", None, calls, True)
        return EvalVerdict(False, "malformed_call", "malformed_call", calls, True)
    result = judge_bfcl(metadata, calls)
    verdict = {True: "pass", False: "fail", None: "error"}[result.correct]
    return EvalVerdict(result.correct, verdict, result.reason, calls, bool(malformed))


def group_metrics(accuracy_by_category: Mapping[str, tuple[int, float]]) -> dict[str, Any]:
    """Accuracy of the leaderboard groups from per-category (n, accuracy).

    Each group reports `n` (rows), `accuracy` (correct rows / rows), `mean_category_accuracy`
    (the unweighted mean over its categories that were evaluated, as BFCL's overview averages)
    and the `categories` it covers. Groups with no evaluated category are left out.

    Example:
        >>> g = group_metrics({"simple_python": (4, 0.5), "multiple": (2, 1.0)})
        >>> g["non_live_ast"]["accuracy"], g["non_live_ast"]["mean_category_accuracy"]
        (0.6666666666666666, 0.75)
    """
    out: dict[str, Any] = {}
    for group, members in GROUPS.items():
        present = [c for c in members if c in accuracy_by_category]
        if not present:
            continue
        n = sum(accuracy_by_category[c][0] for c in present)
        correct = sum(accuracy_by_category[c][0] * accuracy_by_category[c][1] for c in present)
        out[group] = {
            "n": n,
            "accuracy": correct / n if n else 0.0,
            "mean_category_accuracy": sum(accuracy_by_category[c][1] for c in present)
            / len(present),
            "categories": present,
        }
    return out


__all__ = [
    "GROUPS",
    "IRRELEVANCE",
    "MULTI_TURN",
    "EvalVerdict",
    "as_metadata",
    "category",
    "completion_calls",
    "eval_verdict",
    "group_metrics",
    "reward_correct",
    "usable_metadata",
]
