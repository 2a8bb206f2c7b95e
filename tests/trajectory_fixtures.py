"""Trajectories built through the library (make_row + the real executor), for verify and after.

`traj(...)` writes a clean conversation: each step is an assistant turn with one structured call
and the tool message the executor returned, then a final assistant turn with `\\boxed{answer}`.
Tests tamper with its output to make each failure.
"""

from __future__ import annotations

from typing import Any

from mentor_data.tools import ARITHMETIC, execute
from mentor_data.trajectory import make_row

SYSTEM = "Use the tools, then answer in \\boxed{}."


def traj(
    steps: list[tuple[str, dict[str, Any]]] | None = None,
    answer: str | None = "36",
    gold: str | None = "36",
    *,
    problem_id: str = "p0",
    sample_id: int = 0,
    tools: list[dict[str, Any]] | None = None,
    finish_reason: str = "stop",
    error: str | None = None,
    family: str = "shopping",
    outputs: dict[int, str] | None = None,
) -> dict[str, Any]:
    """A schema-complete trajectory row.

    Args:
        steps: (tool, arguments) per assistant turn; default one `multiply(3, 12)`.
        answer: the boxed final answer; None writes a final turn without `\\boxed`.
        gold: the ground truth.
        problem_id, sample_id: the row key.
        tools: offered tool schemas (default: the twelve arithmetic tools).
        finish_reason, error: as generate records them.
        family: `metadata.family`.
        outputs: step index -> observation to record instead of the executed one (for calls
            of tools with no local implementation).
    """
    steps = [("multiply", {"a": 3, "b": 12})] if steps is None else steps
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "A baker has 3 trays of 12 rolls. How many rolls?"},
    ]
    for i, (name, args) in enumerate(steps):
        observation = (outputs or {}).get(i) or execute(name, args).observation()
        messages.append(
            {
                "role": "assistant",
                "content": f"Step {i}.",
                "tool_calls": [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": name, "arguments": args},
                    }
                ],
            }
        )
        messages.append(
            {"role": "tool", "tool_call_id": f"call_{i}", "name": name, "content": observation}
        )
    final = f"So the answer is \\boxed{{{answer}}}." if answer is not None else "I give up."
    messages.append({"role": "assistant", "content": final})
    return make_row(
        problem_id=problem_id,
        sample_id=sample_id,
        question=messages[1]["content"],
        answer=gold,
        messages=messages,
        tools=ARITHMETIC.schemas() if tools is None else tools,
        backend="solver",
        finish_reason=finish_reason,
        error=error,
        usage={"prompt_tokens": 100, "completion_tokens": 20},
        latency_s=0.5,
        metadata={"family": family},
    )


def mixed_rows() -> list[dict[str, Any]]:
    """A small dataset: ok rows (two samples of some problems), duplicates and failures."""
    rows = []
    for p in range(4):
        a, b = 3 + p, 12
        rows.append(
            traj(
                [("multiply", {"a": a, "b": b})],
                str(a * b),
                str(a * b),
                problem_id=f"p{p}",
                sample_id=0,
                family="shopping" if p % 2 else "tally",
            )
        )
        # sample 1: a longer, still correct solution
        rows.append(
            traj(
                [("multiply", {"a": a, "b": 6}), ("multiply", {"a": a * 6, "b": 2})],
                str(a * b),
                str(a * b),
                problem_id=f"p{p}",
                sample_id=1,
                family="shopping" if p % 2 else "tally",
            )
        )
    # a duplicate of p0/0 (same calls, same answer, other prose) and failures
    dup = traj(
        [("multiply", {"a": 3.0, "b": 12})],
        " 36 ",
        "36",
        problem_id="p0",
        sample_id=2,
        family="tally",
    )
    rows.append(dup)
    rows.append(traj(answer="35", problem_id="p0", sample_id=3, family="tally"))
    rows.append(traj(answer=None, problem_id="p1", sample_id=2))
    rows.append(traj(finish_reason="length", problem_id="p2", sample_id=2))
    return rows
