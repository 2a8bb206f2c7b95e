"""The answer judge: equivalences, rejections (Math-Verify regressions), ERROR, robustness."""

from __future__ import annotations

import doctest
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentor_data import answers
from mentor_data.answers import (
    MAX_ANSWER_CHARS,
    Verdict,
    check_answer,
    check_gold,
    is_correct,
    normalize_answer,
)

SLACK_S = 1.5  # scheduling on a loaded 2-core machine, on top of the 0.5 s kill grace

# (prediction, gold): judged equal.
EQUAL = [
    ("0.75", "3/4"),
    ("3/4", "0.75"),
    ("\\frac{3}{4}", "0.75"),
    ("\\dfrac34", "0.75"),
    ("\\tfrac{3}{4}", "3/4"),
    ("391.0", "391"),
    ("1,000", "1000"),
    ("1000", "1{,}000"),
    ("1\\,000", "1000"),
    ("x = 7", "7"),
    ("7", "x = 7"),
    ("17 apples", "17"),
    ("$17", "17"),
    ("\\$17", "17"),
    ("$17$", "17"),
    ("\\(17\\)", "17"),
    ("12^2", "144"),
    ("2^{10}", "1024"),
    ("\\sqrt{4}", "2"),  # bare LaTeX: the reference judge gets these wrong (Math-Verify#56)
    ("{64}", "64"),
    ("\\text{5}", "5"),
    ("\\sqrt{2}", "\\sqrt{2}"),
    ("2", "\\sqrt{4}"),
    ("50\\%", "50"),  # percent: p% equals p ...
    ("50%", "0.5"),  # ... and p/100
    ("0.5", "50\\%"),
    ("\u221212", "-12"),  # unicode minus
    ("**73**", "73"),  # bold (Math-Verify#76)
    ("\\boxed{5}", "5"),
    ("5 \\text{ cm}^2", "5"),
    ("30^\\circ", "30"),
    ("1.5e3", "1500"),
    ("1.5 \\times 10^{3}", "1500"),
    ("0.333333", "1/3"),  # 6 significant digits approximate an exact value
    ("33.3333\\%", "\\frac{1}{3}"),
    ("1.414214", "\\sqrt{2}"),
    ("3.14159", "\\pi"),
    ("0.333333", "\\frac{\\sqrt{9}}{9}"),  # same rule on the slow path
    ("sqrt(2)", "\\sqrt{2}"),  # plain-text math through the sympy fallback
    ("2*pi", "2\\pi"),
    ("x = \\frac{1}{2}", "0.5"),
    ("(x+1)^2", "x^2+2x+1"),
    ("\\{1728\\}", "1728"),
    ("2,1", "1,2"),
    ("\\frac{\\sqrt{6}}{2}", "\\sqrt{\\frac{3}{2}}"),
    ("y = 7", "x = 7"),
    ("-0", "0"),
    ("+5", "5"),
    ("6/8", "3/4"),
]

# (prediction, gold): judged different.
NOT_EQUAL = [
    ("0.3333", "1/3"),
    ("0.33333", "1/3"),
    ("3.14", "\\pi"),
    ("pi", "3.14"),
    ("12", "-12"),
    ("-12", "12"),
    ("1331 and 1728", "1728"),  # several answers for one gold (Math-Verify#47)
    ("1331, 1728", "1728"),
    ("1728 \\text{ or } 1331", "1728"),
    ("x+1=0", "x^2-1=0"),  # two "... = 0" equations (Math-Verify#60)
    ("3x + 4y + 14=0", "3*x-1*y+13=0"),
    ("\\frac{1}{2006!}", "\\frac{1}{2004!}"),  # tiny values (Math-Verify#14)
    ("\\frac{1}{2^{98}}", "\\frac{1}{2^{99}}"),
    ("0", "\\frac{1}{2004!}"),
    ("0.0", "\\frac{1}{2004!}"),
    ("x = \\frac{1}{2006!}", "\\frac{1}{2004!}"),
    ("1+\\frac{1}{e}", "1-\\frac{1}{e}"),
    ("2021", "\\pm 2021"),
    ("5 pi", "5"),
    ("5 million", "5"),
    ("banana", "5"),
    ("\\boxed{}", "5"),
    ("1234567.2", "1234567"),
    ("1234567", "1234567.2"),
    ("2.500001", "2.5"),
    ("12^23", "144"),
    ("50\\%", "0.05"),
    ("50\\%", "0.5\\%"),
    ("0.75", "\\frac{3}{5}"),
    ("2\\sqrt{3}", "3\\sqrt{2}"),
]


@pytest.fixture(scope="module", autouse=True)
def started_worker():
    """Start the worker once, so time bounds below measure judging, not interpreter start."""
    assert check_answer("\\sqrt{4}", "2") is Verdict.PASS
    yield


