"""Users' own Python functions as tools: a schema from type hints and docstring, loaded by spec.

    >>> def lookup(sku: str) -> str:
    ...     '''Find a product.
    ...
    ...     Args:
    ...         sku: The product code.
    ...     '''
    ...     return "a red mug"
    >>> function_tool(lookup).schema["function"]["parameters"]["required"]
    ['sku']

The schema is `transformers.utils.get_json_schema` of the function, less its `"return"` entry:
TRL's `GRPOTrainer(tools=...)` builds the prompt's schema with the same function (also from the
`trl_tools()` wrappers), so data generation and training show the model one schema. Checks run
before it so that a bad function is refused with a message naming the parameter and the fix.

`load_function_tools("pkg.module:add,mul")` or `load_function_tools("path/to/tools.py")` picks
functions from a module; every message is a `ValueError` that names the spec.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from mentor_data.tools.registry import Tool

# Seconds one call of a user tool may take. User code may block on I/O or loop; ten seconds is
# far beyond a lookup or a computation a model waits for, and bounds a rollout.
DEFAULT_TOOL_TIMEOUT_S = 10.0

_HINTS = "str, int, float, bool, list[...], dict[str, ...], Literal[...] or X | None"
# What may follow the last ':' of a spec: identifiers separated by commas.
_NAMES = re.compile(r"[A-Za-z_]\w*(\s*,\s*[A-Za-z_]\w*)*")
# The prefix of the module name a .py file is imported under (plus a hash of its path).
_FILE_MODULE_PREFIX = "mentor_user_tools_"


def _check_hint(hint: Any) -> bool:
    """Whether a type hint is in the supported subset (each maps to a JSON schema we validate)."""
    if hint in (str, int, float, bool, type(None), list, dict):
        return True
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return all(type(arg) in (str, int, float, bool, type(None)) for arg in args)
    if origin is list:
        return len(args) == 1 and _check_hint(args[0])
    if origin is dict:
        # JSON object keys are strings: dict[int, X] would reach the function with str keys.
        return len(args) == 2 and args[0] is str and _check_hint(args[1])
    if origin is typing.Union or origin is types.UnionType:
        return all(_check_hint(arg) for arg in args)
    return False


def function_schema(fn: Callable[..., Any]) -> dict:
    """The OpenAI function schema of a typed, documented function (without a `"return"` entry).

    Args:
        fn: A `def` or `async def` function with a type hint and a docstring `Args:` entry for
            each parameter.

    Returns:
        `{"type": "function", "function": {"name", "description", "parameters"}}`.

    Raises:
        ValueError: naming the function, the parameter and the fix.
    """
    name = getattr(fn, "__name__", repr(fn))
    if not inspect.isfunction(fn):
        raise ValueError(
            f"tool {name!r} is a {type(fn).__name__}, not a function; give a `def` or "
            "`async def` function"
        )
    if not name.isidentifier():
        raise ValueError(f"tool {name!r}: a tool needs a name; use `def` instead of a lambda")
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise ValueError(f"tool {name!r} is a generator; return the whole result instead")
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # NameError for a hint naming something undefined, and others
        raise ValueError(
            f"tool {name!r}: its type hints do not resolve ({type(exc).__name__}: {exc})"
        ) from exc
    params = inspect.signature(fn).parameters.values()
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            star = "*" if param.kind == param.VAR_POSITIONAL else "**"
            raise ValueError(
                f"tool {name!r}: parameter '{star}{param.name}' is not allowed; the model calls "
                "tools with named arguments, so list each parameter with its type"
            )
        if param.kind == param.POSITIONAL_ONLY:  # execute() passes keyword arguments
            raise ValueError(
                f"tool {name!r}: parameter {param.name!r} is positional-only; remove the '/'"
            )
        if param.name not in hints:
            raise ValueError(
                f"tool {name!r}: parameter {param.name!r} has no type hint; annotate it, "
                f"e.g. `{param.name}: str`"
            )
        hint = hints[param.name]
        if not _check_hint(hint):
            shown = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
            raise ValueError(
                f"tool {name!r}: parameter {param.name!r} has the type hint {shown}, which has "
                f"no JSON schema here; use {_HINTS}"
            )
    doc = inspect.getdoc(fn)
    if not doc or not doc.strip():
        raise ValueError(
            f"tool {name!r} has no docstring; write one: a one-line description, then an "
            "`Args:` section with a line `name: what it is` per parameter"
        )
    # transformers is imported here, on first use: importing mentor_data.tools stays light.
    from transformers.utils import get_json_schema
    from transformers.utils.chat_template_utils import parse_google_format_docstring

    _, documented, _ = parse_google_format_docstring(doc.strip())
    for param in params:
        if param.name not in (documented or {}):
            raise ValueError(
                f"tool {name!r}: parameter {param.name!r} has no entry in the docstring's "
                f"`Args:` section; add a line `{param.name}: <what it is>`"
            )
    try:
        schema = get_json_schema(fn)
    except Exception as exc:  # e.g. a malformed "(choices: ...)" in a description
        raise ValueError(f"tool {name!r}: no schema ({type(exc).__name__}: {exc})") from exc
    # The registry's schemas (OpenAI's format) have no "return"; the prompts must not either.
    schema["function"].pop("return", None)
    return schema


def function_tool(
    fn: Callable[..., Any],
    *,
    timeout_s: float | None = DEFAULT_TOOL_TIMEOUT_S,
    deterministic: bool = True,
) -> Tool:
    """A `Tool` from a typed, documented Python function (sync or async).

    Args:
        fn: The function; its `__name__` is the tool name (see `function_schema`).
        timeout_s: Seconds one call may take before `execute` returns a `timeout` error; None
            calls it directly in the caller's thread, like the built-in tools.
        deterministic: Whether the same arguments always give the same output.

    Returns:
        The tool, to register in a `ToolRegistry`.

    Raises:
        ValueError: the function cannot be a tool (the message says why and how to fix it).
    """
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s={timeout_s!r} is not valid: use a number > 0, or None")
    schema = function_schema(fn)
    return Tool(schema["function"]["name"], fn, schema, timeout_s, deterministic)


def _source(fn: Callable[..., Any]) -> str:
    """Where a function is defined, `path:line`, for messages about duplicates."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    return f"{code.co_filename}:{code.co_firstlineno}" if code else str(fn.__module__)


