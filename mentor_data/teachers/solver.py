"""The `solver` teacher: writes trajectories from a problem's reference program, no model at all.

Each turn it reads the observations so far and writes the next step of the program as a short
sentence and a structured tool call (arguments filled in from the real observations); once the
program has run, it writes a closing sentence with `\\boxed{answer}`: the last observation, or
`metadata.program_answer` when the program states the answer it leads to (a search finds it). The
phrasing, and whether independent steps are batched into one turn, vary with the sample seed, so
samples of one problem differ a little while staying correct.

It is how the project runs end to end offline, and the fixture teacher of the tests. A problem
without a program (`metadata.program`), e.g. one loaded from a file, cannot be solved: its row is
an `error` row that says so.
"""

from __future__ import annotations

import random
import re
from typing import Any

from mentor_data.problems import resolve_arguments
from mentor_data.teachers.base import ScriptedTeacher, TurnResult
from mentor_data.teachers.rollout import Conversation

_REF = re.compile(r"^\$(\d+)$")

_OPENERS = (
    "",
    "",
    "Let me work through this step by step. ",
    "I'll use the tools for this. ",
    "Let's break the problem down. ",
)
_FIRST = (
    "First, I need {note}.",
    "I'll start with {note}.",
    "To begin, I compute {note}.",
    "The first step is {note}.",
)
_NEXT = (
    "Next, I need {note}.",
    "Now I compute {note}.",
    "Then I find {note}.",
    "Using that result, I work out {note}.",
)
_FINAL = (
    "So the answer is \\boxed{{{answer}}}.",
    "That gives {note}: {answer}. The answer is \\boxed{{{answer}}}.",
    "Therefore {note} is {answer}, and the final answer is \\boxed{{{answer}}}.",
    "The result is {answer}.\n\n\\boxed{{{answer}}}",
)
# Closing lines when the answer is read from the observations (`metadata.program_answer`: a
# search's passages, not a number the last tool returned).
_READ = (
    "From the results above, the answer is \\boxed{{{answer}}}.",
    "Putting the results together: \\boxed{{{answer}}}.",
    "So the answer is \\boxed{{{answer}}}.",
)
# How often a sample batches independent steps into one turn (several calls in one message).
PARALLEL_RATE = 0.3
NO_PROGRAM = (
    "solver: problem {id} has no reference program (metadata.program), so the solver teacher "
    "cannot solve it; it solves built-in problems (--problems builtin:...) and data made from "
    "them. Use a model teacher (--teacher openai, vllm or hf) for other problems."
)


def _refs(arguments: Any) -> set[int]:
    """Step indices a step's arguments refer to."""
    if isinstance(arguments, dict):
        return set().union(*(_refs(v) for v in arguments.values())) if arguments else set()
    if isinstance(arguments, list):
        return set().union(*(_refs(v) for v in arguments)) if arguments else set()
    if isinstance(arguments, str):
        match = _REF.match(arguments)
        return {int(match.group(1))} if match else set()
    return set()


def _depends(step: dict) -> set[int]:
    """Steps a step needs first: its `"$k"` references and its `after` list (a step whose
    literal arguments were read from an earlier result, e.g. a name a search found)."""
    after = step.get("after") if isinstance(step.get("after"), list) else []
    return _refs(step["arguments"]) | {k for k in after if isinstance(k, int)}


class SolverTeacher(ScriptedTeacher):
    """Offline teacher that follows each problem's reference program (see `ScriptedTeacher`)."""

    backend = "solver"

    def turn(self, conv: Conversation) -> TurnResult:
        """The next assistant message of one conversation."""
        program = conv.problem.program
        if program is None:
            return TurnResult.failed(NO_PROGRAM.format(id=conv.problem.id))
        outputs = [m.get("content") or "" for m in conv.messages if m.get("role") == "tool"]
        rng = random.Random(conv.seed * 64 + conv.turn)  # int seeds: 10x cheaper than str
        failed = next((o for o in outputs if o.startswith("Error: ")), None)
        if failed is not None:
            text = f"The tool reported a problem ({failed[7:]}), so I cannot finish this."
            return TurnResult({"role": "assistant", "content": text})
        k = len(outputs)
        if k >= len(program):
            stated = conv.problem.metadata.get("program_answer")
            if isinstance(stated, str) and stated:  # read from the observations, not the last one
                text = rng.choice(_READ).format(answer=stated)
                return TurnResult({"role": "assistant", "content": text})
            note = program[-1].get("note") or "the result"
            answer = outputs[-1]
            text = rng.choice(_FINAL).format(note=note, answer=answer)
            return TurnResult({"role": "assistant", "content": text})
        steps = [k]
        if random.Random(conv.seed).random() < PARALLEL_RATE:
            # Independent steps (using only results already known) go into the same turn.
            while len(steps) + k < len(program) and all(
                r < k for r in _depends(program[k + len(steps)])
            ):
                steps.append(k + len(steps))
        try:
            calls = [
                {
                    "id": f"call_{conv.turn}_{i}",
                    "type": "function",
                    "function": {
                        "name": program[j]["tool"],
                        "arguments": resolve_arguments(program[j]["arguments"], outputs),
                    },
                }
                for i, j in enumerate(steps)
            ]
        except (ValueError, KeyError, TypeError) as exc:
            return TurnResult.failed(f"solver: bad program of {conv.problem.id}: {exc}")
        notes = [program[j].get("note") or f"step {j + 1}" for j in steps]
        note = notes[0] if len(notes) == 1 else ", ".join(notes[:-1]) + f" and {notes[-1]}"
        if k == 0:
            text = rng.choice(_OPENERS) + rng.choice(_FIRST).format(note=note)
        else:
            text = rng.choice(_NEXT).format(note=note)
        return TurnResult({"role": "assistant", "content": text, "tool_calls": calls})
