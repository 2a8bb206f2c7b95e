"""Problems in: the `Problem` a teacher solves, built-in families and loaders for files and stores.

A problem is a question, an optional ground-truth answer and the tools offered with it. Built-in
problems also carry a reference solution program (`metadata["program"]`): a list of tool calls
whose arguments are numbers or references `"$k"` to the output of step k,

    [{"tool": "multiply", "arguments": {"a": 4, "b": 3}, "note": "the cost of the pens"},
     {"tool": "subtract", "arguments": {"a": 20, "b": "$0"}, "note": "the change"}]

which the `solver` teacher turns into a trajectory and tests run against the real executor.

`load_problems(spec)` is the one entry point; a spec is

| spec | problems |
|---|---|
| `builtin:FAMILY[,FAMILY...]` | built-in families, interleaved round-robin |
| `builtin:in_domain`, `builtin:held_out`, `builtin:all` | every family of that split |
| `bfcl:CATEGORY[,...]?split=train&n=100` | BFCL function calling (`mentor_data.bfcl.data`) |
| `...?n=500&offset=1000&seed=1` | 500 problems from global index 1000, problem seed 1 |
| `NAME@vN` (or `NAME`, `NAME@latest`) | the distinct problems of a store version |
| `path.jsonl`, `.json`, `.parquet`, `.csv` | one problem per line / item / row |
| a folder | a `datasets.save_to_disk` folder |

Built-in specs default to `n=1000` (or `limit`), `offset=0` and the `seed` argument. The same
(family, seed, index) is always the same problem with the same id, so `offset` windows of one
spec never overlap: `builtin:in_domain?n=5000` for training and
`builtin:in_domain?n=500&offset=5000` for an in-domain test set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mentor_data.tools import ARITHMETIC, ToolRegistry, ToolResult, execute

_REF_RE = re.compile(r"^\$(\d+)$")


@dataclass(frozen=True)
class Problem:
    """One problem for a teacher.

    Args:
        id (`str`): Stable id; with the sample index it keys a trajectory row.
        question (`str`): The user turn.
        answer (`str` or `None`): Ground truth as text; None when the source has none.
        domain (`str`, *optional*, defaults to `"arithmetic"`): The `domain` column.
        source (`str`, *optional*): Origin: `builtin:FAMILY`, a file name or a store reference.
        tools (`tuple[dict, ...]`, *optional*): Tool schemas offered on this row (OpenAI form);
            empty means the domain's default tools (see `offered_tools`).
        metadata (`dict`, *optional*): Facts of the source: `family`, `split` (`in_domain` or
            `held_out`), `n_steps`, `program` (the reference solution), ...
    """

    id: str
    question: str
    answer: str | None
    domain: str = "arithmetic"
    source: str = ""
    tools: tuple[dict, ...] = ()
    metadata: dict = field(default_factory=dict)

    @property
    def program(self) -> list[dict] | None:
        """The reference solution program, or None when the problem has none."""
        program = self.metadata.get("program") if isinstance(self.metadata, dict) else None
        return program if isinstance(program, list) and program else None

    def offered_tools(self) -> list[dict]:
        """The tool schemas offered with the problem (its domain's default tools when none are
        set: the twelve arithmetic tools for built-in problems)."""
        if self.tools:
            return list(self.tools)
        from mentor_data.domains import get_domain

        return get_domain(self.domain).default_tools()


# Shared, never mutated: 10,000 problems must not each deep-copy twelve schemas.
ARITHMETIC_SCHEMAS: tuple[dict, ...] = tuple(ARITHMETIC.schemas())


def parse_number(text: str) -> int | float:
    """A rendered tool output (`"391"`, `"0.333333333333"`, `"1e+20"`) as a number.

    Raises:
        ValueError: when the text is not a number.
    """
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


def resolve_arguments(arguments: Any, outputs: list[str]) -> Any:
    """Replace `"$k"` references in program arguments with the number step k returned.

    Args:
        arguments: A step's arguments (dicts and lists are walked).
        outputs: The rendered outputs of the steps run so far.

    Returns:
        The arguments a model would write, with every reference replaced by a number.

    Raises:
        ValueError: a reference to a step that has not run or did not return a number.

    Example:
        >>> resolve_arguments({"a": "$0", "b": [2, "$1"]}, ["36", "0.5"])
        {'a': 36, 'b': [2, 0.5]}
    """
    if isinstance(arguments, dict):
        return {k: resolve_arguments(v, outputs) for k, v in arguments.items()}
    if isinstance(arguments, list):
        return [resolve_arguments(v, outputs) for v in arguments]
    if isinstance(arguments, str):
        match = _REF_RE.match(arguments)
        if match:
            k = int(match.group(1))
            if k >= len(outputs):
                raise ValueError(f"reference {arguments} to a step that has not run")
            return parse_number(outputs[k])
    return arguments


def run_program(program: list[dict], registry: ToolRegistry = ARITHMETIC) -> list[ToolResult]:
    """Execute a reference program step by step with the real executor.

    Stops at the first failed step (its result is the last one returned).

    Example:
        >>> prog = [{"tool": "multiply", "arguments": {"a": 4, "b": 3}},
        ...         {"tool": "subtract", "arguments": {"a": 20, "b": "$0"}}]
        >>> [r.output for r in run_program(prog)]
        ['12', '8']
    """
    results: list[ToolResult] = []
    outputs: list[str] = []
    for step in program:
        result = execute(step["tool"], resolve_arguments(step["arguments"], outputs), registry)
        results.append(result)
        if not result.ok:
            break
        outputs.append(result.output)
    return results


from mentor_data.problems.builtin import FAMILIES, SPLITS, Family  # noqa: E402
from mentor_data.problems.loaders import load_problems, parse_builtin_spec  # noqa: E402

__all__ = [
    "ARITHMETIC_SCHEMAS",
    "FAMILIES",
    "SPLITS",
    "Family",
    "Problem",
    "load_problems",
    "parse_builtin_spec",
    "parse_number",
    "resolve_arguments",
    "run_program",
]