def check_unique(tools: Iterable[Tool]) -> None:
    """Refuse two tools of one name (two specs, or aliases of one function in one spec).

    Raises:
        ValueError: naming the tool and where both are defined.
    """
    seen: dict[str, Tool] = {}
    for tool in tools:
        first = seen.setdefault(tool.name, tool)
        if first is not tool:
            raise ValueError(
                f"two tools are named {tool.name!r} ({_source(first.fn)} and {_source(tool.fn)}); "
                "pick functions with ':name' or rename one"
            )


def _split_spec(spec: str) -> tuple[str, list[str] | None]:
    """`path/to/tools.py:add,mul` -> (`path/to/tools.py`, ["add", "mul"]); no names -> None."""
    target, colon, tail = spec.rpartition(":")
    if colon and target and _NAMES.fullmatch(tail.strip()):
        names = [name.strip() for name in tail.split(",")]
        twice = [name for i, name in enumerate(names) if name in names[:i]]
        if twice:
            raise ValueError(f"--tools {spec!r}: {twice[0]!r} is named twice; name it once")
        return target.strip(), names
    if colon and target and not tail.strip():
        raise ValueError(
            f"--tools {spec!r}: nothing follows ':'; name functions (`{target}:add,mul`) or drop "
            "the ':'"
        )
    return spec.strip(), None


def import_source(
    target: str, *, option: str = "--tools", spec: str | None = None
) -> types.ModuleType:
    """Import `target`, a `.py` file or a module path, for a command-line option.

    Args:
        target: `path/to/file.py` or `pkg.module`.
        option: The option named in error messages (`--tools`, `--domain`).
        spec: The whole spec as the user wrote it (default: `target`).

    Raises:
        ValueError: naming the option, the spec and the fix.
    """
    spec = target if spec is None else spec
    if target.endswith(".py") or "/" in target or "\\" in target:
        return _import_file(spec, target, option)
    return _import_module(spec, target, option)


