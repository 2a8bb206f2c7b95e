"""The one parser of model output: literal cases, both forms score alike, never raises, linear."""

from __future__ import annotations

import doctest
import json
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentor_data import formats
from mentor_data.formats import (
    MAX_CALLS,
    MAX_RAW_CHARS,
    RAW_ARGUMENTS_KEY,
    TOOL_CALL_CLOSE,
    TOOL_CALL_OPEN,
    TOOL_RESPONSE_CLOSE,
    TOOL_RESPONSE_OPEN,
    ParsedCompletion,
    ToolCall,
    assistant_message_to_text,
    extract_boxed,
    messages_to_text,
    normalize_tool_calls,
    parse_completion,
    parse_tool_calls,
    parse_tool_responses,
    render_tool_call,
    render_tool_response,
    strip_tool_calls,
    text_to_assistant_message,
)

ADD = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>'
MUL = '<tool_call>{"name": "multiply", "arguments": {"a": 3, "b": 12}}</tool_call>'


def call(name, arguments, call_id=None):
    entry = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if call_id is not None:
        entry["id"] = call_id
    return entry


def summary(p: ParsedCompletion):
    return p.tool_names, p.answer, len(p.malformed)


def test_docstring_examples():
    assert doctest.testmod(formats).failed == 0


# --- tool calls -----------------------------------------------------------------------------


def test_single_call_in_the_qwen_form():
    [c] = parse_tool_calls("Let me multiply.\n" + MUL)
    assert (c.name, c.arguments, c.error, c.ok) == ("multiply", {"a": 3, "b": 12}, None, True)
    assert c.raw == '{"name": "multiply", "arguments": {"a": 3, "b": 12}}'


def test_several_calls_in_one_turn_in_order():
    calls = parse_tool_calls(f"{ADD}\n{MUL}\n{ADD}")
    assert [c.name for c in calls] == ["add", "multiply", "add"]


@pytest.mark.parametrize(
    "block",
    [
        '<tool_call>{"name": "add", "arguments": {"a": 1}}</tool_call>',
        '<tool_call>\n{"name": "add", "arguments": {"a": 1}}\n</tool_call>',
        '<tool_call>  \n\t {"name":"add","arguments":{"a":1}} \n\n</tool_call>',
        '<tool_call>\r\n{\n  "name": "add",\n  "arguments": {\n    "a": 1\n  }\n}\r\n</tool_call>',
    ],
)
def test_whitespace_variants(block):
    [c] = parse_tool_calls(block)
    assert c.ok and c.name == "add" and c.arguments == {"a": 1}


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('<tool_call>{"name": "add", "arguments": {}}', "malformed_call: unclosed <tool_call>"),
        ("<tool_call>{'name': 'add'}</tool_call>", "malformed_call: invalid JSON"),
        ('<tool_call>{"name": "add", "arguments": {}}} x</tool_call>', "malformed_call: invalid"),
        ("<tool_call></tool_call>", "malformed_call: invalid JSON"),
        ('<tool_call>{"arguments": {"a": 1}}</tool_call>', "malformed_call: no name"),
        ('<tool_call>{"name": null}</tool_call>', "malformed_call: no name"),
        ('<tool_call>{"name": 7}</tool_call>', "malformed_call: name is not a string"),
        ('<tool_call>{"name": ["add"]}</tool_call>', "malformed_call: name is not a string"),
        ('<tool_call>{"name": "  "}</tool_call>', "malformed_call: blank name"),
        ('<tool_call>["add", {}]</tool_call>', "malformed_call: call JSON is not an object"),
        ('<tool_call>{"name": "add", "arguments": [1, 2]}</tool_call>', "malformed_call: argum"),
        ('<tool_call>{"name": "add", "arguments": 3}</tool_call>', "malformed_call: arguments"),
        ('<tool_call>{"name": "add", "arguments": "a=1"}</tool_call>', "malformed_call: argum"),
        ('<tool_call>{"name": "add", "arguments": "[1]"}</tool_call>', "malformed_call: argum"),
        ('<tool_call>{"name": "add", "arguments": {"a": NaN}}</tool_call>', "malformed_call: "),
        ('<tool_call>{"name": "add", "arguments": {"a": -Infinity}}</tool_call>', "malformed"),
        ('<tool_call>{"name": "add", "arguments": {"a": 1e999}}</tool_call>', "malformed_call"),
        ('<tool_call>{"name": "a", "arguments": {"__raw__": "x"}}</tool_call>', "malformed_call"),
    ],
)
def test_malformed_blocks_are_reported_not_raised(text, error):
    [c] = parse_tool_calls(text)
    assert not c.ok and c.error.startswith(error)
    assert c.arguments is None
    assert parse_completion(text).tool_names == []
    assert len(parse_completion(text).malformed) == 1


