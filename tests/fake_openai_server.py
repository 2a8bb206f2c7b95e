"""A local OpenAI-compatible chat server for tests and benchmarks, with injected faults.

It answers `POST /v1/chat/completions` over real HTTP (a small asyncio HTTP/1.1 server with
keep-alive) by playing the built-in problems' reference programs step by step from the
conversation it is sent: one tool call per turn, then `\\boxed{answer}`. With `tools` in the
request it answers with native `tool_calls` (string arguments, as OpenAI does); without, with
`<tool_call>` text (a server without a tool parser). Observations are read back from `tool`
messages or from `<tool_response>` blocks in user turns; error observations are ignored, so
after a malformed call the next turn repeats the step properly.

Faults, each drawn with probability `fault_rate` per request (kinds chosen uniformly from
`fault_kinds`): `429` (with Retry-After), `500`, `slow` (reply after `slow_s`, beyond the
client's timeout), `drop` (close the connection without a reply) and `malformed` (a tool call
whose arguments are not valid JSON).

A request for the model `missing-model` gets a 404 (not retried by the client).

`fixed_turns=T` ignores the problems: every conversation is T assistant turns (T-1 turns with
one `add` call, then an answer); the benchmark uses it.

Run standalone (the benchmark does, to keep the server's CPU off the client's core):
`python -m tests.fake_openai_server --port 0 --latency 0.2 --fixed-turns 3` prints its base URL.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import socket
import sys
import threading
import time
from typing import Any

from mentor_data.formats import parse_tool_responses, render_tool_call
from mentor_data.problems import Problem, load_problems, resolve_arguments

FAULT_KINDS = ("429", "500", "slow", "drop", "malformed")
BAD_ARGUMENTS = '{"a": 1, "b": '
MISSING_MODEL = "missing-model"


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class FakeOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 in a background thread.

    Args:
        problems: Problems it can solve (matched by their question text).
        latency_s: Seconds every reply waits (the model's thinking time).
        fault_rate: Probability of a fault per request.
        fault_kinds: Fault kinds to draw from.
        retry_after_s: Retry-After sent with a 429 (seconds; fractional values allowed).
        slow_s: How long a `slow` reply takes.
        fixed_turns: Ignore the problems; every conversation has this many assistant turns.
        seed: Seed of the fault draws.
        port: Port to listen on (0: any free port).
    """

    def __init__(
        self,
        problems: list[Problem] = (),
        *,
        latency_s: float = 0.0,
        fault_rate: float = 0.0,
        fault_kinds: tuple[str, ...] = FAULT_KINDS,
        retry_after_s: float = 0.05,
        slow_s: float = 2.0,
        fixed_turns: int | None = None,
        seed: int = 0,
        port: int = 0,
    ) -> None:
        self.by_question = {p.question: p for p in problems}
        self.latency_s = latency_s
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.retry_after_s = retry_after_s
        self.slow_s = slow_s
        self.fixed_turns = fixed_turns
        self.stats: collections.Counter = collections.Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._requested_port = port
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def serve(self) -> None:
        """Listen (in the running event loop) until cancelled."""
        self._server = await asyncio.start_server(
            self._serve_connection, "127.0.0.1", self._requested_port
        )
        self._port = self._server.sockets[0].getsockname()[1]

    def start(self) -> FakeOpenAIServer:
        """Serve from an event loop in a background thread; returns once listening."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return

        async def shutdown() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)
        loop.close()
        self._loop = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour ------------------------------------------------------------------------------
    def draw_fault(self) -> str | None:
        with self._lock:
            self.stats["requests"] += 1
            if self.fault_rate and self._rng.random() < self.fault_rate:
                kind = self._rng.choice(self.fault_kinds)
                self.stats[f"fault_{kind}"] += 1
                return kind
        return None

    def answer(self, body: dict, malformed: bool = False) -> dict:
        """The chat completion for a request body."""
        messages = body.get("messages") or []
        native = bool(body.get("tools"))
        users = [m for m in messages if m.get("role") == "user"]
        question = users[0].get("content", "") if users else ""
        turn = sum(1 for m in messages if m.get("role") == "assistant")
        if native:
            observations = [m.get("content") or "" for m in messages if m.get("role") == "tool"]
        else:
            observations = [o for m in users[1:] for o in parse_tool_responses(m.get("content"))]
        outputs = [o for o in observations if not o.startswith("Error")]
        call: tuple[str, dict] | None = None
        if self.fixed_turns is not None:
            if turn < self.fixed_turns - 1:
                call, text = ("add", {"a": turn, "b": 1}), "I add."
            else:
                text = f"The answer is \\boxed{{{turn}}}."
        else:
            problem = self.by_question.get(question)
            program = problem.program if problem is not None else None
            if program is None:
                text = "I cannot solve this one."
            elif len(outputs) < len(program):
                step = program[len(outputs)]
                call = (step["tool"], resolve_arguments(step["arguments"], outputs))
                text = f"Next I compute {step.get('note', 'a step')}."
            else:  # the stated answer of a program whose last step is a search, else its output
                stated = problem.metadata.get("program_answer") or outputs[-1]
                text = f"So the answer is \\boxed{{{stated}}}."
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop"
        if call is not None:
            name, arguments = call
            raw = BAD_ARGUMENTS if malformed else json.dumps(arguments)
            if native:
                message["tool_calls"] = [
                    {
                        "id": f"call_{turn}_0",
                        "type": "function",
                        "function": {"name": name, "arguments": raw},
                    }
                ]
                finish = "tool_calls"
            elif malformed:
                message["content"] = (
                    f'{text}\n<tool_call>\n{{"name": "{name}", "arguments": {raw}\n</tool_call>'
                )
            else:
                message["content"] = f"{text}\n{render_tool_call(name, arguments)}"
        completion_tokens = _tokens(message["content"]) + 10 * len(message.get("tool_calls", []))
        limit = body.get("max_tokens")
        if isinstance(limit, int) and completion_tokens > limit:
            message = {"role": "assistant", "content": message["content"][: 4 * limit]}
            completion_tokens, finish = limit, "length"
        prompt_tokens = sum(_tokens(json.dumps(m)) for m in messages)
        return {
            "id": f"chatcmpl-{turn}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    async def respond(self, method: str, path: str, raw: bytes) -> tuple[int, dict, dict] | None:
        """(status, JSON payload, extra headers) of one request; None drops the connection."""
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path.endswith("/models"):
            return 200, {"object": "list", "data": [{"id": "fake", "object": "model"}]}, {}
        if method != "POST" or not path.endswith("/chat/completions"):
            return 404, {"error": {"message": f"no route {method} {path}"}}, {}
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {"error": {"message": "body is not JSON"}}, {}
        if body.get("model") == MISSING_MODEL:  # what servers answer for an unknown model
            with self._lock:
                self.stats["rejected"] += 1
            return 404, {"error": {"message": f"model {MISSING_MODEL!r} does not exist"}}, {}
        fault = self.draw_fault()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if fault == "429":
            return (
                429,
                {"error": {"message": "rate limited", "type": "rate_limit"}},
                {"Retry-After": f"{self.retry_after_s:g}"},
            )
        if fault == "500":
            return 500, {"error": {"message": "internal error"}}, {}
        if fault == "drop":
            return None
        if fault == "slow":
            await asyncio.sleep(self.slow_s)
        return 200, self.answer(body, malformed=fault == "malformed"), {}

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:  # one write per reply anyway; no Nagle delay on small replies
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, path, _ = head[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (h.split(":", 1) for h in head[1:] if ":" in h)
                }
                raw = await reader.readexactly(int(headers.get("content-length") or 0))
                reply = await self.respond(method, path, raw)
                if reply is None:  # a dropped connection: no status line at all
                    writer.transport.abort()
                    return
                status, payload, extra = reply
                data = json.dumps(payload).encode()
                lines = [
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
                    "Content-Type: application/json",
                    f"Content-Length: {len(data)}",
                    *(f"{k}: {v}" for k, v in extra.items()),
                ]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ValueError,
        ):
            pass  # the client closed the connection (or sent garbage): end it
        finally:
            writer.close()


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per reply")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="fault probability")
    parser.add_argument("--fixed-turns", type=int, default=None, help="turns per conversation")
    parser.add_argument("--problems", default="builtin:all?n=1000", help="problems it can solve")
    args = parser.parse_args(argv)
    problems = [] if args.fixed_turns else load_problems(args.problems)
    server = FakeOpenAIServer(
        problems,
        latency_s=args.latency,
        fault_rate=args.fault_rate,
        fixed_turns=args.fixed_turns,
        port=args.port,
    )

    async def run() -> None:
        await server.serve()
        print(server.base_url, flush=True)
        await asyncio.Event().wait()  # until killed

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        sys.stdout.flush()


if __name__ == "__main__":
    main()
