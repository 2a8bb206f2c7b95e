"""The one answer-equivalence judge: is a final answer the same as the ground truth?

verify (dataset filtering), the GRPO rewards (the hot path) and eval all call `check_answer`,
so a verdict means the same thing everywhere. Verdicts are three-way: PASS, FAIL and ERROR,
where ERROR means the judge could not decide (a timeout, an unusable gold answer, a crashed
worker). An ERROR is never scored as right or wrong: verify gives it its own reason code and
rewards skip the row.

How a pair is judged:

1. Guards. No answer (None, blank) is FAIL. A gold answer that is blank, not text or longer
   than `MAX_ANSWER_CHARS` is ERROR; a prediction longer than that is FAIL (see below).
2. Cache. PASS/FAIL verdicts of short pairs are kept in a bounded LRU (`CACHE_SIZE`).
3. Fast path, in this process. `normalize_answer` strips the dressing a plain number comes
   in (`$`, `\\$`, `\\(...\\)`, `\\boxed{}`, `**bold**`, `\\text{}`, braces, thousands commas,
   unit words, a leading `x =`, the unicode minus); when both sides are then plain numbers
   (integers, decimals, `a/b`, `\\frac{a}{b}`, `a^n`, `1.5e3`, `1.5 \\times 10^{3}`, with an
   optional `%`) they are compared exactly with `fractions.Fraction`: 0.75 == 3/4 exactly,
   391.0 == 391. This takes microseconds and covers most rows of this project.
   Then, when the gold is not a plain number, simple LaTeX is judged exactly in-process too
   (`_exact_verdict`): integers, `\\frac{}{}`, `\\sqrt{}` of a rational, `\\pi`, one variable,
   sums, products and small integer powers, as exact sums of rational * var^i * pi^j *
   sqrt(squarefree) (these terms are independent, so equal sums are equal values), and sets
   of such constants (`\\{a, b\\}`, `a, b`). It returns PASS/FAIL only where the worker's
   verdict is certain (small coefficients; rationals unequal beyond 50 digits) and leaves
   everything else (decimals, several variables, `x(x+1)`, mixed numbers) to the worker.
4. Slow path, in a worker process: math-verify, gold first (`verify` is asymmetric), on
   LaTeX wrapped in `\\boxed{...}` so that bare LaTeX (`\\sqrt{2}`, `{64}`, `\\text{5}`)
   parses (a bare `pi` is read as \\pi, not p*i), with a restricted sympy fallback when
   math-verify finds nothing; a prediction whose normalised text is the gold's passes
   without parsing. Its known false positives are fenced off: a prediction with several
   answers never matches a single gold (Math-Verify#47); bare `... = 0` equations are
   wrapped so they are compared as equations (#60); numbers are compared at 60 digits
   instead of math-verify's 6 rounded decimals (#14: 1/2004! is not 1/2006!, 1/2^99 is not
   1/2^98).

The worker is one persistent subprocess per process (started on first need, restarted after
a crash or a timeout), run with a wall-clock deadline (SIGALRM inside the worker, where it is
the main thread, and a SIGKILL from the caller as the backstop), an address-space limit and
a CPU-time limit. So `10^(10^10)`, 5,000-digit numbers, 1 MB strings and deep nesting cost at
most `timeout_s` plus a little and never take the caller down; the caller may be any thread
of any process (math-verify's own `signal.alarm` timeout only works on the main thread: verl
scored every row 0 that way). The worker is started with `subprocess` and `python -I -c`,
not `multiprocessing`: it never re-imports the caller's `__main__`, and is safe next to torch.
Concurrent callers share the worker and queue for it; `timeout_s` bounds each call's own work.

Decisions, all deliberate:

- Percent: `p%` equals `p` and equals `p/100` (50% == 50 == 0.5), because datasets write
  percentage answers both ways. Two percents compare as they are written (50% != 0.5%).
- Approximations: a decimal equals an exact value only if it IS that value, or it is that
  value rounded or truncated to the decimals written with at least `MIN_APPROX_DIGITS`
  significant digits: 0.333333 == 1/3 and 3.14159 == pi, but 0.3333 != 1/3 and 3.14 != pi.
  Integers are exact: 1234567 != 1234567.2.
- Units and variables: a single number followed by unit words (`17 apples`, `5 cm^2`,
  `30 degrees`), or preceded by one variable (`x = 7`, `y = 7`), is that number. Words that
  change the value (`5 pi`, `5 million`, `3 and 4`) are not units.
- Scientific notation (`1.5e3`, `1.5 \\times 10^{3}`) is a plain number: tool outputs use it.
- Length cap (`MAX_ANSWER_CHARS` = 10,000): a longer prediction is FAIL without parsing (a
  model must not dodge a wrong verdict by emitting junk, and no real answer is that long);
  a longer gold is ERROR (`check_gold` rejects it).
- ERROR vs FAIL: a prediction that does not parse, or parses to something unequal, is FAIL
  (the model's fault); a gold that does not parse is ERROR; a timeout or a crashed worker is
  ERROR whichever side caused it. Exceptions inside math-verify's own parser count as "does
  not parse" (math-verify swallows them).
- Text answers: math-verify reads `Monday` as a product of symbols, so text golds "parse";
  this judge is for math answers, and such rows are compared symbolically.
- Inputs that are not `str`: numbers (`int`, `float`, `Fraction`, ...) are read as `str(x)`;
  anything else is FAIL as a prediction and ERROR as a gold. Nothing here raises.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import numbers
import os
import re
import select
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from enum import Enum
from fractions import Fraction
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "CACHE_SIZE",
    "MAX_ANSWER_CHARS",
    "MIN_APPROX_DIGITS",
    "Verdict",
    "check_answer",
    "check_gold",
    "is_correct",
    "normalize_answer",
    "usable_gold",
]

MAX_ANSWER_CHARS = 10_000
"""Longest answer the judge reads; a longer prediction is FAIL, a longer gold is ERROR."""

CACHE_SIZE = 65_536
"""Verdicts kept per process (LRU). Only pairs of at most `_CACHEABLE_CHARS` are kept."""

MIN_APPROX_DIGITS = 6
"""Significant digits a decimal needs to count as an approximation of an exact value."""

_CACHEABLE_CHARS = 1_000  # bounds the cache's memory: 65,536 entries of at most ~2 KB
_MAX_EXACT_DIGITS = 4_000  # below CPython's int<->str limit (4,300 digits)
_MAX_POWER_DIGITS = 5_000  # fast-path a^n only when the result stays this small
_KILL_GRACE_S = 0.5  # the worker's own deadline fires first; this is the SIGKILL backstop
_STARTUP_TIMEOUT_S = 60.0  # importing sympy on a loaded machine; not counted in timeout_s
_WORKER_MEMORY_BYTES = 1 << 30  # address space the worker may add on top of its imports
_PRECISION_DIGITS = 60  # digits numeric values are compared at in the slow path
_EQUAL_REL_TOL = Fraction(1, 10**50)  # exact values equal to 50 digits are equal
_FLOAT_REL_TOL = Fraction(1, 10**6)  # expressions holding decimals (1.5\pi): 6 digits


class Verdict(str, Enum):
    """Outcome of judging one answer. ERROR is never scored as right or wrong."""

    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"


# ---------------------------------------------------------------------------------------------
# Cheap normalisation (fast path; also used by the worker to spot plain numbers)
# ---------------------------------------------------------------------------------------------

_UNICODE = str.maketrans(
    {
        "\u2212": "-",  # minus sign
        "\ufe63": "-",
        "\uff0d": "-",
        "\u00a0": " ",
        "\u2009": "",  # thin spaces group digits: 1 000 000
        "\u202f": "",
        "\u2007": "",
        "\u03c0": "\\pi ",
        "\u00d7": "\\times ",
        "\u22c5": "\\cdot ",
        "\u00b7": "\\cdot ",
        "\u221e": "\\infty ",
        "\u00b0": "^\\circ ",
    }
)
_SPACING = re.compile(r"\\[,;:! ]|\\(?:left|right|displaystyle|textstyle)\b|\\[dt]frac(?![A-Za-z])")
_WRAPPER_CMD = re.compile(r"\\(?:boxed|fbox)\s*\{")
_TEXT_CMD = re.compile(
    r"\\(?:text|textbf|textrm|textit|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}"
)
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ\b|\bdegrees?\b")
_VAR_PREFIX = re.compile(r"(?:[A-Za-z]|\\[A-Za-z]+)(?:_\{?\w+\}?)?\s*=\s*")
_UNIT_WORD = re.compile(r"[A-Za-z]{2,}\.?(?:\^\{?[23]\}?)?")
# Words after a number that change its value, so they are never read as units.
_NOT_UNITS = frozenset(
    "pi sqrt and or to plus minus times cdot div over mod pm mp infty inf infinity "
    "hundred hundreds thousand thousands million millions billion billions trillion "
    "dozen dozens half halves third thirds quarter quarters squared cubed percent pct "
    "zero one two three four five six seven eight nine ten eleven twelve twenty "
    "log ln exp sin cos tan sec csc cot frac".split()
)

_D = r"(?:\d+(?:\.\d*)?|\.\d+)"
_DC = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)"  # commas only as thousands
_NUMBER = re.compile(
    r"(?P<sign>[+-]?)\s*(?:"
    rf"\\frac\s*(?:\{{\s*(?P<fn>[+-]?{_D})\s*\}}\s*\{{\s*(?P<fd>[+-]?{_D})\s*\}}"
    r"|(?P<fn1>\d)(?P<fd1>\d))"
    rf"|(?P<a>{_DC})(?:\s*/\s*(?P<b>{_DC})"
    r"|[eE](?P<e>[+-]?\d{1,4})"
    r"|\s*\\(?:times|cdot)\s*10\s*\^\s*(?:\{\s*(?P<t>[+-]?\d{1,4})\s*\}|(?P<t1>\d))"
    r"|\s*\^\s*(?:\{\s*(?P<p>[+-]?\d{1,3})\s*\}|(?P<p1>\d)))?"
    r")"
)


_BRACE_TOKEN = re.compile(r"\\.|[{}]", re.DOTALL)


def _brace_pairs(s: str) -> dict[int, int]:
    """Index of each `{` mapped to the index of its closing `}` (escaped braces skipped)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for m in _BRACE_TOKEN.finditer(s):
        c = m.group()
        if c == "{":
            stack.append(m.start())
        elif c == "}" and stack:
            pairs[stack.pop()] = m.start()
    return pairs


