"""The teacher interface: a `Teacher` writes one assistant turn for a batch of conversations.

Everything else (opening a conversation, running its tool calls, limits, rows, scheduling) is
the one multi-turn rollout loop of `mentor_data.teachers.rollout`, which every backend and eval
drive the same way. This module holds what a backend implements or reads: `GenerationConfig`,
`TurnResult`, `Teacher` and its two partial bases (`ScriptedTeacher`, `BlockingTeacher`), and
the helpers that turn a model reply into a stored message (`reply_message`, `tools_prompt`).

This module imports no model library: the backends import torch, vLLM or openai lazily, so
`mentor_train` can reuse the loop with any of them as the student.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mentor_data.domains.base import DEFAULT_SYSTEM_PROMPT
from mentor_data.formats import normalize_tool_calls, text_to_assistant_message

if TYPE_CHECKING:
    from mentor_data.teachers.rollout import Conversation

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
        extra_body (`dict` or `None`, *optional*, defaults to `None`):
            Extra fields merged into every request body of the openai backend (e.g.
            `{"tool_choice": "required"}`, vLLM's `top_k`, llama.cpp's `grammar`); must be a JSON
            object. Hashed into the resume key when set.

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
    extra_body: dict | None = None
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
        if self.extra_body is not None:
            if not isinstance(self.extra_body, dict):
                raise ValueError(
                    f"extra_body={self.extra_body!r}: must be a JSON object (a dict), e.g. "
                    '{"tool_choice": "required"}'
                )
            try:
                json.dumps(self.extra_body)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"extra_body: not JSON-serialisable: {exc}") from None

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
        if self.extra_body is None:  # keeps the keys of runs made before the field existed
            del fields["extra_body"]
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
        served_model (`str` or `None`): The model the server says answered (its `model`
            field), when it reports one; may differ from the requested model (an alias).
    """

    message: dict | None
    finish: str = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None
    retries: int = 0
    served_model: str | None = None

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
    "LIVE_PER_SLOT",
    "BlockingTeacher",
    "GenerationConfig",
    "ScriptedTeacher",
    "Teacher",
    "TurnResult",
    "reply_message",
    "sample_seed",
    "tools_prompt",
]