def test_a_malformed_call_keeps_its_name_for_diagnostics_only():
    [c] = parse_tool_calls('<tool_call>{"name": "add", "arguments": 3}</tool_call>')
    assert c.name == "add" and not c.ok
    assert parse_completion(f"<tool_call>{c.raw}</tool_call>").invalid_tools([]) == set()


@pytest.mark.parametrize(
    ("body", "arguments"),
    [
        ('{"name": "now"}', {}),
        ('{"name": "now", "arguments": null}', {}),
        ('{"name": "now", "arguments": ""}', {}),
        ('{"name": "add", "arguments": "{\\"a\\": 1}"}', {"a": 1}),
        ('{"name": "add", "parameters": {"a": 1}}', {"a": 1}),
        ('{"name": "add", "arguments": {"a": 1}, "parameters": {"b": 2}}', {"a": 1}),
        ('{"name": "add", "arguments": {"a": 1}, "id": "x", "extra": true}', {"a": 1}),
    ],
)
def test_argument_forms(body, arguments):
    [c] = parse_tool_calls(f"<tool_call>{body}</tool_call>")
    assert c.ok and c.arguments == arguments


def test_an_unclosed_block_ends_at_the_next_block():
    calls = parse_tool_calls(f"<tool_call>{{'oops' {ADD}")
    assert [c.error for c in calls] == ["malformed_call: unclosed <tool_call>", None]
    assert calls[1].name == "add"


def test_calls_inside_tool_responses_are_ignored():
    text = (
        f"{ADD}\n{render_tool_response('echo: ' + MUL)}\n"
        f"{TOOL_RESPONSE_OPEN}\n{ADD}"  # an unclosed observation swallows the rest
    )
    assert parse_completion(text).tool_names == ["add"]
    # A call block cannot run into an observation: it is unclosed there.
    [c] = parse_tool_calls(f"<tool_call>{{{render_tool_response(ADD)}")
    assert c.error == "malformed_call: unclosed <tool_call>"


def test_stray_closing_tags_are_text():
    assert parse_tool_calls(f"{TOOL_CALL_CLOSE} {TOOL_RESPONSE_CLOSE} {ADD}")[0].name == "add"


def test_raw_is_bounded():
    [c] = parse_tool_calls(f'<tool_call>{{"name": "{"x" * 10_000}"}}</tool_call>')
    assert c.ok and len(c.raw) <= MAX_RAW_CHARS + 20


def test_render_tool_call_is_the_qwen_form():
    assert render_tool_call("add", {"a": 1, "b": 2}) == ADD
    assert render_tool_call("say", {"text": "héllo"}) == (
        '<tool_call>\n{"name": "say", "arguments": {"text": "héllo"}}\n</tool_call>'
    )


def test_render_keeps_tag_text_in_values_inside_the_block():
    arguments = {"text": f"{TOOL_CALL_CLOSE}{ADD}{TOOL_RESPONSE_OPEN}"}
    [c] = parse_tool_calls(render_tool_call("say", arguments))
    assert c.ok and c.arguments == arguments


def test_render_and_parse_tool_responses():
    text = render_tool_response("36") + "\n" + render_tool_response("line\n\nnext")
    assert text.startswith("<tool_response>\n36\n</tool_response>")
    assert parse_tool_responses(text) == ["36", "line\n\nnext"]
    assert parse_tool_responses(f"{TOOL_RESPONSE_OPEN}unclosed") == []
    # A call block is not an observation even when its JSON holds the tag text.
    assert parse_tool_responses(render_tool_call("s", {"t": render_tool_response("x")})) == []


