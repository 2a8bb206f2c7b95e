"""The `Domain` interface: everything domain-specific, in one object the core calls.

A domain owns:

| what | method or field | used by |
|---|---|---|
| its problems (`--problems PREFIX...`) | `problem_prefix`, `load_problems` | `load_problems` |
| the tools it offers and runs | `tools`, `default_tools`, `environment` | generate, verify, GRPO |
| its system prompt | `system_prompt` | every teacher, eval |
| how a conversation opens | `open_conversation` | the rollout loop |
| its judge | `reference_usable`, `judge` | verify, rewards, eval |
| the family of a row | `family` | stats, cards, verify, eval |
| an optional eval report | `eval_columns`, `eval_report`, `format_eval_report` | eval |
| ground-truth calls (optional) | `reference_calls` | the `oracle` teacher |

The base class is a complete domain of its own: "answer-judged tool use". Its tools are
executable; a conversation opens with the system prompt and the question; the judge reads the
final `\\boxed{}` answer and compares it with the `answer` column through the project's one answer
judge (`mentor_data.answers`). The built-in arithmetic domain is this class with the twelve
calculator tools and the built-in problem families; a user's domain usually overrides only a few
of these (see docs/domains.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mentor_data.formats import ParsedCompletion, parse_completion
from mentor_data.tools import ToolRegistry, ToolResult, execute

if TYPE_CHECKING:
    from mentor_data.problems import Problem

DEFAULT_SYSTEM_PROMPT = (
    "You are a careful assistant that solves math word problems with tools. Use the provided "
    "tools for every calculation, one step at a time, instead of computing in your head; read "
    "each tool result before the next step. When you know the result, give the final answer "
    "inside \\boxed{}, for example \\boxed{42}."
)
"""The arithmetic domain's system prompt (the tool schemas go separately)."""

TOOLS_SYSTEM_PROMPT = (
    "You are a careful assistant that solves tasks with the provided tools. Call a tool whenever "
    "it can answer part of the task instead of guessing; read each tool result before the next "
    "step. When you know the result, give the final answer inside \\boxed{}, for example "
    "\\boxed{42}."
)
"""The system prompt of a domain built from `--tools`/`--mcp` alone."""

ANSWER_REASONS = ("wrong_answer", "no_answer", "no_ground_truth", "judge_error")
"""Reason codes the answer judge returns besides `ok`."""


@dataclass(frozen=True)
class Judgement:
    """The judge's verdict on one completion.

    Args:
        correct (`bool` or `None`): True (correct), False (wrong) or None (cannot judge: no
            reference, a judge timeout).
        reason (`str`): The verify reason code: `ok`, or why not (`wrong_answer`, `no_answer`,
            `no_ground_truth`, `judge_error`, or a domain's own codes).
        detail (`str` or `None`): Why, for humans.
        extra (`dict`): Domain columns for the eval table (e.g. BFCL's calls and verdict).
    """

    correct: bool | None
    reason: str
    detail: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Opening:
    """How a conversation starts.

    Args:
        messages (`list[dict]`): The system message (unless none) and the first user turn.
        pending_turns (`list[list[dict]]`): Later user turns: when the assistant answers without
            calls, the next is appended instead of ending the conversation.
        env (`ToolEnv` or `None`): Where the calls run; None: the calls are recorded, not
            executed, and end the conversation (e.g. BFCL AST rows, whose calls are judged).
    """

    messages: list[dict]
    pending_turns: list[list[dict]] = field(default_factory=list)
    env: Any = None


class ToolEnv:
    """The tools of one conversation: `run(name, arguments) -> ToolResult`, never raising.

    The base environment is stateless: every call goes through the bounded executor
    (`mentor_data.tools.execute`) against a registry. A stateful domain returns its own
    environment from `Domain.environment` (a fresh one per conversation), so that verify can
    replay a row's calls in order on a fresh state.

    Args:
        registry (`ToolRegistry`): The tools that may run.
    """

    def __init__(self, registry: ToolRegistry):
        self.registry = registry

    def run(self, name: str, arguments: Any) -> ToolResult:
        """Run one call; unknown names and bad arguments are error results."""
        return execute(name, arguments, self.registry)

    def implements(self, name: str) -> bool:
        """Whether a call of `name` can run here (verify fails rows whose calls cannot)."""
        return name in self.registry

    def deterministic(self, name: str) -> bool:
        """Whether a re-run of the call must reproduce its recorded output."""
        tool = self.registry.get(name)
        return tool is None or tool.deterministic


def offered_names(tools: Any) -> list[str]:
    """Names of OpenAI tool schemas (a row's `tools` column), in order; junk is skipped."""
    names = []
    for schema in tools if isinstance(tools, list | tuple) else []:
        function = schema.get("function") if isinstance(schema, Mapping) else None
        name = function.get("name") if isinstance(function, Mapping) else None
        if isinstance(name, str):
            names.append(name)
    return names