def _import_file(spec: str, target: str, option: str = "--tools") -> types.ModuleType:
    path = Path(target).expanduser().resolve()
    if not path.is_file():
        raise ValueError(f"{option} {spec!r}: no file {str(path)!r}; give an existing .py file")
    # A stable name per absolute path: two files named tools.py do not clash, and loading one
    # file twice reuses its module (its functions stay the same objects).
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"{_FILE_MODULE_PREFIX}{stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise ValueError(f"{option} {spec!r}: {str(path)!r} cannot be imported; give a .py file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # before running it: dataclasses and pickle look modules up
    try:
        module_spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # SystemExit: a script that parses sys.argv
        del sys.modules[name]
        raise ValueError(
            f"{option} {spec!r}: importing {str(path)!r} raised {type(exc).__name__}: "
            f"{str(exc)[:300]}; fix the file (it must import without side effects)"
        ) from exc
    return module


def _import_module(spec: str, target: str, option: str = "--tools") -> types.ModuleType:
    if not all(part.isidentifier() for part in target.split(".")):
        raise ValueError(
            f"{option} {spec!r}: {target!r} is neither a module path (pkg.module) nor a .py file"
        )
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as exc:
        # Only the module itself (or a parent package) missing is a bad spec; a missing
        # dependency of an existing module is an import error of that module.
        if exc.name and (target == exc.name or target.startswith(exc.name + ".")):
            raise ValueError(
                f"{option} {spec!r}: no module named {exc.name!r}; give an importable module "
                "path or a .py file"
            ) from exc
        error: BaseException = exc
    except (Exception, SystemExit) as exc:
        error = exc
    raise ValueError(
        f"{option} {spec!r}: importing {target!r} raised {type(error).__name__}: "
        f"{str(error)[:300]}; fix the module (it must import without side effects)"
    ) from error


def _public_functions(module: types.ModuleType) -> list[Callable[..., Any]]:
    """Public functions defined in the module (not imported into it), in source order."""
    found = {  # by id: an alias is the same function, listed once
        id(obj): obj
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and inspect.isfunction(obj)
        and obj.__module__ == module.__name__
    }
    return sorted(found.values(), key=_first_line)


def _first_line(fn: Callable[..., Any]) -> int:
    return getattr(getattr(inspect.unwrap(fn), "__code__", None), "co_firstlineno", 0)


def load_function_tools(
    spec: str,
    *,
    timeout_s: float | None = DEFAULT_TOOL_TIMEOUT_S,
    deterministic: bool = True,
) -> list[Tool]:
    """Tools from the functions of a module or a .py file.

    Args:
        spec: `pkg.module` or `path/to/tools.py`, optionally followed by `:name1,name2` to pick
            functions in that order (imported ones too); without names, every public function
            defined in the module, in source order.
        timeout_s: Seconds one call of each tool may take (see `function_tool`).
        deterministic: Whether the tools always give the same output for the same arguments.

    Returns:
        The tools, named after their functions.

    Raises:
        ValueError: the spec does not give tools; the message names the spec and the fix.
    """
    target, names = _split_spec(spec)
    module = import_source(target, spec=spec)
    if names is None:
        functions = _public_functions(module)
        if not functions:
            raise ValueError(
                f"--tools {spec!r}: the module defines no public function; define one (a name "
                "not starting with '_') or pick functions with ':name'"
            )
    else:
        functions = []
        for name in names:
            obj = getattr(module, name, None)
            if obj is None:
                known = ", ".join(fn.__name__ for fn in _public_functions(module)) or "none"
                raise ValueError(
                    f"--tools {spec!r}: the module has no function {name!r}; its public "
                    f"functions: {known}"
                )
            if not inspect.isfunction(obj):
                raise ValueError(
                    f"--tools {spec!r}: {name!r} is a {type(obj).__name__}, not a function; "
                    "name a `def` or `async def` function"
                )
            functions.append(obj)
    try:
        tools = [
            function_tool(fn, timeout_s=timeout_s, deterministic=deterministic) for fn in functions
        ]
        check_unique(tools)
    except ValueError as exc:
        raise ValueError(f"--tools {spec!r}: {exc}") from exc
    return tools
