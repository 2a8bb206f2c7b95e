"""The RAG tools: `search` for ranked snippets, `open_page` for a whole document, and two
arithmetic tools for questions that compute.

The tools are typed functions bound to one retriever (`mentor_data.rag.corpus`), turned into
`Tool`s with the same schema builder as a user's tools. Their outputs are plain text, bounded,
and a function of the corpus and the arguments only, so verify re-runs a search against the same
index and compares the text. Question types need different tool sets (search only, search and
`open_page`, search and `subtract`, ...): what the MENTOR reward's tool-set term pays for.
"""

from __future__ import annotations

from typing import Any

from mentor_data.rag.world import SNIPPET_CHARS  # the world writes its facts around it
from mentor_data.tools import ARITHMETIC, Tool, ToolError, ToolRegistry

MAX_K = 10
"""Most passages one search returns."""
PAGE_CHARS = 4_000
"""Most characters `open_page` returns."""
ARITHMETIC_TOOLS = ("add", "subtract")
"""The arithmetic tools a RAG row offers (compute questions)."""


class RagToolError(ToolError):
    """A search or page request that failed for a reason the model should read."""

    code = "tool_error"


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 3].rstrip() + "..."


def render_passages(passages: list[Any]) -> str:
    """The text a model reads for a search: numbered titles and snippets.

    Example:
        >>> from types import SimpleNamespace as P
        >>> print(render_passages([P(title="Blorvia", text="A city.")]))
        [1] Blorvia
        A city.
    """
    if not passages:
        return "No results."
    return "\n\n".join(f"[{i}] {p.title}\n{_snippet(p.text)}" for i, p in enumerate(passages, 1))


def rag_tools(retriever: Any) -> list[Tool]:
    """`search` and `open_page` over a retriever, then `add` and `subtract`.

    Args:
        retriever: Has `search(query, k) -> passages` and `document(title) -> passage | None`;
            None gives tools that only describe themselves (their calls fail with a message).
    """
    from mentor_data.tools.functions import function_tool

    def search(query: str, k: int = 3) -> str:
        """Search the document collection; returns the best-matching pages with the first lines
        of each.

        Args:
            query: What to look for, e.g. a name or a short question.
            k: How many pages to return (1 to 10).
        """
        if retriever is None:
            raise RagToolError("no corpus is loaded")
        try:
            return render_passages(retriever.search(query, max(1, min(int(k), MAX_K))))
        except RuntimeError as exc:  # a remote retriever that failed after its retries
            raise RagToolError(f"the search failed: {exc}") from None

    def open_page(title: str) -> str:
        """Open a page by its exact title; returns its whole text.

        Args:
            title: The page title, as `search` shows it.
        """
        if retriever is None:
            raise RagToolError("no corpus is loaded")
        try:
            page = retriever.document(title)
        except RuntimeError as exc:
            raise RagToolError(f"opening the page failed: {exc}") from None
        if page is None:
            raise RagToolError(f"no page titled {title!r}; search for it first")
        text = " ".join(page.text.split())
        return f"{page.title}\n{text[:PAGE_CHARS]}"

    # Local BM25 answers in microseconds and cannot hang: no worker thread per call. A remote
    # retriever bounds its own requests (timeout and retries).
    own = [function_tool(search, timeout_s=None), function_tool(open_page, timeout_s=None)]
    return [*own, *ARITHMETIC.subset(ARITHMETIC_TOOLS)]


def rag_registry(retriever: Any) -> ToolRegistry:
    """The RAG tools over a retriever, as a registry."""
    return ToolRegistry(rag_tools(retriever))


__all__ = [
    "ARITHMETIC_TOOLS",
    "MAX_K",
    "RagToolError",
    "PAGE_CHARS",
    "SNIPPET_CHARS",
    "rag_registry",
    "rag_tools",
    "render_passages",
]
