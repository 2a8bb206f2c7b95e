"""Hostile model output, end to end: no completion can crash or stall a cross-module path.

The per-module property tests (test_formats, test_answers, test_tools, test_verify,
test_rewards) check each piece alone, some with the judge mocked. This file feeds generated and
mutated completions through the paths that join the modules, with the real judge:

* completion text or messages -> `parse_completion` / `extract_boxed` (the one parser);
* an assistant reply -> the teacher loop's `execute_turn` -> `execute()` (generation);
* a trajectory row -> `verify_row` (re-execution + judge);
* completions -> every reward in `REWARDS` (parse + judge + composition);
* generated code -> the `python` tool (sandbox).

Each must never raise and must return within a bound. Adversarial answers (10^(10^10),
5,000-digit numbers, deeply nested braces, 1 MB strings) are checked in verify and in every
reward with a short judge timeout: the judge's own bound is tested in test_answers; here, that
verify and the rewards add nothing unbounded around it.
"""

from __future__ import annotations

import copy
import json
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentor_data import answers
from mentor_data.formats import (
    extract_boxed,
    messages_to_text,
    parse_completion,
    parse_tool_calls,
    strip_tool_calls,
)
from mentor_data.teachers.base import reply_message
from mentor_data.teachers.rollout import execute_turn
from mentor_data.tools import ARITHMETIC, execute, get_registry
from mentor_data.tools.sandbox import SandboxLimits, SandboxPool
from mentor_data.trajectory import tool_calls_from_messages
from mentor_data.verify import REASONS, verify_row
from mentor_train.rewards import REWARDS, get_reward
from tests.trajectory_fixtures import traj

SLACK_S = 1.5  # scheduling on a loaded 2-core machine
JUDGE_S = 0.5  # the judge's timeout in this file (see `short_judge`)
PARSE_S = 1.0  # parsing and executing calls of one completion, whatever it holds

SEED_ROW = traj([("multiply", {"a": 3, "b": 12}), ("add", {"a": 36, "b": 0})], "36", "36")
SEED_MESSAGES = SEED_ROW["messages"][2:]  # the completion: assistant/tool turns
SEED_TEXT = messages_to_text(SEED_MESSAGES)
TEACHER = ["multiply", "add"]

FRAGMENTS = [
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "\\boxed{",
    "\\boxed {",
    "}",
    "{",
    "\\{",
    '"',
    "\\",
    "\n",
    '{"name": "add", "arguments": {"a": 1e999, "b": 2}}',
    '{"name": "multiply", "arguments": {"a": ' + "9" * 5000 + ', "b": 2}}',
    '{"name": "power", "arguments": {"base": 10, "exponent": 10000000000}}',
    '{"name": "python", "arguments": {"code": "while True: pass"}}',
    '{"name": "bogus", "arguments": {}}',
    '{"name": "add", "arguments": "{\\"a\\": 1, \\"b\\""}',
    '{"name": "add", "parameters": [1, 2]}',
    '{"name": ' + "[" * 300 + "]" * 300 + "}",
    "NaN",
    "Infinity",
    "\ud800",
    "\x00",
    "10^{10^{10}}",
    "9" * 5000,
    "{" * 300,
    "}" * 300,
]
fragment = st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8))
HYPO = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True)
def short_judge():
    """The judge's default timeouts (what rewards use) shortened to JUDGE_S for this file."""
    saved = []
    for fn in (answers.check_answer, answers.check_gold):
        saved.append((fn.__kwdefaults__, dict(fn.__kwdefaults__)))
        fn.__kwdefaults__["timeout_s"] = JUDGE_S
    yield
    for defaults, before in saved:
        defaults.update(before)


def bounded(seconds: float):
    """Context manager: the block must finish within `seconds` (plus scheduling slack)."""

    class _Timer:
        def __enter__(self):
            self.start = time.monotonic()
            return self

        def __exit__(self, *exc):
            elapsed = time.monotonic() - self.start
            assert elapsed < seconds + SLACK_S, f"took {elapsed:.2f} s, bound {seconds} s"

    return _Timer()


# -- generated and mutated completions -----------------------------------------------------------
@st.composite
def mutated_text(draw, seed: str = SEED_TEXT) -> str:
    """The seed completion after 1-6 edits: insert, delete, replace, cut or repeat a span."""
    text = seed
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 300)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "cut", "repeat"]))
        if op == "insert":
            text = text[:i] + draw(fragment) + text[i:]
        elif op == "delete":
            text = text[:i] + text[j:]
        elif op == "replace":
            text = text[:i] + draw(fragment) + text[j:]
        elif op == "cut":
            text = text[:i]
        else:
            text = text[:j] + text[i:j] * draw(st.integers(1, 50)) + text[j:]
    return text


