"""How fast does the rag BM25 retriever search, next to bm25s used directly?

Writes a corpus of N short synthetic documents (people, towns, trades; deterministic), builds
its index with `BM25Retriever.for_corpus` (cold: built and cached beside the corpus; then warm:
loaded from the cache), and runs the same Q queries through

- `BM25Retriever.search(query, k)` (our tokenizer, deterministic tie order, `Passage` objects)
- a plain bm25s loop: `retriever.retrieve(bm25s.tokenize(query), k=k)` over the same texts

in the same run, best of R rounds each, and prints

    ratio = our searches/s / plain bm25s searches/s      (target >= 0.9)

    python benchmarks/bench_rag.py [--docs 3000] [--queries 500] [--k 5] [--rounds 3]
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

SYLLABLES = "ka lo mi ren dar vel os tri bun ek sal mor qui zan fel ith por gau ne lys".split()
TRADES = "baker smith weaver sailor scribe miller potter mason tanner archer".split()


def name(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def make_docs(n: int, seed: int = 0) -> list[dict]:
    """n short documents: a person, where they were born, their trade, a year and a town."""
    rng = random.Random(seed)
    towns = sorted({f"{name(rng, 2)} {rng.choice(['Harbour', 'Ford', 'Hill', 'Vale'])}"
                    for _ in range(n // 5)})  # fmt: skip
    docs, titles = [], set()
    while len(docs) < n:
        title = f"{name(rng, 2)} {name(rng, 3)}"
        if title.casefold() in titles:
            continue
        titles.add(title.casefold())
        text = (
            f"{title} was born in {rng.choice(towns)} in {rng.randint(1800, 2000)}. "
            f"{title.split()[0]} worked as a {rng.choice(TRADES)} and later moved to "
            f"{rng.choice(towns)}, where a street is named after the family."
        )
        docs.append({"id": f"doc{len(docs)}", "title": title, "text": text})
    return docs


def make_queries(docs: list[dict], n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    forms = ["Where was {} born?", "What trade did {} have?", "{} family street", "{}"]
    return [rng.choice(forms).format(rng.choice(docs)["title"]) for _ in range(n)]


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
    parser.add_argument("--docs", type=int, default=3000, help="documents in the corpus")
    parser.add_argument("--queries", type=int, default=500, help="queries per round")
    parser.add_argument("--k", type=int, default=5, help="passages per search")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (the best counts)")
    args = parser.parse_args()
    docs = make_docs(args.docs)
    queries = make_queries(docs, args.queries)
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

    hits = sum(ours.search(q, args.k)[0].title in q for q in queries if ours.search(q, args.k))
    print(f"top-1 is the queried person for {hits}/{len(queries)} queries")
    ours_ps = per_second(lambda q: cached.search(q, args.k), queries, args.rounds)
    plain_ps = per_second(plain_search, queries, args.rounds)
    print(f"BM25Retriever.search: {ours_ps:,.0f} searches/s (k={args.k}, {len(queries)} queries)")
    print(f"plain bm25s retrieve: {plain_ps:,.0f} searches/s")
    print(f"ratio: {ours_ps / plain_ps:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