def judge_works() -> bool:
    answers._VERDICTS.clear()
    return check_answer("\\sqrt{9}", "3") is Verdict.PASS and check_answer("7", "8") is Verdict.FAIL


@pytest.mark.parametrize(("pred", "gold"), EQUAL)
def test_equal(pred, gold):
    assert check_answer(pred, gold) is Verdict.PASS
    assert is_correct(pred, gold)


@pytest.mark.parametrize(("pred", "gold"), NOT_EQUAL)
def test_not_equal(pred, gold):
    assert check_answer(pred, gold) is Verdict.FAIL
    assert not is_correct(pred, gold)


@pytest.mark.parametrize("pred", [None, "", "   ", "\n", "$$", 3j, ["5"], b"5"])
def test_missing_or_unusable_prediction_is_fail(pred):
    assert check_answer(pred, "5") is Verdict.FAIL


def test_numbers_that_are_not_str_are_read_as_text():
    assert check_answer(17, "17") is Verdict.PASS
    assert check_answer(0.75, "3/4") is Verdict.PASS
    assert check_answer("17", 17) is Verdict.PASS
    assert check_answer(True, "1") is Verdict.FAIL  # a bool is not an answer


@pytest.mark.parametrize("gold", ["((((", "\\frac{", "}{", "", "  ", None, ["5"]])
def test_unusable_gold_is_error_and_check_gold_says_why(gold):
    assert check_answer("5", gold) is Verdict.ERROR
    assert check_answer("((((", gold) is Verdict.ERROR  # even when the texts are identical
    reason = check_gold(gold)
    assert isinstance(reason, str) and reason


def test_check_gold_messages():
    assert check_gold("  ") == "gold answer is empty"
    assert "does not parse" in check_gold("((((")
    assert "characters long" in check_gold("1" * (MAX_ANSWER_CHARS + 1))
    assert "not text" in check_gold(None)
    for usable in ["17", "\\frac{3}{4}", "\\sqrt{2}", "x^2+1", "\\{1, 2\\}", "(1, 2]", "50\\%"]:
        assert check_gold(usable) is None, usable


def test_length_caps():
    long_answer = "1" * (MAX_ANSWER_CHARS + 1)
    assert check_answer(long_answer, "5") is Verdict.FAIL  # a prediction: the model's fault
    assert check_answer("5", long_answer) is Verdict.ERROR  # a gold: unusable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$x = 1,000 \\text{ apples}$", "1000"),
        ("**\u221212**", "-12"),
        ("\\sqrt{2}", "\\sqrt{2}"),
        ("50\\%", "50%"),
        ("50 percent", "50%"),
        ("\\$1,234.50", "1234.50"),
        ("{{64}}", "64"),
        ("\\boxed{\\dfrac{3}{4}}", "\\frac{3}{4}"),
        ("\\left( 1, 2 \\right)", "( 1, 2 )"),
        ("5 pi", "5 pi"),
        ("1,2", "1,2"),
        ("12,345,678.9", "12345678.9"),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_docstring_examples():
    result = doctest.testmod(answers, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 8


def test_fast_path_stays_in_process():
    answers._VERDICTS.clear()
    before = answers._WORKER._next_id
    for pred, gold in [("1,000", "1000"), ("x = 7", "8"), ("0.75", "\\frac{3}{4}"), ("7", "-7")]:
        check_answer(pred, gold)
    assert answers._WORKER._next_id == before


def test_verdicts_are_cached_but_errors_are_not():
    answers._VERDICTS.clear()
    assert check_answer("\\sqrt{16}", "4") is Verdict.PASS
    assert answers._VERDICTS.get(("\\sqrt{16}", "4")) is Verdict.PASS
    assert check_answer("10^{10^{10}}", "\\sqrt{3}", timeout_s=0.3) is Verdict.ERROR
    assert answers._VERDICTS.get(("10^{10^{10}}", "\\sqrt{3}")) is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12), st.sampled_from(range(5)))
def test_integers_pass_exactly_when_equal(a, b, dressing):
    pred = [str(a), f"{a:,}", f"x = {a}", f"{a}.0", f"${a}$"][dressing]
    assert (check_answer(pred, str(b)) is Verdict.PASS) == (a == b)


MATHY = st.text(alphabet="0123456789+-*/^=.,{}()[]\\ fracsqtpix%$", max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), MATHY), st.one_of(st.text(max_size=60), MATHY))
def test_never_raises_and_returns_in_time(pred, gold):
    timeout = 1.0
    start = time.monotonic()
    verdict = check_answer(pred, gold, timeout_s=timeout)
    assert isinstance(verdict, Verdict)
    assert time.monotonic() - start < timeout + SLACK_S
    check_gold(gold)
    normalize_answer(pred)


