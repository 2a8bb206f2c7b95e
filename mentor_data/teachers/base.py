"""The teacher interface and the one multi-turn tool loop every backend (and eval) drives.

A `Teacher` produces one assistant turn for a batch of live conversations. `run_conversations`
does everything else, the same way for every backend:

    assistant turn -> parse its tool calls (`mentor_data.formats`) -> execute them against the
    row's offered tools (`mentor_data.tools.execute`) -> tool messages -> next assistant turn

until a turn without tool calls (finish `stop`), a turn cut by the token limit (`length`),
`max_turns` assistant turns (`max_turns`) or a failed request (`error`). Each finished
conversation becomes one trajectory row (`mentor_data.trajectory.make_row`) with the executed
calls recorded exactly as the model saw them.

Scheduling: a backend with `batch_size(config) == 1` (an HTTP API) runs
`LIVE_PER_SLOT * config.concurrency` workers, each driving one conversation at a time, and bounds
the requests in flight to `config.concurrency` itself (a semaphore): while one conversation's
reply is being parsed and its tools run, another is already waiting for the free slot, so the
server always has `concurrency` requests. A batched backend (vLLM, transformers, the solver)
runs one worker whose batch is refilled from the queue after every turn, so a batch stays full
while conversations of different lengths finish (continuous batching at turn granularity).

This module imports no model library: the backends import torch, vLLM or openai lazily, so
`mentor_train` can reuse the loop with any of them as the student.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from mentor_data.bfcl import BFCL_DOMAIN, BFCL_SYSTEM_PROMPT
from mentor_data.formats import normalize_tool_calls, parse_completion, text_to_assistant_message
from mentor_data.problems import Problem
from mentor_data.schema import FINISH_REASONS
from mentor_data.tools import ToolRegistry, execute, get_registry
from mentor_data.trajectory import make_row

logger = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You are a careful assistant that solves math word problems with tools. Use the provided "
    "tools for every calculation, one step at a time, instead of computing in your head; read "
    "each tool result before the next step. When you know the result, give the final answer "
    "inside \\boxed{}, for example \\boxed{42}."
)
"""The system prompt when `GenerationConfig.system_prompt` is None (tool schemas go separately)."""

TOOL_FORMATS = ("native", "text")
# Live conversations per request slot of API backends (see "Scheduling" above).
LIVE_PER_SLOT = 2


@dataclass
class GenerationConfig:
    """How conversations are sampled and run.

    > Parameters that determine the output (hashed into the resume key)

    Args:
        samples_per_problem (`int`, *optional*, defaults to `1`):
            Attempts per problem; rows are keyed (problem_id, sample_id 0..K-1).
        temperature (`float`, *optional*, defaults to `0.7`):
            Sampling temperature (0 = greedy).
        top_p (`float`, *optional*, defaults to `1.0`):
            Nucleus sampling threshold.
        max_tokens (`int`, *optional*, defaults to `1024`):
            Token limit of one assistant turn; a turn that hits it ends the conversation with
            finish reason `length`.
        max_turns (`int`, *optional*, defaults to `6`):
            Limit on assistant turns; a conversation still calling tools after it ends with
            finish reason `max_turns`. The built-in problems need at most 6 (5 calls + answer).
        seed (`int`, *optional*, defaults to `0`):
            Base sampling seed; each (problem, sample) gets its own seed from it (`sample_seed`).
        system_prompt (`str` or `None`, *optional*, defaults to `None`):
            System prompt; None means `DEFAULT_SYSTEM_PROMPT`, "" means no system message.
        tool_format (`str`, *optional*, defaults to `"native"`):
            `native`: tools go to the backend as function schemas (OpenAI `tools=`, the chat
            template's `tools`). `text`: tool schemas are written into the system prompt and calls
            are read from `<tool_call>` tags (servers without a tool parser; openai backend).

    > Runtime parameters (not hashed: changing them resumes the same run)

    Args:
        concurrency (`int`, *optional*, defaults to `16`):
            Requests in flight at once (API backends).
        batch_size (`int` or `None`, *optional*, defaults to `None`):
            Conversations per generation call of batched backends; None = the backend's default.
        request_timeout_s (`float`, *optional*, defaults to `120.0`):
            Timeout of one API request, in seconds.
        max_retries (`int`, *optional*, defaults to `5`):
            Retries of one request on 429, 5xx, timeouts and dropped connections; after them the
            conversation becomes an `error` row.
        backoff_base_s (`float`, *optional*, defaults to `1.0`):
            First retry delay; doubled each retry, with jitter (half to full delay).
        backoff_max_s (`float`, *optional*, defaults to `60.0`):
            Cap of the retry delay (a server's Retry-After is honoured up to 300 s).
    """

    samples_per_problem: int = 1
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1024
    max_turns: int = 6
    seed: int = 0
    system_prompt: str | None = None
    tool_format: str = "native"
    concurrency: int = 16
    batch_size: int | None = None
    request_timeout_s: float = 120.0
    max_retries: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0

    def __post_init__(self) -> None:
        positive = ("samples_per_problem", "max_tokens", "max_turns", "concurrency")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size}: must be >= 1 (or None)")
        if self.temperature < 0:
            raise ValueError(f"temperature={self.temperature}: must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p={self.top_p}: must be in (0, 1]")
        if self.tool_format not in TOOL_FORMATS:
            raise ValueError(f"tool_format={self.tool_format!r}: use one of {TOOL_FORMATS}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries={self.max_retries}: must be >= 0")
        if self.request_timeout_s <= 0:
            raise ValueError(f"request_timeout_s={self.request_timeout_s}: must be > 0")

    @property
    def prompt(self) -> str | None:
        """The system prompt in effect: `system_prompt`, the default, or None for ""."""
        if self.system_prompt is None:
            return DEFAULT_SYSTEM_PROMPT
        return self.system_prompt or None

    def output_fields(self) -> dict[str, Any]:
        """The fields that determine the output (for the resume key and the manifest)."""
        runtime = {
            "concurrency",
            "batch_size",
            "request_timeout_s",
            "max_retries",
            "backoff_base_s",
            "backoff_max_s",
        }
        fields = {k: v for k, v in asdict(self).items() if k not in runtime}
        fields["system_prompt"] = self.prompt
        return fields


def sample_seed(base_seed: int, problem_id: str, sample_id: int) -> int:
    """The seed of one sample: stable, different for every (problem, sample), below 2**31.

    Example:
        >>> sample_seed(0, "shopping-s0-1", 0) == sample_seed(0, "shopping-s0-1", 0)
        True
    """
    digest = hashlib.sha256(f"{base_seed}/{problem_id}/{sample_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


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
        registry (`ToolRegistry` or `None`): The tools that run (default: from `tools`).
        env (`object` or `None`): A live environment whose `run(name, arguments)` returns a
            `ToolResult`: calls run there instead of the registry (BFCL multi-turn rows).
        pending_turns (`list[list[dict]]`): Later user turns: when the assistant answers
            without calls, the next is appended instead of ending the conversation.
        record_only (`bool`): Calls are recorded, not executed, and end the conversation (BFCL
            AST rows: the calls themselves are judged).
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
    registry: ToolRegistry | None = None
    finish_reason: str | None = None
    error: str | None = None
    env: Any = None
    pending_turns: list[list[dict]] = field(default_factory=list)
    record_only: bool = False
    turn_started: int = 0


@dataclass
class TurnResult:
    """One assistant turn from a teacher.

    Args:
        message (`dict` or `None`): The assistant message in stored form (tool-call arguments as
            objects; unparseable ones as `{"__raw__": text}`); None when `error` is set.
        finish (`str`): `stop` (the model ended its turn: with or without tool calls),
            `length` (cut by `max_tokens`) or `error`.
        prompt_tokens (`int` or `None`): Prompt tokens of the request, when known.
        completion_tokens (`int` or `None`): Generated tokens, when known.
        error (`str` or `None`): Why the request failed (after retries).
        retries (`int`): Retries this turn needed.
    """

    message: dict | None
    finish: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    retries: int = 0

    @classmethod
    def failed(cls, error: str, retries: int = 0) -> TurnResult:
        return cls(message=None, finish="error", error=error, retries=retries)


class Teacher(ABC):
    """A backend that writes assistant turns. Subclasses set `backend` and `model`.

    `complete` gets the live conversations of one step and returns one `TurnResult` each, in
    order; a problem with one conversation is reported in its own `TurnResult.error`, while an
    exception fails the whole batch (each conversation becomes an error row). A backend with
    `batch_size == 1` is called by `LIVE_PER_SLOT * concurrency` workers at once and must keep
    its own requests in flight to `config.concurrency`.
    """

    backend: str = ""
    model: str | None = None
    default_batch_size: int = 1

    def batch_size(self, config: GenerationConfig) -> int:
        """Conversations per `complete` call; 1 means one request per conversation."""
        return config.batch_size or self.default_batch_size

    def system_prompt(self, config: GenerationConfig, tools: list[dict]) -> str | None:
        """The instructions the model actually reads (hashed into `teacher.prompt_hash`)."""
        return config.prompt

    def sampling(self, config: GenerationConfig, seed: int) -> dict[str, Any]:
        """The `teacher.sampling` column of a row."""
        return {
            "temperature": config.temperature,
            "top_p": config.top_p,
            "max_tokens": config.max_tokens,
            "max_turns": config.max_turns,
            "seed": seed,
        }

    def stats(self) -> dict[str, Any]:
        """Backend counters for the run summary (e.g. retries by reason)."""
        return {}

    async def start(self, config: GenerationConfig) -> None:  # noqa: B027 (optional hook)
        """Load a model or open a client (inside the event loop); default: nothing."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Release what `start` opened; default: nothing."""

    @abstractmethod
    async def complete(
        self, conversations: Sequence[Conversation], config: GenerationConfig
    ) -> list[TurnResult]:
        """One assistant turn for each conversation, in order."""


class ScriptedTeacher(Teacher):
    """A model-free teacher that writes each turn from the problem itself (`solver`, `oracle`).

    Subclasses set `backend` and implement `turn(conv)`. Only the turn limit and the seed reach
    the `teacher.sampling` column: there is no model to sample.

    Args:
        delay_s (`float`, *optional*, defaults to `0.0`): Seconds to wait per turn batch, to
            stand in for a slow model in tests of interruption and resume.
    """

    model = None
    default_batch_size = 256

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    def sampling(self, config: GenerationConfig, seed: int) -> dict[str, Any]:
        return {
            "temperature": None,
            "top_p": None,
            "max_tokens": None,
            "max_turns": config.max_turns,
            "seed": seed,
        }

    async def complete(
        self, conversations: Sequence[Conversation], config: GenerationConfig
    ) -> list[TurnResult]:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return [self.turn(conv) for conv in conversations]

    @abstractmethod
    def turn(self, conv: Conversation) -> TurnResult:
        """The next assistant message of one conversation."""


class BlockingTeacher(Teacher):
    """A teacher whose batch call blocks (a local model, an offline engine).

    `complete` starts the backend, then runs `_generate` in a worker thread so the event loop
    (and with it progress and flushing) keeps going while the batch runs.
    """

    async def complete(
        self, conversations: Sequence[Conversation], config: GenerationConfig
    ) -> list[TurnResult]:
        await self.start(config)
        return await asyncio.to_thread(self._generate, list(conversations), config)

    @abstractmethod
    def _generate(
        self, conversations: list[Conversation], config: GenerationConfig
    ) -> list[TurnResult]:
        """One assistant turn for each conversation, in order (blocking)."""


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
_REGISTRIES: dict[tuple[str, ...], ToolRegistry] = {}


def registry_for(tools: Iterable[dict]) -> ToolRegistry:
    """The executable registry of a row's offered tools: the offered names we can run.

    An offered tool without an implementation is left out, so calling it is an `unknown_tool`
    error observation rather than a crash.
    """
    names = tuple(t.get("function", {}).get("name") for t in tools if isinstance(t, dict))
    if names not in _REGISTRIES:
        available = get_registry("arithmetic+python")  # every tool we can execute locally
        _REGISTRIES[names] = available.subset([n for n in names if n in available])
    return _REGISTRIES[names]


def execute_turn(
    message: dict, turn: int, registry: ToolRegistry | None, env: Any = None
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
        registry: The tools that may run.
        env: A live environment (`run(name, arguments) -> ToolResult`) that runs the calls
            instead of the registry (BFCL multi-turn rows).

    Returns:
        (call records for the `tool_calls` column, tool messages to append), both possibly empty.
    """
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
            if env is not None:
                result = env.run(call.name, call.arguments)
            else:
                result = execute(call.name, call.arguments, registry)
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
    if conv.record_only:  # the calls are the answer (BFCL AST rows): record them, end
        conv.records.extend(record_calls(result.message, turn))
        conv.finish_reason = "stop"
        return True
    registry = None if conv.env is not None else conv.registry or registry_for(conv.tools)
    records, tool_messages = execute_turn(result.message, turn, registry, conv.env)
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

    `config.prompt`, except that a BFCL row gets `BFCL_SYSTEM_PROMPT` when no prompt was set
    (the default prompt asks for `\\boxed{}` answers, which BFCL does not judge).
    """
    if config.system_prompt is None and problem.domain == BFCL_DOMAIN:
        return BFCL_SYSTEM_PROMPT
    return config.prompt


def new_conversation(problem: Problem, sample_id: int, config: GenerationConfig) -> Conversation:
    """The opening messages of a sample: the system prompt (unless "") and the question.

    A BFCL row opens with its own first user turn (and system message) and gets its later
    turns, its live environment or record-only mode (`mentor_data.bfcl.conversation`).
    """
    prompt = conversation_prompt(problem, config)
    tools = problem.offered_tools()
    conv = Conversation(
        problem=problem,
        sample_id=sample_id,
        seed=sample_seed(config.seed, problem.id, sample_id),
        messages=[],
        tools=tools,
    )
    if problem.domain == BFCL_DOMAIN:
        from mentor_data.bfcl.conversation import open_conversation

        opening = open_conversation(problem, prompt)
        conv.messages = opening.messages
        conv.pending_turns = opening.pending_turns
        conv.env = opening.env
        conv.record_only = opening.record_only
        return conv
    if prompt is not None:
        conv.messages.append({"role": "system", "content": prompt})
    conv.messages.append({"role": "user", "content": problem.question})
    conv.registry = registry_for(tools)
    return conv


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

    def emit(conv: Conversation) -> None:
        row = conversation_row(conv, teacher, config)
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


def reply_message(content: str | None, api_tool_calls: Any = None, turn: int = 0) -> dict:
    """The stored assistant message of a model reply: `<tool_call>` text and API calls merged.

    Calls written as text (`mentor_data.formats.text_to_assistant_message`) become structured
    calls with ids `call_TURN_I`, unique in the conversation; malformed blocks stay in the
    content, where the parser reports them. API `tool_calls` (OpenAI form, string arguments)
    follow, normalised to the stored form.

    Example:
        >>> reply_message('Adding.\\n<tool_call>\\n{"name": "add", "arguments": {"a": 1}}'
        ...               '\\n</tool_call>', turn=2)["tool_calls"][0]["id"]
        'call_2_0'
    """
    message = text_to_assistant_message(content or "")
    calls = message.pop("tool_calls", [])
    for i, call in enumerate(calls):
        call["id"] = f"call_{turn}_{i}"
    calls.extend(normalize_tool_calls(api_tool_calls) if api_tool_calls else [])
    if calls:
        message["tool_calls"] = calls
    return message


def tools_prompt(system_prompt: str | None, tools: list[dict]) -> str:
    """A system prompt that lists the tool schemas and the `<tool_call>` format (text mode).

    The wording follows the Qwen2.5 chat template, which small open models are trained on.
    """
    lines = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
    head = f"{system_prompt}\n\n" if system_prompt else ""
    return (
        f"{head}# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n"
        f"<tools>\n{lines}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )


__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "Conversation",
    "GenerationConfig",
    "RunSummary",
    "ScriptedTeacher",
    "Teacher",
    "TurnResult",
    "advance",
    "conversation_prompt",
    "execute_turn",
    "new_conversation",
    "record_calls",
    "registry_for",
    "reply_message",
    "run_conversations",
    "run_conversations_async",
    "sample_seed",
    "tools_prompt",
    "with_prompt",
]