def _strip_wrappers(s: str) -> str:
    """Peel off what wraps a whole answer: `**bold**`, `$...$`, `\\(...\\)`, `\\boxed{}`, `{}`.

    Works on a window [lo, hi) of `s` and matches braces once, so 10,000 nested braces cost
    one pass, not one per layer.
    """
    lo, hi = 0, len(s)
    pairs: dict[int, int] | None = None
    for _ in range(50):  # nesting deeper than this is not an answer worth unwrapping
        window = s[lo:hi]
        lo, hi = lo + len(window) - len(window.lstrip()), hi - len(window) + len(window.rstrip())
        if (
            hi - lo >= 4
            and s.startswith(("**", "$$"), lo, hi)
            and s.endswith(s[lo : lo + 2], lo, hi)
            and s.count(s[lo : lo + 2], lo, hi) == 2  # not "**a** and **b**"
        ):
            lo, hi = lo + 2, hi - 2
        elif hi - lo >= 2 and s[lo] == "$" and s[hi - 1] == "$" and s.count("$", lo, hi) == 2:
            lo, hi = lo + 1, hi - 1
        elif (
            s.startswith(("\\(", "\\["), lo, hi)
            and s.endswith(("\\)", "\\]"), lo, hi)
            and s.count(s[lo : lo + 2], lo, hi) == 1
            and hi - lo >= 4
        ):
            lo, hi = lo + 2, hi - 2
        else:
            m = _WRAPPER_CMD.match(s, lo, hi)
            start = m.end() - 1 if m else (lo if s.startswith("{", lo, hi) else -1)
            if start < 0:
                break
            if pairs is None:
                pairs = _brace_pairs(s)
            if pairs.get(start) != hi - 1:
                break
            lo, hi = start + 1, hi - 1
    return s[lo:hi].strip()


def _balanced(s: str) -> bool:
    """Whether every brace of `s` is matched (so `s` can go inside `\\boxed{...}`)."""
    depth = 0
    for m in _BRACE_TOKEN.finditer(s):
        c = m.group()
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _clean(text: str) -> str:
    """Dressing every path removes: unicode look-alikes, wrappers, LaTeX spacing commands."""
    s = _strip_wrappers(text.translate(_UNICODE))
    return _SPACING.sub(lambda m: "\\frac" if m.group().endswith("frac") else "", s)


def _number_core(s: str) -> str | None:
    """The plain number `s` states (units, `%` and thousands commas handled), or None."""
    m = _NUMBER.match(s)
    if m is None or not m.group():
        return None
    core = m.group().replace(",", "").replace(" ", "")
    tail = s[m.end() :].strip().rstrip(".").strip()
    percent = False
    if tail.startswith("%"):
        percent, tail = True, tail[1:].strip()
    elif tail.lower() in ("percent", "pct"):
        percent, tail = True, ""
    for word in tail.split():
        if not _UNIT_WORD.fullmatch(word) or word.rstrip(".").split("^")[0].lower() in _NOT_UNITS:
            return None
    if percent and tail:
        return None  # "50% off" and the like: not a plain number
    return core + "%" if percent else core


