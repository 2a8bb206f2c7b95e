"""The rag corpus and its retrievers: real corpus files, real caches, a real HTTP server."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mentor_data.rag import corpus as rag
from mentor_data.rag.corpus import (
    BM25Retriever,
    Corpus,
    CorpusError,
    Passage,
    Retriever,
    RetrieverError,
    get_retriever,
)
from mentor_data.rag.remote import RemoteRetriever

DOCS = [
    {"id": "d1", "title": "Marn Velloway", "text": "Marn Velloway was born in Oskar Harbour."},
    {"id": "d2", "title": "Oskar Harbour", "text": "Oskar Harbour is a port town in Treluvia."},
    {"id": "d3", "title": "Treluvia", "text": "Treluvia is a kingdom whose capital is Dunmere."},
    {"id": "d4", "title": "Twin Two", "text": "The silver river flows north."},
    {"id": "d5", "title": "Twin One", "text": "The silver river flows north."},
] + [
    {"id": f"f{i}", "title": f"Filler {i}", "text": f"Filler record number {i} of the archive."}
    for i in range(25)
]


def write_corpus(path, docs=DOCS):
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


@pytest.fixture
def corpus_path(tmp_path):
    return write_corpus(tmp_path / "corpus.jsonl")


# ---------------------------------------------------------------- loading


def test_load_reads_documents_and_lookups(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(DOCS[0]) + "\n\n  \n" + json.dumps(DOCS[1]) + "\n")
    corpus = Corpus.load(path)
    assert len(corpus) == 2 and corpus.path == path
    assert corpus.docs[0] == Passage("d1", "Marn Velloway", DOCS[0]["text"])
    assert len(corpus.fingerprint) == 64
    assert corpus.by_title("Oskar Harbour").id == "d2"
    assert corpus.by_title(" oskar HARBOUR ").id == "d2"
    assert corpus.by_title("Nowhere") is None


GOOD = '{"id": "a", "title": "A", "text": "x"}\n'


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "has no documents"),
        ("\n  \n", "has no documents"),
        (
            GOOD + '{"id": "a", "title": "B", "text": "y"}',
            "c.jsonl:2: duplicate id 'a' (also on line 1)",
        ),
        (
            GOOD + '{"id": "b", "title": "a", "text": "y"}',
            "c.jsonl:2: duplicate title 'a' (also on line 1)",
        ),
        (GOOD + '{"id": "b", "title": \n', "c.jsonl:2: not valid JSON"),
        ('["a", "A", "x"]\n', "c.jsonl:1: expected a JSON object, got list"),
        ('{"id": "a", "text": "x"}\n', "c.jsonl:1: field 'title' is missing"),
        ('{"id": "a", "title": " ", "text": "x"}', "c.jsonl:1: field 'title' is not a non-empty"),
        ('{"id": 7, "title": "A", "text": "x"}\n', "c.jsonl:1: field 'id' is not a non-empty"),
    ],
)
def test_load_refuses_bad_corpora(tmp_path, content, expected):
    path = tmp_path / "c.jsonl"
    path.write_text(content)
    with pytest.raises(CorpusError) as info:
        Corpus.load(path)
    assert expected in str(info.value)


def test_load_refuses_missing_file_and_directory(tmp_path):
    with pytest.raises(CorpusError, match="no such corpus file"):
        Corpus.load(tmp_path / "nope.jsonl")
    with pytest.raises(CorpusError, match="is a directory"):
        Corpus.load(tmp_path)
    with pytest.raises(CorpusError, match="no such corpus file"):
        get_retriever(str(tmp_path / "nope.jsonl"))


# ---------------------------------------------------------------- BM25 search


def test_bm25_ranks_the_right_document_first(corpus_path):
    retriever = BM25Retriever.for_corpus(Corpus.load(corpus_path))
    assert isinstance(retriever, Retriever)
    assert retriever.search("Where was Marn Velloway born?", 3)[0].title == "Marn Velloway"
    assert retriever.search("port town", 3)[0].title == "Oskar Harbour"
    assert retriever.search("capital of Treluvia", 3)[0].title == "Treluvia"
    hits = retriever.search("Dunmere", 5)
    assert [h.id for h in hits] == ["d3"] and hits[0].score > 0  # only documents that match
    assert retriever.document("treluvia").id == "d3" and retriever.document("x") is None


def test_bm25_is_deterministic_with_ties_in_corpus_order(corpus_path):
    first = BM25Retriever.for_corpus(Corpus.load(corpus_path))
    second = BM25Retriever.for_corpus(Corpus.load(corpus_path))  # loaded from the cache
    assert first.built and not second.built
    twins = first.search("silver river flows north", 2)
    assert [p.title for p in twins] == ["Twin Two", "Twin One"]  # equal scores: file order
    assert twins[0].score == twins[1].score
    for query in ["silver river", "filler record archive", "Oskar Harbour Treluvia", "zzz"]:
        assert first.search(query, 20) == second.search(query, 20) == first.search(query, 20)


def test_bm25_clamps_k_and_ignores_blank_queries(corpus_path):
    retriever = BM25Retriever.for_corpus(Corpus.load(corpus_path))
    assert len(retriever.search("filler record", 0)) == 1
    assert len(retriever.search("filler record", -3)) == 1
    assert len(retriever.search("filler record", 100)) == 20  # MAX_K
    assert len(retriever.search("silver river", 100)) == 2  # only the matching documents
    assert retriever.search("", 5) == [] and retriever.search("   \n", 5) == []
    assert retriever.search("the of is", 5) == []  # stopwords only


def test_small_corpus_clamps_k_to_its_size(tmp_path):
    path = write_corpus(tmp_path / "small.jsonl", DOCS[:2])
    retriever = BM25Retriever.for_corpus(Corpus.load(path))
    assert [p.id for p in retriever.search("Oskar Harbour", 20)] == ["d2", "d1"]


# ---------------------------------------------------------------- the index cache


def test_index_is_cached_beside_the_corpus_and_reused(corpus_path):
    builds = rag.INDEX_BUILDS
    first = BM25Retriever.for_corpus(Corpus.load(corpus_path))
    folder = corpus_path.with_name("corpus.jsonl.bm25s")
    assert first.cache_path == folder and folder.is_dir()
    meta = json.loads((folder / rag.META_NAME).read_text())
    assert meta["fingerprint"] == Corpus.load(corpus_path).fingerprint
    assert rag.INDEX_BUILDS == builds + 1
    second = BM25Retriever.for_corpus(Corpus.load(corpus_path))
    assert not second.built and rag.INDEX_BUILDS == builds + 1
    assert not list(corpus_path.parent.glob(".corpus.jsonl.bm25s.*"))  # no temp folders left


def test_changed_corpus_rebuilds_the_index(corpus_path):
    BM25Retriever.for_corpus(Corpus.load(corpus_path))
    extra = {"id": "new", "title": "Quillon Spire", "text": "A tower of glass."}
    write_corpus(corpus_path, DOCS + [extra])
    builds = rag.INDEX_BUILDS
    retriever = BM25Retriever.for_corpus(Corpus.load(corpus_path))
    assert retriever.built and rag.INDEX_BUILDS == builds + 1
    assert retriever.search("glass tower", 1)[0].id == "new"
    assert not BM25Retriever.for_corpus(Corpus.load(corpus_path)).built


@pytest.mark.parametrize("damage", ["npy", "meta", "vocab", "file"])
def test_corrupt_cache_is_rebuilt_with_a_warning(corpus_path, caplog, damage):
    corpus = Corpus.load(corpus_path)
    expected = BM25Retriever.for_corpus(corpus).search("silver river", 5)
    folder = corpus_path.with_name("corpus.jsonl.bm25s")
    if damage == "npy":
        (folder / "data.csc.index.npy").write_bytes(b"not numpy")
    elif damage == "meta":
        (folder / rag.META_NAME).write_text("{broken")
    elif damage == "vocab":
        (folder / "vocab.index.json").write_text('{"silver": 999999}')
    else:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
        folder.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="mentor_data.rag.corpus"):
        retriever = BM25Retriever.for_corpus(corpus)
    assert retriever.built and "rebuilding" in caplog.text
    assert retriever.search("silver river", 5) == expected
    assert not BM25Retriever.for_corpus(corpus).built  # the rebuilt cache is good
    assert not [p for p in corpus_path.parent.iterdir() if p.name.startswith(".")]


def test_cache_dir_is_used_when_given(corpus_path, tmp_path):
    cache = tmp_path / "cache"
    first = BM25Retriever.for_corpus(Corpus.load(corpus_path), cache_dir=cache)
    assert first.cache_path == cache / "corpus.jsonl.bm25s" and first.cache_path.is_dir()
    assert not corpus_path.with_name("corpus.jsonl.bm25s").exists()
    assert not BM25Retriever.for_corpus(Corpus.load(corpus_path), cache_dir=cache).built


def test_unwritable_cache_folder_only_warns(corpus_path, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="mentor_data.rag.corpus"):
        retriever = BM25Retriever.for_corpus(Corpus.load(corpus_path), cache_dir=blocker / "x")
    assert retriever.cache_path is None and "could not cache" in caplog.text
    assert retriever.search("port town", 1)[0].id == "d2"


def test_racing_builds_leave_one_good_cache(corpus_path):
    corpus = Corpus.load(corpus_path)
    results: list = []
    threads = [
        threading.Thread(target=lambda: results.append(BM25Retriever.for_corpus(corpus)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({tuple(r.search("silver river", 5)) for r in results}) == 1
    assert not BM25Retriever.for_corpus(corpus).built
    names = sorted(p.name for p in corpus_path.parent.iterdir())
    assert names == ["corpus.jsonl", "corpus.jsonl.bm25s"]  # no temporary folders left


def test_get_retriever_keeps_one_per_corpus_version(corpus_path):
    first = get_retriever(str(corpus_path))
    assert get_retriever(corpus_path) is first
    write_corpus(corpus_path, DOCS[:3])
    second = get_retriever(str(corpus_path))
    assert second is not first and len(second.corpus) == 3
    with pytest.raises(ValueError, match="exactly one"):
        get_retriever(None)
    with pytest.raises(ValueError, match="exactly one"):
        get_retriever(str(corpus_path), "http://127.0.0.1:1/retrieve")


# ---------------------------------------------------------------- the remote retriever


def flashrag_answer(query: str, topk: int, return_scores: bool) -> dict:
    """What FlashRAG's /retrieve answers: word-overlap ranking over DOCS."""
    words = set(query.lower().split())
    scored = [
        (len(words & set(f"{d['title']} {d['text']}".lower().split())), i, d)
        for i, d in enumerate(DOCS)
    ]
    scored.sort(key=lambda t: (-t[0], t[1]))
    docs = [
        ({"id": d["id"], "contents": f'"{d["title"]}"\n{d["text"]}'}, float(s))
        for s, _, d in scored[:topk]
    ]
    items = [{"document": d, "score": s} if return_scores else d for d, s in docs]
    return {"result": [items]}


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}
    release = threading.Event()

    def log_message(self, *args):  # keep the test output quiet
        pass

    def do_POST(self):
        Handler.hits[self.path] = Handler.hits.get(self.path, 0) + 1
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/slow":
            Handler.release.wait(5)  # never answers within the client's timeout
            return
        if self.path == "/error":
            return self.reply(500, {"detail": "index not loaded"})
        if self.path != "/retrieve" and self.path != "/bare":
            return self.reply(404, {"detail": "Not Found"})
        scores = request["return_scores"] and self.path == "/retrieve"
        self.reply(200, flashrag_answer(request["queries"][0], request["topk"], scores))

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server():
    Handler.release.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    Handler.release.set()
    httpd.shutdown()
    httpd.server_close()


