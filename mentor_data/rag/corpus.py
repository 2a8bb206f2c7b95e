"""The rag corpus and its retrievers: a local BM25 index (bm25s) or a FlashRAG-style server.

A corpus is a JSONL file, one `{"id", "title", "text"}` object a line. `BM25Retriever` indexes
`title + " " + text` and caches the index beside the corpus (`<corpus>.bm25s/`), keyed by the
sha256 of the corpus file; `mentor_data.rag.remote.RemoteRetriever` speaks the `POST /retrieve`
protocol of the FlashRAG / Search-R1 `retrieval_server.py`. `get_retriever` picks one and keeps
one loaded retriever per corpus version per process, so verify and generate index a corpus once.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import shutil
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:  # bm25s costs ~0.5 s to import: only BM25 users pay it
    import bm25s

logger = logging.getLogger(__name__)

MAX_K = 20
"""The most passages one search returns (a larger `k` is clamped)."""

CACHE_FORMAT = 1
"""Bumped when the tokenizer or the cache layout changes: older caches are then rebuilt."""

META_NAME = "mentor_meta.json"

_TOKEN = re.compile(r"(?u)\b\w+\b")  # single characters kept: "Route 9" must match "9"

INDEX_BUILDS = 0
"""How many BM25 indexes this process built (not loaded from a cache); tests read it."""


class CorpusError(ValueError):
    """A corpus file that cannot be used; the message names the file, the line and the fix."""


class RetrieverError(RuntimeError):
    """A retrieval server that failed; the message names the URL, the failure and what to try."""


@dataclass(frozen=True)
class Passage:
    """One document of the corpus, or one search hit.

    Args:
        id (`str`): The document id.
        title (`str`): Its title (unique in a corpus, `open_page` looks pages up by it).
        text (`str`): Its text.
        score (`float`, *optional*, defaults to `0.0`): The retrieval score of a hit.
    """

    id: str
    title: str
    text: str
    score: float = 0.0


@dataclass
class Corpus:
    """A validated corpus file.

    Args:
        path (`Path`): The JSONL file.
        docs (`list[Passage]`): Its documents in file order (the BM25 tie order).
        fingerprint (`str`): The sha256 of the file bytes (the index cache key).
    """

    path: Path
    docs: list[Passage]
    fingerprint: str
    _exact: dict[str, Passage] = field(init=False, repr=False)
    _folded: dict[str, Passage] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._exact = {d.title: d for d in self.docs}
        self._folded = {d.title.casefold(): d for d in self.docs}

    @classmethod
    def load(cls, path: str | Path) -> Corpus:
        """Read and validate a JSONL corpus.

        Args:
            path: The corpus file.

        Returns:
            The corpus.

        Raises:
            CorpusError: A missing file, a directory, a bad line, a duplicate id or title, or a
                file without documents.
        """
        path = Path(path)
        return cls.parse(path, read_corpus_bytes(path))

    @classmethod
    def parse(cls, path: Path, data: bytes) -> Corpus:
        """`load` of bytes already read from `path` (named in errors); raises `CorpusError`."""
        docs: list[Passage] = []
        id_lines: dict[str, int] = {}
        title_lines: dict[str, int] = {}
        for lineno, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            doc = _parse_line(path, lineno, raw)
            if doc.id in id_lines:
                raise CorpusError(
                    f"{path}:{lineno}: duplicate id {doc.id!r} (also on line {id_lines[doc.id]}); "
                    "give every document its own id"
                )
            # Unique ignoring case, because `by_title` falls back to a case-insensitive match.
            folded = doc.title.casefold()
            if folded in title_lines:
                raise CorpusError(
                    f"{path}:{lineno}: duplicate title {doc.title!r} (also on line "
                    f"{title_lines[folded]}); titles must be unique ignoring case, because "
                    "pages are opened by title: rename one or merge the two documents"
                )
            id_lines[doc.id] = title_lines[folded] = lineno
            docs.append(doc)
        if not docs:
            raise CorpusError(
                f"{path} has no documents; write one JSON object per line: "
                '{"id": "...", "title": "...", "text": "..."}'
            )
        return cls(path=path, docs=docs, fingerprint=hashlib.sha256(data).hexdigest())

    def by_title(self, title: str) -> Passage | None:
        """The document titled `title` (whitespace ignored): exact match, else ignoring case."""
        title = title.strip()
        return self._exact.get(title) or self._folded.get(title.casefold())

    def __len__(self) -> int:
        return len(self.docs)


def read_corpus_bytes(path: Path) -> bytes:
    """The bytes of a corpus file; `CorpusError` when it is missing, a directory or unreadable."""
    if path.is_dir():
        raise CorpusError(f"{path} is a directory, not a corpus file; pass the JSONL file in it")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(
            f"no such corpus file: {path}; check the path or generate the corpus first"
        ) from None
    except OSError as exc:
        raise CorpusError(
            f"cannot read the corpus file {path}: {exc}; check its permissions"
        ) from exc


def _parse_line(path: Path, lineno: int, raw: bytes) -> Passage:
    where = f"{path}:{lineno}"
    try:
        obj = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CorpusError(f"{where}: not UTF-8 text; save the corpus as UTF-8") from None
    except json.JSONDecodeError as exc:
        raise CorpusError(
            f"{where}: not valid JSON ({exc.msg}); write one JSON object per line"
        ) from None
    if not isinstance(obj, dict):
        raise CorpusError(
            f"{where}: expected a JSON object, got {type(obj).__name__}; write one object "
            'per line: {"id": "...", "title": "...", "text": "..."}'
        )
    values = []
    for key in ("id", "title", "text"):
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            problem = "missing" if value is None else f"not a non-empty string ({value!r:.40})"
            raise CorpusError(
                f"{where}: field {key!r} is {problem}; every document needs a non-empty string "
                "id, title and text"
            )
        values.append(value)
    return Passage(*values)


def clamp_k(k: int, size: int | None = None) -> int:
    """`k` clamped to [1, MAX_K] and, when given, to the corpus size."""
    k = max(1, min(MAX_K, int(k)))
    return k if size is None else min(k, size)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens minus English stopwords (repeats kept: BM25 counts them)."""
    stop = _stopwords()
    return [t for t in _TOKEN.findall(text.lower()) if t not in stop]