def normalize_answer(text: str) -> str:
    """The cheap textual normalisation of the fast path.

    Removes, in order: unicode look-alikes (the minus sign U+2212 becomes `-`, thin spaces
    inside digit groups go); whole-answer wrappers (`**bold**`, `$...$`, `$$...$$`,
    `\\(...\\)`, `\\[...\\]`, `\\boxed{...}`, `\\fbox{...}`, `{...}`); LaTeX spacing and
    sizing (`\\,`, `\\!`, `\\left`, `\\right`), with `\\dfrac`/`\\tfrac` read as `\\frac`;
    then, to find a plain number, `\\text{...}`-like commands (their content stays), `$`,
    `\\$` and degree marks. If what is left states one plain number, the result is that
    number alone: thousands commas, unit words after it (`17 apples`) and one variable
    before it (`x = 7`) are dropped, and a percent sign is kept as a trailing `%`.
    Otherwise the text is returned with only the first three steps applied and whitespace
    collapsed. Numbers are not canonicalised here (`0.750` stays `0.750`).

    Args:
        text: An answer, e.g. the content of the last `\\boxed{}` of a completion.

    Returns:
        The normalised text; a plain number where the answer is one.

    Example:
        >>> normalize_answer("$x = 1,000 \\\\text{ apples}$")
        '1000'
        >>> normalize_answer("**\\u221212**")
        '-12'
        >>> normalize_answer("\\\\sqrt{2}")
        '\\\\sqrt{2}'
    """
    if not isinstance(text, str):
        return ""
    cleaned = _clean(text[: MAX_ANSWER_CHARS + 1])
    s = _TEXT_CMD.sub(lambda m: f" {m.group(1)} ", cleaned)
    s = _DEGREES.sub(" ", s.replace("\\$", "").replace("$", "").replace("\\%", "%"))
    s = _strip_wrappers(re.sub(r"\s+", " ", s).replace(" ^", "^"))
    core = _number_core(s)
    if core is None:
        m = _VAR_PREFIX.match(s)
        if m and "=" not in s[m.end() :]:
            core = _number_core(s[m.end() :].strip())
    # Not a number: only the lossless cleaning applies (`f \circ g` must not become `f g`).
    return core if core is not None else re.sub(r"\s+", " ", cleaned)


@dataclass(frozen=True)
class _Num:
    """A plain number as written.

    `value` is exact (None when the number is too long for exact arithmetic); `key` is a
    canonical (sign, digits, exponent) form of decimals that compares equal iff the values
    are equal, without converting long digit strings to int. `places` is the number of
    decimals written (None for integers, fractions and powers, which are exact), `sig` the
    significant digits written, `percent` whether it carried a `%`.
    """

    value: Fraction | None
    key: tuple[int, str, int] | None
    places: int | None
    sig: int
    percent: bool


def _decimal_key(sign: int, digits: str, exp: int) -> tuple[int, str, int]:
    """Canonical form of sign * int(digits) * 10**exp (leading/trailing zeros removed)."""
    digits = digits.lstrip("0")
    stripped = digits.rstrip("0")
    exp += len(digits) - len(stripped)
    return (sign, stripped, exp) if stripped else (0, "", 0)


def _decimal(text: str) -> Fraction:
    """Exact value of an unsigned or signed decimal string (callers bound its length)."""
    neg = text.startswith("-")
    text = text.lstrip("+-")
    whole, _, frac = text.partition(".")
    value = Fraction(int(whole + frac or "0"), 10 ** len(frac))
    return -value if neg else value


@lru_cache(maxsize=16_384)
def _parse_number_cached(core: str) -> _Num | None:
    percent = core.endswith("%")
    m = _NUMBER.fullmatch(core[:-1] if percent else core)
    if m is None:
        return None
    sign = -1 if m.group("sign") == "-" else 1
    g = m.groupdict()
    if len(core) > _MAX_EXACT_DIGITS and not (g["a"] and not (g["b"] or g["p"] or g["p1"])):
        return None  # only long plain decimals are compared (by their digit key)
    if g["fn"] or g["fn1"]:
        num, den = _decimal(g["fn"] or g["fn1"]), _decimal(g["fd"] or g["fd1"])
        return None if den == 0 else _Num(sign * num / den, None, None, 0, percent)
    a = g["a"]
    if g["b"]:
        den = _decimal(g["b"])
        return None if den == 0 else _Num(sign * _decimal(a) / den, None, None, 0, percent)
    power = g["p"] or g["p1"]
    if power:
        exponent = int(power)
        base = _decimal(a)
        if base == 0 and exponent < 0:
            return None
        if abs(exponent) * max(len(a), 1) > _MAX_POWER_DIGITS:
            return None  # leave huge powers to the worker, which can time out safely
        return _Num(sign * base**exponent, None, None, 0, percent)
    shift = int(g["e"] or g["t"] or g["t1"] or 0)
    whole, _, frac = a.partition(".")
    key = _decimal_key(sign, whole + frac, shift - len(frac))
    sig = len((whole + frac).lstrip("0"))
    places = len(frac) - shift if frac else None
    if len(whole) + len(frac) > _MAX_EXACT_DIGITS or abs(shift) > _MAX_EXACT_DIGITS:
        return _Num(None, key, places, sig, percent)
    value = Fraction(int(whole + frac or "0")) * Fraction(10) ** (shift - len(frac))
    return _Num(sign * value, key, places, sig, percent)


def _parse_number(core: str) -> _Num | None:
    """Parse the output of `normalize_answer` as a plain number, or None when it is not one."""
    if not core or len(core) > MAX_ANSWER_CHARS + 1:
        return None
    if len(core) > 200:  # long numbers are rare: keep them out of the cache
        return _parse_number_cached.__wrapped__(core)
    return _parse_number_cached(core)


_PLAIN_INT = re.compile(r"-?[0-9]{1,30}")


def _number_of(text: str) -> _Num | None:
    if _PLAIN_INT.fullmatch(text):  # most answers: skip the normalisation
        return _parse_number(text)
    return _parse_number(normalize_answer(text))


def _as_fraction_percent(n: _Num) -> _Num:
    """p% read as the fraction p/100."""
    value = n.value / 100 if n.value is not None else None
    key = (n.key[0], n.key[1], n.key[2] - 2) if n.key and n.key[1] else n.key
    places = n.places + 2 if n.places is not None else None
    return _Num(value, key, places, n.sig, False)


def _approximates(d: _Num, exact: Fraction) -> bool:
    """Whether decimal `d` is `exact` rounded or truncated to the decimals written in `d`."""
    if d.places is None or d.value is None or d.sig < MIN_APPROX_DIGITS or abs(d.places) > 400:
        return False
    if exact == 0 or (d.value > 0) != (exact > 0):
        return False
    scale = Fraction(10) ** d.places
    written = abs(d.value) * scale  # an integer: d has exactly `places` decimals
    x = abs(exact) * scale
    return written in (math.floor(x), math.floor(x + Fraction(1, 2)))