def test_strip_tool_calls_keeps_malformed_blocks():
    assert strip_tool_calls(f"Adding.\n{ADD}\n{MUL}\n") == "Adding."
    bad = '<tool_call>{"name": 3}</tool_call>'
    assert strip_tool_calls(f"A {ADD} B {bad}") == f"A \n B {bad}"
    assert strip_tool_calls(f"<tool_{ADD}call>") == "<tool_\ncall>"  # no tag forms
    assert strip_tool_calls(ADD) == ""


# --- boxed answers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (r"The answer is \boxed{42}.", "42"),
        (r"\boxed{\frac{3}{4}}", r"\frac{3}{4}"),
        (r"\boxed{ {a}{b{c}} }", "{a}{b{c}}"),
        (r"first \boxed{1}, then \boxed{2}", "2"),
        (r"\boxed{1} and \boxed{2", None),  # the last one is unclosed
        (r"\boxed{}", None),
        (r"\boxed{   }", None),
        (r"\boxed{} then more text", None),
        (r"\boxed{7} then \boxed{} later", None),
        ("no box here", None),
        ("", None),
        (r"\boxed {5}", "5"),
        ("\\boxed\n{5}", "5"),
        (r"\boxed{5} and the macro \boxed alone", "5"),
        (r"\boxed{5} \boxedx{6}", "5"),
        (r"\boxed{\{1, 2\}}", r"\{1, 2\}"),
        (r"\boxed{\left\{ x \right.}", r"\left\{ x \right."),
        (r"\boxed{a \\}", r"a \\"),
        (r"\boxed{\boxed{9}}", "9"),
        (r"\boxed{x = 7}", "x = 7"),
    ],
)
def test_extract_boxed(text, answer):
    assert extract_boxed(text) == answer


def test_extract_boxed_of_non_text_is_none():
    assert extract_boxed(None) is None
    assert extract_boxed(12) is None


# --- stored messages ------------------------------------------------------------------------


def test_normalize_api_form():
    api = [
        {"id": "call_a", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}},
        {"id": "call_b", "type": "function", "function": {"name": "now", "arguments": ""}},
        {"id": "call_c", "type": "function", "function": {"name": "add", "arguments": '{"a": 1'}},
        {"id": "call_d", "type": "function", "function": {"name": "add", "arguments": "[1, 2]"}},
    ]
    assert normalize_tool_calls(api) == [
        call("add", {"a": 1}, "call_a"),
        call("now", {}, "call_b"),
        call("add", {RAW_ARGUMENTS_KEY: '{"a": 1'}, "call_c"),
        call("add", {RAW_ARGUMENTS_KEY: "[1, 2]"}, "call_d"),
    ]


def test_normalize_other_forms():
    class Pydantic:
        def model_dump(self):
            return {"id": "p1", "type": "function", "function": {"name": "add", "arguments": "{}"}}

    stored = call("add", {"a": 1}, "x")
    assert normalize_tool_calls([stored]) == [stored]  # idempotent
    assert normalize_tool_calls([{"name": "add", "arguments": {"a": 1}}]) == [
        call("add", {"a": 1}, "call_0")
    ]
    assert normalize_tool_calls([Pydantic()]) == [call("add", {}, "p1")]
    assert normalize_tool_calls(None) == []
    assert normalize_tool_calls("garbage") == []
    assert normalize_tool_calls(7) == []
    assert normalize_tool_calls(stored) == [stored]  # a single entry
    assert normalize_tool_calls([None, {"function": {"name": 5, "arguments": 3}}]) == [
        call("", {}, "call_0"),
        call("", {RAW_ARGUMENTS_KEY: "3"}, "call_1"),
    ]
    long = normalize_tool_calls([call("add", "x" * 10_000)])[0]["function"]["arguments"]
    assert len(long[RAW_ARGUMENTS_KEY]) <= MAX_RAW_CHARS + 20


def test_malformed_api_calls_are_malformed_in_both_forms():
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": normalize_tool_calls(
            [
                call("add", '{"a": 1'),
                call(None, "{}"),
                call("add", {"x": math.nan}),
                call("add", {"x": {1, 2}}),
                call("add", {"__raw__": '{"a": 1}'}),  # a hand-made marker that would parse
                call("mul", {"a": 2}),
            ]
        ),
    }
    p = parse_completion([message])
    assert p.tool_names == ["mul"] and len(p.malformed) == 5
    assert all(c.error.startswith("malformed_call: ") for c in p.malformed)
    assert summary(parse_completion(messages_to_text([message]))) == summary(p)


