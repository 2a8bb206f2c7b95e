"""Build trajectory rows (one teacher attempt at one problem) from a chat conversation.

Generate, import and the BFCL oracle all end here, so every row gets its derived columns
(`tool_calls`, `final_answer`, `num_turns`) the same way, from the stored messages.
"""

from __future__ import annotations

from typing import Any

from mentor_data.formats import content_text, extract_boxed, parse_completion
from mentor_data.schema import SCHEMA_VERSION, empty_sampling, prompt_hash, utc_now

ERROR_PREFIX = "Error: "


def tool_calls_from_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `tool_calls` column of a conversation: every call with what it returned.

    Calls are read with the shared parser (`parse_completion` of each assistant message, so
    `tool_calls` entries and `<tool_call>` text count alike, malformed ones included with their
    parse error). A call's observation is the tool message with its `tool_call_id`, or else the
    next unclaimed tool message after its turn (servers that drop ids). An observation that
    starts with "Error: " is recorded as the call's error.
    """
    records: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []  # well-formed calls still waiting for their observation
    turn = -1
    for msg in messages:
        role = msg.get("role") if isinstance(msg, dict) else None
        if role == "assistant":
            turn += 1
            pending = []
            for i, call in enumerate(parse_completion(msg).calls):
                rec = {
                    "turn": turn,
                    "id": call.id or f"call_{turn}_{i}",
                    "name": call.name if call.ok else (call.name or None),
                    "arguments": call.arguments if call.ok else None,
                    "output": None,
                    "error": call.error,
                }
                records.append(rec)
                if call.ok:
                    pending.append(rec)
        elif role == "tool" and pending:
            call_id = msg.get("tool_call_id")
            match = next((c for c in pending if call_id and c["id"] == call_id), pending[0])
            pending.remove(match)
            text = content_text(msg.get("content"))
            if text.startswith(ERROR_PREFIX):
                match["error"] = text[len(ERROR_PREFIX) :]
            else:
                match["output"] = text
    return records


def final_answer(messages: list[dict[str, Any]]) -> str | None:
    """The boxed answer of the last assistant message, or None."""
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "assistant":
            return extract_boxed(content_text(msg.get("content")))
    return None


def make_row(
    *,
    problem_id: str,
    sample_id: int,
    question: str,
    answer: str | None,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    domain: str = "arithmetic",
    source: str = "",
    backend: str = "import",
    model: str | None = None,
    sampling: dict[str, Any] | None = None,
    system_prompt: str | None = None,
    finish_reason: str = "stop",
    error: str | None = None,
    usage: dict[str, int | None] | None = None,
    latency_s: float | None = None,
    metadata: dict[str, Any] | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A complete trajectory row; derived columns are computed from `messages`.

    Pass `tool_calls` to record what a live executor returned instead of re-reading the tool
    messages (generate does, so an observation is recorded exactly as executed).
    """
    if system_prompt is None:
        system_prompt = next(
            (
                m.get("content")
                for m in messages
                if isinstance(m, dict) and m.get("role") == "system"
            ),
            None,
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "problem_id": str(problem_id),
        "sample_id": int(sample_id),
        "domain": domain,
        "source": source,
        "question": question,
        "answer": None if answer is None else str(answer),
        "messages": messages,
        "tools": tools,
        "teacher": {
            "backend": backend,
            "model": model,
            "prompt_hash": prompt_hash(content_text(system_prompt), tools),
            "sampling": {**empty_sampling(), **(sampling or {})},
        },
        "tool_calls": tool_calls if tool_calls is not None else tool_calls_from_messages(messages),
        "final_answer": final_answer(messages),
        "num_turns": sum(
            1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant"
        ),
        "finish_reason": finish_reason,
        "error": error,
        "usage": {"prompt_tokens": None, "completion_tokens": None, **(usage or {})},
        "latency_s": latency_s,
        "created_at": utc_now(),
        "metadata": metadata,
    }
