"""How a BFCL row runs in the generation loop (`mentor_data.teachers.base`).

- The opening: the system prompt (merged with the row's own system message, which some live
  rows have: one system message, as chat templates expect), then the first user turn's other
  messages (a few `live_irrelevance` rows carry an earlier exchange).
- AST and irrelevance rows: the functions are not executable; BFCL judges the calls themselves.
  The first assistant turn's calls are recorded (`output` None) and the conversation ends.
- Multi-turn rows: calls run on the row's live `MultiTurnEnv`; when the assistant answers
  without calls, the next user turn is appended; the conversation ends after the last one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mentor_data.bfcl.data import CATEGORIES, MULTI_TURN_CATEGORIES
from mentor_data.domains.base import Opening
from mentor_data.problems import Problem


def _text(content: Any) -> str:
    from mentor_data.formats import content_text

    return content_text(content)


def open_conversation(problem: Problem, system_prompt: str | None) -> Opening:
    """The opening messages, later turns and environment of a BFCL problem.

    Args:
        problem: A `bfcl:` problem (or one read back from a BFCL store version).
        system_prompt: The system prompt in effect (None: none), before the row's own.

    Raises:
        ValueError: the problem's metadata is not a BFCL row's (the message says how to load one).
        ImportError: a multi-turn row without bfcl-eval installed.
    """
    metadata = problem.metadata if isinstance(problem.metadata, Mapping) else {}
    category = metadata.get("category")
    if category not in CATEGORIES:
        raise ValueError(
            f"BFCL problem {problem.id}: metadata category {category!r} is not supported "
            f"({', '.join(CATEGORIES)}); load problems with --problems bfcl:CATEGORY"
        )
    turns = metadata.get("turns")
    if not isinstance(turns, list) or not turns or not all(isinstance(t, list) for t in turns):
        turns = [[{"role": "user", "content": problem.question}]]
    first = [dict(m) for m in turns[0] if isinstance(m, Mapping)]
    systems = [_text(m.get("content")) for m in first if m.get("role") == "system"]
    system = "\n\n".join(s for s in [system_prompt or "", *systems] if s)
    messages = ([{"role": "system", "content": system}] if system else []) + [
        m for m in first if m.get("role") != "system"
    ]
    if category not in MULTI_TURN_CATEGORIES:
        return Opening(messages=messages)
    from mentor_data.bfcl.executor import MultiTurnEnv

    pending = [[dict(m) for m in turn if isinstance(m, Mapping)] for turn in turns[1:]]
    return Opening(messages=messages, pending_turns=pending, env=MultiTurnEnv(metadata))


__all__ = ["Opening", "open_conversation"]
