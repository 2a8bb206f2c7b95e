"""The live environment of a BFCL multi-turn row: its API instances, public methods only.

`MultiTurnEnv(metadata)` builds one fresh instance of each class in `involved_classes` (bfcl's
`func_source_code`: a file system, a trading bot, a travel API, ...) loaded with the row's
`initial_config`, as bfcl's runner does. A call reaches an instance only when its name is one of
the row's functions and a public method (no leading `_`) of an instance; its arguments are
bound to the method's signature first, and bounded in size (`calls.value_problem`) plus a few
parameters that would make a method run for minutes (`COSTLY_ARGUMENTS`). Nothing is ever
`eval`ed: calls arrive as a name and a dict, or as a `ParsedCall`.

Results are rendered as bfcl renders them (a str as is, a dict as JSON, else `str()`; an
exception as `Error during execution: ...`), so the checker compares exactly what bfcl compares.
`run` wraps that in a `ToolResult` for the generation loop, whose failures become
`Error: ...` observations; `execute` returns the observation text. Neither raises.
"""

from __future__ import annotations

import copy
import decimal
import functools
import importlib
import inspect
import json
import sys
from collections.abc import Mapping
from typing import Any

from mentor_data.bfcl import BFCL_INSTALL
from mentor_data.bfcl.calls import ParsedCall, value_problem
from mentor_data.tools import ToolResult

ERROR_PREFIX = "Error during execution: "
"""How bfcl renders a call that raised (the multi-turn checker compares these texts)."""

COSTLY_ARGUMENTS: dict[tuple[str, str], dict[str, float]] = {
    ("MathAPI", "logarithm"): {"precision": 1_000},
    ("MathAPI", "square_root"): {"precision": 1_000},
    ("MathAPI", "power"): {"exponent": 10_000},
}
"""(class, method) -> {parameter: largest |value|}: arguments that would set a precision of
millions of digits or build a huge integer (the data use precisions below 20)."""


def _backend_modules() -> tuple[dict[str, str], list[str]]:
    try:
        from bfcl_eval.constants.executable_backend_config import (
            CLASS_FILE_PATH_MAPPING,
            STATELESS_CLASSES,
        )
    except ImportError as exc:
        raise ImportError(f"BFCL multi-turn rows need bfcl-eval: {BFCL_INSTALL} ({exc})") from exc
    return CLASS_FILE_PATH_MAPPING, STATELESS_CLASSES


@functools.cache
def api_class(name: str) -> type:
    """The bfcl API class of an `involved_classes` entry.

    Raises:
        ValueError: a class bfcl does not know.
        ImportError: bfcl-eval (or mpmath, which MathAPI imports) is missing.
    """
    paths, _ = _backend_modules()
    if name not in paths:
        raise ValueError(f"unknown BFCL API class {name!r}; bfcl knows: {', '.join(paths)}")
    try:
        module = importlib.import_module(paths[name])
    except ImportError as exc:
        raise ImportError(f"cannot import BFCL class {name} ({exc}); {BFCL_INSTALL}") from exc
    return getattr(module, name)


def public_methods(cls: type) -> dict[str, Any]:
    """Name -> function of the public methods of a class (bfcl's rule: no leading `_`)."""
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
    }


@functools.cache
def method_signatures(
    involved_classes: tuple[str, ...],
) -> dict[str, tuple[str, inspect.Signature]]:
    """Method name -> (class, signature without `self`) over the classes; later classes win.

    bfcl maps each method name to the last involved class that has it; so does this.
    """
    out: dict[str, tuple[str, inspect.Signature]] = {}
    for class_name in involved_classes:
        for name, function in public_methods(api_class(class_name)).items():
            signature = inspect.signature(function)
            params = list(signature.parameters.values())[1:]  # drop self
            out[name] = (class_name, signature.replace(parameters=params))
    return out