ADVERSARIAL = [
    ("10^{10^{10}}", "5"),
    ("5", "10^{10^{10}}"),
    ("10^(10^10)", "\\sqrt{2}"),
    ("9^{9^{9^{9}}}", "\\sqrt{2}"),
    ("9" * 5000, "9" * 5000),
    ("9" * 5000, "9" * 4999 + "8"),
    ("9" * 5000 + ".5", "\\frac{1}{2}"),
    ("\\sqrt{" + "9" * 5000 + "}", "\\sqrt{2}"),
    ("1" * 1_000_000, "5"),
    ("{" * 10_000 + "5" + "}" * 10_000, "5"),
    ("{" * 4_000 + "5" + "}" * 4_000, "\\sqrt{25}"),
    ("(" * 3_000 + "5" + ")" * 3_000, "\\sqrt{25}"),
    ("\\frac{" * 1_000 + "1" + "}{2}" * 1_000, "\\sqrt{2}"),
]


@pytest.mark.parametrize(("pred", "gold"), ADVERSARIAL, ids=lambda s: f"{s[:12]}..{len(s)}")
def test_adversarial_inputs_are_bounded_and_the_judge_survives(pred, gold):
    timeout = 0.5
    start = time.monotonic()
    verdict = check_answer(pred, gold, timeout_s=timeout)
    assert time.monotonic() - start < timeout + SLACK_S
    assert isinstance(verdict, Verdict)
    assert judge_works()


def test_long_equal_numbers_compare_exactly():
    assert check_answer("9" * 5000, "9" * 5000) is Verdict.PASS
    assert check_answer("9" * 5000, "9" * 4999 + "8") is Verdict.FAIL
    assert check_answer("1" + "0" * 5000, "1" + "0" * 4999) is Verdict.FAIL


def test_a_hung_worker_is_killed_and_replaced():
    """SIGSTOP freezes the worker like a stall in C: the caller's SIGKILL backstop must fire."""
    pid = answers._WORKER.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    answers._VERDICTS.clear()
    start = time.monotonic()
    assert check_answer("\\sqrt{49}", "7", timeout_s=0.3) is Verdict.ERROR
    assert time.monotonic() - start < 0.3 + SLACK_S
    assert answers._WORKER.pid not in (None, pid)
    assert judge_works()


def test_a_dead_worker_is_restarted_transparently():
    pid = answers._WORKER.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.05)
    assert judge_works()
    assert answers._WORKER.pid != pid