def test_text_message_round_trip():
    message = {
        "role": "assistant",
        "content": "Let me add, then multiply.",
        "tool_calls": [call("add", {"a": 1, "b": 2}, "call_0"), call("multiply", {}, "call_1")],
    }
    text = assistant_message_to_text(message)
    assert text == (
        "Let me add, then multiply.\n" + ADD + "\n"
        '<tool_call>\n{"name": "multiply", "arguments": {}}\n</tool_call>'
    )
    assert text_to_assistant_message(text) == message
    plain = {"role": "assistant", "content": r"So \boxed{3}."}
    assert text_to_assistant_message(assistant_message_to_text(plain)) == plain
    only_calls = {"role": "assistant", "content": "", "tool_calls": [call("add", {}, "call_0")]}
    assert assistant_message_to_text(only_calls).startswith(TOOL_CALL_OPEN)
    assert text_to_assistant_message(assistant_message_to_text(only_calls)) == only_calls


def test_text_to_assistant_message_keeps_malformed_blocks_in_content():
    bad = '<tool_call>{"name": 3}</tool_call>'
    message = text_to_assistant_message(f"Try. {bad}\n{ADD}")
    assert message["content"] == f"Try. {bad}"
    assert message["tool_calls"] == [call("add", {"a": 1, "b": 2}, "call_0")]
    assert "tool_calls" not in text_to_assistant_message("just text")
    assert text_to_assistant_message(None) == {"role": "assistant", "content": ""}


# --- completions ----------------------------------------------------------------------------

CONVERSATION = [
    {"role": "assistant", "content": "I will add.", "tool_calls": [call("add", {"a": 1, "b": 2})]},
    {"role": "tool", "name": "add", "content": "3"},
    {
        "role": "assistant",
        "content": "",
        "tool_calls": [call("multiply", {"a": 3, "b": 12}), call("bogus", {})],
    },
    {"role": "tool", "name": "multiply", "content": "36"},
    {"role": "tool", "name": "bogus", "content": '{"error": "Tool bogus not found."}'},
    {"role": "assistant", "content": r"The result is \boxed{36}."},
]


def test_conversational_completion():
    p = parse_completion(CONVERSATION)
    assert p.tool_names == ["add", "multiply", "bogus"]
    assert p.answer == "36" and p.num_turns == 3 and not p.truncated
    assert p.valid_tools(["add", "multiply", "divide"]) == {"add", "multiply"}
    assert p.invalid_tools(["add", "multiply", "divide"]) == {"bogus"}
    schemas = [{"type": "function", "function": {"name": n}} for n in ("add", "multiply")]
    assert p.invalid_tools(schemas) == {"bogus"}
    assert p.malformed == []
    assert parse_completion(CONVERSATION, truncated=True).truncated


def test_text_completion_scores_like_its_messages():
    text = messages_to_text(CONVERSATION)
    assert text.count(TOOL_RESPONSE_OPEN) == 3 and text.count(TOOL_CALL_OPEN) == 3
    p_text, p_messages = parse_completion(text), parse_completion(CONVERSATION)
    assert summary(p_text) == summary(p_messages)
    assert p_text.num_turns == p_messages.num_turns == 3


def test_answer_comes_from_the_last_assistant_message_only():
    early = [
        {"role": "assistant", "content": r"Maybe \boxed{5}.", "tool_calls": [call("add", {})]},
        {"role": "tool", "content": r"\boxed{99}"},
        {"role": "assistant", "content": "I am not sure."},
    ]
    assert parse_completion(early).answer is None
    assert parse_completion(messages_to_text(early)).answer is None
    # A conversation that ends on an observation never answered.
    assert parse_completion(early[:2]).answer is None
    assert parse_completion(messages_to_text(early[:2])).answer is None
    # A \boxed inside call arguments is not an answer.
    boxed_arg = [
        {"role": "assistant", "content": "", "tool_calls": [call("f", {"x": r"\boxed{1}"})]}
    ]
    assert parse_completion(boxed_arg).answer is None
    assert parse_completion(messages_to_text(boxed_arg)).answer is None


