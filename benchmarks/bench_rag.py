"""How fast does the rag BM25 retriever search, next to bm25s used directly?

Writes the built-in fictional world's corpus (2,440 pages), builds its index with
`BM25Retriever.for_corpus` (cold: built and cached beside the corpus; then warm: loaded from
the cache), and runs the same Q queries (its questions' search queries) through

- the `search` tool as a model calls it: `execute("search", {"query", "k"})` -> the bounded
  executor -> `BM25Retriever.search` -> the rendered snippets (what the ratio is about);
- `BM25Retriever.search(query, k)` alone (our tokenizer, deterministic tie order, `Passage`s);
- a plain bm25s loop: `retriever.retrieve(bm25s.tokenize(query), k=k)` over the same texts

in the same run, best of R rounds each, and prints

    ratio = search-tool calls/s / plain bm25s searches/s      (target >= 0.9)

    python benchmarks/bench_rag.py [--queries 500] [--k 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bm25s  # noqa: E402

from mentor_data.rag.corpus import BM25Retriever, Corpus  # noqa: E402


def world_docs_and_queries(n_queries: int, seed: int = 0) -> tuple[list[dict], list[str]]:
    """The built-in world's pages, and the search queries of its questions' reference programs
    (names and short queries, as the solver teacher and the students send them)."""
    from mentor_data.rag.questions import world_questions
    from mentor_data.rag.world import build_world, world_documents

    world = build_world(seed)
    queries = [
        step["arguments"]["query"]
        for q in world_questions(world, seed=seed)
        for step in q["program"]
        if step["tool"] == "search"
    ]
    rng = random.Random(seed)
    return world_documents(world), rng.sample(queries, min(n_queries, len(queries)))


def per_second(fn, queries: list[str], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for q in queries:
            fn(q)
        best = min(best, time.perf_counter() - start)
    return len(queries) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=500, help="queries per round")
    parser.add_argument("--k", type=int, default=3, help="passages per search (the tool's default)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the best counts)")
    args = parser.parse_args()
    docs, queries = world_docs_and_queries(args.queries)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.jsonl"
        path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
        start = time.perf_counter()
        corpus = Corpus.load(path)
        loaded = time.perf_counter() - start
        start = time.perf_counter()
        ours = BM25Retriever.for_corpus(corpus)
        built = time.perf_counter() - start
        start = time.perf_counter()
        cached = BM25Retriever.for_corpus(corpus)
        warm = time.perf_counter() - start
        assert ours.built and not cached.built
        print(f"corpus: {len(corpus)} documents read and validated in {loaded * 1000:.0f} ms")
        print(f"index: built and cached in {built * 1000:.0f} ms, loaded from the cache in "
              f"{warm * 1000:.0f} ms")  # fmt: skip

    plain = bm25s.BM25()
    texts = [f"{d['title']} {d['text']}" for d in docs]
    plain.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    def plain_search(q: str) -> None:
        tokens = bm25s.tokenize(q, stopwords="en", show_progress=False)
        plain.retrieve(tokens, k=args.k, show_progress=False)

    from mentor_data.rag.tools import rag_registry
    from mentor_data.tools import execute

    tools = rag_registry(cached)
    hits = sum(bool(r) and r[0].title == q for q in queries for r in [cached.search(q, args.k)])
    print(f"top-1 is the queried page for {hits}/{len(queries)} queries")
    tool_ps = per_second(
        lambda q: execute("search", {"query": q, "k": args.k}, tools), queries, args.rounds
    )
    ours_ps = per_second(lambda q: cached.search(q, args.k), queries, args.rounds)
    plain_ps = per_second(plain_search, queries, args.rounds)
    print(f"search tool (executor):  {tool_ps:,.0f} calls/s (k={args.k}, {len(queries)} queries)")
    print(f"BM25Retriever.search:    {ours_ps:,.0f} searches/s")
    print(f"plain bm25s retrieve:    {plain_ps:,.0f} searches/s")
    print(f"ratio: {tool_ps / plain_ps:.2f} (search tool / plain bm25s; target >= 0.9)")


if __name__ == "__main__":
    main()