def bind_arguments(
    signature: inspect.Signature,
    args: tuple[Any, ...] = (),
    kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Positional and keyword arguments as one keyword dict, as the method would bind them.

    Raises:
        TypeError: the arguments do not fit the signature (missing, unknown or repeated).

    Example:
        >>> import inspect
        >>> bind_arguments(inspect.signature(lambda file_name, lines=10: 0), ("a.txt",))
        {'file_name': 'a.txt'}
    """
    bound = signature.bind(*args, **dict(kwargs or {}))
    for name, param in signature.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD) and name in bound.arguments:
            raise TypeError(f"*{name} arguments are not accepted")
    return dict(bound.arguments)


def render_result(result: Any) -> str:
    """A method's return value as bfcl's runner renders it (str as is, dict as JSON, else str).

    Example:
        >>> render_result({"current_working_directory": "document"})
        '{"current_working_directory": "document"}'
    """
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        try:
            return json.dumps(result)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


def _call(method: Any, kwargs: dict[str, Any]) -> tuple[bool, str]:
    """Call a bound API method as bfcl does, keeping the process's numeric settings intact."""
    before = sys.modules.get("mpmath")
    dps = before.mp.dps if before is not None else 15
    try:
        # MathAPI sets the decimal precision and mpmath's dps process-wide: both are restored.
        # A deep copy: a method may keep (and later change) a list it was given, which must not
        # be the one stored in a conversation's messages.
        with decimal.localcontext():
            result = method(**copy.deepcopy(kwargs))
        return True, render_result(result)
    except Exception as exc:  # an API method's own failure is an observation, as in bfcl
        return False, ERROR_PREFIX + str(exc)
    finally:
        mpmath = sys.modules.get("mpmath")
        if mpmath is not None:
            mpmath.mp.dps = dps


class MultiTurnEnv:
    """Fresh API instances of one multi-turn row, and the only way calls reach them.

    Args:
        metadata (`dict`): The row's metadata: `involved_classes`, `initial_config`, and
            `functions` (the offered docs; a call must name one of them).

    Raises:
        ValueError: metadata without `involved_classes`, or a class bfcl does not know.
        ImportError: bfcl-eval or mpmath is missing.

    Example:
        >>> env = MultiTurnEnv({"involved_classes": ["MathAPI"], "initial_config": {},
        ...                     "functions": [{"name": "add"}]})
        >>> env.execute("add", {"a": 1, "b": 2}), env.execute("subtract", {"a": 1, "b": 2})
        ('{"result": 3}', "Error: unknown function 'subtract'; this row offers: add")
    """

    def __init__(self, metadata: Mapping[str, Any]) -> None:
        classes = metadata.get("involved_classes") if isinstance(metadata, Mapping) else None
        if not isinstance(classes, list) or not classes:
            raise ValueError(
                "a multi-turn BFCL row needs metadata['involved_classes'] (and initial_config); "
                "load it with --problems bfcl:multi_turn_base"
            )
        _, stateless = _backend_modules()
        config = metadata.get("initial_config") or {}
        self.instances: dict[str, Any] = {}
        for class_name in classes:
            instance = api_class(class_name)()
            if class_name not in stateless:
                # A deep copy: scenarios keep references into the config they load.
                # (long_context=True is bfcl's multi_turn_long_context, not supported here.)
                instance._load_scenario(
                    copy.deepcopy(config.get(class_name, {})), long_context=False
                )
            self.instances[class_name] = instance
        functions = metadata.get("functions")
        offered = {
            f.get("name")
            for f in (functions if isinstance(functions, list) else [])
            if isinstance(f, dict)
        }
        signatures = method_signatures(tuple(classes))
        self.signatures = {n: s for n, s in signatures.items() if n in offered}
        self.offered = sorted(n for n in offered if isinstance(n, str))

    def _prepare(self, name: Any, args: tuple, kwargs: Any) -> tuple[Any, dict] | str:
        """(bound method, keyword arguments) or why the call cannot run."""
        if not isinstance(name, str) or name not in self.signatures:
            listed = ", ".join(self.offered[:40]) + (" ..." if len(self.offered) > 40 else "")
            return f"unknown function {str(name)[:80]!r}; this row offers: {listed}"
        if not isinstance(kwargs, Mapping):
            return f"{name}: arguments must be an object, got {type(kwargs).__name__}"
        class_name, signature = self.signatures[name]
        try:
            arguments = bind_arguments(signature, args, kwargs)
        except TypeError as exc:
            return f"{name}: {exc}"
        problem = value_problem(arguments)
        if problem:
            return f"{name}: {problem} in the arguments"
        for param, limit in COSTLY_ARGUMENTS.get((class_name, name), {}).items():
            value = arguments.get(param)
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and abs(value) > limit
            ):
                return f"{name}: {param}={value} is above {limit:g}, the limit of this environment"
        return getattr(self.instances[class_name], name), arguments

    def invoke(
        self, name: str, arguments: Mapping[str, Any] | None = None, args: tuple = ()
    ) -> tuple[bool, str]:
        """Run one call; never raises.

        Args:
            name: The function name.
            arguments: Keyword arguments (a model's JSON arguments).
            args: Positional arguments (parsed ground-truth call strings use them).

        Returns:
            (ran without raising, the result as bfcl renders it). A call that could not run
            (unknown name, bad arguments) is `(False, "Error during execution: <why>")`.
        """
        prepared = self._prepare(name, tuple(args), {} if arguments is None else arguments)
        if isinstance(prepared, str):
            return False, ERROR_PREFIX + prepared
        return _call(*prepared)

    def invoke_parsed(self, call: ParsedCall) -> tuple[bool, str]:
        """`invoke` for a parsed call string (positional arguments allowed)."""
        return self.invoke(call.name, call.kwargs, call.args)

    def run(self, name: str, arguments: Mapping[str, Any] | None = None) -> ToolResult:
        """One call as a `ToolResult` (for the generation loop); never raises.

        Returns:
            `ToolResult.success(rendered result)`, or a failure with code `unknown_tool` (not an
            offered method), `invalid_arguments` (arguments that do not fit or are too large)
            or `internal_error` (the method raised).
        """
        prepared = self._prepare(name, (), {} if arguments is None else arguments)
        if isinstance(prepared, str):
            code = (
                "unknown_tool" if prepared.startswith("unknown function") else "invalid_arguments"
            )
            return ToolResult.failure(code, prepared)
        ok, text = _call(*prepared)
        if ok:
            return ToolResult.success(text)
        return ToolResult.failure("internal_error", text[len(ERROR_PREFIX) :])

    def execute(self, name: str, arguments: Mapping[str, Any] | None = None) -> str:
        """The observation a model reads for one call: the result, or `Error: <why>`."""
        return self.run(name, arguments).observation()

    def implements(self, name: str) -> bool:
        """Whether the row offers a method of that name (the `ToolEnv` interface)."""
        return name in self.signatures

    def deterministic(self, name: str) -> bool:
        """Every API method is replayed and compared (the `ToolEnv` interface)."""
        return True


__all__ = [
    "COSTLY_ARGUMENTS",
    "ERROR_PREFIX",
    "MultiTurnEnv",
    "api_class",
    "bind_arguments",
    "method_signatures",
    "public_methods",
    "render_result",
]