def _values_match(a: _Num, b: _Num) -> bool | None:
    """Exact equality, else one side approximating the other; None when undecidable here."""
    if a.key is not None and b.key is not None and a.key == b.key:
        return True
    if a.value is None or b.value is None:
        return False if (a.key is not None and b.key is not None) else None
    if a.value == b.value:
        return True
    return _approximates(a, b.value) or _approximates(b, a.value)


def _numbers_match(gold: _Num, pred: _Num) -> bool | None:
    """Plain numbers equal, with the percent rule: p% equals p and equals p/100."""
    if gold.percent == pred.percent:
        return _values_match(gold, pred)
    pct, other = (gold, pred) if gold.percent else (pred, gold)
    results = [
        _values_match(replace(pct, percent=False), other),
        _values_match(_as_fraction_percent(pct), other),
    ]
    if True in results:
        return True
    return None if None in results else False


# ---------------------------------------------------------------------------------------------
# Exact in-process path for simple LaTeX (roots, pi, one-variable polynomials, number sets)
# ---------------------------------------------------------------------------------------------

_EXACT_PATH = True  # tests switch it off to get the worker's verdicts for comparison
_EXACT_MAX_CHARS = 200
_EXACT_MAX_INT_DIGITS = 6
_EXACT_MAX_POWER = 12
_EXACT_MAX_COEF = 10**6  # bigger coefficients next to roots, pi or a variable: the worker
_EXACT_MAX_BITS = 4_000  # a rational this long stops the exact path (the worker can time out)
_EXACT_VARS = frozenset("xyztnk")
_EXACT_TOKEN = re.compile(
    r"\s*(?:(?P<int>\d+)|(?P<cmd>\\(?:frac|sqrt|pi|cdot|times)(?![A-Za-z]))"
    r"|(?P<var>[A-Za-z])(?![A-Za-z])|(?P<op>[-+*^(){}]))"
)
_SQUAREFREE_PRIMES: list[int] = []

# A value is a polynomial: {(power of the variable, power of pi, squarefree s): coefficient},
# meaning sum(coef * var**i * pi**j * sqrt(s)). These monomials are linearly independent over
# the rationals, so two values are equal exactly when their dicts are.
_Poly = dict


class _NotExact(Exception):
    """The text is outside what the exact path reads; the worker judges it."""


def _squarefree(n: int) -> tuple[int, int]:
    """(m, s) with n == m*m*s and s squarefree, for 0 < n <= 10**12."""
    if not _SQUAREFREE_PRIMES:
        sieve = bytearray([1]) * 10_001
        for p in range(2, 10_001):
            if sieve[p]:
                _SQUAREFREE_PRIMES.append(p)
                sieve[p * p :: p] = bytearray(len(sieve[p * p :: p]))
    m, s = 1, 1
    for p in _SQUAREFREE_PRIMES:
        if p * p > n:
            break
        while n % (p * p) == 0:
            n //= p * p
            m *= p
        if n % p == 0:
            n //= p
            s *= p
    r = math.isqrt(n)  # what is left has no prime factor below 10**4: p, p*q or p*p
    if r * r == n:
        return m * r, s
    return m, s * n


def _p_add(a: _Poly, b: _Poly, sign: int = 1) -> _Poly:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + sign * v
        if not out[k]:
            del out[k]
    return out


def _p_mul(a: _Poly, b: _Poly) -> _Poly:
    out: _Poly = {}
    for (i1, j1, s1), c1 in a.items():
        for (i2, j2, s2), c2 in b.items():
            g = math.gcd(s1, s2)
            m, s = g, (s1 // g) * (s2 // g)  # sqrt(s1*s2) = g*sqrt(s1/g*s2/g), squarefree
            k = (i1 + i2, j1 + j2, s)
            c = c1 * c2 * m
            if c.numerator.bit_length() + c.denominator.bit_length() > _EXACT_MAX_BITS:
                raise _NotExact
            out[k] = out.get(k, 0) + c
            if not out[k]:
                del out[k]
    if len(out) > 64:
        raise _NotExact
    return out


def _p_const(p: _Poly) -> bool:
    return all(i == 0 for i, _, _ in p)


def _p_rational(p: _Poly) -> Fraction | None:
    if not p:
        return Fraction(0)
    if len(p) == 1 and (0, 0, 1) in p:
        return Fraction(p[(0, 0, 1)])
    return None


class _ExactParser:
    """Recursive descent over a tiny LaTeX grammar; raises _NotExact on anything else."""

    def __init__(self, text: str) -> None:
        self.toks: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _EXACT_TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise _NotExact
            kind = m.lastgroup or ""
            value = m.group(kind)
            if kind == "int" and len(value) > _EXACT_MAX_INT_DIGITS:
                raise _NotExact
            if kind == "var":
                if value not in _EXACT_VARS:
                    raise _NotExact
            self.toks.append((kind, value))
            pos = m.end()
        self.i = 0
        self.var: str | None = None
        self.depth = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self, value: str) -> None:
        if self.peek()[1] != value:
            raise _NotExact
        self.i += 1

    def parse(self) -> _Poly:
        p = self.expr()
        if self.i != len(self.toks):
            raise _NotExact
        return p

    def expr(self) -> _Poly:
        self.depth += 1
        if self.depth > 20:
            raise _NotExact
        total: _Poly = {}
        sign = 1
        if self.peek()[1] in "+-" and self.peek()[0] == "op":
            sign = -1 if self.toks[self.i][1] == "-" else 1
            self.i += 1
        while True:
            total = _p_add(total, self.term(), sign)
            kind, value = self.peek()
            if kind == "op" and value in "+-":
                sign = -1 if value == "-" else 1
                self.i += 1
                continue
            self.depth -= 1
            return total

    def term(self) -> _Poly:
        p = self.factor()
        while True:
            kind, value = self.peek()
            if kind == "op" and value == "*" or kind == "cmd" and value in ("\\cdot", "\\times"):
                self.i += 1
            elif not (kind in ("int", "var") or kind == "cmd" or value in ("(", "{")):
                return p
            elif (
                kind == "int"
                or value == "{"
                or (value == "(" and self.toks[self.i - 1][0] == "var")
                or (value == "\\frac" and self.toks[self.i - 1][0] == "int")
            ):
                raise _NotExact  # `2 3`, `2{3}`, `x(x+1)` (a function?), `4\\frac{2}{3}` (4 2/3)
            p = _p_mul(p, self.factor())

    def factor(self) -> _Poly:
        base = self.atom()
        if self.peek() != ("op", "^"):
            return base
        self.i += 1
        kind, value = self.peek()
        if kind == "int" and len(value) == 1:
            self.i += 1
        elif value == "{":
            self.i += 1
            kind, value = self.peek()
            if kind != "int":
                raise _NotExact
            self.i += 1
            self.take("}")
        else:
            raise _NotExact
        n = int(value)
        if n > _EXACT_MAX_POWER:
            raise _NotExact
        out: _Poly = {(0, 0, 1): Fraction(1)}
        for _ in range(n):
            out = _p_mul(out, base)
        return out

    def group(self) -> _Poly:
        self.take("{")
        p = self.expr()
        self.take("}")
        return p

    def atom(self) -> _Poly:
        kind, value = self.peek()
        self.i += 1
        if kind == "int":
            return {(0, 0, 1): Fraction(int(value))} if int(value) else {}
        if kind == "var":
            if self.var not in (None, value):
                raise _NotExact  # several variables: the worker
            self.var = value
            return {(1, 0, 1): Fraction(1)}
        if value == "\\pi":
            return {(0, 1, 1): Fraction(1)}
        if value == "(":
            p = self.expr()
            self.take(")")
            return p
        if value == "{":
            self.i -= 1
            return self.group()
        if value == "\\frac":
            num, den = self.group(), self.group()
            return _p_mul(num, self.inverse(den))
        if value == "\\sqrt":
            r = _p_rational(self.group())
            if r is None or r < 0 or r.numerator * r.denominator > 10**12:
                raise _NotExact
            if r == 0:
                return {}
            m, s = _squarefree(r.numerator * r.denominator)
            return {(0, 0, s): Fraction(m, r.denominator)}
        raise _NotExact

    def inverse(self, p: _Poly) -> _Poly:
        if len(p) != 1:
            raise _NotExact  # zero, or a sum in a denominator: the worker
        (((i, j, s), c),) = p.items()
        if i:
            raise _NotExact
        return {(0, -j, s): 1 / (c * s)}


