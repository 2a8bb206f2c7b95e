"""The `openai` teacher: any OpenAI-compatible chat endpoint, async, bounded, with our own retries.

Works with the OpenAI API, `vllm serve`, SGLang, llama.cpp's server and anything else speaking
`/v1/chat/completions`. One request per assistant turn; an `asyncio.Semaphore` bounds the
requests in flight to `GenerationConfig.concurrency` (the loop keeps twice as many conversations
live, so a slot freed by a reply is taken at once). Requests go through the `openai.AsyncOpenAI`
client's low-level `post` (its auth, base URL, timeouts and error types; the JSON body built here
and a dict back), not the typed `chat.completions.create`, whose per-request argument transform
and response models cost 2.5x the CPU. Connections are spread over one client per
`CONNECTIONS_PER_CLIENT` slots: httpx scans its whole pool on every request.

Retries are ours alone (the client's `max_retries` is 0, so they are counted and logged in one
place): 408/409/429 and 5xx statuses, timeouts and dropped connections are retried up to
`max_retries` times with exponential backoff and jitter; a `Retry-After` (or `retry-after-ms`)
header sets the wait. Other statuses (400, 401, 404, ...) fail at once. A request that still fails
becomes an `error` row with the last error (naming the URL), so no problem is lost. `stats()`
counts failed requests and the current streak of them (`failure_streak`, reset by any usable
reply): `mentor_data.generate` stops a run whose requests keep failing. It also counts the
models the server says answered (`served_models`: an alias may resolve to another model).

A server that ignores `tools=` (a chat template without tool support, vLLM without
`--enable-auto-tool-choice`) answers without calls: when none of the first
`TOOL_CHECK_REPLIES` replies to requests with tools has a call, a warning is logged and kept
in `stats()["warnings"]`.

Tool formats:

- `native` sends the tool schemas as `tools=` and reads `tool_calls` (the server needs a tool
  parser, e.g. `vllm serve --enable-auto-tool-choice --tool-call-parser hermes`);
- `text` writes the schemas into the system prompt (`tools_prompt`), sends earlier calls as
  `<tool_call>` text and observations as `<tool_response>` user turns, and parses the reply with
  `mentor_data.formats`; for servers without a tool parser.

Either way the stored conversation is the same structured form. Arguments the server sends
that are not JSON are kept as `{"__raw__": text}` (a malformed call: recorded, answered with an
error observation, never a crash).
"""

from __future__ import annotations

import asyncio
import collections
import email.utils
import json
import logging
import os
import random
import time
from collections.abc import Sequence
from typing import Any

from mentor_data.formats import RAW_ARGUMENTS_KEY, assistant_message_to_text, render_tool_response
from mentor_data.teachers.base import (
    GenerationConfig,
    Teacher,
    TurnResult,
    reply_message,
    tools_prompt,
)
from mentor_data.teachers.rollout import Conversation

logger = logging.getLogger(__name__)