def as_metadata(value: Any) -> dict | None:
    """A row's `metadata` as a dict: a dict as is, a JSON object string decoded, else None.

    Example:
        >>> as_metadata('{"family": "x"}'), as_metadata("[1]"), as_metadata(None)
        ({'family': 'x'}, None, None)
    """
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str | bytes):
        try:
            decoded = json.loads(value)
        except ValueError:
            return None
        return decoded if isinstance(decoded, dict) else None
    return None


def metadata_family(metadata: Any) -> str | None:
    """`metadata.family` as text, or None (the base domain's `family`)."""
    meta = as_metadata(metadata)
    family = meta.get("family") if meta else None
    return None if family is None else str(family)


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Domain:
    """A domain of tool use. The defaults make an answer-judged domain with executable tools.

    Subclass it (or instantiate it with `tools=`) and override what differs. Class attributes:

    Args:
        name (`str`): The `domain` column of its rows; unique among loaded domains.
        problem_prefix (`str` or `None`): The `--problems` prefix it loads (`builtin:`); None
            when its problems come from files only.
        system_prompt (`str` or `None`): The system prompt when the user sets none.
        user_turns (`bool`): Rows may hold several user turns (a user message may follow an
            answered assistant turn).
        check_offered (`bool`): Verify fails a call of a tool the row does not offer
            (`unknown_tool`) before the judge; False when the judge reports it itself.
        reads_metadata (`bool`): Verify decodes the `metadata` column for this domain's rows
            (its environment or judge reads it).
        reasons (`tuple[str, ...]`): Extra reason codes its judge may return.
        min_calls (`int`): Well-formed tool calls a row must hold for verify to pass it (else
            `no_tool_call`: it answered without its tools) unless `--min-calls` says otherwise;
            0 for domains where calling nothing can be right (BFCL irrelevance).
        card_summary (`str`): One sentence for the dataset card ("what a row is").
        card_tags (`tuple[str, ...]`): Extra Hub tags of its datasets.
        card_synthetic (`bool`): Its problems are generated (the card's `synthetic` tag).
        eval_groups_key (`str`): The `summary.json` key of `eval_groups`.
        fork_safe (`bool`): Verify may fork worker processes with this domain loaded (False for
            tools that hold a connection, e.g. an MCP session).

    Args (constructor):
        tools: The executable tools (a `ToolRegistry` or an iterable of `Tool`s); default: the
            class's `default_registry()`.
        name: Overrides the class attribute.
    """

    name: str = "tools"
    problem_prefix: str | None = None
    system_prompt: str | None = TOOLS_SYSTEM_PROMPT
    user_turns: bool = False
    check_offered: bool = True
    reads_metadata: bool = True
    reasons: tuple[str, ...] = ANSWER_REASONS
    min_calls: int = 1
    card_summary: str = (
        "a multi-turn chat with tool calls, their executed results and a final `\\boxed{}` answer"
    )
    card_tags: tuple[str, ...] = ()
    card_synthetic: bool = True
    eval_groups_key: str = "groups"
    fork_safe: bool = True

    def __init__(self, tools: ToolRegistry | Iterable | None = None, *, name: str | None = None):
        if name is not None:
            self.name = name
        if tools is None:
            tools = self.default_registry()
        self._tools = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, tools={self._tools.names()})"

    # -- tools ---------------------------------------------------------------------------------
    def default_registry(self) -> ToolRegistry:
        """The tools of a domain built without `tools=` (subclasses ship theirs here)."""
        return ToolRegistry()

    def tools(self) -> ToolRegistry:
        """The executable tools of the domain."""
        return self._tools

    def default_tools(self) -> list[dict]:
        """The tool schemas offered to a problem that lists none of its own.

        Shared, never mutated: 10,000 problems must not each deep-copy the schemas.
        """
        if getattr(self, "_default_schemas", None) is None:
            self._default_schemas = tuple(self._tools.schemas())
        return list(self._default_schemas)

    def environment(self, row: Mapping[str, Any]) -> ToolEnv | None:
        """A fresh tool environment for one conversation (a problem or a trajectory row).

        Args:
            row: Has `tools` (the offered schemas) and `metadata` (a dict or None).

        Returns:
            A `ToolEnv` running the offered tools that the domain (or a loaded tool source:
            `--tools`, `--mcp`, the python tool) implements, or None when the calls are recorded,
            not executed.
        """
        from mentor_data.domains import executable_tools

        return ToolEnv(executable_tools(self._tools, row.get("tools")))

    # -- problems and conversations ------------------------------------------------------------
    def load_problems(self, spec: str, *, limit: int | None = None, seed: int = 0) -> list[Problem]:
        """The problems of a `problem_prefix` spec (only called for specs with that prefix)."""
        raise ValueError(f"domain {self.name!r} has no problem spec of its own; give a file")

    def open_conversation(self, problem: Problem, system_prompt: str | None) -> Opening:
        """The opening messages and the environment of one conversation."""
        messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
        messages.append({"role": "user", "content": problem.question})
        row = {"tools": problem.offered_tools(), "metadata": problem.metadata}
        return Opening(messages=messages, env=self.environment(row))

    def reference_calls(self, problem: Problem) -> list[list[dict]] | None:
        """Ground-truth calls per user turn (`{"name", "arguments"}`) for the `oracle` teacher;
        None when the domain has none."""
        return None

    # -- judging -------------------------------------------------------------------------------
    def reference_usable(self, row: Mapping[str, Any]) -> bool:
        """Whether the row has a reference the judge can use (else rewards skip the row)."""
        from mentor_data.answers import usable_gold

        return usable_gold(row.get("answer")) is not None

    def judge(
        self,
        row: Mapping[str, Any],
        completion: Any,
        *,
        parsed: ParsedCompletion | None = None,
        strict: bool = True,
        timeout_s: float = 5.0,
    ) -> Judgement:
        """Judge one completion of a row: the one judge that verify, rewards and eval call.

        Args:
            row: The row's columns (`answer`, `metadata`, `tools`, ...).
            completion: The completion: messages (a whole conversation or a TRL tail) or text.
            parsed: `parse_completion(completion)`, when the caller has it already.
            strict: Rewards' rule (a malformed call block is wrong); False: the domain's own
                leaderboard rule (eval).
            timeout_s: Wall-clock limit of one answer check.

        Returns:
            A `Judgement`. The answer judge: `no_answer` (no usable `\\boxed{}` in the final
            assistant turn), `no_ground_truth`, `judge_error` (timeout, unparseable gold; never
            right or wrong), `wrong_answer` or `ok`.
        """
        from mentor_data.answers import Verdict, check_answer, check_gold

        parsed = parsed if parsed is not None else parse_completion(completion)
        answer = parsed.answer
        if answer is None:
            return Judgement(False, "no_answer", "no \\boxed{...} in the final assistant turn")
        gold = row.get("answer")
        if gold is None or isinstance(gold, bool):
            return Judgement(None, "no_ground_truth", "the answer column is null")
        gold = str(gold)
        verdict = check_answer(answer, gold, timeout_s=timeout_s)
        if verdict == Verdict.PASS:
            return Judgement(True, "ok")
        if verdict == Verdict.FAIL:
            return Judgement(
                False, "wrong_answer", f"answer {_clip(answer)!r}, ground truth {_clip(gold)!r}"
            )
        problem = check_gold(gold, timeout_s=timeout_s)
        why = f"unusable ground truth: {problem}" if problem else "timeout or judge failure"
        return Judgement(None, "judge_error", f"{why} ({_clip(answer)!r} against {_clip(gold)!r})")

    def grpo_problem(self, row: Mapping[str, Any], mode: str) -> str | None:
        """Why a GRPO row of this domain cannot train with `tool_registry` mode `mode`
        (`registry`: one tool registry for every row; `domain`: each row's own tools run in
        its environment; `none`: each row's tools are shown, nothing runs), or None."""
        return None

    # -- reporting -----------------------------------------------------------------------------
    def family(self, metadata: Any) -> str | None:
        """The family of a row (`metadata.family`), for per-family stats, cards and eval."""
        return metadata_family(metadata)

    def eval_report(self, rows: Sequence[Mapping[str, Any]]) -> dict | None:
        """Extra eval metrics over this domain's scored eval rows (None: nothing to add)."""
        return None

    def eval_groups(self, per_family: Mapping[str, Mapping[str, Any]]) -> dict | None:
        """Groups of families with their metrics, from the per-family metrics (None: none)."""
        return None

    def format_eval_report(self, result: Any) -> str | None:
        """A printable table of an eval (`mentor_train.evaluate.EvalResult`) of this domain's
        problems, printed by `mentor-train eval` (None: nothing to print)."""
        return None

    def card_notes(self) -> str | None:
        """A paragraph for the card's verification section about this domain (None: nothing)."""
        return None

    def card_limitations(self) -> list[str]:
        """Bullets for the card's limitations section about this domain's data."""
        return []


__all__ = [
    "ANSWER_REASONS",
    "DEFAULT_SYSTEM_PROMPT",
    "TOOLS_SYSTEM_PROMPT",
    "Domain",
    "Judgement",
    "Opening",
    "ToolEnv",
    "as_metadata",
    "metadata_family",
    "offered_names",
]