def _exact_ok(p: _Poly, rational_ok: bool = True) -> bool:
    """Whether `p` is small enough that no unequal value of the path comes within the
    worker's 50-digit tolerance of it: a rational (compared with that tolerance), or at most
    4 terms with numerators and denominators up to 10**6 and pi to a power of at most 3."""
    if rational_ok and all(k == (0, 0, 1) for k in p):
        return True
    return len(p) <= 4 and all(
        abs(c.numerator) <= _EXACT_MAX_COEF
        and c.denominator <= _EXACT_MAX_COEF
        and abs(j) <= 3
        and s <= _EXACT_MAX_COEF
        for (_, j, s), c in p.items()
    )


_EXACT_SET = re.compile(r"\\\{(.*)\\\}", re.DOTALL)


def _split_top(s: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for k, c in enumerate(s):
        if c in "({":
            depth += 1
        elif c in ")}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(s[start:k])
            start = k + 1
    parts.append(s[start:])
    return parts


@lru_cache(maxsize=16_384)
def _exact_of(text: str) -> tuple[str | None, Any] | None:
    """("one", (var, poly)) or ("set", frozenset of constant polys) for simple LaTeX, else None.

    Reads integers, `\\frac{}{}`, `\\sqrt{}` of a rational, `\\pi`, one variable among x, y,
    z, t, n, k, `+ - * \\cdot \\times`, implicit products, parentheses and small integer
    powers; or a set of at least two distinct constants (`\\{a, b\\}` or `a, b`).
    """
    s = _clean(text)
    if len(s) > _EXACT_MAX_CHARS or "\\\\" in s or re.search(r"\d\s*,\s*\d{3}(?!\d)", s):
        return None
    try:
        m = _EXACT_SET.fullmatch(s)
        inner = m.group(1) if m else s
        if "\\{" in inner or "\\}" in inner:
            return None
        parts = _split_top(inner)
        if len(parts) == 1:
            if m:
                return None  # `\{5\}`: the worker
            parser = _ExactParser(s)
            p = parser.parse()
            return ("one", (parser.var if not _p_const(p) else None, p)) if _exact_ok(p) else None
        items = []
        for part in parts:
            parser = _ExactParser(part)
            p = parser.parse()
            if parser.var is not None or not _exact_ok(p, False) or not part.strip():
                return None
            items.append(frozenset(p.items()))
        if len(set(items)) != len(items):
            return None  # `5, 5`: duplicates collapse in a set; the worker decides
        return "set", frozenset(items)
    except (_NotExact, RecursionError, ZeroDivisionError):
        return None


def _exact_verdict(pred_text: str, gold_text: str) -> bool | None:
    """PASS/FAIL of two simple LaTeX answers decided exactly, or None to ask the worker."""
    if len(pred_text) > _EXACT_MAX_CHARS * 2 or len(gold_text) > _EXACT_MAX_CHARS * 2:
        return None
    g = _exact_of(gold_text)
    if g is None:
        return None
    p = _exact_of(pred_text)
    if p is None:
        return None
    if g[0] == "set" or p[0] == "set":
        if g[0] == p[0]:
            return g[1] == p[1]
        return False if p[0] == "set" else None  # several answers for one gold
    (g_var, g_poly), (p_var, p_poly) = g[1], p[1]
    if g_var != p_var:
        return None
    if g_poly == p_poly:
        return True
    g_val, p_val = _p_rational(g_poly), _p_rational(p_poly)
    if g_val is not None and p_val is not None and _close(g_val, p_val, _EQUAL_REL_TOL):
        return None  # unequal but equal to 50 digits: the worker's rule decides
    return False


# ---------------------------------------------------------------------------------------------
# Worker side (runs in the judge subprocess; imports sympy and math-verify lazily)
# ---------------------------------------------------------------------------------------------

_BARE_PI = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])")
_SAFE_EXPR = re.compile(r"[0-9A-Za-z+\-*/^().,\s]*")
_SAFE_NAMES = frozenset({"sqrt", "pi", "exp", "log", "ln", "sin", "cos", "tan", "abs", "oo"})


class _Deadline(BaseException):
    """Raised by SIGALRM in the worker. A BaseException: math-verify catches Exception."""


@dataclass
class _Side:
    """One parsed answer inside the worker."""

    expr: Any  # sympy object, or None when nothing parsed
    num: _Num | None  # set when the text is a plain number
    pct: bool
    norm: str


_W: dict[str, Any] = {"expired": False, "gold_cache": OrderedDict()}


def _slow_text(text: str) -> tuple[str, bool]:
    """LaTeX for math-verify: cleaned, trailing percent split off, wrapped in \\boxed{}."""
    s = _clean(text[: MAX_ANSWER_CHARS + 1]).replace("\\$", "").replace("$", " ")
    s = _BARE_PI.sub(r"\\pi ", s)
    s, pct = s.strip(), False
    for suffix in ("\\%", "%", "percent"):
        if s.endswith(suffix):
            s, pct = s[: -len(suffix)].strip(), True
            break
    if _balanced(s):
        return "\\boxed{" + s + "}", pct
    return "$" + s + "$", pct