def test_an_unclosed_block_does_not_hide_the_answer_after_it():
    # An unclosed block is not a call: its text, and the text after it, is read for the answer
    # (the reference reads the last \boxed anywhere in the completion).
    text = '<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\nSo ' + r"\boxed{3}."
    p = parse_completion(text)
    assert (p.answer, p.tool_names, len(p.malformed)) == ("3", [], 1)
    assert parse_completion([{"role": "assistant", "content": text}]).answer == "3"
    # Ended by the next block: the text up to it counts, the closed call after it does not.
    between = "<tool_call>{oops " + r"\boxed{4} " + ADD
    assert parse_completion(between).answer == "4"
    assert parse_completion(between + r" \boxed{5}").answer == "5"
    assert parse_completion(f"{ADD}\n<tool_call>" + r"\boxed{6}").answer == "6"
    # Ended by an observation: an earlier turn, so still no answer.
    before_obs = "<tool_call>" + r"\boxed{7}" + render_tool_response("7") + "Done."
    assert parse_completion(before_obs).answer is None
    # Closed blocks, malformed or not, stay out of the answer.
    assert parse_completion("<tool_call>{bad " + r"\boxed{8}</tool_call>").answer is None
    messages = [{"role": "assistant", "content": "<tool_call>{" + r"\boxed{9}"}]
    assert summary(parse_completion(messages_to_text(messages))) == summary(
        parse_completion(messages)
    )


def test_calls_left_in_assistant_content_are_parsed():
    messages = [
        {"role": "assistant", "content": f"Adding.\n{ADD}\n<tool_call>{{bad</tool_call>"},
        {"role": "tool", "content": "3"},
        {"role": "assistant", "content": r"\boxed{3}", "tool_calls": [call("add", {})]},
    ]
    p = parse_completion(messages)
    assert p.tool_names == ["add", "add"] and len(p.malformed) == 1 and p.answer == "3"
    assert summary(parse_completion(messages_to_text(messages))) == summary(p)


def test_hallucinated_names_are_calls_malformed_blocks_are_not():
    p = parse_completion(f'{ADD}\n<tool_call>{{"name": "bogus"}}</tool_call>\n<tool_call>{{"nam')
    assert p.tool_names == ["add", "bogus"]
    assert p.valid_tools({"add"}) == {"add"} and p.invalid_tools({"add"}) == {"bogus"}
    assert len(p.malformed) == 1
    assert p.valid_tools(None) == set() and p.invalid_tools("add") == {"bogus"}


def test_text_completion_answer_and_turns():
    text = f"{ADD}\n{render_tool_response('3')}\n" + r"So \boxed{3}."
    p = parse_completion(text)
    assert (p.answer, p.num_turns, p.tool_names) == ("3", 2, ["add"])
    assert parse_completion(r"\boxed{4}" + render_tool_response(r"\boxed{3}")).answer is None
    assert parse_completion("").num_turns == 0


@pytest.mark.parametrize(
    "completion",
    [
        None,
        7,
        3.5,
        b"bytes",
        object(),
        [],
        [None, 3, "text", ["nested"]],
        [{}],
        [{"role": None}],
        [{"role": 5, "content": r"\boxed{1}"}],
        [{"role": "assistant", "content": 12, "tool_calls": "nope"}],
        [{"role": "assistant", "content": None, "tool_calls": [None, 3, {"function": None}]}],
        {"role": "assistant", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]},
    ],
)
def test_garbage_completions_do_not_raise(completion):
    p = parse_completion(completion)
    assert isinstance(p, ParsedCompletion) and p.answer is None and p.tool_names == []
    messages_to_text(completion)
    assistant_message_to_text(completion)


def test_content_parts_and_single_messages():
    message = {
        "role": "assistant",
        "content": [{"type": "text", "text": r"So \boxed{"}, {"type": "text", "text": "3}"}],
    }
    assert parse_completion(message).answer == "3"
    assert parse_completion([message]).answer == "3"
    assert parse_completion(messages_to_text(message)).answer == "3"


# --- robustness and speed -------------------------------------------------------------------

