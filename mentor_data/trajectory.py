"""Build trajectory rows (one teacher attempt at one problem) from a chat conversation.

Generate, import and the BFCL oracle all end here, so every row gets its derived columns
(`tool_calls`, `final_answer`, `num_turns`) the same way, from the stored messages.
"""

from __future__ import annotations

from typing import Any

from mentor_data.formats import extract_boxed, normalize_tool_calls, parse_tool_calls
from mentor_data.schema import SCHEMA_VERSION, empty_sampling, prompt_hash, utc_now

ERROR_PREFIX = "Error: "


def _content_text(content: Any) -> str:
    """Message content as text (content may be None or a list of {"type": "text"} parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def tool_calls_from_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `tool_calls` column of a conversation: every call with what it returned.

    A call's observation is the tool message with its `tool_call_id`, or else the next unclaimed
    tool message after its turn (servers that drop ids). An observation that starts with
    "Error: " is recorded as the call's error. Malformed `<tool_call>` blocks left in assistant
    text are recorded with name None and their parse error.
    """
    records: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []  # calls still waiting for their observation
    turn = -1
    for msg in messages:
        role = msg.get("role") if isinstance(msg, dict) else None
        if role == "assistant":
            turn += 1
            pending = []
            for i, call in enumerate(normalize_tool_calls(msg.get("tool_calls"))):
                fn = call.get("function") or {}
                args = fn.get("arguments")
                bad = isinstance(args, dict) and "__raw__" in args
                rec = {"turn": turn, "id": call.get("id") or f"call_{turn}_{i}",
                       "name": fn.get("name") if isinstance(fn.get("name"), str) else None,
                       "arguments": None if bad else args, "output": None,
                       "error": "malformed_call: arguments are not a JSON object" if bad else None}
                records.append(rec)
                if not bad:
                    pending.append(rec)
            for call in parse_tool_calls(_content_text(msg.get("content"))):
                records.append({"turn": turn, "id": call.id, "name": call.name,
                                "arguments": call.arguments, "output": None,
                                "error": call.error})
                if call.ok:
                    pending.append(records[-1])
        elif role == "tool" and pending:
            call_id = msg.get("tool_call_id")
            match = next((c for c in pending if call_id and c["id"] == call_id), pending[0])
            pending.remove(match)
            text = _content_text(msg.get("content"))
            if text.startswith(ERROR_PREFIX):
                match["error"] = text[len(ERROR_PREFIX):]
            else:
                match["output"] = text
    return records


def final_answer(messages: list[dict[str, Any]]) -> str | None:
    """The boxed answer of the last assistant message, or None."""
    for msg in reversed(messages):
        if isinstance(msg, dict) and msg.get("role") == "assistant":
            return extract_boxed(_content_text(msg.get("content")))
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
        system_prompt = next((m.get("content") for m in messages
                              if isinstance(m, dict) and m.get("role") == "system"), None)
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
            "prompt_hash": prompt_hash(_content_text(system_prompt), tools),
            "sampling": {**empty_sampling(), **(sampling or {})},
        },
        "tool_calls": tool_calls if tool_calls is not None else tool_calls_from_messages(messages),
        "final_answer": final_answer(messages),
        "num_turns": sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant"),
        "finish_reason": finish_reason,
        "error": error,
        "usage": {"prompt_tokens": None, "completion_tokens": None, **(usage or {})},
        "latency_s": latency_s,
        "created_at": utc_now(),
        "metadata": metadata,
    }
