"""The one multi-turn rollout loop every teacher backend (and eval) drives.

`run_conversations(teacher, problems, config)` runs every (problem, sample) to its end:

    the domain opens the conversation (`Domain.open_conversation`: system prompt, user turn,
    tool environment) -> assistant turn (`Teacher.complete`) -> parse its tool calls
    (`mentor_data.formats`) -> run them in the conversation's environment (`ToolEnv.run`, the
    bounded executor) -> tool messages -> next assistant turn

until a turn without tool calls (finish `stop`; a domain with several user turns appends the
next one instead), a turn cut by the token limit (`length`), `max_turns` assistant turns
(`max_turns`) or a failed request (`error`). A conversation without an environment records its
calls without running them and ends there (rows whose calls are judged, e.g. BFCL AST rows).
Each finished conversation becomes one trajectory row (`mentor_data.trajectory.make_row`) with
the executed calls recorded exactly as the model saw them.

Scheduling: a backend with `batch_size(config) == 1` (an HTTP API) runs
`LIVE_PER_SLOT * config.concurrency` workers, each driving one conversation at a time, and bounds
the requests in flight to `config.concurrency` itself (a semaphore): while one conversation's
reply is being parsed and its tools run, another is already waiting for the free slot, so the
server always has `concurrency` requests. A batched backend (vLLM, transformers, the solver)
runs one worker whose batch is refilled from the queue after every turn, so a batch stays full
while conversations of different lengths finish (continuous batching at turn granularity).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mentor_data.domains import ToolEnv, executable_tools, get_domain
from mentor_data.formats import parse_completion
from mentor_data.problems import Problem
from mentor_data.schema import FINISH_REASONS
from mentor_data.teachers.base import (
    LIVE_PER_SLOT,
    GenerationConfig,
    Teacher,
    TurnResult,
    sample_seed,
)
from mentor_data.tools import ToolRegistry
from mentor_data.trajectory import make_row

logger = logging.getLogger(__name__)


@dataclass
class Conversation:
    """One live conversation: a problem, a sample, the messages so far (stored form).

    Args:
        problem (`Problem`): The problem.
        sample_id (`int`): Index of the sample.
        seed (`int`): The sample's seed (`sample_seed`).
        messages (`list[dict]`): System (optional), user, then assistant/tool messages in the
            stored form: tool-call arguments are objects, tool messages carry `tool_call_id`.
        tools (`list[dict]`): Tool schemas offered (OpenAI form).
        turn (`int`): Assistant turns so far.
        records (`list[dict]`): Executed calls (the `tool_calls` column).
        prompt_tokens, completion_tokens (`int` or `None`): Usage summed over turns.
        retries (`int`): Request retries so far.
        started (`float`): `time.perf_counter()` at the start (for `latency_s`).
        finish_reason, error (`str` or `None`): Set when the conversation ends.
        env (`ToolEnv` or `None`): Where the calls run (`run(name, arguments) -> ToolResult`);
            None: the calls are recorded, not executed, and end the conversation (BFCL AST
            rows: the calls themselves are judged).
        pending_turns (`list[list[dict]]`): Later user turns: when the assistant answers
            without calls, the next is appended instead of ending the conversation.
        turn_started (`int`): `turn` when the current user turn began (`max_turns` counts the
            assistant turns of one user turn).
    """

    problem: Problem
    sample_id: int
    seed: int
    messages: list[dict]
    tools: list[dict]
    turn: int = 0
    records: list[dict] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    retries: int = 0
    started: float = field(default_factory=time.perf_counter)
    finish_reason: str | None = None
    error: str | None = None
    env: ToolEnv | None = None
    pending_turns: list[list[dict]] = field(default_factory=list)
    turn_started: int = 0


@dataclass(repr=False)
class RunSummary:
    """What `run_conversations` did.

    Args:
        rows (`list[dict]`): The rows, when no `on_row` callback took them.
        n_rows (`int`): Rows produced (skipped keys not included).
        skipped (`int`): (problem, sample) keys skipped because they were already written.
        finish_reasons (`Counter`): Rows by finish reason.
        prompt_tokens (`int`), completion_tokens (`int`): Token totals (where reported).
        retries (`int`): Request retries.
        elapsed_s (`float`): Wall-clock seconds.
        teacher_stats (`dict`): The backend's own counters.
    """

    rows: list[dict] = field(default_factory=list)
    n_rows: int = 0
    skipped: int = 0
    finish_reasons: collections.Counter = field(default_factory=collections.Counter)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    elapsed_s: float = 0.0
    teacher_stats: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        # Short on purpose: asyncio.run reprs its finished task (and so this result) when it
        # restores the SIGINT handler, and a repr of 10,000 rows costs seconds.
        return (
            f"RunSummary(n_rows={self.n_rows}, skipped={self.skipped}, "
            f"finish_reasons={dict(self.finish_reasons)}, retries={self.retries}, "
            f"elapsed_s={self.elapsed_s:.2f})"
        )

    def add(self, row: dict) -> None:
        self.n_rows += 1
        self.finish_reasons[row["finish_reason"]] += 1
        self.prompt_tokens += row["usage"]["prompt_tokens"] or 0
        self.completion_tokens += row["usage"]["completion_tokens"] or 0


# -- executing a turn --------------------------------------------------------------------------
def registry_for(tools: Iterable[dict]) -> ToolRegistry:
    """The executable registry of offered tools under the default domain (`executable_tools`).

    An offered tool without an implementation is left out, so calling it is an `unknown_tool`
    error observation rather than a crash.
    """
    return executable_tools(get_domain(None).tools(), list(tools))


def execute_turn(
    message: dict, turn: int, env: ToolEnv | ToolRegistry
) -> tuple[list[dict], list[dict]]:
    """Run the tool calls of one assistant message.

    Calls are found by `mentor_data.formats.parse_completion` (`<tool_call>` blocks left in the
    content, then `tool_calls` entries), in its order, which is the order of the `tool_calls`
    column. Well-formed calls run through `mentor_data.tools.execute`; a malformed call is not
    run and gets an error observation, so the model learns its call did not parse. Tool messages
    of well-formed calls come first, in call order, then those of malformed calls, so reading
    the conversation back (`trajectory.tool_calls_from_messages`, which pairs an observation
    without a known id with the next waiting call) gives the same outputs.

    Args:
        message: The assistant message (stored form).
        turn: Its assistant-turn index (0-based), recorded on each call.
        env: Where the calls run: a `ToolEnv` (a domain's environment) or a `ToolRegistry`.

    Returns:
        (call records for the `tool_calls` column, tool messages to append), both possibly empty.
    """
    if isinstance(env, ToolRegistry):
        env = ToolEnv(env)
    records: list[dict] = []
    good: list[dict] = []
    bad: list[dict] = []
    for i, call in enumerate(parse_completion([message]).calls):
        # Ids as `trajectory.tool_calls_from_messages` gives them: a block in the text has none.
        call_id = call.id or f"call_{turn}_{i}"
        record = {
            "turn": turn,
            "id": call_id,
            "name": call.name,
            "arguments": call.arguments,
            "output": None,
            "error": None,
        }
        if call.ok:
            result = env.run(call.name, call.arguments)
            if result.ok:
                record["output"] = result.output
            else:
                record["error"] = f"{result.code}: {result.error}"
            good.append(_tool_message(call_id, call.name, result.observation()))
        else:
            record["error"] = call.error
            bad.append(_tool_message(call_id, call.name, f"Error: {call.error}"))
        records.append(record)
    return records, good + bad


def record_calls(message: dict, turn: int) -> list[dict]:
    """The call records of one assistant message without running them (`output` None).

    For rows whose calls are judged rather than executed (BFCL AST rows); a malformed call
    keeps its parse error.
    """
    return [
        {
            "turn": turn,
            "id": call.id or f"call_{turn}_{i}",
            "name": call.name,
            "arguments": call.arguments,
            "output": None,
            "error": call.error,
        }
        for i, call in enumerate(parse_completion([message]).calls)
    ]


def _tool_message(call_id: str, name: str | None, content: str) -> dict:
    message: dict[str, Any] = {"role": "tool", "tool_call_id": call_id}
    if name:
        message["name"] = name
    message["content"] = content
    return message


def advance(conv: Conversation, result: TurnResult, config: GenerationConfig) -> bool:
    """Apply one turn to a conversation (run its tool calls); True when it is finished."""
    conv.retries += result.retries
    for name in ("prompt_tokens", "completion_tokens"):
        value = getattr(result, name)
        if value is not None:
            setattr(conv, name, (getattr(conv, name) or 0) + value)
    if result.error is not None or result.message is None:
        conv.finish_reason, conv.error = "error", result.error or "the backend returned no message"
        return True
    conv.messages.append(result.message)
    turn = conv.turn
    conv.turn += 1
    if result.finish == "length":
        conv.finish_reason = "length"
        return True
    if conv.env is None:  # the calls are the answer (BFCL AST rows): record them, end
        conv.records.extend(record_calls(result.message, turn))
        conv.finish_reason = "stop"
        return True
    records, tool_messages = execute_turn(result.message, turn, conv.env)
    if not records:
        if conv.pending_turns:  # the assistant closed a user turn: the next one comes
            conv.messages.extend(conv.pending_turns.pop(0))
            conv.turn_started = conv.turn
            return False
        conv.finish_reason = "stop"
        return True
    conv.records.extend(records)
    conv.messages.extend(tool_messages)
    if conv.turn - conv.turn_started >= config.max_turns:
        conv.finish_reason = "max_turns"
        return True
    return False


def conversation_prompt(problem: Problem, config: GenerationConfig) -> str | None:
    """The system prompt a problem's conversation opens with.

    `config.prompt` when the user set one, else the problem's domain's own `system_prompt`
    (the arithmetic prompt asks for `\\boxed{}` answers, which BFCL, say, does not judge).
    """
    if config.system_prompt is None:
        return get_domain(problem.domain).system_prompt
    return config.prompt


def new_conversation(problem: Problem, sample_id: int, config: GenerationConfig) -> Conversation:
    """The opening of a sample, as the problem's domain writes it (`Domain.open_conversation`):
    the system prompt (unless ""), the first user turn, later user turns and the environment."""
    opening = get_domain(problem.domain).open_conversation(
        problem, conversation_prompt(problem, config)
    )
    return Conversation(
        problem=problem,
        sample_id=sample_id,
        seed=sample_seed(config.seed, problem.id, sample_id),
        messages=opening.messages,
        tools=problem.offered_tools(),
        env=opening.env,
        pending_turns=opening.pending_turns,
    )


def conversation_row(conv: Conversation, teacher: Teacher, config: GenerationConfig) -> dict:
    """The trajectory row of a finished conversation."""
    p = conv.problem
    metadata = dict(p.metadata) if isinstance(p.metadata, dict) else {}
    if conv.retries:
        metadata["retries"] = conv.retries
    reason = conv.finish_reason if conv.finish_reason in FINISH_REASONS else "error"
    return make_row(
        problem_id=p.id,
        sample_id=conv.sample_id,
        question=p.question,
        answer=p.answer,
        messages=conv.messages,
        tools=conv.tools,
        domain=p.domain,
        source=p.source,
        backend=teacher.backend,
        model=teacher.model,
        sampling=teacher.sampling(config, conv.seed),
        system_prompt=teacher.system_prompt(
            with_prompt(config, conversation_prompt(p, config)), conv.tools
        )
        or "",
        finish_reason=reason,
        error=conv.error,
        usage={"prompt_tokens": conv.prompt_tokens, "completion_tokens": conv.completion_tokens},
        latency_s=round(time.perf_counter() - conv.started, 6),
        metadata=metadata,
        tool_calls=conv.records,
    )


def with_prompt(config: GenerationConfig, prompt: str | None) -> GenerationConfig:
    """`config` with another system prompt in effect (a domain default, `conversation_prompt`):
    what `Teacher.system_prompt` reads, so `teacher.prompt_hash` hashes the prompt really used."""
    if prompt == config.prompt:
        return config
    return dataclasses.replace(config, system_prompt=prompt or "")


# -- the loop ----------------------------------------------------------------------------------
async def run_conversations_async(
    teacher: Teacher,
    problems: Sequence[Problem],
    config: GenerationConfig,
    *,
    skip_keys: Iterable[tuple[str, int]] = (),
    on_row: Callable[[dict], None] | None = None,
) -> RunSummary:
    """`run_conversations` inside a running event loop (see there)."""
    skip = set(skip_keys)
    todo = collections.deque(
        (p, s) for p in problems for s in range(config.samples_per_problem) if (p.id, s) not in skip
    )
    summary = RunSummary(skipped=len(problems) * config.samples_per_problem - len(todo))
    started = time.perf_counter()
    if not todo:
        return summary
    batch = max(1, teacher.batch_size(config))
    n_workers = min(LIVE_PER_SLOT * config.concurrency if batch == 1 else 1, len(todo))
    logger.info(
        "%s teacher: %d conversations (%d skipped), %d worker(s), batch %d",
        teacher.backend,
        len(todo),
        summary.skipped,
        n_workers,
        batch,
    )

    # The model the server says answered each live conversation (last reply), for the row's
    # `metadata.served_model`: an alias may resolve to another model than `teacher.model`.
    served: dict[int, str] = {}

    def emit(conv: Conversation) -> None:
        row = conversation_row(conv, teacher, config)
        if (model := served.pop(id(conv), None)) is not None:
            row["metadata"] = {**(row["metadata"] or {}), "served_model": model}
        summary.add(row)
        if on_row is None:
            summary.rows.append(row)
        else:
            on_row(row)

    async def worker() -> None:
        live: list[Conversation] = []
        while todo or live:
            while len(live) < batch and todo:
                live.append(new_conversation(*todo.popleft(), config))
            try:
                results = await teacher.complete(live, config)
                if len(results) != len(live):
                    raise RuntimeError(
                        f"{teacher.backend} returned {len(results)} turns for "
                        f"{len(live)} conversations"
                    )
            except Exception as exc:  # a failed batch becomes error rows, never a lost problem
                logger.warning(
                    "%s teacher failed on a batch of %d: %s",
                    teacher.backend,
                    len(live),
                    exc,
                    exc_info=logger.isEnabledFor(logging.DEBUG),
                )
                results = [TurnResult.failed(f"{type(exc).__name__}: {exc}") for _ in live]
            still: list[Conversation] = []
            for conv, result in zip(live, results, strict=True):
                if result.served_model:
                    served[id(conv)] = result.served_model
                if advance(conv, result, config):
                    emit(conv)
                else:
                    still.append(conv)
            live = still

    await teacher.start(config)
    try:
        tasks = [asyncio.ensure_future(worker()) for _ in range(n_workers)]
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                raise task.exception()
    finally:
        await teacher.close()
        summary.elapsed_s = time.perf_counter() - started
        summary.teacher_stats = teacher.stats()
        summary.retries = int(summary.teacher_stats.get("retries", 0))
    return summary


def run_conversations(
    teacher: Teacher,
    problems: Sequence[Problem],
    config: GenerationConfig,
    *,
    skip_keys: Iterable[tuple[str, int]] = (),
    on_row: Callable[[dict], None] | None = None,
) -> RunSummary:
    """Run every (problem, sample) conversation to its end with a teacher: the one tool loop.

    Args:
        teacher: The backend writing assistant turns.
        problems: The problems; each is sampled `config.samples_per_problem` times.
        config: Sampling, limits and concurrency.
        skip_keys: (problem_id, sample_id) keys already done (resume); they are not run.
        on_row: Called with each finished row as soon as it is finished (rows are then not
            kept in the summary); rows arrive in completion order, not problem order.

    Returns:
        A `RunSummary` (with `rows` when `on_row` is None).

    Example:
        >>> from mentor_data.problems import load_problems
        >>> from mentor_data.teachers.solver import SolverTeacher
        >>> s = run_conversations(SolverTeacher(), load_problems("builtin:shopping?n=2"),
        ...                       GenerationConfig())
        >>> sorted(s.finish_reasons.items())
        [('stop', 2)]
    """
    return asyncio.run(
        run_conversations_async(teacher, problems, config, skip_keys=skip_keys, on_row=on_row)
    )


__all__ = [
    "Conversation",
    "RunSummary",
    "advance",
    "conversation_prompt",
    "conversation_row",
    "execute_turn",
    "new_conversation",
    "record_calls",
    "registry_for",
    "run_conversations",
    "run_conversations_async",
    "with_prompt",
]