MB = 1_000_000
# Catches a quadratic pass (minutes on 1 MB), not a slow machine: a loaded CI box runs the
# linear passes 10x slower than an idle one (~0.05 s).
BOUND_S = 5.0
DEEP = '{"a":' * 100_000 + "1" + "}" * 100_000
HUGE = '{"x": ' + "9" * MB + "}"


def _api_calls(text):
    """Every public function on one input, each under the time bound."""
    message = {"role": "assistant", "content": text, "tool_calls": [call("f", text)]}
    thunks = [
        lambda: parse_tool_calls(text),
        lambda: parse_tool_responses(text),
        lambda: strip_tool_calls(text),
        lambda: extract_boxed(text),
        lambda: text_to_assistant_message(text),
        lambda: parse_completion(text),
        lambda: parse_completion([message, {"role": "tool", "content": text}, message]),
        lambda: messages_to_text([message, {"role": "tool", "content": text}]),
        lambda: assistant_message_to_text(message),
        lambda: normalize_tool_calls([call("f", text)]),
        lambda: render_tool_response(text),
    ]
    for thunk in thunks:
        start = time.perf_counter()
        thunk()
        elapsed = time.perf_counter() - start
        assert elapsed < BOUND_S, f"{elapsed:.2f}s"


ADVERSARIAL = {
    "plain 1 MB": "x" * MB,
    "100k unclosed boxed": "\\boxed{" * 100_000,
    "boxed then 100k unclosed": r"\boxed{1}" + "\\boxed{" * 100_000,
    "1 MB of braces": "\\boxed{" + "{" * MB,
    "1 MB of brace pairs": "\\boxed{" + "{}" * (MB // 2),
    "1 MB of backslashes": "\\boxed{" + "\\" * MB + "}",
    "boxed and whitespace": ("\\boxed" + " " * 1000) * 1000,
    "100k call openings": TOOL_CALL_OPEN * 100_000,
    "100k call closings": TOOL_CALL_CLOSE * 100_000,
    "40k empty blocks": (TOOL_CALL_OPEN + TOOL_CALL_CLOSE) * 40_000,
    "20k good calls": ADD * 20_000,
    "100k response openings": TOOL_RESPONSE_OPEN * 60_000 + ADD,
    "calls into observations": (TOOL_CALL_OPEN + render_tool_response("x")) * 25_000,
    "deep array": TOOL_CALL_OPEN + "[" * MB + TOOL_CALL_CLOSE,
    "deep object": f'{TOOL_CALL_OPEN}{{"name": "a", "arguments": {DEEP}}}{TOOL_CALL_CLOSE}',
    "huge integer": f'{TOOL_CALL_OPEN}{{"name": "a", "arguments": {HUGE}}}{TOOL_CALL_CLOSE}',
    "surrogates": '<tool_call>{"name": "\ud800", "arguments": {"\udfff": 1}}</tool_call>\udc00',
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_inputs_are_fast(text):
    _api_calls(text)


def test_adversarial_verdicts():
    assert extract_boxed(ADVERSARIAL["boxed then 100k unclosed"]) is None
    assert len(parse_tool_calls(ADVERSARIAL["100k call openings"])) == MAX_CALLS
    assert parse_completion(ADVERSARIAL["20k good calls"]).tool_names == ["add"] * MAX_CALLS
    for key, error in [
        ("deep array", "malformed_call: JSON nested too deeply"),
        ("deep object", "malformed_call: JSON nested too deeply"),
        ("huge integer", "malformed_call: invalid JSON: Exceeds the limit"),
    ]:
        [c] = parse_tool_calls(ADVERSARIAL[key])
        assert c.error.startswith(error)
    [c] = parse_tool_calls(ADVERSARIAL["surrogates"])
    assert c.ok and c.name == "\ud800"
    nested = {"a": 1}
    for _ in range(100):
        nested = {"a": nested}
    [c] = parse_tool_calls(
        f'<tool_call>{{"name": "f", "arguments": {json.dumps(nested)}}}</tool_call>'
    )
    assert c.error == f"malformed_call: arguments nested deeper than {formats.MAX_ARGUMENT_DEPTH}"
    p = parse_completion([{"role": "assistant", "tool_calls": [call("f", nested)]}])
    assert len(p.malformed) == 1


# --- properties -----------------------------------------------------------------------------

FRAGMENTS = [
    TOOL_CALL_OPEN,
    TOOL_CALL_CLOSE,
    TOOL_RESPONSE_OPEN,
    TOOL_RESPONSE_CLOSE,
    "<tool_",
    "call>",
    "\\boxed{",
    "\\boxed",
    "\\boxed {",
    "{",
    "}",
    "\\",
    "\\{",
    '"',
    ":",
    ",",
    "[",
    "]",
    "\n",
    " ",
    '"name"',
    '"arguments"',
    '"parameters"',
    '"add"',
    "NaN",
    "1e999",
    "9" * 5000,
    '{"name": "add", "arguments": {"a": 1}}',
    '{"name": "bogus"}',
    '{"name": 3}',
    '"{\\"a\\": 1}"',
    "\ud800",
    "42",
]
fragment_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40
).map("".join)
any_text = st.one_of(st.text(max_size=200), fragment_text)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(any_text)
def test_no_public_function_raises_on_any_text(text):
    _api_calls(text)
    p = parse_completion(text)
    assert all(c.ok == (c.error is None) for c in p.calls)
    assert all(c.error.startswith("malformed_call: ") for c in p.malformed)
    assert all(isinstance(c.name, str) and isinstance(c.arguments, dict) for c in p.calls if c.ok)
    assert p.answer is None or (p.answer == p.answer.strip() and p.answer)


json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(FRAGMENTS),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
names = st.one_of(st.text(min_size=1, max_size=30), st.sampled_from(FRAGMENTS)).filter(
    lambda s: s.strip()
)


@FAST
@given(names, st.dictionaries(st.text(max_size=10), json_value, max_size=5))
def test_render_parse_round_trip(name, arguments):
    [c] = parse_tool_calls(render_tool_call(name, arguments))
    assert c.ok and c.name == name and c.arguments == arguments
    message = {"role": "assistant", "content": "", "tool_calls": [call(name, arguments, "call_0")]}
    assert text_to_assistant_message(assistant_message_to_text(message)) == message


# Arguments of any kind an API or a hand-made entry may hold, valid or not.
entry_arguments = st.one_of(
    st.dictionaries(st.text(max_size=6), json_value, max_size=3),
    st.none(),
    json_value,
    st.builds(json.dumps, json_value),
    fragment_text,
    st.just({"x": math.nan}),
    st.just({RAW_ARGUMENTS_KEY: "{}"}),
)
entries = st.lists(
    st.builds(call, st.one_of(names, st.none(), st.integers(), st.just("")), entry_arguments),
    max_size=3,
)
# Assistant text without observation tags, tool output without a closing tag: the documented
# scope of parity (real conversations).
assistant_text = any_text.map(lambda s: s.replace(TOOL_RESPONSE_OPEN, "").replace("<tool_re", ""))
tool_text = any_text.map(lambda s: s.replace(TOOL_RESPONSE_CLOSE, ""))


@st.composite
def conversations(draw):
    messages = []
    for _ in range(draw(st.integers(1, 4))):
        if messages:
            tool = {"role": "tool", "content": draw(tool_text)}
            messages.extend([tool] * draw(st.integers(1, 2)))
        message = {"role": "assistant", "content": draw(st.one_of(assistant_text, st.none()))}
        if draw(st.booleans()):
            message["tool_calls"] = draw(entries)
        messages.append(message)
    if draw(st.booleans()):
        messages.append({"role": "tool", "content": draw(tool_text)})
    return messages


@FAST
@given(conversations())
def test_messages_and_their_text_score_alike(messages):
    p_messages = parse_completion(messages)
    p_text = parse_completion(messages_to_text(messages))
    assert summary(p_text) == summary(p_messages)


@FAST
@given(any_text)
def test_text_to_message_keeps_the_score(text):
    # One turn parsed into a message and rendered back scores like the text itself.
    text = text.replace(TOOL_RESPONSE_OPEN, "")
    p_text = parse_completion(text)
    p_message = parse_completion([text_to_assistant_message(text)])
    assert summary(p_message) == summary(p_text)


def test_tool_call_is_frozen():
    c = ToolCall("add", {}, "{}")
    with pytest.raises(AttributeError):
        c.name = "x"  # type: ignore[misc]
