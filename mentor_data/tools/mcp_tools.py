"""MCP servers as tool sources: list a server's tools once, call them as ordinary `Tool`s.

`McpServer("python my_server.py")` starts a server over stdio (`McpServer("http://host/mcp")`
connects over streamable HTTP) with the official SDK (`mcp` 2.x, `mcp.Client`) and wraps each of
its tools in a `Tool` whose `fn` is synchronous, so the executor and the registries call MCP tools
like any other. The SDK is anyio based and its session must be entered and exited in one task,
while our callers are synchronous and may call from several threads: so each server gets its own
event loop in a daemon thread, one task there owns the session, and calls are coroutines submitted
with `run_coroutine_threadsafe`.

A call returns the text content blocks joined by newlines (the structured content as JSON when
there is no text); it raises `ToolError`s with code `tool_error` (an `isError` result or a
refused call), `timeout` or `server_error` (the server is gone or closed).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import math
import os
import shlex
import tempfile
import threading
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import IO, Any

import anyio
import httpx2
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CONNECTION_CLOSED, REQUEST_TIMEOUT, CallToolResult, TextContent
from mcp.types import Tool as McpTool

from mentor_data.tools.arithmetic import ToolError
from mentor_data.tools.registry import Tool

# Extra seconds the synchronous side waits beyond the SDK's own timeouts, which fire first and
# clean up (cancel the request, stop the process); this only guards against a wedged loop.
_GRACE_S = 10.0
# Characters of the server's stderr quoted in errors: enough for a Python traceback's last lines.
_STDERR_TAIL_CHARS = 1500
# JSON schema types -> Python annotations, for the signatures of the wrapped functions.
_JSON_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list}


class McpServerError(RuntimeError):
    """An MCP server could not be started, listed or used; the message names the spec and fix."""


class McpToolError(ToolError):
    """The server ran the tool and reported an error (`isError`), or refused the call."""

    code = "tool_error"


class McpTimeoutError(ToolError):
    """A tool call did not finish within `call_timeout_s`."""

    code = "timeout"


class McpConnectionError(ToolError):
    """The server is gone (exited, closed the connection) or was closed by us."""

    code = "server_error"


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost meaningful exception: anyio task groups wrap failures in ExceptionGroups."""
    while True:
        inner = getattr(exc, "exceptions", None)  # (Base)ExceptionGroup, also the 3.10 backport
        if not inner:
            return exc
        # Prefer a real error over the cancellations that sibling tasks raise as they unwind.
        real = [e for e in inner if not isinstance(e, asyncio.CancelledError)]
        exc = (real or list(inner))[0]


def _signature(input_schema: dict[str, Any]) -> inspect.Signature:
    """Keyword-only parameters from a JSON object schema; optional ones default to None."""
    required = set(input_schema.get("required", []))
    return inspect.Signature(
        [
            inspect.Parameter(
                key,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if key in required else None,
                annotation=_JSON_TYPES.get(prop.get("type"), Any),
            )
            for key, prop in input_schema.get("properties", {}).items()
            if key.isidentifier()
        ]
    )


def _result_text(result: CallToolResult) -> str:
    """Text blocks joined by newlines; structured content as JSON when there is no text."""
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    if texts or result.structured_content is None:
        return "\n".join(texts)
    return json.dumps(result.structured_content, ensure_ascii=False)


