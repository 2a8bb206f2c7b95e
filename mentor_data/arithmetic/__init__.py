"""The built-in arithmetic domain: math word problems solved with twelve calculator tools.

The MENTOR paper's math domain at CPU scale. The problems are the built-in families
(`mentor_data.problems.builtin`, `--problems builtin:...`), the tools the twelve arithmetic tools
(`mentor_data.tools.arithmetic`), the judge the base `Domain`'s: the final `\\boxed{}` answer
against the `answer` column. Files of problems that name no domain belong here too.
"""

from __future__ import annotations

from mentor_data.domains.base import DEFAULT_SYSTEM_PROMPT, Domain
from mentor_data.tools import ARITHMETIC, ToolRegistry

BUILTIN_PREFIX = "builtin:"
"""The problem-spec prefix of the built-in families (`builtin:in_domain?n=100`)."""


class ArithmeticDomain(Domain):
    """Built-in math word problems with the twelve arithmetic tools (see the module docstring)."""

    name = "arithmetic"
    problem_prefix = BUILTIN_PREFIX
    system_prompt = DEFAULT_SYSTEM_PROMPT
    # Arithmetic rows carry whole reference programs in `metadata`, and neither the tools nor the
    # judge read them: verify skips decoding the column.
    reads_metadata = False

    def card_limitations(self) -> list[str]:
        return [
            "Synthetic arithmetic word problems are templated: phrasing and numbers vary, "
            "problem structure less so. Models trained on them may not transfer to other domains."
        ]

    def default_registry(self) -> ToolRegistry:
        return ARITHMETIC

    def load_problems(self, spec: str, *, limit: int | None = None, seed: int = 0):
        from mentor_data.problems.loaders import (
            DEFAULT_BUILTIN_N,
            builtin_problems,
            parse_builtin_spec,
        )

        names, options = parse_builtin_spec(spec, seed=seed)
        n = options["n"]
        if n is None:
            n = limit if limit is not None else DEFAULT_BUILTIN_N
        elif limit is not None:
            n = min(n, limit)  # make only the problems that will be kept
        return builtin_problems(names, n, options["offset"], options["seed"])


DOMAIN = ArithmeticDomain()
"""The arithmetic domain instance (`get_domain("arithmetic")`)."""

__all__ = ["BUILTIN_PREFIX", "DOMAIN", "ArithmeticDomain"]
