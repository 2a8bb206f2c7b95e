"""Tools a model can call: the registry, the twelve arithmetic tools, a sandboxed `python` tool
and a safe executor.

    >>> from mentor_data.tools import ARITHMETIC, execute
    >>> execute("multiply", {"a": 17, "b": 23}).observation()
    '391'
    >>> ARITHMETIC.schemas()[0]["function"]["name"]
    'add'

Importing this package does not import transformers: the schemas are written out in
`schemas.py` (and tested against `get_json_schema`).
"""

from mentor_data.tools.arithmetic import (
    MAX_LIST_LENGTH,
    MAX_MAGNITUDE,
    MathError,
    TooLargeError,
    ToolError,
)
from mentor_data.tools.executor import (
    MAX_ARGUMENTS_CHARS,
    ToolResult,
    execute,
    execute_batch,
    render_number,
    validate_arguments,
)
from mentor_data.tools.registry import ARITHMETIC, PYTHON, Tool, ToolRegistry, get_registry

__all__ = [
    "ARITHMETIC",
    "MAX_ARGUMENTS_CHARS",
    "MAX_LIST_LENGTH",
    "MAX_MAGNITUDE",
    "MathError",
    "PYTHON",
    "Tool",
    "ToolError",
    "ToolRegistry",
    "ToolResult",
    "TooLargeError",
    "execute",
    "execute_batch",
    "get_registry",
    "render_number",
    "validate_arguments",
]
