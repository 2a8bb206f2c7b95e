"""A small MCP server for tests/test_mcp_tools.py, built with the official SDK's `MCPServer`.

Run `python tests/mcp_inventory_server.py` to serve over stdio, or add `--http PORT` to serve
streamable HTTP on 127.0.0.1:PORT at `/mcp`. `--duplicate-tools` serves a broken listing that
names `stock` twice (over stdio).
"""

from __future__ import annotations

import argparse
import os
import time

import anyio
from mcp.server import Server
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.stdio import stdio_server
from mcp.types import ListToolsResult, ToolAnnotations

# WARNING keeps the SDK's per-request INFO lines out of the test output (they go to stderr).
server = MCPServer("inventory", log_level="WARNING")

STOCK = {"apple": 12, "pear": 3}


@server.tool()
def stock(sku: str) -> int:
    """Units in stock for a SKU (0 when unknown)."""
    return STOCK.get(sku, 0)


# Not idempotent: a second call reserves again (McpServer marks it non-deterministic).
@server.tool(annotations=ToolAnnotations(idempotent_hint=False))
def reserve(sku: str, qty: int) -> str:
    """Reserve `qty` units of a SKU; fails when there are not enough."""
    if qty <= 0:
        # A plain exception is a crash to the SDK: the client sees a generic message only.
        raise ValueError(f"qty must be positive, got {qty}")
    available = STOCK.get(sku, 0)
    if qty > available:
        # The SDK's ToolError is an anticipated failure: its message reaches the client.
        raise ToolError(f"not enough stock for {sku}: {available} left, {qty} asked")
    STOCK[sku] = available - qty
    return f"reserved {qty} {sku}"


@server.tool()
def slow(seconds: float) -> str:
    """Sleep for `seconds`, then answer (for timeout tests)."""
    time.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def pid() -> int:
    """The server's process id (so tests can check that the process is gone after close)."""
    return os.getpid()


async def _serve_duplicate_listing() -> None:
    async def list_twice(ctx: object, params: object) -> ListToolsResult:
        tools = await server.list_tools()
        return ListToolsResult(tools=[*tools, tools[0]])

    lowlevel = Server("inventory-duplicates", on_list_tools=list_twice)
    async with stdio_server() as (read_stream, write_stream):
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP")
    parser.add_argument("--duplicate-tools", action="store_true", help="list a tool twice")
    args = parser.parse_args()
    if args.duplicate_tools:
        anyio.run(_serve_duplicate_listing)
    elif args.http:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run()
