"""Function calling on the Berkeley Function Calling Leaderboard (BFCL): data, judge, oracle.

BFCL ships its data set and its checkers in the PyPI package `bfcl-eval`; this package turns
them into mentor problems and judges trajectories with them, offline:

- `data`: locate the data, convert function docs to OpenAI tools, the stable train/held-out
  split, `load_bfcl_problems("bfcl:...")`;
- `calls`: parse BFCL call strings (`cd(folder='document')`) with `ast`; never `eval`;
- `executor`: `MultiTurnEnv`, the live API instances of a multi-turn row (public methods only);
- `checker`: `judge_bfcl(metadata, calls)`: bfcl's AST checker, irrelevance, multi-turn state;
- `oracle`: `oracle_calls(metadata)`, the ground truth replayed as calls;
- `conversation`: how a BFCL row opens and runs in the generation loop.

Importing this package imports nothing from `bfcl_eval`; the modules import it when used and
fail with the install command when it is missing (see `BFCL_INSTALL`).
"""

from __future__ import annotations

BFCL_DOMAIN = "bfcl"
"""The `domain` of BFCL problems and trajectory rows."""

BFCL_PREFIX = "bfcl:"
"""The problem-spec prefix of BFCL problems (`bfcl:simple_python?n=50`)."""

BFCL_VERSION = "2026.3.23"
"""The bfcl-eval release this package is written and tested against."""

BFCL_INSTALL = f"pip install --no-deps bfcl-eval=={BFCL_VERSION} mpmath"
"""How to install bfcl-eval: --no-deps, because its declared dependencies pin numpy 1.26.4 and
pull cloud SDKs, faiss and an old vLLM, none of which the data and the Python checkers need."""

BFCL_SYSTEM_PROMPT = (
    "You are an expert in composing functions. You are given a question and a set of possible "
    "functions. Based on the question, you will need to make one or more function/tool calls to "
    "achieve the purpose. If none of the functions can be used, point it out. If the given "
    "question lacks the parameters required by the function, also point it out.\n\n"
    "At each turn, you should try your best to complete the tasks requested by the user within "
    "the current turn. Continue to output functions to call until you have fulfilled the "
    "user's request to the best of your ability. Once you have no more functions to call, the "
    "system will consider the current turn complete and proceed to the next turn or task."
)
"""The system prompt of BFCL rows when `GenerationConfig.system_prompt` is None (the arithmetic
prompt asks for `\\boxed{}` answers, which BFCL does not judge). Wording after BFCL's own
default system prompt (`classic` style: persona, task, multi-turn behaviour) without its
output-format and function-list sections: the tools go to the model natively (`tools=`)."""

BFCL_REASONS = (
    "wrong_call",
    "wrong_arguments",
    "wrong_type",
    "missing_argument",
    "missing_call",
    "extra_call",
    "unknown_function",
    "wrong_order",
    "unexpected_call",
    "wrong_state",
    "malformed_call",
)
"""Reason codes of a failed BFCL verdict (verify's reason column; docs/bfcl.md)."""

__all__ = [
    "BFCL_DOMAIN",
    "BFCL_INSTALL",
    "BFCL_PREFIX",
    "BFCL_REASONS",
    "BFCL_SYSTEM_PROMPT",
    "BFCL_VERSION",
]