def test_library_prints_nothing(capfd):
    check_answer("10^{10^{10}}", "\\sqrt{5}", timeout_s=0.3)
    check_answer("\\sqrt{4}", "2")
    check_gold("((((")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_usable_from_several_threads_at_once():
    answers._VERDICTS.clear()
    cases = [(p, g, Verdict.PASS) for p, g in EQUAL] + [(p, g, Verdict.FAIL) for p, g in NOT_EQUAL]
    barrier = threading.Barrier(2)

    def run(offset: int) -> list[bool]:
        barrier.wait()
        order = cases[offset:] + cases[:offset]
        # A generous timeout: this tests thread safety, not speed (a loaded CI box is slow).
        return [check_answer(p, g, timeout_s=60) is want for p, g, want in order]

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run, [0, len(cases) // 2]))
    assert all(results[0]) and all(results[1])


def _judge_in_child(queue) -> None:
    queue.put((check_answer("\\sqrt{9}", "3").value, check_answer("x^2", "x^3").value, os.getpid()))


def test_forked_children_get_their_own_worker():
    assert answers._WORKER.pid is not None  # the parent's worker exists before the fork
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_judge_in_child, args=(queue,)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [r[:2] for r in results] == [("pass", "fail")] * 2
    assert judge_works()  # the parent's worker is untouched


# (prediction, gold) in the forms the exact in-process path reads: roots of rationals, pi,
# one-variable polynomials, sets of constants (and the plain-number forms before them).
EXACT_FORMS = [
    ("\\frac{5}{7}\\sqrt{3}", "\\frac{5\\sqrt{3}}{7}"),
    ("\\frac{5}{7}\\sqrt{2}", "\\frac{5\\sqrt{3}}{7}"),
    ("2\\sqrt{2}", "\\sqrt{8}"),
    ("12\\sqrt{3}", "\\sqrt{432}"),
    ("3\\sqrt{3}", "\\sqrt{432}"),
    ("2", "\\sqrt{4}"),
    ("\\frac{1}{\\sqrt{2}}", "\\frac{\\sqrt{2}}{2}"),
    ("\\frac{\\sqrt{6}}{2}", "\\sqrt{\\frac{3}{2}}"),
    ("\\sqrt{2}\\sqrt{3}", "\\sqrt{6}"),
    ("\\sqrt{2}+\\sqrt{3}", "\\sqrt{3}+\\sqrt{2}"),
    ("-\\sqrt{2}", "\\sqrt{2}"),
    ("\\pi \\cdot 5", "5\\pi"),
    ("6\\pi", "5\\pi"),
    ("\\frac{1}{2}\\pi", "\\frac{\\pi}{2}"),
    ("2\\pi", "\\frac{2}{\\pi}"),
    ("\\pi \\pi", "\\pi^2"),
    ("3.14159", "\\pi"),  # a decimal: not this path, still judged the same
    ("(x+5)^2", "x^2 + 10x + 25"),
    ("(x-5)^2", "x^2 + 10x + 25"),
    ("(x-1)(x+1)", "x^2-1"),
    ("\\frac{x}{2}", "\\frac{1}{2}x"),
    ("k+1", "1+k"),
    ("y^2", "x^2"),
    ("7, 5", "\\{5, 7\\}"),
    ("\\{7, 5\\}", "5, 7"),
    ("5, 8", "\\{5, 7\\}"),
    ("-\\sqrt{2}, \\sqrt{2}", "\\{\\sqrt{2}, -\\sqrt{2}\\}"),
    ("\\dfrac{36}{84}", "\\frac{36}{84}"),
    ("\\frac{34}{56}", "\\frac{22}{34}"),
]

# Forms judged in-process without the worker, with their verdicts.
IN_PROCESS = [
    ("0.75", "\\frac{3}{4}", Verdict.PASS),
    ("\\dfrac{3}{4}", "3/4", Verdict.PASS),
    ("6/8", "\\frac{3}{4}", Verdict.PASS),
    ("50\\%", "0.5", Verdict.PASS),
    ("17 apples", "17", Verdict.PASS),
    ("5 \\text{ cm}", "5", Verdict.PASS),
    ("x = 7", "7", Verdict.PASS),
    ("\\text{5}", "5", Verdict.PASS),
    ("{64}", "64", Verdict.PASS),
    ("1,234", "1234", Verdict.PASS),
    ("1,235", "1234", Verdict.FAIL),
    ("\\frac{5}{7}\\sqrt{3}", "\\frac{5\\sqrt{3}}{7}", Verdict.PASS),
    ("\\frac{5}{7}\\sqrt{2}", "\\frac{5\\sqrt{3}}{7}", Verdict.FAIL),
    ("2", "\\sqrt{4}", Verdict.PASS),
    ("\\sqrt{2}", "\\sqrt{2}", Verdict.PASS),
    ("\\pi \\cdot 5", "5\\pi", Verdict.PASS),
    ("6\\pi", "5\\pi", Verdict.FAIL),
    ("(x+5)^2", "x^2 + 10x + 25", Verdict.PASS),
    ("(x-5)^2", "x^2 + 10x + 25", Verdict.FAIL),
    ("7, 5", "\\{5, 7\\}", Verdict.PASS),
    ("5, 8", "\\{5, 7\\}", Verdict.FAIL),
]


@pytest.mark.parametrize(("pred", "gold"), EXACT_FORMS)
def test_exact_path_gives_the_workers_verdict(pred, gold, monkeypatch):
    answers._VERDICTS.clear()
    fast = check_answer(pred, gold)
    assert fast is not Verdict.ERROR
    monkeypatch.setattr(answers, "_EXACT_PATH", False)
    answers._VERDICTS.clear()
    assert check_answer(pred, gold, timeout_s=60) is fast  # the worker, on a loaded machine
    answers._VERDICTS.clear()


@pytest.mark.parametrize(("pred", "gold", "verdict"), IN_PROCESS)
def test_common_forms_never_call_the_worker(pred, gold, verdict, monkeypatch):
    def no_worker(*args, **kwargs):
        raise AssertionError("the worker was called")

    monkeypatch.setattr(answers._WORKER, "request", no_worker)
    answers._VERDICTS.clear()
    assert check_answer(pred, gold) is verdict
    answers._VERDICTS.clear()


def test_exact_path_leaves_what_it_cannot_read_to_the_worker():
    for pred, gold in [
        ("n(n+1)", "n^2+n"),  # a function call?
        ("4\\pi", "4\\pi r^2"),  # two variables
        ("\\sqrt[3]{8}", "2 \\sqrt{1}"),
        ("1.5\\pi", "\\frac{3\\pi}{2}"),  # a decimal in an expression
        ("5, 5", "\\{5, 7\\}"),
        ("\\sqrt{10^{13}}", "\\sqrt{2}"),
        ("4\\frac{2}{3}", "\\frac{14}{3}"),  # a mixed number, not a product
        ("2{3}", "6"),
        ("((999^{12})^{12})^{12}", "\\sqrt{2}"),  # too long to compute here
        ("1000001\\pi", "\\pi"),
        ("\\frac{999999}{1000000}\\sqrt{2}", "\\sqrt{2}"),
    ]:
        assert answers._exact_verdict(pred, gold) is None, (pred, gold)