def test_remote_search_parses_flashrag_contents(server):
    retriever = RemoteRetriever(f"{server}/retrieve", timeout_s=5)
    assert isinstance(retriever, Retriever)
    hits = retriever.search("where was marn velloway born", 3)
    assert len(hits) == 3
    assert hits[0] == Passage("d1", "Marn Velloway", DOCS[0]["text"], hits[0].score)
    assert hits[0].score == 4.0  # marn, velloway, born, was
    assert retriever.search("  ", 3) == []
    assert len(retriever.search("filler record", 50)) == 20  # topk clamped before sending
    bare = RemoteRetriever(f"{server}/bare", timeout_s=5).search("treluvia kingdom", 1)
    assert bare == [Passage("d3", "Treluvia", DOCS[2]["text"], 0.0)]


def test_remote_document_by_title(server):
    retriever = get_retriever(None, f"{server}/retrieve", timeout_s=5)
    assert retriever.document("oskar harbour") == Passage(
        "d2", "Oskar Harbour", DOCS[1]["text"], retriever.document("Oskar Harbour").score
    )
    assert retriever.document("Nowhere Land") is None


def test_remote_timeout_fails_within_the_retries(server):
    Handler.hits.clear()
    url = f"{server}/slow"
    retriever = RemoteRetriever(url, timeout_s=0.5, max_retries=1, backoff_base_s=0.1)
    start = time.monotonic()
    with pytest.raises(RetrieverError) as info:
        retriever.search("anything", 3)
    elapsed = time.monotonic() - start
    assert "timed out" in str(info.value) and url in str(info.value)
    assert Handler.hits["/slow"] == 2  # one retry
    assert 0.9 < elapsed < 2 * 0.5 + 0.1 + 1.0


def test_remote_refused_connection_names_the_url():
    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/retrieve"
    retriever = RemoteRetriever(url, timeout_s=1, max_retries=2, backoff_base_s=0.01)
    with pytest.raises(RetrieverError, match="connection refused") as info:
        retriever.search("anything", 3)
    assert url in str(info.value) and "3 attempts" in str(info.value)


def test_remote_5xx_is_retried_and_4xx_is_not(server):
    Handler.hits.clear()
    retriever = RemoteRetriever(f"{server}/error", timeout_s=2, max_retries=2, backoff_base_s=0.01)
    with pytest.raises(RetrieverError, match="HTTP 500") as info:
        retriever.search("anything", 3)
    assert Handler.hits["/error"] == 3 and f"{server}/error" in str(info.value)
    with pytest.raises(RetrieverError, match="HTTP 404"):
        RemoteRetriever(f"{server}/wrong", max_retries=3, backoff_base_s=0.01).search("x", 3)
    assert Handler.hits["/wrong"] == 1
