"""The RAG judge: exact match and token F1 after the usual answer normalisation.

The normalisation is the one open-domain QA reports (SQuAD, HotpotQA, FlashRAG): lower case,
punctuation removed, the articles a/an/the removed, whitespace collapsed. A prediction is
compared with every acceptable answer (the gold and its aliases) and keeps the best score.
Correctness for verify and the rewards is exact match; eval reports EM and F1.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces.

    Example:
        >>> normalize_answer("The  Blorvia City!")
        'blorvia city'
    """
    text = str(text).lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, golds: Iterable[str]) -> bool:
    """Whether the normalised prediction equals one normalised gold answer.

    Example:
        >>> exact_match("the Zentra Works", ["Zentra Works"]), exact_match("1,204", ["1204"])
        (True, True)
    """
    pred = normalize_answer(prediction)
    return any(pred == normalize_answer(g) for g in golds)


def token_f1(prediction: str, golds: Iterable[str]) -> float:
    """The best token-level F1 of the prediction against the gold answers.

    Example:
        >>> round(token_f1("Blorvia", ["Blorvia City"]), 3)
        0.667
    """
    pred = normalize_answer(prediction).split()
    best = 0.0
    for gold in golds:
        ref = normalize_answer(gold).split()
        if not pred or not ref:
            best = max(best, float(pred == ref))
            continue
        common = sum((Counter(pred) & Counter(ref)).values())
        if common:
            precision, recall = common / len(pred), common / len(ref)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


__all__ = ["exact_match", "normalize_answer", "token_f1"]
