"""The RAG domain: multi-hop questions answered with search tools over a corpus.

The core reaches everything RAG through `DOMAIN` (`get_domain("rag")`):

- problems: `--problems rag:builtin?...` (the generated fictional world) or FlashRAG-format
  questions over a user's corpus or a remote retriever (`mentor_data.rag.data`);
- tools: `search`, `open_page`, `add`, `subtract` (`mentor_data.rag.tools`), bound to the row's
  corpus (`metadata.corpus`, a local BM25 index built once and cached beside it) or retrieval
  server (`metadata.retriever`); verify re-runs every search against the same index;
- the judge: exact match after answer normalisation against every acceptable answer
  (`metadata.aliases`), token F1 reported beside it (`mentor_data.rag.judge`);
- the family of a row is its question type; eval adds EM and F1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from mentor_data.domains import Domain, Judgement, ToolEnv, as_metadata, executable_tools
from mentor_data.formats import ParsedCompletion, parse_completion
from mentor_data.rag.data import RAG_DOMAIN, RAG_PREFIX, corpus_path, load_rag_problems
from mentor_data.rag.judge import exact_match, token_f1
from mentor_data.tools import ToolRegistry

RAG_SYSTEM_PROMPT = (
    "You answer questions about a collection of documents. Use the tools: search for the "
    "people, places and organisations the question names, open a page when the facts you need "
    "are not in the search snippet, and use the arithmetic tools for any calculation. Read each "
    "result before the next step; do not guess facts. Give the final answer, as short as "
    "possible (a name or a number), inside \\boxed{}, for example \\boxed{Lumera}."
)

_registries: dict[tuple, tuple[tuple, ToolRegistry]] = {}


def _stamp(path: str | None) -> tuple:
    """What changes when a corpus file changes (its index is then rebuilt)."""
    if path is None:
        return ()
    try:
        stat = os.stat(path)
    except OSError:
        return ("missing",)
    return (stat.st_mtime_ns, stat.st_size)


def rag_tools_for(corpus: str | None, retriever: str | None) -> ToolRegistry:
    """The RAG tools over one corpus or retrieval server, built once per process (and again when
    the corpus file changes)."""
    from mentor_data.rag.corpus import get_retriever
    from mentor_data.rag.tools import rag_registry

    path = corpus_path(corpus)
    key = (path, retriever)
    stamp = _stamp(path)
    cached = _registries.get(key)
    if cached is None or cached[0] != stamp:
        if path is None and retriever is None:
            raise ValueError(
                "a rag row without metadata.corpus or metadata.retriever: nothing to search; "
                "load problems with --problems rag:..."
            )
        found = get_retriever(path if retriever is None else None, retriever)
        _registries[key] = (stamp, rag_registry(found))
    return _registries[key][1]


class RagDomain(Domain):
    """Retrieval-augmented multi-hop QA (see the module docstring)."""

    name = RAG_DOMAIN
    problem_prefix = RAG_PREFIX
    system_prompt = RAG_SYSTEM_PROMPT
    card_summary = (
        "a multi-turn chat in which a teacher answers a multi-hop question with search tools "
        "over a document collection, with the retrieved passages and a final `\\boxed{}` answer"
    )
    card_tags = ("rag", "retrieval", "multi-hop-qa")

    def default_registry(self) -> ToolRegistry:
        # Schemas only (what problems are offered and `tools list` shows): no corpus is bound.
        from mentor_data.rag.tools import rag_registry

        return rag_registry(None)

    def load_problems(self, spec: str, *, limit: int | None = None, seed: int = 0):
        return load_rag_problems(spec, limit=limit, seed=seed)

    def environment(self, row: Mapping[str, Any]) -> ToolEnv:
        """The row's offered tools over its own corpus or retriever (stateless: shared)."""
        metadata = as_metadata(row.get("metadata")) or {}
        tools = rag_tools_for(metadata.get("corpus"), metadata.get("retriever"))
        return ToolEnv(executable_tools(tools, row.get("tools")))

    def reference_usable(self, row: Mapping[str, Any]) -> bool:
        return bool(_golds(row))

    def judge(
        self,
        row: Mapping[str, Any],
        completion: Any,
        *,
        parsed: ParsedCompletion | None = None,
        strict: bool = True,
        timeout_s: float = 5.0,
    ) -> Judgement:
        parsed = parsed if parsed is not None else parse_completion(completion)
        answer = parsed.answer
        if answer is None:
            return Judgement(False, "no_answer", "no \\boxed{...} in the final assistant turn")
        golds = _golds(row)
        if not golds:
            return Judgement(None, "no_ground_truth", "the row has no answer and no aliases")
        em, f1 = exact_match(answer, golds), token_f1(answer, golds)
        extra = {"em": em, "f1": round(f1, 4)}
        if em:
            return Judgement(True, "ok", None, extra)
        detail = f"answer {answer[:80]!r}, accepted {golds[:3]!r} (token F1 {f1:.2f})"
        return Judgement(False, "wrong_answer", detail, extra)

    def family(self, metadata: Any) -> str | None:
        meta = as_metadata(metadata)
        family = (meta.get("family") or meta.get("type")) if meta else None
        return None if family is None else str(family)

    def eval_report(self, rows: Sequence[Mapping[str, Any]]) -> dict | None:
        n = len(rows)
        return {
            "exact_match": sum(bool(r.get("em")) for r in rows) / n if n else 0.0,
            "f1": sum(float(r.get("f1") or 0.0) for r in rows) / n if n else 0.0,
        }

    def format_eval_report(self, result: Any) -> str | None:
        lines = [
            f"RAG eval of {result.label} ({result.summary['n']} questions)",
            "",
            "| question type | n | EM | F1 | calls/question | tool-set match |",
            "|---|---|---|---|---|---|",
        ]
        for family, m in [*result.per_family.items(), ("**overall**", result.summary)]:
            match = m.get("tool_set_match_rate")
            lines.append(
                f"| {family} | {m['n']} | {100 * m.get('exact_match', 0.0):.1f}% | "
                f"{100 * m.get('f1', 0.0):.1f}% | {m['calls_per_problem']:.2f} | "
                f"{'-' if match is None else f'{100 * match:.1f}%'} |"
            )
        return "\n".join(lines)

    def grpo_problem(self, row: Mapping[str, Any], mode: str) -> str | None:
        if mode != "domain":
            return (
                "RAG rows search their own corpus: set tool_registry: domain (not "
                f"{mode!r}) so each rollout runs the row's search tools"
            )
        return None

    def card_limitations(self) -> list[str]:
        return [
            "The built-in RAG world is fictional and generated: its people, places and "
            "organisations do not exist, and its questions follow a few templates per type."
        ]


def _golds(row: Mapping[str, Any]) -> list[str]:
    metadata = as_metadata(row.get("metadata")) or {}
    golds = [str(a) for a in metadata.get("aliases") or [] if str(a).strip()]
    answer = row.get("answer")
    if isinstance(answer, str | int | float) and str(answer).strip() and str(answer) not in golds:
        golds.insert(0, str(answer))
    return golds


DOMAIN = RagDomain()
"""The RAG domain instance (`get_domain("rag")`)."""

__all__ = ["DOMAIN", "RAG_SYSTEM_PROMPT", "RagDomain", "rag_tools_for"]
