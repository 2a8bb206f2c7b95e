"""Load a user's domain and tools for one command: `--domain`, `--tools`, `--mcp`.

`tool_session(domain=..., tools=[...], mcp=[...])` is what every command that touches rows opens
around its work (`mentor-data tools|generate|import|verify|export|stats|card`, `mentor-train
grpo|eval|reward`, and the recipes' `domain:`, `tools:`, `mcp:` keys):

- `--domain pkg.module:attr` or `--domain file.py:attr` (or a built-in or installed domain's name)
  loads a `Domain` and registers it, so rows whose `domain` column names it find it; it becomes
  the domain of problems that name none;
- `--tools SPEC` loads Python functions as tools (`mentor_data.tools.functions`), `--mcp SPEC`
  starts an MCP server and lists its tools (`mentor_data.tools.mcp_tools`). They become runnable
  by every executable domain when a row offers them (`extra_tools`); without `--domain`, they
  are also the offered tools of problems that list none, in the answer-judged `tools` domain;
- at the end, MCP servers are closed and the process's domains and tools are as before.

Bad input is a `DomainError` naming the spec and the fix; nothing is loaded half.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from mentor_data.domains import (
    DomainError,
    _instance,
    _registered,
    _state,
    add_extra_tools,
    get_domain,
    restore_extra_tools,
)
from mentor_data.domains.base import Domain


def load_domain(spec: str) -> Domain:
    """The domain a `--domain` spec names: `pkg.module:attr`, `path/to/file.py:attr`, or the
    name of a built-in or installed domain. The attribute is a `Domain` instance, subclass or
    factory. Not registered here (see `tool_session`).

    Raises:
        DomainError: a spec that does not resolve; the message names it and the fix.
    """
    from mentor_data.tools.functions import import_source

    spec = str(spec).strip()
    target, colon, attr = spec.rpartition(":")
    if not colon:
        if spec.endswith(".py") or "/" in spec:
            raise DomainError(
                f"--domain {spec!r}: name the domain object after a colon, e.g. "
                f"--domain {spec}:DOMAIN"
            )
        return get_domain(spec)
    if not attr.isidentifier():
        raise DomainError(
            f"--domain {spec!r}: {attr!r} is not an attribute name; use pkg.module:attr or "
            "file.py:attr"
        )
    try:
        module = import_source(target, option="--domain", spec=spec)
    except ValueError as exc:
        raise DomainError(str(exc)) from None
    if not hasattr(module, attr):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, Domain))
        hint = f"; domains in it: {', '.join(found)}" if found else ""
        raise DomainError(f"--domain {spec!r}: {target!r} has no attribute {attr!r}{hint}")
    try:
        return _instance(getattr(module, attr), f"--domain {spec!r}")
    except DomainError:
        raise
    except Exception as exc:  # a factory that raises
        raise DomainError(
            f"--domain {spec!r}: building the domain raised {type(exc).__name__}: {exc}"
        ) from None


@contextlib.contextmanager
def tool_session(
    *,
    domain: str | None = None,
    tools: Sequence[str] = (),
    mcp: Sequence[str] = (),
    mcp_timeout_s: float = 30.0,
    tool_timeout_s: float | None = None,
) -> Iterator[Domain]:
    """Load `--domain`, `--tools` and `--mcp` for the duration of a block.

    Args:
        domain: A `--domain` spec (see `load_domain`), or None.
        tools: `--tools` specs: `pkg.module`, `path/tools.py`, optionally `:name1,name2`.
        mcp: `--mcp` specs: a command line (stdio) or an `http(s)://` URL (streamable HTTP).
        mcp_timeout_s: Seconds an MCP server may take to start and list its tools; also the
            limit of one call.
        tool_timeout_s: Seconds one call of a Python tool may take (None: the default).

    Yields:
        The session's default domain: the loaded one, else the `tools` domain when tools were
        given, else the built-in default.

    Raises:
        DomainError: a spec that does not resolve, two tools with one name, an MCP server
            that cannot start (the message names it and the fix).
    """
    from mentor_data.tools.functions import load_function_tools

    saved_registered = dict(_registered)
    saved_state = dict(_state)
    saved_extra = None
    servers: list = []
    try:
        loaded = load_domain(domain) if domain else None
        own = []
        for spec in tools:
            kwargs = {} if tool_timeout_s is None else {"timeout_s": tool_timeout_s}
            try:
                own.extend(load_function_tools(spec, **kwargs))
            except ValueError as exc:
                raise DomainError(str(exc)) from None
        for spec in mcp:
            from mentor_data.tools.mcp_tools import McpServer, McpServerError  # the SDK: only here

            server = McpServer(spec, timeout_s=mcp_timeout_s, call_timeout_s=mcp_timeout_s)
            servers.append(server)
            try:
                own.extend(server.start())
            except McpServerError as exc:
                raise DomainError(str(exc)) from None
        saved_extra = add_extra_tools(own)
        if servers:
            _state["fork_safe"] = False  # an MCP session lives in this process only
        if loaded is not None:
            _registered[loaded.name] = loaded
            _state["default"] = loaded.name
        elif own:
            _registered["tools"] = Domain(own, name="tools")
            _state["default"] = "tools"
        yield get_domain(None)
    finally:
        for server in servers:
            server.close()
        if saved_extra is not None:
            restore_extra_tools(saved_extra)
        _registered.clear()
        _registered.update(saved_registered)
        _state.clear()
        _state.update(saved_state)


def describe_specs(domain: str | None, tools: Sequence[str], mcp: Sequence[str]) -> dict:
    """The session's specs for a manifest's lineage (files as given, so a reader can rerun)."""
    out: dict = {}
    if domain:
        out["domain"] = domain
    if tools:
        out["tools"] = [str(Path(t)) if t.endswith(".py") else t for t in tools]
    if mcp:
        out["mcp"] = list(mcp)
    return out


__all__ = ["describe_specs", "load_domain", "tool_session"]