def _w_sympy_parse(text: str) -> Any:
    """Plain-text math (`sqrt(2)/2`, `2**10`) through sympy, only over a whitelisted alphabet.

    sympy's `parse_expr` evaluates Python, so a prediction is parsed only if every name in it
    is one letter or a known function: nothing else can reach `eval`.
    """
    if not _SAFE_EXPR.fullmatch(text) or "__" in text or not text.strip():
        return None
    if re.search(r"\.\s*[A-Za-z]", text):
        return None  # attribute access
    names = re.findall(r"[A-Za-z]+", text)
    if any(len(n) > 1 and n not in _SAFE_NAMES for n in names):
        return None
    import sympy
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    local = {"pi": sympy.pi, "e": sympy.E, "ln": sympy.log, "oo": sympy.oo, "i": sympy.I}
    for name in ("sqrt", "exp", "log", "sin", "cos", "tan", "Abs"):
        local[name] = getattr(sympy, name)
    local["abs"] = sympy.Abs
    base = {k: getattr(sympy, k) for k in ("Integer", "Float", "Rational", "Symbol", "Function")}
    transformations = standard_transformations + (implicit_multiplication_application, convert_xor)
    try:
        return parse_expr(text, local_dict=local, global_dict=base, transformations=transformations)
    except Exception:
        return None


def _w_parse(latex: str, plain: str) -> Any:
    """First sympy object math-verify extracts from `latex`, else the sympy fallback."""
    from math_verify import LatexExtractionConfig, parse

    config = _W.get("config")
    if config is None:
        config = _W["config"] = [LatexExtractionConfig(boxed_match_priority=0)]
    found = parse(
        latex,
        extraction_config=config,
        fallback_mode="no_fallback",
        extraction_mode="first_match",
        parsing_timeout=None,  # the worker's own deadline covers it
    )
    for item in found:
        if not isinstance(item, str):
            return item
    return _w_sympy_parse(plain)


def _w_side(text: str) -> _Side:
    norm = normalize_answer(text)
    num = _parse_number(norm)
    if num is not None and num.value is not None:
        import sympy

        value = sympy.Rational(num.value.numerator, num.value.denominator)
        return _Side(value, num, num.percent, norm)
    latex, pct = _slow_text(text)
    return _Side(
        _w_parse(latex, latex[7:-1] if latex.startswith("\\boxed{") else ""), num, pct, norm
    )


def _w_gold(gold: str) -> tuple[_Side | None, str | None]:
    """The parsed gold answer (cached in the worker), or why it cannot be used."""
    cache: OrderedDict[str, tuple[_Side | None, str | None]] = _W["gold_cache"]
    if gold in cache:
        cache.move_to_end(gold)
        return cache[gold]
    side = _w_side(gold)
    result: tuple[_Side | None, str | None]
    if side.expr is None:
        result = None, f"gold answer {gold[:80]!r} does not parse as math"
    else:
        result = side, None
    if not _W["expired"]:  # a parse cut short by the deadline must not be remembered
        cache[gold] = result
        if len(cache) > 4096:
            cache.popitem(last=False)
    return result


def _w_value(expr: Any) -> tuple[Fraction, bool] | None:
    """(value to 60 digits, holds a decimal) of a real finite number, else None."""
    import sympy

    if isinstance(expr, sympy.FiniteSet) and len(expr.args) == 1:
        expr = expr.args[0]
    if isinstance(expr, sympy.Equality) and isinstance(expr.lhs, sympy.Symbol):
        expr = expr.rhs  # x = 1/2004! is the number 1/2004!
    if not isinstance(expr, sympy.Expr) or expr.free_symbols:
        return None
    value = sympy.N(expr, _PRECISION_DIGITS)
    if not (value.is_real and value.is_finite) or not isinstance(value, sympy.Number):
        return None
    rational = sympy.Rational(value)
    return Fraction(int(rational.p), int(rational.q)), bool(expr.atoms(sympy.Float))


def _close(a: Fraction, b: Fraction, rel: Fraction) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b))


def _w_numeric(gold: _Side, pred: _Side) -> tuple[bool | None, bool | None]:
    """Decide two numeric answers at 60 digits: (verdict or None to defer, 6-digit closeness).

    Exact values must agree to 50 digits (math-verify rounds to 6 decimals: 1/2004! = 0 =
    1/2006!, Math-Verify#14). A written decimal may also approximate (`_approximates`). An
    expression holding a decimal (1.5\\pi) defers to math-verify, fenced by 6-digit closeness.
    """
    gv, pv = _w_value(gold.expr), _w_value(pred.expr)
    if gv is None or pv is None:
        return None, None

    def readings(side: _Side, value: Fraction) -> list[tuple[Fraction, _Num | None]]:
        dec = side.num if side.num is not None and side.num.places is not None else None
        if not side.pct or (gold.pct and pred.pct):  # two percents compare as written
            return [(value, dec)]
        as_fraction = _as_fraction_percent(dec) if dec is not None else None
        return [(value, replace(dec, percent=False) if dec else None), (value / 100, as_fraction)]

    close_any = False
    has_float = gv[1] or pv[1]
    for g_val, g_dec in readings(gold, gv[0]):
        for p_val, p_dec in readings(pred, pv[0]):
            if _close(g_val, p_val, _EQUAL_REL_TOL):
                return True, True
            if (g_dec and _approximates(g_dec, p_val)) or (p_dec and _approximates(p_dec, g_val)):
                return True, True
            close_any = close_any or _close(g_val, p_val, _FLOAT_REL_TOL)
    return (None if has_float else False), close_any


def _w_is_multi(expr: Any) -> bool:
    import sympy

    return isinstance(expr, sympy.FiniteSet) and len(expr.args) > 1


def _w_judge(pred: str, gold: str) -> dict[str, Any]:
    g, problem = _w_gold(gold)
    if g is None:
        return {"verdict": "error", "reason": problem, "cache": True, "gold_problem": problem}
    if normalize_answer(pred) == g.norm:
        return {"verdict": "pass", "reason": "same text", "cache": True}
    p = _w_side(pred)
    if p.expr is None:
        return {"verdict": "fail", "reason": "prediction does not parse", "cache": True}
    if _w_is_multi(p.expr) and not _w_is_multi(g.expr):
        return {"verdict": "fail", "reason": "several answers for one", "cache": True}
    decided, close = _w_numeric(g, p)
    if decided is not None:
        return {"verdict": "pass" if decided else "fail", "reason": "numeric", "cache": True}
    from math_verify import verify

    same = verify(g.expr, p.expr, timeout_seconds=None) and close is not False
    return {"verdict": "pass" if same else "fail", "reason": "math-verify", "cache": True}


def _w_handle(req: dict[str, Any]) -> dict[str, Any]:
    if req.get("op") == "gold":
        _, problem = _w_gold(req["gold"])
        if problem is None:
            return {"verdict": "pass", "reason": "", "cache": True}
        return {"verdict": "error", "reason": problem, "cache": True, "gold_problem": problem}
    return _w_judge(req["pred"], req["gold"])