json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(FRAGMENTS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


@st.composite
def mutated_messages(draw) -> list:
    """The seed completion as messages, with contents, calls or the turn structure mutated."""
    messages = copy.deepcopy(SEED_MESSAGES)
    for _ in range(draw(st.integers(1, 4))):
        if not messages:
            break
        k = draw(st.integers(0, len(messages) - 1))
        op = draw(st.sampled_from(["content", "call", "drop", "repeat", "junk"]))
        message = messages[k]
        if not isinstance(message, dict):  # already junk
            continue
        if op == "content":
            message["content"] = draw(mutated_text(str(message.get("content") or "")))
        elif op == "call" and message.get("tool_calls"):
            function = message["tool_calls"][0]["function"]
            key = draw(st.sampled_from(["name", "arguments"]))
            function[key] = draw(json_value | st.sampled_from(["python", "bogus", ""]))
        elif op == "drop":
            messages.pop(k)
        elif op == "repeat":
            messages[k:k] = [copy.deepcopy(message)] * draw(st.integers(1, 20))
        else:
            messages[k] = draw(json_value)
    return messages


completions = st.one_of(
    mutated_text(), mutated_messages(), st.text(max_size=300), json_value.map(lambda v: v)
)


@HYPO
@given(st.one_of(mutated_text(), st.text(max_size=300)))
def test_parser_and_answer_extractor_on_mutated_text(text):
    with bounded(PARSE_S):
        parsed = parse_completion(text)
        extract_boxed(text)
        parse_tool_calls(text)
        strip_tool_calls(text)
        if parsed.answer is not None:
            answers.normalize_answer(parsed.answer)
    assert all(isinstance(c.arguments, dict) for c in parsed.calls if c.ok)


@HYPO
@given(mutated_messages())
def test_parser_on_mutated_messages_agrees_with_text(messages):
    with bounded(PARSE_S):
        parsed = parse_completion(messages)
        try:
            text = messages_to_text(messages)
        except Exception:  # only well-formed message lists render; parsing must still work
            return
        as_text = parse_completion(text)
    assert isinstance(parsed.tool_names, list) and isinstance(as_text.tool_names, list)


@HYPO
@given(st.one_of(mutated_text(), st.text(max_size=300)), st.integers(0, 5))
def test_teacher_loop_executes_any_reply(text, turn):
    """What generation does with a model's turn: merge its calls, execute them, observe."""
    with bounded(PARSE_S):
        message = reply_message(text, turn=turn)
        records, tool_messages = execute_turn(message, turn, ARITHMETIC)
    json.dumps(records)  # the tool_calls column stays JSON
    assert len(records) == len(tool_messages)
    for record, tool_message in zip(records, tool_messages, strict=True):
        assert (record["output"] is None) != (record["error"] is None)
        assert isinstance(tool_message["content"], str) and len(tool_message["content"]) < 5_000


@HYPO
@given(st.text(max_size=30) | st.sampled_from(FRAGMENTS), json_value | st.text(max_size=50))
def test_executor_with_any_name_and_arguments(name, arguments):
    registry = get_registry("arithmetic")
    with bounded(0.2):
        result = execute(name, arguments, registry)
    assert result.ok == (result.code is None)
    assert isinstance(result.observation(), str)


@HYPO
@given(completions, st.booleans())
def test_every_reward_on_mutated_completions(completion, truncated):
    for name, reward in REWARDS.items():
        with bounded(JUDGE_S):
            out = reward(
                completions=[completion],
                answer=["36"],
                teacher_tools=[TEACHER],
                tool_names=[None],
                truncated=[truncated],
            )
        assert len(out) == 1, name
        assert out[0] is None or (0.0 <= out[0] <= 1.1 + 1e-9 and not math.isnan(out[0])), name


@HYPO
@given(mutated_messages(), st.sampled_from(["stop", "length", "max_turns", "error"]))
def test_verify_on_rows_with_mutated_completions(messages, finish_reason):
    row = copy.deepcopy(SEED_ROW)
    row["messages"] = SEED_ROW["messages"][:2] + messages
    try:  # the column as generate would have recorded it; a broken conversation keeps the old
        row["tool_calls"] = tool_calls_from_messages(row["messages"])
    except Exception:
        pass
    row["finish_reason"] = finish_reason
    with bounded(2 * JUDGE_S):  # the answer, then (on ERROR) the gold
        verdict = verify_row(row, judge_timeout_s=JUDGE_S)
    assert verdict.reason in REASONS
    json.dumps(verdict.columns())


# -- adversarial answers ---------------------------------------------------------------------------
ADVERSARIAL = {
    "10^(10^10)": "10^(10^10)",
    "10^{10^{10}}": "10^{10^{10}}",
    "9^9^9^9": "9^{9^{9^{9}}}",
    "5000 digits": "9" * 5000,
    "5000-digit sqrt": "\\sqrt{" + "9" * 5000 + "}",
    "nested braces": "{" * 10_000 + "36" + "}" * 10_000,
    "nested fracs": "\\frac{" * 1_000 + "1" + "}{2}" * 1_000,
    "1 MB string": "7" * 1_000_000,
    "1 MB text": "x" * 1_000_000,
}


def forms(answer: str) -> list:
    """The completion in both forms rewards receive: text and messages."""
    messages = copy.deepcopy(SEED_MESSAGES)
    messages[-1]["content"] = f"So the answer is \\boxed{{{answer}}}."
    return [messages_to_text(messages), messages]


@pytest.mark.parametrize("answer", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_answers_in_every_reward(answer):
    text, messages = forms(answer)
    # Every variant on the text; the messages form once (both go through the same parser).
    cases = [(name, text) for name in REWARDS] + [("mentor", messages)]
    for name, completion in cases:
        with bounded(JUDGE_S + PARSE_S):
            out = REWARDS[name](completions=[completion], answer=["36"], teacher_tools=[TEACHER])
        assert out[0] is None or 0.0 <= out[0] <= 1.1 + 1e-9, name


@pytest.mark.parametrize("answer", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_answers_in_verify(answer):
    row = traj([("multiply", {"a": 3, "b": 12})], answer, "36")
    with bounded(2 * JUDGE_S + PARSE_S):
        verdict = verify_row(row, judge_timeout_s=JUDGE_S)
    assert verdict.reason in ("wrong_answer", "judge_error")
    assert len(verdict.detail) < 1_000  # clipped, not 1 MB
    json.dumps(verdict.columns())


@pytest.mark.parametrize("gold", ["10^{10^{10}}", "{" * 10_000, "9" * 5000, "x" * 1_000_000])
def test_adversarial_ground_truth(gold):
    """A hostile `answer` column: rewards skip the row (None), verify names it."""
    for reward in REWARDS.values():
        with bounded(JUDGE_S + PARSE_S):
            out = reward(completions=[SEED_TEXT], answer=[gold], teacher_tools=[TEACHER])
        assert out[0] is None or 0.0 <= out[0] <= 1.1 + 1e-9
    with bounded(2 * JUDGE_S + PARSE_S):
        verdict = verify_row(traj(answer="36", gold=gold), judge_timeout_s=JUDGE_S)
    assert verdict.reason in ("wrong_answer", "judge_error")


def test_a_megabyte_of_tool_calls_is_bounded():
    text = '<tool_call>{"name": "add", "arguments": {"a": 1, "b": 2}}</tool_call>' * 15_000
    text += "\\boxed{36}"
    with bounded(PARSE_S):
        parsed = parse_completion(text)
        records, _ = execute_turn(reply_message(text), 0, ARITHMETIC)
    assert len(parsed.calls) <= 1_000 and len(records) <= 1_000
    reward = get_reward("mentor", tools="arithmetic+python")
    with bounded(JUDGE_S + PARSE_S):
        assert reward(completions=[text], answer=["36"], teacher_tools=[["add"]]) == [1.1]


# -- generated code through the python tool --------------------------------------------------------
CODE_SEEDS = [
    "print(1 + 1)",
    "import math\nprint(math.factorial(20))",
    "x = [i * i for i in range(10)]\nprint(sum(x))",
    "print(10 ** 10 ** 10)",
    "print('\\ud800')",
    "import sys\nsys.stdout.write('\\x00' * 10)",
    "raise SystemExit('bye')",
]


@pytest.fixture(scope="module")
def python_tools():
    from mentor_data.tools import Tool, ToolRegistry
    from mentor_data.tools.python_tool import PYTHON_SCHEMA, make_python_tool

    limits = SandboxLimits(cpu_s=1, wall_s=1.5, memory_mb=128, output_bytes=2048)
    with SandboxPool(size=1, limits=limits) as pool:
        yield ToolRegistry([Tool("python", make_python_tool(pool), PYTHON_SCHEMA)])


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(code=st.one_of(*(mutated_text(seed) for seed in CODE_SEEDS), st.text(max_size=200)))
def test_python_tool_on_generated_code(python_tools, code):
    with bounded(1.5 + 1.0):  # the wall-clock limit, the kill grace
        result = execute("python", {"code": code}, python_tools)
    assert result.ok == (result.code is None)
    assert len(result.observation()) < 4_000
    assert result.code in (None, "runtime_error", "timeout", "memory_limit", "output_limit")
