"""RAG problems: the built-in fictional world, or a user's FlashRAG-format questions and corpus.

| spec | problems |
|---|---|
| `rag:builtin` | the built-in world's questions (`mentor_data.rag.world`), every split and type |
| `rag:builtin?split=train&types=bridge,compute&n=500&offset=0&seed=0` | a selection |
| `rag:questions.jsonl?corpus=corpus.jsonl` | FlashRAG-format questions over a user's corpus |
| `rag:questions.jsonl?retriever=http://host:8000/retrieve` | the same, searched remotely |

The built-in world is generated on first use (seconds) into the cache folder
(`$MENTOR_CACHE_DIR/rag/`, default `~/.cache/mentor/rag/`), with its BM25 index beside it; rows
name it `builtin:SEED`, so they verify on any machine. FlashRAG questions are JSONL objects with
`question` and `golden_answers` (a list; the first is the answer, all are accepted) and an
optional `id`; extra fields go to `metadata`. Every problem records where its searches go
(`metadata.corpus`, `metadata.retriever`): verify re-runs them against the same index.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qs

from mentor_data.problems import Problem

RAG_PREFIX = "rag:"
"""The problem-spec prefix of RAG problems."""
RAG_DOMAIN = "rag"
"""The `domain` of RAG problems and rows."""
BUILTIN = "builtin"
WORLD_VERSION = 1
"""Bumped when the generated world changes: a new cache folder, never a stale one."""
_KEYS = ("n", "offset", "seed", "split", "types", "corpus", "retriever")
_SPLITS = ("train", "held_out", "all")


def cache_dir() -> Path:
    """Where generated worlds and their indexes live."""
    root = os.environ.get("MENTOR_CACHE_DIR") or Path.home() / ".cache" / "mentor"
    return Path(root) / "rag"


def builtin_files(seed: int = 0) -> tuple[Path, Path]:
    """The built-in world's `corpus.jsonl` and `questions.jsonl`, generated once per seed."""
    from mentor_data.rag.questions import write_builtin

    out = cache_dir() / f"builtin-v{WORLD_VERSION}-seed{seed}"
    corpus, questions = out / "corpus.jsonl", out / "questions.jsonl"
    if not (corpus.is_file() and questions.is_file()):
        tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        write_builtin(tmp, seed=seed)
        try:
            tmp.rename(out)  # atomic: a racing process's folder wins, ours is dropped
        except OSError:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return corpus, questions


def corpus_path(name: str | None) -> str | None:
    """A problem's `metadata.corpus` as a file: `builtin:SEED` resolves to the cache."""
    if isinstance(name, str) and name.startswith(f"{BUILTIN}:"):
        return str(builtin_files(int(name.split(":", 1)[1]))[0])
    return name


def _options(spec: str) -> tuple[str, dict[str, str]]:
    body = spec[len(RAG_PREFIX) :]
    target, _, query = body.partition("?")
    options: dict[str, str] = {}
    for key, values in parse_qs(query, keep_blank_values=True).items():
        if key not in _KEYS:
            raise ValueError(f"{spec!r}: unknown option {key!r}; use {', '.join(_KEYS)}")
        options[key] = values[-1]
    from mentor_data.problems.loaders import spec_size

    for key in ("n", "offset", "seed"):
        if key in options:  # a non-negative integer within MAX_PROBLEMS (n) / MAX_INDEX
            spec_size(spec, key, options[key])
    return target.strip() or BUILTIN, options


def _records(path: Path, spec: str) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise ValueError(f"{spec!r}: no questions file {str(path)!r}")
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{path}: line {number}: not valid JSON ({exc})") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}: line {number}: expected an object")
        out.append((number, record))
    return out


def _problem(record: dict, number: int, path: Path, corpus: str | None, url: str | None) -> Problem:
    where = f"{path}: line {number}"
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{where}: field 'question' must be a non-empty string")
    golds = record.get("golden_answers")
    if golds is None and record.get("answer") is not None:
        golds = [record["answer"]]
    if isinstance(golds, str):
        golds = [golds]
    if not isinstance(golds, list) or not [g for g in golds if str(g).strip()]:
        raise ValueError(
            f"{where}: no answers: give 'golden_answers' (a list, FlashRAG format) or 'answer'"
        )
    golds = [str(g) for g in golds if str(g).strip()]
    metadata = dict(record.get("metadata") or {})
    for key, value in record.items():
        if key not in ("id", "question", "answer", "golden_answers", "metadata"):
            metadata.setdefault(key, value)
    metadata.update(aliases=golds, corpus=corpus, retriever=url)
    if isinstance(metadata.get("program"), list):
        metadata["program"] = _ordered(metadata["program"], question)
    metadata.setdefault("family", metadata.get("type"))
    return Problem(
        id=str(record.get("id", f"{path.stem}-{number}")),
        question=question,
        answer=golds[0],
        domain=RAG_DOMAIN,
        source=path.name,
        metadata=metadata,
    )


