"""McpServer against a real MCP server (tests/mcp_inventory_server.py), over stdio and HTTP."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mentor_data.tools.arithmetic import ToolError
from mentor_data.tools.executor import execute
from mentor_data.tools.mcp_tools import McpServer, McpServerError
from mentor_data.tools.registry import ToolRegistry

SERVER_SCRIPT = Path(__file__).with_name("mcp_inventory_server.py")
SERVER_CMD = f"{shlex.quote(sys.executable)} {shlex.quote(str(SERVER_SCRIPT))}"
# Generous: a crashing tool makes the SDK's server render a rich traceback, slow on a busy machine.
CALL_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def server() -> Iterator[McpServer]:
    with McpServer(SERVER_CMD, timeout_s=20, call_timeout_s=CALL_TIMEOUT_S) as started:
        yield started


def _tool_fns(server: McpServer) -> dict:
    return {tool.name: tool.fn for tool in server.tools}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie has exited but is not reaped yet
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_tools_are_listed_with_their_schemas(server: McpServer) -> None:
    tools = {tool.name: tool for tool in server.tools}
    assert list(tools) == ["stock", "reserve", "slow", "pid"]
    reserve = tools["reserve"]
    assert reserve.schema["type"] == "function"
    assert reserve.schema["function"]["name"] == "reserve"
    assert "Reserve `qty` units" in reserve.description
    params = reserve.parameters
    assert params["type"] == "object"
    assert params["properties"]["sku"]["type"] == "string"
    assert params["properties"]["qty"]["type"] == "integer"
    assert params["required"] == ["sku", "qty"]
    assert tools["stock"].signature == "stock(sku: string)"
    assert all(tool.timeout_s == CALL_TIMEOUT_S for tool in tools.values())
    # reserve is annotated idempotentHint=False; the others carry no annotation.
    assert not reserve.deterministic
    assert tools["stock"].deterministic and tools["slow"].deterministic
    assert ToolRegistry(server.tools).names() == list(tools)  # valid registry tools


def test_call_returns_the_text_result(server: McpServer) -> None:
    fns = _tool_fns(server)
    assert fns["stock"](sku="apple") == "12"
    assert fns["stock"](sku="durian") == "0"
    assert fns["reserve"](sku="apple", qty=2) == "reserved 2 apple"
    assert fns["stock"](sku="apple") == "10"
    # Through the executor, as data generation calls tools.
    result = execute("stock", '{"sku": "pear"}', ToolRegistry(server.tools))
    assert result.ok and result.output == "3"


def test_calls_from_several_threads(server: McpServer) -> None:
    stock = _tool_fns(server)["stock"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: stock(sku="pear"), range(16)))
    assert results == ["3"] * 16


def test_tool_error_is_a_tool_error_with_the_server_message(server: McpServer) -> None:
    reserve = _tool_fns(server)["reserve"]
    with pytest.raises(ToolError) as info:
        reserve(sku="pear", qty=99)
    assert info.value.code == "tool_error"
    assert "not enough stock for pear: 3 left, 99 asked" in str(info.value)
    # A crash (plain ValueError): the SDK withholds its text, the call still fails cleanly.
    with pytest.raises(ToolError) as info:
        reserve(sku="pear", qty=0)
    assert info.value.code == "tool_error"
    assert "Error executing tool reserve" in str(info.value)
    result = execute("reserve", {"sku": "pear", "qty": 99}, ToolRegistry(server.tools))
    assert (result.ok, result.code) == (False, "tool_error")
    assert "3 left" in result.error


def test_slow_call_times_out() -> None:
    with McpServer(SERVER_CMD, timeout_s=20, call_timeout_s=1.0) as server:
        slow = _tool_fns(server)["slow"]
        started = time.monotonic()
        with pytest.raises(ToolError) as info:
            slow(seconds=2.5)
        elapsed = time.monotonic() - started
        assert info.value.code == "timeout"
        assert str(info.value) == "tool 'slow' took longer than 1s"
        assert 0.9 <= elapsed < 2.0
        assert slow(seconds=0) == "slept 0.0"  # the session survives a timed-out call


def test_close_stops_the_server_process_and_is_idempotent() -> None:
    with McpServer(SERVER_CMD, timeout_s=20) as server:
        pid_tool = _tool_fns(server)["pid"]
        pid = int(pid_tool())
        assert pid != os.getpid() and _alive(pid)
    deadline = time.monotonic() + 2
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)
    server.close()  # a second close is a no-op
    with pytest.raises(ToolError) as info:
        pid_tool()
    assert info.value.code == "server_error"
    assert "not running" in str(info.value)


def test_missing_command_names_the_fix() -> None:
    with pytest.raises(McpServerError) as info:
        McpServer("nosuchcmd x", timeout_s=5).start()
    assert str(info.value) == (
        "--mcp 'nosuchcmd x': command 'nosuchcmd' not found; give the command that starts "
        "your MCP server over stdio, e.g. --mcp 'python my_server.py'"
    )
    # No SDK traceback chained onto the error.
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_hanging_server_fails_after_the_timeout() -> None:
    spec = f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(60)'"
    started = time.monotonic()
    with pytest.raises(McpServerError, match=r"did not answer initialize .* within 2s"):
        McpServer(spec, timeout_s=2).start()
    # 2 s timeout, then the SDK's shutdown: close stdin, wait 2 s, kill the process group.
    assert 1.9 <= time.monotonic() - started < 6


def test_server_that_exits_at_once_reports_its_stderr() -> None:
    spec = f"{shlex.quote(sys.executable)} -c 'import sys; sys.exit(\"no config file\")'"
    started = time.monotonic()
    with pytest.raises(McpServerError) as info:
        McpServer(spec, timeout_s=10).start()
    message = str(info.value)
    assert "closed the connection during start-up" in message
    assert "no config file" in message  # quoted from the server's stderr
    assert time.monotonic() - started < 5


def test_duplicate_tool_names_are_refused() -> None:
    with pytest.raises(McpServerError, match="lists tool.* stock more than once"):
        McpServer(f"{SERVER_CMD} --duplicate-tools", timeout_s=20).start()


def test_streamable_http_server() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:  # wait until uvicorn listens
            assert process.poll() is None, "the HTTP server exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP server did not listen in 15 s"
                time.sleep(0.1)
        server = McpServer(f"http://127.0.0.1:{port}/mcp", timeout_s=10)
        with server:
            fns = _tool_fns(server)
            assert set(fns) == {"stock", "reserve", "slow", "pid"}
            assert fns["stock"](sku="apple") == "12"
            assert int(fns["pid"]()) == process.pid
        with pytest.raises(ToolError) as info:
            fns["stock"](sku="apple")
        assert info.value.code == "server_error"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_refused_url_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}/mcp"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(McpServerError) as info:
        McpServer(url, timeout_s=5).start()
    assert str(info.value).startswith(f"--mcp {url}: cannot connect")
    assert "start the server first" in str(info.value)
    assert time.monotonic() - started < 5
