"""The `oracle` teacher: replays a problem's ground-truth calls, no model at all.

It is to the BFCL domain what the `solver` is to arithmetic: the offline teacher that makes the
pipeline run end to end and the fixture of the tests. Per user turn it writes one assistant
message with the ground truth's calls (`Domain.reference_calls`: for BFCL,
`mentor_data.bfcl.oracle.oracle_calls`); the loop
records them (AST rows: the conversation ends there) or runs them on the row's live
environment (multi-turn rows), after which the oracle closes the turn with a short sentence and
the loop appends the next user turn. A row whose ground truth has no call (irrelevance) gets a
sentence saying that no offered function fits.

Problems of a domain without ground-truth calls cannot be replayed: their rows are `error` rows
that say so.
"""

from __future__ import annotations

from mentor_data.domains import get_domain
from mentor_data.teachers.base import ScriptedTeacher, TurnResult
from mentor_data.teachers.rollout import Conversation

NOT_BFCL = (
    "oracle: problem {id} has no ground-truth calls to replay (domain {domain!r}); the oracle "
    "teacher replays BFCL ground truth (--problems bfcl:CATEGORY) and that of domains with "
    "reference calls. Use --teacher solver for built-in arithmetic problems or a model teacher "
    "(openai, vllm, hf) for others."
)
NO_CALL = (
    "None of the available functions can do this, so I will not call any. Could you rephrase "
    "the request, or provide a suitable function?"
)
TURN_DONE = "Done: I have completed that request with the calls above."


class OracleTeacher(ScriptedTeacher):
    """Offline teacher that replays a problem's ground-truth calls (see `ScriptedTeacher`)."""

    backend = "oracle"

    def turn(self, conv: Conversation) -> TurnResult:
        """The next assistant message of one conversation."""
        problem = conv.problem
        if conv.messages and conv.messages[-1].get("role") == "tool":
            return TurnResult({"role": "assistant", "content": TURN_DONE})
        try:
            plan = get_domain(problem.domain).reference_calls(problem)
        except (ValueError, TypeError, KeyError) as exc:
            return TurnResult.failed(f"oracle: no replayable ground truth for {problem.id}: {exc}")
        if plan is None:
            return TurnResult.failed(NOT_BFCL.format(id=problem.id, domain=problem.domain))
        # Single-turn rows have one plan, whatever earlier exchange their opening holds.
        user_turn = _user_turn(conv.messages) if len(plan) > 1 else 0
        calls = plan[user_turn] if user_turn < len(plan) else []
        if not calls:
            return TurnResult({"role": "assistant", "content": NO_CALL})
        return TurnResult(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": f"call_{conv.turn}_{i}",
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                    for i, call in enumerate(calls)
                ],
            }
        )


def _user_turn(messages: list[dict]) -> int:
    """Index of the current user turn: runs of user messages after the first, counted."""
    turn, previous = -1, None
    for message in messages:
        role = message.get("role")
        if role == "user" and previous != "user":
            turn += 1
        previous = role
    return max(turn, 0)


__all__ = ["NOT_BFCL", "OracleTeacher"]
