"""A retriever over HTTP that speaks the FlashRAG / Search-R1 `retrieval_server.py` protocol.

`POST {url}` with `{"queries": [q], "topk": k, "return_scores": true}`; the answer is
`{"result": [[{"document": {"id", "contents": "\"Title\"\ntext"}, "score": s}, ...]]}` (bare
documents without scores). So an existing e5/FAISS Wikipedia index serves unchanged. Requests
time out and are retried with backoff and jitter on timeouts, refused connections and 5xx.
"""

from __future__ import annotations

import http.client
import json
import random
import time
import urllib.error
import urllib.request
from typing import Any

from mentor_data.rag.corpus import Passage, RetrieverError, clamp_k


class RemoteRetriever:
    """A retriever behind a FlashRAG / Search-R1 `retrieval_server.py` (`POST /retrieve`).

    The protocol, as in Search-R1 `search_r1/search/retrieval_server.py` (`QueryRequest` and
    `retrieve_endpoint`) and its client `search_r1/llm_agent/generation.py` (`_batch_search`,
    `_passages2string`): the request is `{"queries": [...], "topk": k, "return_scores": true}`;
    the answer is `{"result": [[{"document": {"id": ..., "contents": "\\"Title\\"\\ntext"},
    "score": s}, ...], ...]}`, one list per query, and without `return_scores` the inner items
    are the documents themselves. The first line of `contents` is the title (quotes stripped),
    the rest the text; documents with `title` and `text` fields (the server's BM25 branch) work
    as well.

    Args:
        url (`str`): The full endpoint, e.g. `http://127.0.0.1:8000/retrieve`.
        timeout_s (`float`, *optional*, defaults to `10.0`): Per request.
        max_retries (`int`, *optional*, defaults to `3`): Retries of a timeout, a connection
            error or a 5xx answer (never of a 4xx), with exponential backoff and jitter.
        backoff_base_s (`float`, *optional*, defaults to `0.5`): First retry delay, doubled each
            retry, drawn in [half, full].
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_base_s: float = 0.5,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"retriever URL {url!r}: expected http(s)://host:port/retrieve")
        if timeout_s <= 0 or max_retries < 0:
            raise ValueError(f"timeout_s={timeout_s} must be > 0, max_retries={max_retries} >= 0")
        self.url = url
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self._rng = random.Random()

    def search(self, query: str, k: int = 5) -> list[Passage]:
        """The server's passages for a query, in its order.

        Args:
            query: Free text; a blank one gives [] without a request.
            k: How many, clamped to [1, MAX_K].

        Returns:
            Up to k passages.

        Raises:
            RetrieverError: The server failed after the retries, or answered another shape.
        """
        if not query.strip():
            return []
        k = clamp_k(k)
        body = self._post({"queries": [query], "topk": k, "return_scores": True})
        try:
            results = body["result"]
            items = results[0] if results else []
            return [_passage_from_item(item) for item in items[:k]]
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise RetrieverError(
                f"the retrieval server at {self.url} answered {str(body)[:200]!r}, not the "
                f"FlashRAG shape ({exc!r}); check that the URL is a FlashRAG/Search-R1 /retrieve "
                "endpoint"
            ) from None

    def document(self, title: str) -> Passage | None:
        """The passage titled `title` (ignoring case) among the top 5 hits for it, or None."""
        wanted = title.strip().casefold()
        return next((p for p in self.search(title, k=5) if p.title.casefold() == wanted), None)

    def _post(self, payload: dict[str, Any]) -> Any:
        data = json.dumps(payload).encode("utf-8")
        start, failure = time.monotonic(), ""
        for attempt in range(self.max_retries + 1):
            request = urllib.request.Request(
                self.url, data=data, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    raw = response.read()
                break
            except urllib.error.HTTPError as exc:
                failure = f"answered HTTP {exc.code} {exc.reason}"
                if exc.code < 500:  # our request is wrong: retrying cannot help
                    raise RetrieverError(
                        f"the retrieval server at {self.url} {failure}; check the URL's path "
                        "(FlashRAG serves POST /retrieve) and that it is a FlashRAG server"
                    ) from None
            except (OSError, http.client.HTTPException) as exc:  # URLError, TimeoutError too
                failure = _describe(exc, self.timeout_s)
            if attempt < self.max_retries:
                delay = self.backoff_base_s * 2**attempt
                time.sleep(delay * (0.5 + 0.5 * self._rng.random()))
        else:
            raise RetrieverError(
                f"the retrieval server at {self.url} {failure} ({self.max_retries + 1} attempts "
                f"in {time.monotonic() - start:.1f} s); check that it is running and reachable "
                "there, raise the timeout for a slow server, or use a local corpus instead"
            )
        try:
            return json.loads(raw)
        except ValueError:
            raise RetrieverError(
                f"the retrieval server at {self.url} answered non-JSON {raw[:200]!r}; check "
                "that the URL is a FlashRAG/Search-R1 /retrieve endpoint"
            ) from None


def _describe(exc: BaseException, timeout_s: float) -> str:
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        return f"timed out after {timeout_s:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "refused the connection (connection refused: is the server up on that port?)"
    return f"could not be reached ({reason!r})"


def _passage_from_item(item: dict[str, Any]) -> Passage:
    doc = item["document"] if "document" in item else item  # return_scores false: bare docs
    score = float(item.get("score", 0.0)) if "document" in item else 0.0
    contents = doc.get("contents")
    if isinstance(contents, str):
        first, _, rest = contents.partition("\n")
        title, text = first.strip().strip('"'), rest.strip()
    else:
        title, text = str(doc["title"]).strip().strip('"'), str(doc["text"]).strip()
    return Passage(str(doc.get("id", title)), title, text, score)