DUMMY_API_KEY = "EMPTY"
MAX_RETRY_AFTER_S = 300.0
RETRY_STATUSES = frozenset({408, 409, 429})
CONNECTIONS_PER_CLIENT = 16
TOOL_CHECK_REPLIES = 8  # replies to requests with `tools=` checked for at least one call


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds a response asks us to wait: `retry-after-ms`, `retry-after` (seconds or a date).

    Example:
        >>> retry_after_seconds({"retry-after": "2"}), retry_after_seconds({"retry-after-ms": "50"})
        (2.0, 0.05)
    """
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return None


def backoff_delay(attempt: int, config: GenerationConfig, rng: random.Random) -> float:
    """Exponential backoff with jitter: a random delay in [d/2, d], d = base * 2**attempt."""
    delay = min(config.backoff_max_s, config.backoff_base_s * 2**attempt)
    return delay * (0.5 + 0.5 * rng.random())


def to_wire(messages: list[dict], tools: list[dict], config: GenerationConfig) -> list[dict]:
    """Stored messages as an OpenAI chat request (`native` or `text` tool format)."""
    text = config.tool_format == "text"
    out: list[dict] = []
    responses: list[str] = []  # observations waiting to become one user turn (text form)

    def flush() -> None:
        if responses:
            out.append({"role": "user", "content": "\n".join(responses)})
            responses.clear()

    if text and tools and not (messages and messages[0].get("role") == "system"):
        out.append({"role": "system", "content": tools_prompt(None, tools)})
    call_ids: set[str] = set()  # ids of the last assistant message's tool_calls entries
    for m in messages:
        role = m.get("role")
        # An observation of a call that is not a `tool_calls` entry (a malformed `<tool_call>`
        # block in the text) cannot be a `tool` message: the API rejects unknown ids.
        if role == "tool" and (text or m.get("tool_call_id") not in call_ids):
            responses.append(render_tool_response(m.get("content") or ""))
            continue
        flush()
        if role == "system":
            content = m.get("content") or ""
            out.append(
                {
                    "role": "system",
                    "content": tools_prompt(content, tools) if text and tools else content,
                }
            )
        elif role == "assistant" and text:
            out.append({"role": "assistant", "content": assistant_message_to_text(m)})
        elif role == "assistant":
            wire: dict[str, Any] = {"role": "assistant", "content": m.get("content") or ""}
            calls = [_wire_call(c) for c in m.get("tool_calls") or []]
            call_ids = {c["id"] for c in calls}
            if calls:
                wire["tool_calls"] = calls
            out.append(wire)
        elif role == "tool":
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": m["tool_call_id"],
                    "content": m.get("content") or "",
                }
            )
        else:
            out.append({"role": role, "content": m.get("content") or ""})
    flush()
    return out


def _wire_call(call: dict) -> dict:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, dict) and set(arguments) == {RAW_ARGUMENTS_KEY}:
        wire_args = arguments[RAW_ARGUMENTS_KEY]  # send back exactly what the model wrote
    else:
        wire_args = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {
        "id": call.get("id"),
        "type": "function",
        "function": {"name": function.get("name") or "", "arguments": wire_args},
    }


class OpenAITeacher(Teacher):
    """A teacher behind an OpenAI-compatible chat completions endpoint.

    Args:
        model (`str`): The model name the server expects.
        base_url (`str`, *optional*): Endpoint root, e.g. `http://localhost:8000/v1`; default:
            the OpenAI API (or `$OPENAI_BASE_URL`).
        api_key (`str`, *optional*): The key; default: the `api_key_env` environment variable,
            or a dummy key when `base_url` is set (local servers accept any key).
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`): Variable holding the key.
        extra_body (`dict`, *optional*): Extra request fields (e.g. vLLM's `top_k`).
    """

    backend = "openai"
    default_batch_size = 1

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        extra_body: dict | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url
        self.api_key = (
            api_key or os.environ.get(api_key_env) or (DUMMY_API_KEY if base_url else None)
        )
        if self.api_key is None:
            raise ValueError(
                f"no API key: set ${api_key_env} (or name another variable with --api-key-env); "
                "a local server given with --base-url needs none"
            )
        self.extra_body = extra_body
        self.retry_counts: collections.Counter = collections.Counter()
        self.requests = 0
        self.failed = 0  # requests that failed after their retries (error rows)
        self.replies = 0  # usable replies
        self.failure_streak = 0  # failed requests since the last usable reply
        self.last_error: str | None = None
        self.served_models: collections.Counter = collections.Counter()
        self.warnings: list[str] = []
        self._tool_replies = 0  # replies to requests that offered tools= (native format)
        self._tool_call_seen = False
        self._client = None
        self._semaphore: asyncio.Semaphore | None = None
        self._rng = random.Random()

    def system_prompt(self, config: GenerationConfig, tools: list[dict]) -> str | None:
        if config.tool_format == "text" and tools:
            return tools_prompt(config.prompt, tools)
        return config.prompt

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "retries": sum(self.retry_counts.values()),
            "retries_by_reason": dict(self.retry_counts),
            "replies": self.replies,
            "failed": self.failed,
            "failure_streak": self.failure_streak,
            "last_error": self.last_error,
            "served_models": dict(self.served_models),
            "warnings": list(self.warnings),
        }

    @property
    def url(self) -> str:
        """The chat completions URL requests go to (named in errors)."""
        if self._client is not None:
            base = str(self._client.base_url)
        else:
            base = self.base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        return base.rstrip("/") + "/chat/completions"

    def _check_tools(self, final: bool = False) -> None:
        """Warn once when replies to requests with `tools=` never contain a call."""
        if self._tool_call_seen or self.warnings or not self._tool_replies:
            return
        if self._tool_replies < TOOL_CHECK_REPLIES and not final:
            return
        message = (
            f"none of the first {self._tool_replies} replies from {self.url} called a tool "
            "although tools= was offered: the server may ignore tools (a chat template without "
            "tool support, or vLLM without --enable-auto-tool-choice --tool-call-parser ...); "
            "fix the server or use --tool-format text"
        )
        self.warnings.append(message)
        logger.warning(message)

    async def start(self, config: GenerationConfig) -> None:
        import openai

        def http_client() -> Any:
            # A plain-HTTP endpoint (a local server) never does TLS: skip loading the CA
            # bundle, ~20 ms per client.
            if self.base_url and self.base_url.startswith("http://"):
                return openai.DefaultAsyncHttpxClient(verify=False)
            return None

        # max_retries=0: our loop retries (and counts); the client's would hide failures.
        n = -(-config.concurrency // CONNECTIONS_PER_CLIENT)
        self._clients = [
            openai.AsyncOpenAI(
                api_key=self.api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=config.request_timeout_s,
                http_client=http_client(),
            )
            for _ in range(n)
        ]
        self._client = self._clients[0]
        self._semaphore = asyncio.Semaphore(config.concurrency)

    async def close(self) -> None:
        self._check_tools(final=True)
        if self._client is not None:
            for client in self._clients:
                await client.close()
            self._client = None

    async def complete(
        self, conversations: Sequence[Conversation], config: GenerationConfig
    ) -> list[TurnResult]:
        if self._client is None:
            await self.start(config)
        return list(await asyncio.gather(*(self._turn(c, config) for c in conversations)))

    async def _turn(self, conv: Conversation, config: GenerationConfig) -> TurnResult:
        result = await self._request(conv, config)
        if result.error is not None or result.message is None:
            self.failed += 1
            self.failure_streak += 1
            self.last_error = result.error
            return result
        self.replies += 1
        self.failure_streak = 0
        if result.served_model:
            self.served_models[result.served_model] += 1
        if config.tool_format == "native" and conv.tools:
            self._tool_replies += 1
            self._tool_call_seen = self._tool_call_seen or bool(result.message.get("tool_calls"))
            self._check_tools()
        return result

    async def _request(self, conv: Conversation, config: GenerationConfig) -> TurnResult:
        import openai

        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_wire(conv.messages, conv.tools, config),
            "temperature": config.temperature,
            "top_p": config.top_p,
            "max_tokens": config.max_tokens,
            "seed": conv.seed,
        }
        if config.tool_format == "native" and conv.tools:
            body["tools"] = conv.tools
        body.update(self.extra_body or {})
        body.update(config.extra_body or {})  # what `extra_body=` of the typed call would merge
        options = {"timeout": config.request_timeout_s}
        retries = 0
        while True:
            wait: float | None = None
            try:
                async with self._semaphore:
                    self.requests += 1
                    client = self._clients[conv.seed % len(self._clients)]
                    # The client's documented low-level call: its auth, base URL, timeouts
                    # and error types, the same JSON on the wire, a dict back. The typed
                    # `chat.completions.create` walks every message and tool schema through
                    # its TypedDict transform and builds pydantic models: 1.7 ms of CPU per
                    # request against 0.66 ms here, the ceiling at 64 requests in flight.
                    response = await client.post(
                        "/chat/completions", cast_to=object, body=body, options=options
                    )
                break
            except openai.APIStatusError as exc:
                reason = f"status {exc.status_code}"
                error = f"HTTP {exc.status_code} from POST {self.url}: {_short(exc)}"
                retryable = exc.status_code in RETRY_STATUSES or exc.status_code >= 500
                wait = retry_after_seconds(exc.response.headers)
            except openai.APITimeoutError:
                reason, error, retryable = (
                    "timeout",
                    f"timeout: no reply from POST {self.url} within "
                    f"{config.request_timeout_s:g} s (raise it with --request-timeout)",
                    True,
                )
            except openai.APIConnectionError as exc:
                reason = "connection"
                error = f"connection error to POST {self.url}: {_short(_root_cause(exc))}"
                retryable = True
            except Exception as exc:  # anything else is this request's error, never the run's
                error = f"{type(exc).__name__} from POST {self.url}: {_short(exc)}"
                reason, retryable = "other", False
            if not retryable or retries >= config.max_retries:
                attempts = retries + 1
                return TurnResult.failed(
                    f"{error} (after {attempts} attempt{'s' if attempts > 1 else ''})", retries
                )
            delay = backoff_delay(retries, config, self._rng)
            if wait is not None:
                delay = min(max(wait, 0.0), MAX_RETRY_AFTER_S) + 0.1 * delay
            retries += 1
            self.retry_counts[reason] += 1
            logger.debug("retry %d of %s in %.2fs: %s", retries, conv.problem.id, delay, error)
            await asyncio.sleep(delay)
        return _turn_result(response, conv.turn, retries)


def _turn_result(response: Any, turn: int, retries: int) -> TurnResult:
    choices = response.get("choices") if isinstance(response, dict) else None
    if not choices or not isinstance(choices[0], dict):
        return TurnResult.failed(f"the server returned no choices: {str(response)[:200]}", retries)
    choice = choices[0]
    msg = choice.get("message") or {}
    if not isinstance(msg, dict):
        return TurnResult.failed(f"the server's message is not an object: {msg!s:.200}", retries)
    message = reply_message(msg.get("content"), msg.get("tool_calls"), turn)
    usage = response.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    served = response.get("model")
    return TurnResult(
        message=message,
        finish="length" if choice.get("finish_reason") == "length" else "stop",
        prompt_tokens=_token_count(usage.get("prompt_tokens")),
        completion_tokens=_token_count(usage.get("completion_tokens")),
        retries=retries,
        served_model=served if isinstance(served, str) and served else None,
    )


def _token_count(value: Any) -> int | None:
    """A usage count as an int; a server's malformed count (a string, a float) is unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost cause of a connection error ("Connection refused", not "Connection error.")."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return exc


def _short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."
