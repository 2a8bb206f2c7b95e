"""The BFCL function-calling domain: problems, conversations, environment and judge in one object.

The core reaches everything BFCL through `DOMAIN` (`get_domain("bfcl")`):

- problems: `--problems bfcl:CATEGORY[,...]` (`data.load_bfcl_problems`);
- conversations: the row's own opening and later user turns (`conversation.open_conversation`);
  AST and irrelevance rows record their calls without running them (the calls are judged),
  multi-turn rows run them on live API instances (`executor.MultiTurnEnv`);
- the judge: bfcl-eval's checkers (`checker.judge_bfcl`) on the calls grouped per user turn,
  never a `\\boxed{}` answer. Rewards (strict) count a malformed call block as wrong; eval uses
  BFCL's leaderboard rule (`mentor_data.bfcl.scoring.eval_verdict`);
- reports: the family is the category; eval adds parse-failure rates and the leaderboard groups.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from mentor_data.bfcl import BFCL_DOMAIN, BFCL_PREFIX, BFCL_REASONS, BFCL_SYSTEM_PROMPT
from mentor_data.domains.base import Domain, Judgement, Opening, as_metadata
from mentor_data.formats import ParsedCompletion

NO_METADATA = (
    "a bfcl row without its BFCL metadata (category, ground_truth, functions): generate it from "
    "--problems bfcl:CATEGORY"
)


class BfclDomain(Domain):
    """Function calling on the Berkeley Function Calling Leaderboard (see the module docstring)."""

    name = BFCL_DOMAIN
    problem_prefix = BFCL_PREFIX
    system_prompt = BFCL_SYSTEM_PROMPT
    user_turns = True
    # Calling a function the row does not offer is the checker's `unknown_function`, judged.
    check_offered = False
    reasons = (
        *(r for r in BFCL_REASONS if r != "malformed_call"),
        "no_ground_truth",
        "judge_error",
    )
    # Irrelevance rows are right to call nothing: the checker judges the calls (or none).
    min_calls = 0
    card_summary = (
        "a chat with function calls (BFCL function calling: the calls are the answer; "
        "multi-turn rows also hold the executed results)"
    )
    # BFCL's questions, functions and ground truth are human-written, not synthetic.
    card_tags = ("bfcl",)
    card_synthetic = False
    eval_groups_key = "bfcl_groups"

    def load_problems(self, spec: str, *, limit: int | None = None, seed: int = 0):
        from mentor_data.bfcl.data import load_bfcl_problems  # imports bfcl_eval's data lazily

        return load_bfcl_problems(spec, limit=limit)

    def open_conversation(self, problem, system_prompt: str | None) -> Opening:
        from mentor_data.bfcl.conversation import open_conversation

        return open_conversation(problem, system_prompt)

    def environment(self, row: Mapping[str, Any]):
        """A multi-turn row's fresh API instances; None for AST rows (their calls are judged).

        Raises:
            ValueError: a row without its BFCL metadata (verify: reason `error`).
        """
        metadata = as_metadata(row.get("metadata"))
        if not metadata or "category" not in metadata:
            raise ValueError(NO_METADATA)
        if not metadata.get("involved_classes"):
            return None
        from mentor_data.bfcl.executor import MultiTurnEnv

        return MultiTurnEnv(metadata)

    def grpo_problem(self, row: Mapping[str, Any], mode: str) -> str | None:
        from mentor_data.bfcl.scoring import MULTI_TURN, category

        if mode != "none":
            return (
                "BFCL rows offer their own functions, which are judged, not run: set "
                f"tool_registry: none (not {mode!r}) so each prompt shows its row's tools "
                "(recipes/tiny-cpu-bfcl-grpo-mentor.yaml)"
            )
        if row.get("metadata") is None:
            return (
                "BFCL rows but no metadata column, so their calls cannot be judged: train on "
                "the verified store version (NAME@vN), which carries it"
            )
        name = category(row.get("metadata"))
        if name in MULTI_TURN:
            return (
                f"multi-turn BFCL rows ({name}): GRPO with tool_registry: none trains one "
                "assistant turn "
                "against the first user message and runs no API, so those rows cannot be scored. "
                "Generate the GRPO data from single-turn categories (bfcl:simple_python,multiple,"
                "parallel,parallel_multiple,irrelevance); multi-turn rows are fine for SFT"
            )
        return None

    def reference_calls(self, problem) -> list[list[dict]] | None:
        from mentor_data.bfcl.oracle import oracle_calls

        return oracle_calls(problem.metadata)

    def reference_usable(self, row: Mapping[str, Any]) -> bool:
        from mentor_data.bfcl import scoring as bfcl

        return bfcl.usable_metadata(row.get("metadata")) is not None

    def judge(
        self,
        row: Mapping[str, Any],
        completion: Any,
        *,
        parsed: ParsedCompletion | None = None,
        strict: bool = True,
        timeout_s: float = 5.0,
    ) -> Judgement:
        from mentor_data.bfcl import scoring as bfcl
        from mentor_data.bfcl.checker import UNJUDGED_REASONS, judge_bfcl

        metadata = as_metadata(row.get("metadata"))
        if not metadata or "category" not in metadata:
            return Judgement(None, "error", NO_METADATA)
        meta = bfcl.usable_metadata(metadata)
        if strict:
            calls, malformed = bfcl.completion_calls(completion)
            if malformed:  # a half-written call is never right (rewards; verify sees none)
                return Judgement(
                    False, "malformed_call", f"{malformed} call block(s) did not parse"
                )
            try:
                verdict = judge_bfcl(metadata, calls)
            except ValueError as exc:  # metadata that is not a BFCL row's
                return Judgement(None, "error", str(exc)[:300])
            if verdict.correct:
                return Judgement(True, "ok")
            if verdict.correct is None:
                reason = verdict.reason if verdict.reason in UNJUDGED_REASONS else "judge_error"
                return Judgement(None, reason, verdict.detail or None)
            return Judgement(False, verdict.reason or "wrong_call", verdict.detail or None)
        if meta is None:
            calls, malformed = bfcl.completion_calls(completion)
            extra = _eval_extra(calls, "no_gold", None, malformed)
            return Judgement(None, "no_ground_truth", None, extra)
        result = bfcl.eval_verdict(meta, completion)
        extra = _eval_extra(result.calls, result.verdict, result.reason, result.parse_failure)
        if result.correct:
            return Judgement(True, "ok", None, extra)
        if result.correct is None:
            return Judgement(None, "judge_error", None, extra)
        return Judgement(False, result.reason or "wrong_call", None, extra)

    def family(self, metadata: Any) -> str | None:
        meta = as_metadata(metadata)
        family = (meta.get("family") or meta.get("category")) if meta else None
        return None if family is None else str(family)

    def eval_report(self, rows: Sequence[Mapping[str, Any]]) -> dict | None:
        n = len(rows)
        return {
            "parse_failure_rate": sum(bool(r.get("parse_failure")) for r in rows) / n if n else 0.0,
            "irrelevance_parse_failures": sum(
                r["verdict"] == "abstain_parse_failure" for r in rows
            ),
        }

    def eval_groups(self, per_family: Mapping[str, Mapping[str, Any]]) -> dict | None:
        from mentor_data.bfcl.scoring import group_metrics

        return group_metrics({f: (m["n"], m["accuracy"]) for f, m in per_family.items()}) or None

    def format_eval_report(self, result: Any) -> str | None:
        """Per-category and per-group accuracy of a BFCL eval (an `EvalResult`) as Markdown."""
        lines = [
            f"BFCL eval of {result.label} ({result.summary['n']} problems)",
            "",
            "| category | n | accuracy | parse failures | irrelevance parse passes | tool sim |",
            "|---|---|---|---|---|---|",
        ]

        def line(name: str, m: Mapping[str, Any]) -> str:
            sim = m.get("tool_similarity")
            return (
                f"| {name} | {m['n']} | {100 * m['accuracy']:.1f}% | "
                f"{100 * m.get('parse_failure_rate', 0.0):.1f}% | "
                f"{m.get('irrelevance_parse_failures', 0)} | "
                f"{'-' if sim is None else f'{sim:.2f}'} |"
            )

        for family, m in result.per_family.items():
            lines.append(line(family, m))
        lines.append(line("**overall**", result.summary))
        if result.groups:
            lines += ["", "| group | n | accuracy | mean category accuracy |", "|---|---|---|---|"]
            for group, g in result.groups.items():
                lines.append(
                    f"| {group} | {g['n']} | {100 * g['accuracy']:.1f}% | "
                    f"{100 * g['mean_category_accuracy']:.1f}% |"
                )
        return "\n".join(lines)

    def card_limitations(self) -> list[str]:
        return [
            "BFCL rows come from the Berkeley Function Calling Leaderboard (bfcl-eval, "
            "Apache-2.0): its questions, functions and ground truth. Trajectories of the "
            "`oracle` teacher replay that ground truth; models evaluated on BFCL should not be "
            "trained on the same ids (use the `split` in `metadata`)."
        ]

    def card_notes(self) -> str | None:
        return (
            "BFCL rows are judged by their calls instead of an answer: bfcl-eval's AST "
            "checker (single-turn categories), no call at all (irrelevance), or the state of "
            "live API instances after each user turn compared with the ground truth's "
            "(multi-turn); see docs/bfcl.md for the reason codes."
        )


def _eval_extra(calls: Any, verdict: str, reason: str | None, parse_failure: Any) -> dict:
    return {
        "prediction": json.dumps(calls, ensure_ascii=False, default=str),
        "verdict": verdict,
        "parse_failure": bool(parse_failure),
        "bfcl_reason": reason,
    }


DOMAIN = BfclDomain()
"""The BFCL domain instance (`get_domain("bfcl")`)."""

__all__ = ["DOMAIN", "BfclDomain"]
