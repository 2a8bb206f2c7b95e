"""The `python` tool: model-written code run in the sandbox, its stdout as the observation.

It registers like the arithmetic tools (`get_registry("python")`, `"arithmetic+python"`), so
generation, verification and `ToolRegistry.trl_tools()` run it through the same `execute()`:

    >>> from mentor_data.tools import execute, get_registry
    >>> execute("python", {"code": "print(sum(range(10)))"}, get_registry("python")).output
    '45'

Observations are canonical and bounded: stdout with trailing whitespace removed (a program that
prints nothing gets `NO_OUTPUT`, so the model learns to print); on failure an error with a code:

| code | when |
|---|---|
| `runtime_error` | the code raised (the message ends with the traceback) or exited non-zero |
| `timeout` | it ran past the CPU-time or the wall-clock limit |
| `memory_limit` | it allocated past the address-space limit |
| `output_limit` | it printed more than the output bound (it is stopped at once) |
| `too_large` | the code is longer than `SandboxLimits.code_chars` |
| `sandbox_error` | the sandbox itself failed (logged): not the model's fault |

Deterministic code gives the same observation on every run, so verify can re-execute calls.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from mentor_data.tools.arithmetic import ToolError

if TYPE_CHECKING:  # the sandbox is imported on the first call: arithmetic-only users skip it
    from mentor_data.tools.sandbox import SandboxLimits, SandboxPool, SandboxResult

logger = logging.getLogger(__name__)

NO_OUTPUT = "(no output; print() the values you need)"
"""The observation of a successful run that printed nothing."""
MAX_ERROR_CHARS = 1_500
"""Characters of stderr (its tail) and of partial stdout (its head) in an error message."""

PYTHON_SCHEMA = {
    "type": "function",
    "function": {
        "name": "python",
        "description": (
            "Run a Python 3 program in a sandbox and return what it prints to stdout. Only "
            "the standard library is available; there is no network, no subprocess and no "
            "persistent state between calls; time, memory and output are limited."
        ),
        "parameters": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "description": "The complete program; print() every value you need.",
                }
            },
            "required": ["code"],
        },
    },
}
"""OpenAI schema of `python`; equal to `transformers.utils.get_json_schema(python)`, less its
`"return"` entry (tested)."""


class SandboxToolError(ToolError):
    """A run that did not end well; `code` is the result code of the tool call."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _head(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + "\n[...]"


def _tail(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


def observation(result: SandboxResult, limits: SandboxLimits) -> str:
    """The canonical observation of a run, or raise `SandboxToolError` with a clear message.

    Args:
        result: The sandbox's result.
        limits: The limits it ran under (named in the messages).

    Returns:
        stdout without trailing whitespace, or `NO_OUTPUT`.

    Raises:
        SandboxToolError: for every status but `ok`.

    Example:
        >>> from mentor_data.tools.sandbox import SandboxLimits, SandboxResult
        >>> observation(SandboxResult("ok", stdout="391\\n"), SandboxLimits())
        '391'
    """
    out = result.stdout.rstrip()
    printed = f"\nOutput before that:\n{_head(out)}" if out else ""
    if result.status == "ok":
        return out or NO_OUTPUT
    if result.status == "error":
        err = _tail(result.stderr.rstrip())
        if err:
            raise SandboxToolError("runtime_error", f"the code failed:\n{err}{printed}")
        raise SandboxToolError(
            "runtime_error", f"the code exited with status {result.exit_code}{printed}"
        )
    if result.status == "timeout":
        raise SandboxToolError(
            "timeout", f"the code ran longer than the {limits.wall_s:g}-second limit{printed}"
        )
    if result.status == "cpu_limit":
        raise SandboxToolError(
            "timeout", f"the code used more than {limits.cpu_s:g} seconds of CPU time{printed}"
        )
    if result.status == "memory_limit":
        raise SandboxToolError(
            "memory_limit", f"the code used more than {limits.memory_mb} MB of memory{printed}"
        )
    if result.status == "output_limit":
        raise SandboxToolError(
            "output_limit",
            f"the code printed more than {limits.output_bytes} bytes and was stopped; print "
            f"less (a summary, not every value). The start of the output:\n{_head(out, 500)}",
        )
    if result.status == "killed":
        raise SandboxToolError(
            "runtime_error", f"the code crashed (signal {result.detail}){printed}"
        )
    if result.status == "code_too_long":
        raise SandboxToolError(
            "too_large", f"the code is too long ({result.detail}); write a shorter program"
        )
    logger.warning("python sandbox failed: %s", result.detail)
    raise SandboxToolError("sandbox_error", "the sandbox failed to run the code; try again")


def make_python_tool(pool: SandboxPool | None = None, limits: SandboxLimits | None = None):
    """A `python(code)` function running in `pool` (default: the process-wide pool).

    Args:
        pool: The sandbox pool; None means `sandbox.default_pool()` at call time.
        limits: The limits of each run; None means the pool's.

    Returns:
        A function named `python` with the docstring that `PYTHON_SCHEMA` is built from.
    """

    def python(code: str) -> str:
        """Run a Python 3 program in a sandbox and return what it prints to stdout. Only the standard library is available; there is no network, no subprocess and no persistent state between calls; time, memory and output are limited.

        Args:
            code: The complete program; print() every value you need.
        """  # noqa: E501 (get_json_schema reads the description from the first paragraph)
        from mentor_data.tools.sandbox import default_pool

        runner = pool or default_pool()
        in_force = limits or runner.limits
        return observation(runner.run(code, in_force), in_force)

    return python


python = make_python_tool()
"""The `python` tool on the process-wide sandbox pool."""