@functools.cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN  # bm25s's own English list: no stemmer dependency

    return frozenset(STOPWORDS_EN)


@runtime_checkable
class Retriever(Protocol):
    """What the rag tools need: ranked search and a page by title."""

    def search(self, query: str, k: int = 5) -> list[Passage]: ...

    def document(self, title: str) -> Passage | None: ...


class BM25Retriever:
    """BM25 (bm25s, Lucene scoring) over `title + " " + text` of a corpus.

    Args:
        corpus (`Corpus`): The corpus.
        index (`bm25s.BM25`): Its index (`for_corpus` builds or loads it).
        cache_path (`Path` or `None`): Where the index is cached (None: not cached).
        built (`bool`): True when this instance built the index rather than loading it.
    """

    def __init__(
        self, corpus: Corpus, index: bm25s.BM25, cache_path: Path | None, built: bool
    ) -> None:
        self.corpus = corpus
        self.index = index
        self.cache_path = cache_path
        self.built = built
        self._vocab: dict[str, int] = index.vocab_dict

    @classmethod
    def for_corpus(cls, corpus: Corpus, cache_dir: str | Path | None = None) -> BM25Retriever:
        """Load the cached index of a corpus, or build and cache it.

        Args:
            corpus: The corpus.
            cache_dir: A folder for the cache when the corpus folder is read-only; the index
                goes to `<cache_dir>/<corpus file name>.bm25s/`. Default: `<corpus path>.bm25s/`.

        Returns:
            The retriever. A stale cache (another corpus fingerprint, bm25s version or format)
            is rebuilt; a corrupt one too, with a warning; an unwritable cache folder only
            warns (the index then lives in memory).
        """
        folder = corpus.path.with_name(corpus.path.name + ".bm25s")
        if cache_dir is not None:
            folder = Path(cache_dir) / folder.name
        meta = _cache_meta(corpus)
        index = _load_cached(folder, meta)
        if index is not None:
            return cls(corpus, index, folder, built=False)
        index = _build_index(corpus)
        try:
            _save_atomically(index, meta, folder)
        except OSError as exc:
            logger.warning(
                "could not cache the BM25 index at %s (%s); it stays in memory. Pass a "
                "writable cache_dir to keep it between runs",
                folder,
                exc,
            )
            folder = None
        return cls(corpus, index, folder, built=True)

    def search(self, query: str, k: int = 5) -> list[Passage]:
        """The best passages for a query.

        Args:
            query: Free text.
            k: How many, clamped to [1, MAX_K] and to the corpus size.

        Returns:
            Up to k passages with a positive score, best first; ties in corpus order, so
            re-running a search gives the same list. A blank query, or one whose words are in
            no document, gives [].
        """
        ids = [self._vocab[t] for t in tokenize(query) if t in self._vocab]
        if not ids:
            return []
        scores = self.index.get_scores_from_ids(ids)
        k = clamp_k(k, len(scores))
        # argpartition/argsort order ties arbitrarily: keep every document scoring at least the
        # k-th best score, then sort by (score desc, corpus position) for a deterministic order.
        kth = np.partition(scores, len(scores) - k)[len(scores) - k] if k < len(scores) else 0.0
        hits = np.flatnonzero(scores >= kth) if kth > 0 else np.flatnonzero(scores > 0)
        hits = hits[np.lexsort((hits, -scores[hits]))][:k]
        docs = self.corpus.docs
        return [
            Passage(docs[i].id, docs[i].title, docs[i].text, float(scores[i]))
            for i in hits.tolist()
        ]

    def document(self, title: str) -> Passage | None:
        """The corpus document with this title (exact, then ignoring case), or None."""
        return self.corpus.by_title(title)


def _cache_meta(corpus: Corpus) -> dict[str, Any]:
    from bm25s.version import __version__

    n, fingerprint = len(corpus), corpus.fingerprint
    return {"fingerprint": fingerprint, "format": CACHE_FORMAT, "bm25s": __version__, "num_docs": n}


