"""Verify one trajectory row: its reason code and its alignment targets (the checks in order).

`verify_row(row)` is a pure function of one trajectory row (plus its domain's tool environment
and judge); `verify_dataset(ref)` runs it over a store version on all cores and writes a new
version with the verification columns of `schemas/trajectory.schema.json` (`verified`,
`reason`, `reason_detail`, `teacher_tools`, `teacher_tool_counts`, `teacher_tool_sequence`,
`teacher_n_calls`, `teacher_answer`).

Every row is checked through its domain (`mentor_data.domains.domain_of(row)`), in this order;
the first check that fails names the row's reason (`REASONS`):

| reason | the row ... |
|---|---|
| `error` | has an `error` or `finish_reason == "error"`; its domain is unknown; a check raised |
| `bad_structure` | breaks the role order (see `structure_problem`) or has no assistant turn |
| `malformed_call` | holds a tool call that did not parse (`ParsedCompletion.malformed`) |
| `unknown_tool` | calls a name that is not among the row's own offered `tools` (`check_offered`) |
| `tool_output_mismatch` | records an observation that replaying its calls does not reproduce |
| `tool_not_loaded` | records an observation of a tool that no loaded source implements |
| `truncated` | ended on the token limit (`finish_reason == "length"`) |
| `max_turns` | ended on the turn limit (`finish_reason == "max_turns"`) |
| `no_answer` | has no `\\boxed{...}` in its final assistant turn (answer-judged domains) |
| `no_ground_truth` | has a null `answer` column: nothing to judge against |
| `judge_error` | the judge could not decide (timeout, unparseable gold): neither right nor wrong |
| `wrong_answer` | the boxed answer is not equivalent to the ground truth |
| (a domain's codes) | its own judge's reason (BFCL: its checker's codes, docs/bfcl.md) |
| `no_tool_call` | passed the judge with fewer well-formed calls than required (`min_calls`) |
| `ok` | passed every check (`verified` is true only here) |

Replay (`tool_output_mismatch`): the row's domain gives a fresh tool environment
(`Domain.environment(row)`: the offered tools that a loaded source implements, with the same
parameter names; a stateful domain's own environment; BFCL multi-turn rows' live API instances;
None for rows whose calls are judged, not run, such as BFCL AST rows). Every well-formed call
with an observation (its tool message) is run again in order with its recorded arguments, so a
stateful tool sees the same state, and compared with both the observation in the messages and
the `tool_calls` column, which must also name the same calls as the messages. Outputs match when
the texts are equal, or when both are numbers and (a) both are integer literals and equal, or
(b) otherwise `|a - b| <= max(REL_TOL * max(|a|, |b|), ABS_TOL)` with `REL_TOL = ABS_TOL = 1e-9`,
computed exactly on the decimal texts (so `391` = `391.0`, `0.3` = `0.30000000000000004`, but a
changed digit of a 60-digit integer is caught). An error observation must be an error again (the
wording may differ: it names the registry); a result must be a result. Calls of a tool declared
non-deterministic (`Tool.deterministic = False`) are re-run but not compared, and the detail of
an ok row says how many. Nothing is passed silently: a call whose tool is not loaded (the user's
`--tools`/`--mcp`/`--domain` not given to verify) fails the row with `tool_not_loaded`.

Tool use (`no_tool_call`): a row the judge passes must also hold at least `min_calls`
well-formed calls, else it solved the problem without its tools and is no tool-use
demonstration. `min_calls` None (the default) means the domain's `Domain.min_calls`: 1 for
domains whose problems expect tools (arithmetic, RAG, user domains), 0 for BFCL (its
irrelevance rows are right to call nothing); `--min-calls 0` keeps tool-free rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from mentor_data.domains import DomainError, ToolEnv, domain_of, get_domain, offered_names
from mentor_data.formats import ParsedCompletion, parse_completion
from mentor_data.trajectory import tool_calls_from_messages

logger = logging.getLogger(__name__)

SHARED_REASONS = (
    "no_tool_call",
    "tool_output_mismatch",
    "tool_not_loaded",
    "unknown_tool",
    "malformed_call",
    "bad_structure",
    "max_turns",
    "truncated",
    "error",
)
"""The reason codes of the checks every domain shares (after its judge's codes)."""


def reason_codes(domains: Iterable[str] = ()) -> tuple[str, ...]:
    """Every reason code, `ok` first, then the judges' codes of the built-in domains and of
    `domains`, then the shared checks' (the order of the summary table)."""
    from mentor_data.domains import BUILTIN_DOMAINS

    codes = ["ok"]
    for name in (*BUILTIN_DOMAINS, *domains):
        for code in get_domain(name).reasons:
            if code not in codes and code not in SHARED_REASONS:
                codes.append(code)
    return (*codes, *SHARED_REASONS)


REASONS = reason_codes()
"""Every reason code of the built-in domains, `ok` first (the order of the summary table)."""

REL_TOL = 1e-9
"""Relative tolerance when a re-executed number is compared with the recorded one."""
ABS_TOL = 1e-9
"""Absolute tolerance for the same comparison (numbers near zero)."""

_ROLES = ("system", "user", "assistant", "tool")
# Decimal literals only, exponent bounded: Fraction("1e999999999") would build a 1e9-digit int.
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?")
_INT_RE = re.compile(r"[+-]?\d+")
_MAX_NUMBER_CHARS = 5_000
_DETAIL_CHARS = 300


@dataclass(frozen=True)
class RowVerdict:
    """The verification result of one row: its reason code and its alignment targets.

    Args:
        reason (`str`): One of `REASONS`.
        detail (`str` or `None`): Why, for humans (the `reason_detail` column).
        teacher_tools (`list[str]`): Sorted unique names of the well-formed calls.
        teacher_tool_counts (`dict[str, int]`): Name -> number of well-formed calls.
        teacher_tool_sequence (`list[str]`): Names of the well-formed calls in call order.
        teacher_answer (`str` or `None`): The boxed answer of the final assistant turn.
        uncompared_calls (`int`): Calls of non-deterministic tools re-run but not compared.
        signature (`str`): Hash of the calls (names and canonical arguments) and the answer
            with whitespace removed: rows of one problem with equal signatures are duplicates.
    """

    reason: str
    detail: str | None = None
    teacher_tools: list[str] = field(default_factory=list)
    teacher_tool_counts: dict[str, int] = field(default_factory=dict)
    teacher_tool_sequence: list[str] = field(default_factory=list)
    teacher_answer: str | None = None
    uncompared_calls: int = 0
    signature: str = ""

    @property
    def verified(self) -> bool:
        """True only for `ok`."""
        return self.reason == "ok"

    @property
    def teacher_n_calls(self) -> int:
        """Number of well-formed calls."""
        return len(self.teacher_tool_sequence)

    def columns(self) -> dict[str, Any]:
        """The verification columns of the row (`mentor_data.schema.VERIFICATION_FEATURES`)."""
        return {
            "verified": self.verified,
            "reason": self.reason,
            "reason_detail": self.detail,
            "teacher_tools": self.teacher_tools,
            "teacher_tool_counts": self.teacher_tool_counts,
            "teacher_tool_sequence": self.teacher_tool_sequence,
            "teacher_n_calls": self.teacher_n_calls,
            "teacher_answer": self.teacher_answer,
        }


# -- pure helpers ----------------------------------------------------------------------------
def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "..."


def _role(message: Any) -> Any:
    return message.get("role") if isinstance(message, dict) else None


def _message_calls(message: dict[str, Any]) -> tuple[int, int, set[str]]:
    """(all calls, well-formed calls, tool_call ids) of one assistant message."""
    calls = parse_completion([message]).calls
    # Raw ids only: normalize_tool_calls invents `call_<i>` for entries that carry none.
    entries = message.get("tool_calls")
    ids = {
        e["id"]
        for e in (entries if isinstance(entries, list) else [])
        if isinstance(e, dict) and isinstance(e.get("id"), str) and e["id"]
    }
    return len(calls), sum(c.ok for c in calls), ids


def structure_problem(messages: Any, *, user_turns: bool = False) -> str | None:
    """Why `messages` is not a legal conversation, or None when it is.

    Legal: an optional system message, a user message, then assistant and tool messages only,
    starting with an assistant. A run of tool messages answers the assistant message before it:
    it holds at most as many messages as that turn made calls (malformed ones included), and a
    tool message's `tool_call_id`, when both sides carry ids, names one of that turn's calls.
    The next assistant turn may only start once every well-formed call was answered (so two
    assistant messages in a row are illegal). At least one assistant turn is required; the
    conversation may end on any message (a turn limit can stop it after tool messages).

    With `user_turns` (BFCL rows: multi-turn rows, and live rows whose opening holds an earlier
    exchange), a user message may also follow a user message or an assistant turn whose calls
    were all answered, but not a tool message (the assistant answers those first).

    Args:
        messages: the `messages` column of a row.
        user_turns: allow later user messages (see above).

    Returns:
        A short description of the first problem found, or None.

    Example:
        >>> structure_problem([{"role": "user", "content": "hi"}])
        'no assistant turn'
        >>> structure_problem([{"role": "user", "content": "hi"},
        ...                    {"role": "assistant", "content": "\\\\boxed{1}"}]) is None
        True
    """
    if not isinstance(messages, list) or not messages:
        return "no messages"
    for i, message in enumerate(messages):
        if _role(message) not in _ROLES:
            return f"message {i}: role {_role(message)!r} is not one of {', '.join(_ROLES)}"
    i = 1 if _role(messages[0]) == "system" else 0
    if i >= len(messages) or _role(messages[i]) != "user":
        found = _role(messages[i]) if i < len(messages) else "the end"
        return f"message {i}: expected the user message, found {found}"
    calls = ok_calls = answered = 0
    ids: set[str] = set()
    previous = "user"
    assistants = 0
    for j in range(i + 1, len(messages)):
        message = messages[j]
        role = _role(message)
        if role == "assistant":
            if answered < ok_calls:
                return (
                    f"message {j}: the previous assistant turn made {ok_calls} call(s) "
                    f"but got {answered} tool message(s)"
                )
            if previous == "assistant":
                return f"message {j}: two assistant messages in a row"
            calls, ok_calls, ids = _message_calls(message)
            answered = 0
            assistants += 1
        elif role == "tool":
            if previous == "user":
                return f"message {j}: a tool message before any assistant turn"
            answered += 1
            if answered > calls:
                return (
                    f"message {j}: tool message {answered} answers an assistant turn that "
                    f"made {calls} call(s)"
                )
            call_id = message.get("tool_call_id")
            if call_id and ids and call_id not in ids:
                return (
                    f"message {j}: tool_call_id {str(call_id)[:60]!r} matches no call of its turn"
                )
        elif role == "user" and user_turns:
            if previous == "tool":
                return f"message {j}: a user message right after tool messages"
            if answered < ok_calls:
                return (
                    f"message {j}: a user message before the {ok_calls} call(s) of the "
                    f"previous assistant turn were answered"
                )
            calls = ok_calls = answered = 0
        else:
            return f"message {j}: a {role} message after the user turn"
        previous = role
    return None if assistants else "no assistant turn"


def _as_number(text: str) -> Fraction | None:
    text = text.strip()
    if len(text) > _MAX_NUMBER_CHARS or not _NUMBER_RE.fullmatch(text):
        return None
    return Fraction(text)


def outputs_match(recorded: str, executed: str) -> bool:
    """Whether a recorded tool output agrees with the output of re-executing the call.

    Equal texts match. Two numbers match when both are integer literals and equal, or else when
    `|a - b| <= max(REL_TOL * max(|a|, |b|), ABS_TOL)`, computed exactly on the decimal texts.
    Anything else must be equal text.

    Args:
        recorded: the observation stored in the row.
        executed: the output `execute` returned now.

    Returns:
        True when they agree.

    Example:
        >>> outputs_match("391.0", "391"), outputs_match("0.30000000000000004", "0.3")
        (True, True)
        >>> outputs_match("392", "391"), outputs_match("10" * 30 + "1", "10" * 30 + "0")
        (False, False)
    """
    if recorded == executed:
        return True
    if not isinstance(recorded, str) or not isinstance(executed, str):
        return False
    a, b = _as_number(recorded), _as_number(executed)
    if a is None or b is None:
        return False
    if _INT_RE.fullmatch(recorded.strip()) and _INT_RE.fullmatch(executed.strip()):
        return a == b  # integers are computed exactly: any difference is a real one
    return abs(a - b) <= max(Fraction(REL_TOL) * max(abs(a), abs(b)), Fraction(ABS_TOL))


def _canonical(value: Any) -> Any:
    """Arguments in a canonical form for duplicate detection (2.0 -> 2, key order ignored)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _signature(parsed: ParsedCompletion, answer: str | None) -> str:
    calls = [[c.name, _canonical(c.arguments)] for c in parsed.calls if c.ok]
    text = json.dumps([calls, "".join((answer or "").split())], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _is_observation(call: dict[str, Any]) -> bool:
    return call.get("output") is not None or call.get("error") is not None


def _observation_problem(where: str, call: dict[str, Any], executed: Any) -> str | None:
    """Why a recorded call's observation disagrees with `executed` (a ToolResult), or None."""
    name = call.get("name")
    if call.get("output") is not None:
        if not executed.ok:
            return (
                f"{where} {name}: recorded output {call['output'][:60]!r}, re-execution "
                f"failed ({executed.code})"
            )
        if not outputs_match(call["output"], executed.output):
            return (
                f"{where} {name}: recorded {call['output'][:60]!r}, re-executed "
                f"{executed.output[:60]!r}"
            )
    elif executed.ok:
        return f"{where} {name}: recorded an error, re-execution returned {executed.output[:60]!r}"
    return None


def _well_formed(calls: Any) -> list[dict[str, Any]]:
    return [
        c
        for c in (calls if isinstance(calls, list) else [])
        if isinstance(c, dict)
        and isinstance(c.get("name"), str)
        and not str(c.get("error") or "").startswith("malformed_call")
    ]


def _mismatch(row: dict[str, Any], env: ToolEnv | None) -> tuple[str | None, str | None, int]:
    """Replay a row's calls in order on a fresh environment and compare the observations.

    Returns:
        (reason code or None, why, calls of non-deterministic tools re-run but not compared).
        The reason is `tool_output_mismatch` (an observation the replay does not reproduce, or
        a `tool_calls` column that does not name the calls of the messages) or
        `tool_not_loaded` (a recorded observation of a tool no loaded source implements).
    """
    from_messages = _well_formed(tool_calls_from_messages(row["messages"]))
    column = _well_formed(row.get("tool_calls"))
    if len(column) != len(from_messages):
        return (
            "tool_output_mismatch",
            f"the tool_calls column records {len(column)} call(s), the messages "
            f"{len(from_messages)}",
            0,
        )
    uncompared = 0
    for k, (msg_call, col_call) in enumerate(zip(from_messages, column, strict=True)):
        if (msg_call["name"], msg_call["arguments"]) != (col_call["name"], col_call["arguments"]):
            return (
                "tool_output_mismatch",
                f"call {k}: the tool_calls column records {col_call['name']} "
                f"{json.dumps(col_call['arguments'], default=str)[:80]}, the messages "
                f"{msg_call['name']} {json.dumps(msg_call['arguments'], default=str)[:80]}",
                0,
            )
        if env is None or not (_is_observation(msg_call) or _is_observation(col_call)):
            continue  # recorded, not executed (judged calls), or never run (a limit hit first)
        name = msg_call["name"]
        if not env.implements(name):
            return (
                "tool_not_loaded",
                f"call {k}: no loaded tool implements {name!r} with the offered parameters, so "
                "its recorded output cannot be checked; load its source (--tools, --mcp or "
                "--domain) and verify again",
                uncompared,
            )
        executed = env.run(name, msg_call["arguments"])
        if not env.deterministic(name):
            uncompared += 1  # re-run (a stateful domain needs it), not compared
            continue
        for where, call in ((f"call {k}", msg_call), (f"call {k} (tool_calls column)", col_call)):
            if _is_observation(call):
                problem = _observation_problem(where, call, executed)
                if problem:
                    return "tool_output_mismatch", problem, uncompared
    return None, None, uncompared


def _verify(row: dict[str, Any], judge_timeout_s: float, min_calls: int | None) -> RowVerdict:
    if row.get("error") is not None or row.get("finish_reason") == "error":
        return RowVerdict("error", _clip(str(row.get("error") or "finish_reason is error")))
    messages = row.get("messages")
    try:
        domain = domain_of(row)
    except DomainError as exc:
        return RowVerdict("error", _clip(str(exc)))
    problem = structure_problem(messages, user_turns=domain.user_turns)
    if problem:
        return RowVerdict("bad_structure", problem)
    parsed = parse_completion(messages)
    sequence = parsed.tool_names
    counts = Counter(sequence)
    answer = parsed.answer
    targets = {
        "teacher_tools": sorted(counts),
        "teacher_tool_counts": dict(counts),
        "teacher_tool_sequence": sequence,
        "teacher_answer": answer,
        "signature": _signature(parsed, answer),
    }
    if parsed.malformed:
        bad = parsed.malformed
        return RowVerdict(
            "malformed_call",
            f"{len(bad)} call(s) did not parse; first: {_clip(bad[0].error or '')}",
            **targets,
        )
    if domain.check_offered:
        unknown = sorted(set(sequence) - set(offered_names(row.get("tools"))))
        if unknown:
            return RowVerdict(
                "unknown_tool", _clip(f"not offered on this row: {', '.join(unknown)}"), **targets
            )
    try:
        env = domain.environment(row)
    except ValueError as exc:  # a row its domain cannot replay (e.g. without its metadata)
        return RowVerdict("error", _clip(str(exc)), **targets)
    reason, problem, uncompared = _mismatch(row, env)
    if reason:
        return RowVerdict(reason, _clip(problem), **targets)
    targets["uncompared_calls"] = uncompared
    note = (
        f"{uncompared} call(s) of non-deterministic tools re-run, not compared"
        if uncompared
        else None
    )
    finish = row.get("finish_reason")
    if finish == "length":
        return RowVerdict("truncated", "the last turn hit the token limit", **targets)
    if finish == "max_turns":
        detail = (
            "a user turn hit the assistant-turn limit"
            if domain.user_turns
            else f"stopped after {parsed.num_turns} assistant turns"
        )
        return RowVerdict("max_turns", detail, **targets)
    verdict = domain.judge(row, messages, parsed=parsed, timeout_s=judge_timeout_s)
    required = domain.min_calls if min_calls is None else min_calls
    if verdict.reason == "ok" and len(sequence) < required:
        return RowVerdict(
            "no_tool_call",
            f"{len(sequence)} well-formed tool call(s), at least {required} required: the "
            "answer was reached without the tools (--min-calls 0 keeps such rows)",
            **targets,
        )
    return RowVerdict(verdict.reason, _clip(verdict.detail) if verdict.detail else note, **targets)


def verify_row(
    row: dict[str, Any], *, judge_timeout_s: float = 5.0, min_calls: int | None = None
) -> RowVerdict:
    """Verify one trajectory row; never raises.

    Args:
        row: a decoded trajectory row (JSON columns as Python objects). Its `domain` column
            names the domain (`mentor_data.domains`) whose environment replays its calls and
            whose judge decides it.
        judge_timeout_s: wall-clock limit of one answer check.
        min_calls: well-formed calls a row the judge passes must hold, else it is
            `no_tool_call`; None means its domain's `Domain.min_calls` (1; BFCL 0).

    Returns:
        A `RowVerdict`: the first failing check's reason code (see the module docstring), a
        detail, and the alignment targets from the well-formed calls. A row that makes a check
        raise gets reason `error` with the exception in the detail.

    Example:
        >>> row = {"error": None, "finish_reason": "stop", "answer": "3", "tools": [],
        ...        "tool_calls": [], "messages": [{"role": "user", "content": "1+2?"},
        ...                                       {"role": "assistant", "content": "\\\\boxed{3}"}]}
        >>> v = verify_row(row)
        >>> v.reason, v.verified, v.teacher_answer, v.teacher_n_calls
        ('no_tool_call', False, '3', 0)
        >>> verify_row(row, min_calls=0).reason
        'ok'
    """
    try:
        if not isinstance(row, dict):
            return RowVerdict("error", f"the row is a {type(row).__name__}, not a mapping")
        return _verify(row, judge_timeout_s, min_calls)
    except Exception as exc:  # a bad row must never stop a run: it becomes an error row
        logger.debug("verify raised on a row", exc_info=True)
        return RowVerdict("error", _clip(f"verify raised {type(exc).__name__}: {exc}"))


def verify_rows(
    rows: Iterable[dict[str, Any]], *, judge_timeout_s: float = 5.0, min_calls: int | None = None
) -> list[RowVerdict]:
    """`verify_row` over rows, in this process."""
    return [verify_row(r, judge_timeout_s=judge_timeout_s, min_calls=min_calls) for r in rows]
