"""Domains: which problems, tools, prompt and judge a row belongs to, found by its `domain` column.

The core (generate, verify, export, stats, cards, rewards, eval, GRPO) never tests a domain's
name: it asks `domain_of(row)` and calls the `Domain` it gets (`mentor_data.domains.base`).

Where a domain comes from, in this order:

1. one registered in this process (`register_domain`: what `--domain`, `--tools` and `--mcp` do);
2. a built-in: `arithmetic` (the default), `bfcl`, `rag`, and `tools` (answer-judged rows whose
   tools come from `--tools`/`--mcp`);
3. an installed package's entry point in the group `mentor.domains` (name = the domain name,
   value = `pkg.module:attr`).

Tools that every executable domain may run when a row offers them (`extra_tools`): the built-in
sandboxed `python` tool, and the user's `--tools`/`--mcp` tools while a `tool_session` is open.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from mentor_data.domains.base import (
    ANSWER_REASONS,
    DEFAULT_SYSTEM_PROMPT,
    TOOLS_SYSTEM_PROMPT,
    Domain,
    Judgement,
    Opening,
    ToolEnv,
    as_metadata,
    metadata_family,
    offered_names,
)
from mentor_data.tools import PYTHON, Tool, ToolRegistry

ENTRY_POINT_GROUP = "mentor.domains"
"""The entry-point group an installed package registers its domains in."""

DEFAULT_DOMAIN = "arithmetic"
"""The domain of problems that name none, unless a session sets another (`--tools`)."""

_BUILTIN = {
    "arithmetic": "mentor_data.arithmetic:DOMAIN",
    "bfcl": "mentor_data.bfcl.domain:DOMAIN",
    "rag": "mentor_data.rag.domain:DOMAIN",
    "tools": "mentor_data.domains.base:Domain",
}
BUILTIN_DOMAINS = tuple(_BUILTIN)
"""The names of the built-in domains."""
_registered: dict[str, Domain] = {}
_extra: list[Tool] = list(PYTHON)
_state = {"default": DEFAULT_DOMAIN}


class DomainError(ValueError):
    """A domain that cannot be found or loaded; the message names the fix."""


def _instance(obj: Any, where: str) -> Domain:
    """A `Domain` from what a path named: an instance, a subclass, or a factory returning one."""
    if isinstance(obj, type) and issubclass(obj, Domain):
        obj = obj()
    elif callable(obj) and not isinstance(obj, Domain):
        obj = obj()
    if not isinstance(obj, Domain):
        raise DomainError(
            f"{where} is a {type(obj).__name__}, not a mentor Domain; point it at a "
            "`mentor_data.domains.Domain` instance, subclass or factory"
        )
    if not isinstance(obj.name, str) or not obj.name.strip():
        raise DomainError(f"{where}: the domain has no name; set `name = '...'` on it")
    return obj


def _entry_point(name: str) -> Domain | None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                obj = ep.load()
            except Exception as exc:  # a broken plug-in must say which one
                raise DomainError(
                    f"domain {name!r}: entry point {ep.value!r} ({ENTRY_POINT_GROUP}) failed to "
                    f"load: {type(exc).__name__}: {exc}"
                ) from None
            return _instance(obj, f"entry point {ep.value!r}")
    return None


def get_domain(name: Any) -> Domain:
    """The domain called `name` (registered, built-in or installed; see the module docstring).

    Raises:
        DomainError: no such domain; the message says how to load it.
    """
    key = name if isinstance(name, str) and name else _state["default"]
    if key in _registered:
        return _registered[key]
    if key in _BUILTIN:
        module, _, attr = _BUILTIN[key].partition(":")
        # `tools` is the base class itself: answer-judged rows whose tools come from the session.
        domain = _instance(getattr(importlib.import_module(module), attr), _BUILTIN[key])
        return _registered.setdefault(key, domain)
    domain = _entry_point(key)
    if domain is not None:
        return _registered.setdefault(key, domain)
    raise DomainError(
        f"unknown domain {key!r}; load it with --domain pkg.module:attr or --domain file.py:attr "
        f"(recipes: `domain:`), or install a package that registers it in the "
        f"{ENTRY_POINT_GROUP!r} entry-point group; built in: {', '.join(_BUILTIN)}"
    )


def domain_of(row: Any) -> Domain:
    """The domain of a row or a problem (its `domain` column or attribute)."""
    name = row.get("domain") if isinstance(row, Mapping) else getattr(row, "domain", None)
    return get_domain(name)


def register_domain(domain: Domain) -> Domain:
    """Make a domain known in this process by its name (a later one of that name replaces it)."""
    domain = _instance(domain, repr(domain))
    _registered[domain.name] = domain
    return domain


def unregister_domain(name: str) -> None:
    """Forget a registered domain (built-ins are found again on the next lookup)."""
    _registered.pop(name, None)


def default_domain() -> Domain:
    """The domain of problems that name none (`arithmetic`, or the session's)."""
    return get_domain(_state["default"])


def set_default_domain(name: str) -> str:
    """Set the default domain's name; returns the previous one."""
    previous, _state["default"] = _state["default"], name
    return previous


def prefixed_domains() -> list[Domain]:
    """The known domains that load problems from a `--problems` prefix (built-ins first)."""
    seen: dict[str, Domain] = {}
    for name in [*_BUILTIN, *_registered]:
        domain = get_domain(name)
        if domain.problem_prefix:
            seen.setdefault(domain.name, domain)
    return list(seen.values())


def domain_for_spec(spec: str) -> Domain | None:
    """The domain whose `problem_prefix` starts the spec, or None (a file or a store version)."""
    for domain in prefixed_domains():
        if spec.startswith(domain.problem_prefix):
            return domain
    return None


def family_of(domain: Any, metadata: Any) -> str | None:
    """The family of a row as its domain reads it (`Domain.family`); for a domain that is not
    loaded, the base reading (`metadata.family`), so stats and cards never need the domain."""
    try:
        found = get_domain(domain)
    except DomainError:
        return metadata_family(metadata)
    return found.family(metadata)


def fork_safe() -> bool:
    """Whether worker processes may be forked with what is loaded (no MCP session open, every
    registered domain `fork_safe`)."""
    return _state.get("fork_safe", True) and all(d.fork_safe for d in _registered.values())


# -- tools every executable domain may run -------------------------------------------------------
def extra_tools() -> ToolRegistry:
    """The tools any domain may run when a row offers them: `python` and the session's own."""
    return ToolRegistry(_extra)


def add_extra_tools(tools: Iterable[Tool]) -> list[Tool]:
    """Add tools to `extra_tools` (a session's `--tools`/`--mcp`); returns what was there.

    Raises:
        DomainError: a name already taken (two tools with one name).
    """
    before = list(_extra)
    names = {t.name: t for t in _extra}
    for tool in tools:
        if tool.name in names and names[tool.name].fn is tool.fn:
            continue  # the same function loaded again (a nested session): one tool
        if tool.name in names:
            raise DomainError(
                f"two tools are called {tool.name!r}; tool names must be unique across --tools "
                "and --mcp (pick functions with SPEC:name1,name2, or rename one)"
            )
        names[tool.name] = tool
        _extra.append(tool)
    return before


def restore_extra_tools(tools: list[Tool]) -> None:
    """Put back what `add_extra_tools` returned (the end of a session)."""
    _extra[:] = tools


def _params(schema: Any) -> frozenset[str] | None:
    function = schema.get("function") if isinstance(schema, Mapping) else None
    params = function.get("parameters") if isinstance(function, Mapping) else None
    props = params.get("properties") if isinstance(params, Mapping) else None
    return frozenset(props) if isinstance(props, Mapping) and props else None


_cache: dict[tuple, tuple[ToolRegistry, list[Tool], ToolRegistry]] = {}
_by_list: dict[tuple[int, int], tuple[ToolRegistry, Any, list[Tool], ToolRegistry]] = {}


def executable_tools(own: ToolRegistry, offered: Any) -> ToolRegistry:
    """The implementations of a row's offered tools: the domain's own first, then `extra_tools`.

    A tool runs only when a loaded tool has its name and the same parameter names as the offered
    schema (or the schema declares none): an offered tool without an implementation is left out,
    so calling it is an `unknown_tool` observation (and verify reports `tool_not_loaded`).
    """
    # Fast path: rows of one dataset share one decoded tool list (verify decodes each distinct
    # list once), so the same list object asks again and again.
    same = _by_list.get((id(own), id(offered)))
    if same is not None and same[0] is own and same[1] is offered and _same(same[2], _extra):
        return same[3]
    schemas = [s for s in (offered if isinstance(offered, list | tuple) else []) if s]
    key = (id(own), tuple(map(_key, schemas)))
    hit = _cache.get(key)
    # The entry keeps `own` and the extra tools it was built from: an id can be reused once a
    # short-lived registry (a stateful domain's, per conversation) is freed.
    if hit is not None and hit[0] is own and _same(hit[1], _extra):
        _remember(own, offered, hit[2])
        return hit[2]
    pool = ToolRegistry([*own, *(t for t in _extra if t.name not in own)])
    chosen: list[Tool] = []
    for schema in schemas:
        name = offered_names([schema])
        tool = pool.get(name[0]) if name else None
        if tool is None or tool in chosen:
            continue
        declared = _params(schema)
        if declared is None or declared == _params(tool.schema):
            chosen.append(tool)
    if len(_cache) > 512:
        _cache.clear()
    registry = ToolRegistry(chosen)
    _cache[key] = (own, list(_extra), registry)
    _remember(own, offered, registry)
    return registry


def _remember(own: ToolRegistry, offered: Any, registry: ToolRegistry) -> None:
    if len(_by_list) > 512:
        _by_list.clear()
    # The entry holds `offered` itself, so its id cannot be reused while the entry lives.
    _by_list[(id(own), id(offered))] = (own, offered, list(_extra), registry)


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _key(schema: Any) -> tuple:
    names = offered_names([schema])
    return (names[0] if names else None, _params(schema))


__all__ = [
    "ANSWER_REASONS",
    "BUILTIN_DOMAINS",
    "DEFAULT_DOMAIN",
    "DEFAULT_SYSTEM_PROMPT",
    "ENTRY_POINT_GROUP",
    "TOOLS_SYSTEM_PROMPT",
    "Domain",
    "DomainError",
    "Judgement",
    "Opening",
    "ToolEnv",
    "add_extra_tools",
    "as_metadata",
    "default_domain",
    "domain_for_spec",
    "domain_of",
    "executable_tools",
    "extra_tools",
    "family_of",
    "fork_safe",
    "get_domain",
    "offered_names",
    "prefixed_domains",
    "register_domain",
    "restore_extra_tools",
    "set_default_domain",
    "unregister_domain",
]