def _w_limit_memory() -> None:
    """Cap the worker's address space at what it uses now plus `_WORKER_MEMORY_BYTES`."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = current + _WORKER_MEMORY_BYTES
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: the wall-clock deadline still applies


def _w_limit_cpu(timeout_s: float) -> None:
    """Kernel backstop: SIGXCPU ends the worker if it computes far past the deadline, even
    when the caller died without killing it and the work is stuck in C."""
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(usage.ru_utime + usage.ru_stime + timeout_s + 5)
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ImportError, OSError, ValueError):
        pass


def _worker_main() -> None:
    """Entry point of the judge subprocess: JSON requests on stdin, JSON replies on stdout."""
    import signal
    import warnings

    out = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)  # a library that prints must not corrupt the protocol
    sys.stdout = open(os.devnull, "w")  # lives as long as the worker
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)  # long numbers are safe here: the deadline bounds them

    def on_alarm(signum: int, frame: Any) -> None:
        _W["expired"] = True
        raise _Deadline

    signal.signal(signal.SIGALRM, on_alarm)
    try:
        _w_judge("\\sqrt{8}", "2\\sqrt{2}")  # import and warm up sympy, latex2sympy, ANTLR
    except Exception:
        pass
    _w_limit_memory()
    out.write(b'{"ready": true}\n')
    for line in sys.stdin.buffer:
        try:
            req = json.loads(line)
        except ValueError:
            continue  # not from our caller; nothing to answer
        reply = _w_serve(req, signal)
        reply["id"] = req.get("id") if isinstance(req, dict) else None
        out.write(json.dumps(reply).encode() + b"\n")
        if reply.get("exit"):
            return  # a MemoryError can leave the heap broken: let the caller start a fresh one


def _w_serve(req: Any, signal: Any) -> dict[str, Any]:
    """Answer one request under the deadline; every failure becomes an ERROR reply."""
    try:
        timeout_s = float(req.get("timeout", 2.0))
        _w_limit_cpu(timeout_s)
        _W["expired"] = False
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
            reply = _w_handle(req)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if _W["expired"]:  # the deadline fired and something swallowed it
            raise _Deadline
        return reply
    except _Deadline:
        return {"verdict": "error", "reason": "timeout", "cache": False}
    except MemoryError:
        return {"verdict": "error", "reason": "out of memory", "cache": False, "exit": True}
    except RecursionError:
        return {"verdict": "error", "reason": "too deeply nested", "cache": False}
    except Exception as exc:
        return {
            "verdict": "error",
            "reason": f"judge crashed: {type(exc).__name__}",
            "cache": False,
        }


# ---------------------------------------------------------------------------------------------
# Caller side
# ---------------------------------------------------------------------------------------------


def _worker_command() -> list[str]:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = [root] + [os.path.abspath(p or os.curdir) for p in sys.path]
    boot = (
        "import sys, json; sys.path[:0] = [p for p in json.loads(sys.argv[1]) "
        "if p not in sys.path]; from mentor_data.answers import _worker_main; _worker_main()"
    )
    return [sys.executable, "-I", "-c", boot, json.dumps(paths)]


def _error(reason: str) -> dict[str, Any]:
    return {"verdict": "error", "reason": reason, "cache": False}


class _Worker:
    """The judge subprocess of this process: one request at a time, killed on timeout."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._poller: Any = None
        self._buf = b""
        self._ready = False
        self._next_id = 0

    @property
    def pid(self) -> int | None:
        """Process id of the current worker (None when none is running)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _spawn(self) -> None:
        self._proc = subprocess.Popen(
            _worker_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self._poller = select.poll()  # not select.select: fds above 1024 in big processes
        self._poller.register(self._proc.stdout.fileno(), select.POLLIN)
        self._buf = b""
        self._ready = False

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            proc.kill()
            proc.wait(timeout=5)
        except Exception:
            pass
        for pipe in (proc.stdin, proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except Exception:
                pass

    def _read(self, want_id: int | None, deadline: float) -> dict[str, Any] | None:
        """The reply with id `want_id` (the ready line when None); None on deadline.

        Replies to earlier requests (left over when a caller was interrupted) are skipped.
        """
        fd = self._proc.stdout.fileno()  # type: ignore[union-attr]
        while True:
            while b"\n" in self._buf:
                line, _, self._buf = self._buf.partition(b"\n")
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(msg, dict):
                    continue
                if want_id is None and msg.get("ready"):
                    return msg
                if want_id is not None and msg.get("id") == want_id:
                    return msg
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if not self._poller.poll(max(1, int(remaining * 1000))):
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise EOFError
            self._buf += chunk

    def request(self, msg: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one request; on timeout kill the worker, start a new one and return ERROR."""
        with self._lock:
            try:
                return self._request(msg, timeout_s)
            except Exception as exc:  # a judge must answer; log and report ERROR
                logger.warning("answer judge worker failed: %r", exc)
                self._kill()
                return _error(f"judge worker failed: {type(exc).__name__}")

    def _request(self, msg: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        for _ in range(2):  # a second try only when the worker had died between calls
            if self._proc is None or self._proc.poll() is not None:
                self._kill()
                self._spawn()
            if not self._ready:
                try:
                    ready = self._read(None, time.monotonic() + _STARTUP_TIMEOUT_S)
                except EOFError:
                    ready = None
                if ready is None:
                    self._kill()
                    logger.warning("answer judge worker did not start (%s)", sys.executable)
                    return _error("judge worker did not start")
                self._ready = True
            self._next_id += 1
            payload = dict(msg, id=self._next_id, timeout=timeout_s)
            try:
                self._proc.stdin.write(json.dumps(payload).encode() + b"\n")  # type: ignore[union-attr]
                self._proc.stdin.flush()  # type: ignore[union-attr]
            except OSError:
                self._kill()
                continue
            try:
                reply = self._read(self._next_id, time.monotonic() + timeout_s + _KILL_GRACE_S)
            except EOFError:  # it died on this input (e.g. a C stack overflow): not retried
                self._kill()
                return _error("judge worker crashed")
            if reply is None:
                self._kill()
                self._spawn()  # warm up the next worker while the caller goes on
                return _error("timeout")
            return reply
        return _error("judge worker unavailable")

    def close(self) -> None:
        """Stop the worker (it also exits by itself when this process goes away)."""
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            try:
                proc.stdin.close()
                proc.wait(timeout=1)
            except Exception:
                pass
        self._kill()


class _LRU:
    """A small thread-safe LRU map."""

    def __init__(self, maxsize: int) -> None:
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self._maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def reset_lock(self) -> None:
        self._lock = threading.Lock()


_WORKER = _Worker()
_VERDICTS = _LRU(CACHE_SIZE)  # (pred, gold) -> Verdict
_GOLD_PROBLEMS = _LRU(4_096)  # gold -> why it is unusable ("" when usable)


def _after_fork_in_child() -> None:
    """A forked child must not share the parent's worker pipes or a lock held at fork time."""
    global _WORKER
    old = _WORKER
    _WORKER = _Worker()
    proc = old._proc
    if proc is not None:
        for pipe in (proc.stdin, proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()  # closes this process's copy only
            except Exception:
                pass
        proc.returncode = 0  # not our child: never wait for or kill it
    _VERDICTS.reset_lock()
    _GOLD_PROBLEMS.reset_lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(lambda: _WORKER.close())


def _as_text(x: object) -> str | None:
    if isinstance(x, str):
        return x
    if isinstance(x, numbers.Number) and not isinstance(x, bool):
        return str(x)
    return None


def _clamp_timeout(timeout_s: float) -> float:
    try:
        t = float(timeout_s)
    except (TypeError, ValueError):
        return 2.0
    return min(max(t, 0.01), 600.0) if math.isfinite(t) else 2.0


def _check(pred: object, gold: object, timeout_s: float) -> Verdict:
    gold_text = _as_text(gold)
    if gold_text is None or not gold_text.strip() or len(gold_text) > MAX_ANSWER_CHARS:
        return Verdict.ERROR
    pred_text = _as_text(pred)
    if pred_text is None or not pred_text.strip() or len(pred_text) > MAX_ANSWER_CHARS:
        return Verdict.FAIL
    cacheable = len(pred_text) + len(gold_text) <= _CACHEABLE_CHARS
    key = (pred_text, gold_text)
    if cacheable:
        cached = _VERDICTS.get(key)
        if cached is not None:
            return cached
    g = _number_of(gold_text)
    if g is not None:
        p = _number_of(pred_text)
        if p is not None:
            same = _numbers_match(g, p)
            if same is not None:
                verdict = Verdict.PASS if same else Verdict.FAIL
                if cacheable:
                    _VERDICTS.put(key, verdict)
                return verdict
    elif _GOLD_PROBLEMS.get(gold_text):
        return Verdict.ERROR
    if _EXACT_PATH and g is None:  # a plain-number gold keeps its judge (the worker's tests)
        same = _exact_verdict(pred_text, gold_text)
        if same is not None:
            verdict = Verdict.PASS if same else Verdict.FAIL
            if cacheable:
                _VERDICTS.put(key, verdict)
            return verdict
    reply = _WORKER.request({"op": "judge", "pred": pred_text, "gold": gold_text}, timeout_s)
    verdict = Verdict(reply.get("verdict", "error"))
    if reply.get("gold_problem"):
        _GOLD_PROBLEMS.put(gold_text, reply["gold_problem"])
    if verdict is not Verdict.ERROR and reply.get("cache") and cacheable:
        _VERDICTS.put(key, verdict)
    if verdict is Verdict.ERROR:
        logger.debug(
            "answer judge: ERROR (%s) for %.80r vs %.80r", reply.get("reason"), pred_text, gold_text
        )
    return verdict


def check_answer(pred: str | None, gold: str, *, timeout_s: float = 2.0) -> Verdict:
    """Judge whether the answer `pred` is mathematically the ground truth `gold`.

    Plain numbers are compared exactly in-process (microseconds); anything else goes to a
    sandboxed math-verify worker (milliseconds). See the module docstring for every rule.

    Args:
        pred: The model's answer, e.g. the content of its last `\\boxed{}`; None when the
            completion has none.
        gold: The ground-truth answer of the row.
        timeout_s: Wall-clock limit for judging this pair in the worker (plus a 0.5 s kill
            grace). Time spent waiting for another thread's call, or for the worker's first
            start, is not counted.

    Returns:
        `Verdict.PASS` (equivalent), `Verdict.FAIL` (not equivalent, or no usable
        prediction) or `Verdict.ERROR` (unusable gold, timeout, judge failure).

    Example:
        >>> check_answer("0.75", "\\\\frac{3}{4}")
        <Verdict.PASS: 'pass'>
        >>> check_answer("0.3333", "1/3")
        <Verdict.FAIL: 'fail'>
        >>> check_answer(None, "17")
        <Verdict.FAIL: 'fail'>
    """
    try:
        return _check(pred, gold, _clamp_timeout(timeout_s))
    except Exception as exc:  # never raise on model output
        logger.warning("answer judge failed on %.80r vs %.80r: %r", pred, gold, exc)
        return Verdict.ERROR


def is_correct(pred: str | None, gold: str) -> bool:
    """Whether `check_answer(pred, gold)` is PASS (an ERROR is not correct).

    Args:
        pred: The model's answer, or None.
        gold: The ground-truth answer.

    Returns:
        True only for a PASS verdict.

    Example:
        >>> is_correct("x = 7", "7")
        True
    """
    return check_answer(pred, gold) is Verdict.PASS


def check_gold(gold: str, *, timeout_s: float = 2.0) -> str | None:
    """Why a ground-truth answer cannot be used to judge answers, or None when it can.

    verify and ingest call this to reject unparseable gold with a clear message instead of
    scoring every row against it.

    Args:
        gold: A ground-truth answer.
        timeout_s: Wall-clock limit for parsing it in the worker.

    Returns:
        None if the gold is usable, else a one-line reason.

    Example:
        >>> check_gold("\\\\frac{3}{4}") is None
        True
        >>> check_gold("  ")
        'gold answer is empty'
    """
    try:
        text = _as_text(gold)
        if text is None:
            return f"gold answer is not text but {type(gold).__name__}"
        if not text.strip():
            return "gold answer is empty"
        if len(text) > MAX_ANSWER_CHARS:
            return f"gold answer is {len(text):,} characters long (limit {MAX_ANSWER_CHARS:,})"
        if _number_of(text) is not None:
            return None
        known = _GOLD_PROBLEMS.get(text)
        if known is not None:
            return known or None
        reply = _WORKER.request({"op": "gold", "gold": text}, _clamp_timeout(timeout_s))
        if reply.get("verdict") == "pass":
            _GOLD_PROBLEMS.put(text, "")
            return None
        problem = (
            reply.get("gold_problem") or f"gold answer could not be parsed: {reply.get('reason')}"
        )
        if reply.get("cache"):
            _GOLD_PROBLEMS.put(text, problem)
        return problem
    except Exception as exc:  # never raise: report it as the reason
        return f"gold answer could not be checked: {type(exc).__name__}"


def usable_gold(gold: Any) -> str | None:
    """The ground truth as text when the judge can use it, else None (missing, blank, unparseable).

    Example:
        >>> usable_gold(391), usable_gold("  "), usable_gold(None)
        ('391', None, None)
    """
    if isinstance(gold, bool) or gold is None:
        return None
    text = str(gold) if isinstance(gold, (int, float)) else gold
    if not isinstance(text, str) or not text.strip():
        return None
    return text if check_gold(text) is None else None