def _check_search(corpus: str | None, url: str | None, query: str, spec: str) -> None:
    """Fail now, not in the middle of a run: load the corpus (its index is built and cached) or
    ask the retrieval server one question."""
    from mentor_data.rag.corpus import RetrieverError, get_retriever

    retriever = get_retriever(None if url else corpus, url)
    if url:
        try:
            retriever.search(query, 1)
        except RetrieverError as exc:
            raise ValueError(f"{spec!r}: the retriever does not answer: {exc}") from None


def _ordered(program: list, question: str) -> list:
    """The program with `after` lists: a step whose arguments all appear in the question can run
    at once; any other step uses what the steps before it found (a search for a name the first
    search returned, a sum of found numbers), so the solver never batches it with them."""
    out = []
    for i, step in enumerate(program):
        if not isinstance(step, dict):
            return program
        values = [str(v) for v in (step.get("arguments") or {}).values()]
        known = all(v.lower() in question.lower() for v in values)
        out.append(step if known or i == 0 else {**step, "after": list(range(i))})
    return out


def _interleave(problems: list[Problem]) -> list[Problem]:
    """Question types round-robin, so that `?n=100` of the built-in set holds every type."""
    by_type: dict[str, list[Problem]] = {}
    for p in problems:
        by_type.setdefault(str(p.metadata.get("type")), []).append(p)
    queues = list(by_type.values())
    out: list[Problem] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out.extend(q[i] for q in queues if i < len(q))
    return out


def load_rag_problems(spec: str, *, limit: int | None = None, seed: int = 0) -> list[Problem]:
    """The problems of a `rag:` spec (see the module docstring for the forms).

    Raises:
        ValueError: a bad spec, file, record (the message names the line and field), or a
            corpus that does not load (`mentor_data.rag.corpus.CorpusError`).
    """
    target, options = _options(spec)
    url = options.get("retriever") or None
    if target == BUILTIN:
        seed = int(options.get("seed", seed))
        corpus_file, path = builtin_files(seed)
        corpus = f"{BUILTIN}:{seed}"
    else:
        path = Path(target)
        corpus = options.get("corpus")
        if corpus is None and url is None:
            raise ValueError(
                f"{spec!r}: say where to search: ?corpus=corpus.jsonl (a local BM25 index) or "
                "?retriever=URL (a FlashRAG-style retrieval server)"
            )
        if corpus is not None:
            corpus = str(Path(corpus).resolve())
        corpus_file = corpus
    problems = [_problem(r, n, path, corpus, url) for n, r in _records(path, spec)]
    _check_search(corpus_file, url, problems[0].question if problems else "test", spec)
    if target == BUILTIN:
        problems = _interleave(problems)
    split = options.get("split", "all")
    if split not in _SPLITS:
        raise ValueError(f"{spec!r}: split={split!r}; use {', '.join(_SPLITS)}")
    if split != "all":
        problems = [p for p in problems if p.metadata.get("split") == split]
    if options.get("types"):
        wanted = [t.strip() for t in options["types"].split(",") if t.strip()]
        known = sorted({str(p.metadata.get("type")) for p in problems})
        unknown = [t for t in wanted if t not in known]
        if unknown:
            raise ValueError(f"{spec!r}: unknown type(s) {unknown}; known: {', '.join(known)}")
        problems = [p for p in problems if p.metadata.get("type") in wanted]
    offset = int(options.get("offset", 0))
    n = int(options["n"]) if "n" in options else limit
    return problems[offset:] if n is None else problems[offset : offset + n]


__all__ = [
    "BUILTIN",
    "RAG_DOMAIN",
    "RAG_PREFIX",
    "builtin_files",
    "cache_dir",
    "corpus_path",
    "load_rag_problems",
]