class McpServer:
    """One MCP server whose tools are exposed as synchronous `Tool`s.

    Args:
        spec (`str`): `http://...` or `https://...` for streamable HTTP; otherwise a command line
            (split with `shlex`) that starts the server over stdio, e.g. `python my_server.py`.
        timeout_s (`float`, *optional*, defaults to 30.0): Seconds that starting, initialising
            and listing the tools may take before `start()` raises `McpServerError`.
        call_timeout_s (`float`, *optional*, defaults to 30.0): Seconds one tool call may take
            (also each `Tool.timeout_s`).

    Example:
        >>> with McpServer("python tests/mcp_inventory_server.py") as server:  # doctest: +SKIP
        ...     server.tools[0].fn(sku="apple")
        '12'
    """

    def __init__(self, spec: str, *, timeout_s: float = 30.0, call_timeout_s: float = 30.0):
        self.spec = spec
        self.timeout_s = timeout_s
        self.call_timeout_s = call_timeout_s
        self.tools: list[Tool] = []
        self._is_http = spec.startswith(("http://", "https://"))
        self._argv = [] if self._is_http else shlex.split(spec)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._stop: asyncio.Event | None = None
        self._owner: Future[None] | None = None
        self._stderr: IO[bytes] | None = None
        self._start_timed_out = False
        self._closed = False

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> list[Tool]:
        """Start the server (stdio) or open a session (HTTP), initialise and list the tools.

        Returns:
            The server's tools, in the server's order (also kept in `self.tools`).

        Raises:
            McpServerError: The command is missing, the server exits, does not answer within
                `timeout_s`, refuses the connection, or lists a tool name twice.
        """
        if self._owner is not None or self._closed:
            raise McpServerError(f"{self._where()}: start() was already called")
        if not self._is_http and not self._argv:
            raise McpServerError(f"{self._where()}: empty command; {self._fix()}")
        if not self._is_http:
            # Binary, read with pread: the child writes through the same file offset.
            self._stderr = tempfile.TemporaryFile()
        self._loop = asyncio.new_event_loop()
        # A daemon thread: a caller that forgets close() must not keep the interpreter alive.
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        ready: Future[list[McpTool]] = Future()
        self._owner = asyncio.run_coroutine_threadsafe(self._own_session(ready), self._loop)
        try:
            listed = ready.result(timeout=self.timeout_s + _GRACE_S)
        except FutureTimeout:
            self.close()
            raise McpServerError(f"{self._where()}: no answer within {self.timeout_s:g}s") from None
        except BaseException as exc:  # already wrapped by _own_session
            self.close()
            raise exc from None  # the SDK's internals are no help to the caller
        self.tools = [self._wrap(tool) for tool in listed]
        return self.tools

    def close(self) -> None:
        """End the session and stop the server process (stdio); safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if loop is not None and self._owner is not None:
            if self._stop is not None:
                loop.call_soon_threadsafe(self._stop.set)
            # The SDK closes stdin, waits 2 s, then kills the process group: bounded. Start-up
            # errors were raised by start(); a session that died later has nothing to add.
            with contextlib.suppress(BaseException):
                self._owner.result(timeout=self.timeout_s + _GRACE_S)
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=_GRACE_S)
            if not loop.is_running():
                loop.close()
        if self._stderr is not None:
            self._stderr.close()

    def __enter__(self) -> McpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the session task, on the server's loop ----------------------------------------------

    async def _own_session(self, ready: Future[list[McpTool]]) -> None:
        """Enter the session, list the tools, then hold the session open until close()."""
        self._stop = asyncio.Event()
        if self._is_http:
            target: Any = self.spec
        else:
            params = StdioServerParameters(command=self._argv[0], args=self._argv[1:])
            # stderr goes to a file, so a server's crash message can be quoted in our errors.
            target = stdio_client(params, errlog=self._stderr)  # type: ignore[arg-type]
        # One scope around the whole session (anyio scopes must nest): its deadline bounds the
        # start-up, then is lifted once the tools are listed.
        scope = anyio.CancelScope(deadline=anyio.current_time() + self.timeout_s)
        try:
            with scope:
                # cache=None: the listing is read once; nothing to cache.
                async with Client(
                    target, read_timeout_seconds=self.timeout_s, cache=None
                ) as client:
                    listed = await self._list_tools(client)
                    scope.deadline = math.inf
                    self._client = client
                    ready.set_result(listed)
                    await self._stop.wait()
            if scope.cancelled_caught and not ready.done():
                raise TimeoutError
        except BaseException as exc:
            if not ready.done():
                self._start_timed_out = scope.cancel_called
                ready.set_exception(self._start_error(exc))
            elif not isinstance(exc, asyncio.CancelledError):
                raise  # the session died after start: calls report it as server_error
        finally:
            self._client = None

    async def _list_tools(self, client: Client) -> list[McpTool]:
        tools: list[McpTool] = []
        cursor: str | None = None
        while True:  # the listing may come in pages
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        names = [tool.name for tool in tools]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise McpServerError(
                f"{self._where()}: the server lists tool(s) {', '.join(twice)} more than once; "
                "tool names must be unique (fix the server)"
            )
        return tools

    # -- errors -----------------------------------------------------------------------------

    def _where(self) -> str:
        return f"--mcp {shlex.quote(self.spec)}"

    def _fix(self) -> str:
        if self._is_http:
            return "start the server first and check the URL (often http://HOST:PORT/mcp)"
        return (
            "give the command that starts your MCP server over stdio, "
            "e.g. --mcp 'python my_server.py'"
        )

    def _stderr_tail(self) -> str:
        if self._stderr is None or self._stderr.closed:
            return ""
        try:
            fd = self._stderr.fileno()
            size = os.fstat(fd).st_size
            tail = os.pread(fd, _STDERR_TAIL_CHARS, max(0, size - _STDERR_TAIL_CHARS))
        except (OSError, ValueError):
            return ""
        text = tail.decode(errors="replace").strip()
        return f"\nserver stderr (last lines):\n{text}" if text else ""

    def _start_error(self, exc: BaseException) -> McpServerError:
        """A start-up failure as one clear message: what went wrong, and what to do."""
        cause = _root_cause(exc)
        where = self._where()
        if isinstance(cause, McpServerError):
            return cause
        code = cause.code if isinstance(cause, MCPError) else None
        detail = str(cause) or type(cause).__name__
        if isinstance(cause, FileNotFoundError | PermissionError) and not self._is_http:
            problem = "not found" if isinstance(cause, FileNotFoundError) else "not executable"
            return McpServerError(f"{where}: command '{self._argv[0]}' {problem}; {self._fix()}")
        if self._start_timed_out or isinstance(cause, TimeoutError) or code == REQUEST_TIMEOUT:
            kind = "streamable HTTP" if self._is_http else "JSON-RPC on stdout"
            return McpServerError(
                f"{where}: the server did not answer initialize or list its tools within "
                f"{self.timeout_s:g}s; check that it is an MCP server ({kind}){self._stderr_tail()}"
            )
        if code == CONNECTION_CLOSED:
            return McpServerError(
                f"{where}: the server closed the connection during start-up (did it exit?); "
                f"{self._fix()}{self._stderr_tail()}"
            )
        if isinstance(cause, httpx2.ConnectError | ConnectionError):
            return McpServerError(f"{where}: cannot connect ({detail}); {self._fix()}")
        return McpServerError(f"{where}: could not start ({detail}); {self._fix()}")

    # -- tools ------------------------------------------------------------------------------

    def _wrap(self, mcp_tool: McpTool) -> Tool:
        """A registry `Tool` for one MCP tool; its fn calls the server synchronously."""
        name = mcp_tool.name
        schema = {
            "type": "function",
            "function": {
                "name": name,
                "description": mcp_tool.description or "",
                "parameters": dict(mcp_tool.input_schema),
            },
        }

        def call(**arguments: Any) -> str:
            return self._call(name, arguments)

        # A real name and signature for code that inspects tool functions (registry.trl_tools).
        call.__name__ = call.__qualname__ = name
        call.__doc__ = mcp_tool.description
        call.__signature__ = _signature(mcp_tool.input_schema)  # type: ignore[attr-defined]
        # Only an explicit idempotentHint=False makes a tool non-deterministic: most servers
        # annotate nothing, and verification would otherwise skip every MCP tool.
        hints = mcp_tool.annotations
        deterministic = not (hints is not None and hints.idempotent_hint is False)
        return Tool(name, call, schema, timeout_s=self.call_timeout_s, deterministic=deterministic)

    def _call(self, name: str, arguments: dict[str, Any]) -> str:
        """Send `tools/call` on the server's loop and wait for it, at most call_timeout_s."""
        client, loop = self._client, self._loop
        if self._closed or client is None or loop is None or not loop.is_running():
            raise McpConnectionError(f"the MCP server {self.spec!r} is not running")
        coroutine = client.call_tool(name, arguments, read_timeout_seconds=self.call_timeout_s)
        future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        try:
            result = future.result(timeout=self.call_timeout_s + _GRACE_S)
        except FutureTimeout:
            future.cancel()
            raise self._timeout(name) from None
        except MCPError as exc:
            if exc.code == REQUEST_TIMEOUT:
                raise self._timeout(name) from None
            if exc.code == CONNECTION_CLOSED:
                raise McpConnectionError(
                    f"the MCP server {self.spec!r} closed the connection (it may have exited)"
                    f"{self._stderr_tail()}"
                ) from None
            raise McpToolError(str(exc)) from None  # e.g. unknown tool, invalid params
        except (FutureCancelled, RuntimeError) as exc:  # the loop or the session is shutting down
            raise McpConnectionError(f"the MCP server {self.spec!r} stopped ({exc!r})") from None
        text = _result_text(result)
        if result.is_error:
            raise McpToolError(text or f"tool {name!r} failed without a message")
        return text

    def _timeout(self, name: str) -> McpTimeoutError:
        return McpTimeoutError(f"tool {name!r} took longer than {self.call_timeout_s:g}s")