def _build_index(corpus: Corpus) -> bm25s.BM25:
    global INDEX_BUILDS
    import bm25s

    vocab: dict[str, int] = {}
    ids = [
        [vocab.setdefault(t, len(vocab)) for t in tokenize(f"{d.title} {d.text}")]
        for d in corpus.docs
    ]
    index = bm25s.BM25()
    # No "" token: bm25s would give it an id outside the score matrix; our queries never have it.
    index.index((ids, vocab), create_empty_token=False, show_progress=False)
    INDEX_BUILDS += 1
    return index


def _load_cached(folder: Path, meta: dict[str, Any]) -> bm25s.BM25 | None:
    """The cached index when it matches `meta`; None (rebuild) when absent, stale or corrupt."""
    if not folder.exists():
        return None
    stored = _read_meta(folder)
    if stored is None:
        logger.warning("the BM25 cache %s has no readable %s; rebuilding it", folder, META_NAME)
        return None
    if stored != meta:
        logger.info("the BM25 cache %s is for another corpus version; rebuilding it", folder)
        return None
    import bm25s

    # A cache is disposable: anything wrong with its files means "rebuild", never a crash.
    try:
        index = bm25s.BM25.load(folder)
        _check_index(index, meta["num_docs"])
    except Exception as exc:  # noqa: BLE001
        logger.warning("the BM25 cache %s is corrupt (%r); rebuilding it", folder, exc)
        return None
    return index


def _read_meta(folder: Path) -> Any:
    try:
        return json.loads((folder / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _check_index(index: bm25s.BM25, num_docs: int) -> None:
    s = index.scores
    n_tokens = len(s["indptr"]) - 1
    if s["num_docs"] != num_docs or len(s["data"]) != len(s["indices"]):
        raise ValueError("array sizes do not match the corpus")
    if s["indptr"][-1] != len(s["data"]) or max(index.vocab_dict.values()) >= n_tokens:
        raise ValueError("the vocabulary does not match the score matrix")
    if len(s["indices"]) and int(s["indices"].max()) >= num_docs:
        raise ValueError("a document index is out of range")


def _save_atomically(index: bm25s.BM25, meta: dict[str, Any], folder: Path) -> None:
    """Write the index into a temporary folder, then rename it into place.

    Readers only ever see a complete cache, and two processes racing each leave a complete one.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the cache is as readable as the corpus
    try:
        index.save(tmp)
        (tmp / META_NAME).write_text(json.dumps(meta), encoding="utf-8")  # last: marks it done
        try:
            tmp.rename(folder)
            return
        except OSError:
            pass  # the folder exists: stale, corrupt, or just written by a racing process
        # Replace it whatever it holds: a racing process's copy is as good as ours, and ours is
        # known good (a copy with the right meta may still have corrupt arrays).
        old = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex}")
        try:
            folder.rename(old)
        except FileNotFoundError:
            pass  # a racing process moved it aside first
        try:
            tmp.rename(folder)
        except OSError:
            pass  # a racing process put its own fresh copy in between: equally good
        _remove(old)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


_RETRIEVERS: dict[tuple[str, str], BM25Retriever] = {}
_RETRIEVERS_LOCK = threading.Lock()


def get_retriever(
    corpus_path: str | Path | None,
    url: str | None = None,
    *,
    timeout_s: float = 10.0,
    max_retries: int = 3,
    cache_dir: str | Path | None = None,
) -> Retriever:
    """The retriever for a corpus file or a retrieval server, one per corpus version per process.

    Args:
        corpus_path: A JSONL corpus (BM25, index cached beside it); None with `url`.
        url: A FlashRAG/Search-R1 `/retrieve` endpoint instead of a corpus.
        timeout_s: Per request to `url`.
        max_retries: Retries of a failed request to `url`.
        cache_dir: Where to cache the BM25 index when the corpus folder is read-only.

    Returns:
        A `BM25Retriever` (shared while the corpus file is unchanged) or a `RemoteRetriever`.

    Raises:
        ValueError: Both or neither of `corpus_path` and `url`.
        CorpusError: A bad corpus.
    """
    if (corpus_path is None) == (url is None):
        raise ValueError("give either a corpus path or a retriever URL (exactly one)")
    if url is not None:
        from mentor_data.rag.remote import RemoteRetriever

        return RemoteRetriever(url, timeout_s=timeout_s, max_retries=max_retries)
    path = Path(corpus_path).resolve()
    data = read_corpus_bytes(path)
    key = (str(path), hashlib.sha256(data).hexdigest())
    # One lock for all: two threads asking for the same corpus must not both build it.
    with _RETRIEVERS_LOCK:
        if key not in _RETRIEVERS:
            for stale in [other for other in _RETRIEVERS if other[0] == key[0]]:
                del _RETRIEVERS[stale]  # the file changed: drop the old version's index
            corpus = Corpus.parse(path, data)
            _RETRIEVERS[key] = BM25Retriever.for_corpus(corpus, cache_dir=cache_dir)
        return _RETRIEVERS[key]
