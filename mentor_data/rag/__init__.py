"""Retrieval-augmented multi-hop QA ("rag"): a fictional corpus of short documents, retrievers
over it (a local BM25 index or a FlashRAG/Search-R1 style HTTP server), the question generator
and the domain whose tools search the corpus and open its pages.
"""
