"""The one parser of model output: tool-call text, tool responses, boxed answers, completions.

Generate, verify, rewards and eval all read model output through this module, so a completion is
scored the same way everywhere (one parser: never a second regex for `<tool_call>`).

Two forms of the same thing:

* Qwen text, what TRL's `qwen2_5.jinja` renders and what small models emit::

      <tool_call>
      {"name": "multiply", "arguments": {"a": 3, "b": 12}}
      </tool_call>

  with observations as `<tool_response>\\n...\\n</tool_response>`.
* Stored chat messages (the trajectory contract, `schemas/trajectory.schema.json`): assistant
  `tool_calls` entries `{"id", "type": "function", "function": {"name", "arguments": {...}}}`
  with arguments as a JSON object, never a string (a string is double-encoded by the Qwen
  template), and tool messages `{"role": "tool", "tool_call_id", "name", "content"}`.

`parse_completion` scores both forms alike: for a list of messages `m`, `parse_completion(m)` and
`parse_completion(messages_to_text(m))` agree on tool names, answer and malformed calls.

Decisions (the method leaves these open; `docs/method.md`, "Exact semantics"):

* A call is a closed block whose body is a JSON object with a non-blank string `name`. The
  arguments come from `"arguments"`, else from the alias `"parameters"` (Llama/OpenAI-style
  models write it; the method only asks for a name). Missing or `null` arguments mean `{}` (a
  tool without parameters). Arguments given as a JSON string are decoded; a blank string means
  `{}`. Arguments that are (or decode to) anything but an object make the block malformed
  (stricter than the reference, which reads only the name: such a call cannot be executed).
* Malformed blocks are returned with `error="malformed_call: <why>"`, never raised, and are
  neither used nor hallucinated tools. Reasons: unclosed block, invalid JSON, JSON nested too
  deeply (`RecursionError`), integers beyond Python's 4,300-digit limit, `NaN`/`Infinity` and
  floats that overflow to infinity (not JSON per RFC 8259, and a stored `NaN` breaks Arrow's
  JSON columns), body not an object, no/blank/non-string name, arguments not an object,
  arguments nested deeper than `MAX_ARGUMENT_DEPTH`.
* A block ends at the first `</tool_call>`. A block that meets another `<tool_call>` or a
  `<tool_response>` before its close is unclosed: it ends there, and the next block is parsed on
  its own (`<tool_call> junk <tool_call>{...}</tool_call>` is one malformed block and one call).
  Text inside `<tool_response>` blocks is never parsed for calls or answers; an unclosed
  `<tool_response>` runs to the end of the text.
* At most `MAX_CALLS` (1,000) blocks are parsed per completion; later ones are ignored. The tool
  loops we train cap turns far below that; the cap bounds the work on runaway output.
* Unparseable API arguments (an OpenAI response carries a JSON string that may be invalid or
  truncated) are stored as `{"__raw__": "<string>"}` (`RAW_ARGUMENTS_KEY`), an object the chat
  template can render; such an entry, and an entry with a blank name, is a malformed call.
* The answer is `extract_boxed` of the final assistant turn: for messages, the content of the
  last message when it is an assistant message (a conversation that ends on a tool message
  never answered: `None`); for text, the text after the last `<tool_response>` block. In both,
  closed `<tool_call>` blocks are left out (a `\\boxed` inside call arguments is not an answer).
  This is what makes the two forms agree; a `\\boxed` in an earlier turn never counts. An
  unclosed block is not a call and hides nothing: its text and the text after it are read, so
  `<tool_call>{... \\boxed{3}` answers 3 (as the reference, which reads the last `\\boxed`).
* `extract_boxed` accepts `\\boxed {x}` (LaTeX allows the space) and skips backslash-escaped
  braces, so `\\boxed{\\{1, 2\\}}` gives `\\{1, 2\\}` and `\\boxed{\\left\\{ x \\right.}` is closed.

Everything runs in time linear in the input, with `str.find` loops and no backtracking regex.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
TOOL_RESPONSE_OPEN = "<tool_response>"
TOOL_RESPONSE_CLOSE = "</tool_response>"

MAX_CALLS = 1_000
"""Tool-call blocks parsed per completion; later ones are ignored (bounds runaway output)."""

MAX_RAW_CHARS = 2_000
"""Characters of a block's text kept in `ToolCall.raw` and in stored `__raw__` arguments."""

MAX_ARGUMENT_DEPTH = 64
"""Deepest nesting of call arguments accepted; deeper arguments make the call malformed."""

RAW_ARGUMENTS_KEY = "__raw__"
"""Key of the stored stand-in `{"__raw__": "<text>"}` for arguments that did not parse."""

_TAGS = (TOOL_CALL_OPEN, TOOL_CALL_CLOSE, TOOL_RESPONSE_OPEN, TOOL_RESPONSE_CLOSE)
_BOXED = "\\boxed"
_WHITESPACE = re.compile(r"\s*")
# An escape pair first, so `\{`, `\}` and `\\` never count as braces.
_BRACE_TOKEN = re.compile(r"\\.|[{}]", re.DOTALL)
_TRUNCATED = "...[truncated]"
_JSON_ERRORS = (ValueError, RecursionError)


@dataclass(frozen=True)
class ToolCall:
    """One `<tool_call>` block or `tool_calls` entry, well-formed or not.

    Attributes:
        name: the called tool; None when the block did not parse or had no usable name.
        arguments: the arguments object; None when they are missing from a malformed call.
        raw: the text inside the block, stripped and cut to `MAX_RAW_CHARS` (for storage).
        error: None for a well-formed call, else `"malformed_call: <why>"`.
        id: the `tool_call_id` of a message entry; None for text blocks.
    """

    name: str | None
    arguments: dict[str, Any] | None
    raw: str
    error: str | None = None
    id: str | None = None

    @property
    def ok(self) -> bool:
        """True for a well-formed call: a string name and an arguments object."""
        return self.error is None


@dataclass(frozen=True)
class ParsedCompletion:
    """What the rewards and eval need from one completion.

    Attributes:
        calls: every call of every assistant turn, in order, malformed ones included.
        answer: `extract_boxed` of the final assistant turn (see the module docstring).
        truncated: the completion hit the length limit (no end-of-turn token).
        num_turns: assistant turns (for text: non-blank stretches between observations).
    """

    calls: list[ToolCall]
    answer: str | None
    truncated: bool = False
    num_turns: int = 0

    @property
    def tool_names(self) -> list[str]:
        """Names of the well-formed calls, in order, repeats included."""
        return [c.name for c in self.calls if c.ok and c.name is not None]

    def valid_tools(self, offered: Iterable[str]) -> set[str]:
        """Called names that are offered: the student's tool set.

        Args:
            offered: offered tool names; OpenAI tool schemas (`{"function": {"name": ...}}`)
                are accepted too, so a row's `tools` column can be passed as is.

        Returns:
            The set of well-formed call names found in `offered`.
        """
        names = _offered_names(offered)
        return {n for n in self.tool_names if n in names}

    def invalid_tools(self, offered: Iterable[str]) -> set[str]:
        """Called names that are not offered: hallucinated tools.

        Args:
            offered: offered tool names or tool schemas, as for `valid_tools`.

        Returns:
            The set of well-formed call names missing from `offered`.
        """
        names = _offered_names(offered)
        return {n for n in self.tool_names if n not in names}

    @property
    def malformed(self) -> list[ToolCall]:
        """Calls that did not parse: not calls at all for the rewards, counted for diagnostics."""
        return [c for c in self.calls if not c.ok]


class _Block(NamedTuple):
    kind: str  # "call" or "response"
    start: int  # index of the opening tag
    end: int  # index after the closing tag (or where an unclosed block stops)
    body_start: int
    body_end: int
    closed: bool


class _NextFinder:
    """Next occurrence of a tag at or after a position that only moves forward.

    A found index is reused until the scan passes it, so every character is searched at most
    once per tag: 100,000 unclosed `<tool_call>` openings stay linear.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.found: dict[str, int] = {}

    def __call__(self, tag: str, pos: int) -> int:
        hit = self.found.get(tag, -2)
        # -1 means "none after an earlier position", so none after this one either.
        if hit == -1 or hit >= pos:
            return hit
        hit = self.text.find(tag, pos)
        self.found[tag] = hit
        return hit


def _blocks(text: str) -> Iterator[_Block]:
    """Yield the call and response blocks of `text` in order (see the module docstring)."""
    find = _NextFinder(text)
    n = len(text)
    pos = 0
    while True:
        call = find(TOOL_CALL_OPEN, pos)
        response = find(TOOL_RESPONSE_OPEN, pos)
        if call < 0 and response < 0:
            return
        if call >= 0 and (response < 0 or call < response):
            body = call + len(TOOL_CALL_OPEN)
            close = find(TOOL_CALL_CLOSE, body)
            next_call, next_response = find(TOOL_CALL_OPEN, body), find(TOOL_RESPONSE_OPEN, body)
            stop = min((i for i in (next_call, next_response) if i >= 0), default=n)
            if 0 <= close < stop:
                pos = close + len(TOOL_CALL_CLOSE)
                yield _Block("call", call, pos, body, close, True)
            else:
                pos = stop
                yield _Block("call", call, stop, body, stop, False)
        else:
            body = response + len(TOOL_RESPONSE_OPEN)
            close = find(TOOL_RESPONSE_CLOSE, body)
            if close < 0:
                yield _Block("response", response, n, body, n, False)
                return
            pos = close + len(TOOL_RESPONSE_CLOSE)
            yield _Block("response", response, pos, body, close, True)


def _clip(text: str) -> str:
    # The marker also guarantees that a clipped JSON text never parses (no JSON ends in "]").
    return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + _TRUNCATED


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON constant {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range {text[:40]}")
    return value


def _loads(text: str) -> Any:
    """`json.loads` that rejects NaN, Infinity and overflowing floats (raises ValueError)."""
    return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)


def _json_error(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "malformed_call: JSON nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"malformed_call: invalid JSON: {exc.msg} at char {exc.pos}"
    return f"malformed_call: invalid JSON: {str(exc)[:120]}"


def _too_deep(value: Any, limit: int = MAX_ARGUMENT_DEPTH) -> bool:
    # Iterative, so arguments built in Python at any depth cannot exhaust the stack here.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _is_raw_marker(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(value.get(RAW_ARGUMENTS_KEY), str)
    )


def _name_error(name: Any) -> str | None:
    if name is None:
        return "malformed_call: no name"
    if not isinstance(name, str):
        return "malformed_call: name is not a string"
    if not name.strip():
        return "malformed_call: blank name"
    return None


def _arguments(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Arguments object of a call and None, or None and the `malformed_call` reason."""
    if value is None:
        return {}, None
    if isinstance(value, str):
        if not value.strip():
            return {}, None
        try:
            value = _loads(value)
        except _JSON_ERRORS:
            return None, "malformed_call: arguments string is not valid JSON"
    if not isinstance(value, dict):
        return None, "malformed_call: arguments are not a JSON object"
    if _is_raw_marker(value):
        return None, "malformed_call: arguments did not parse"
    if _too_deep(value):
        return None, f"malformed_call: arguments nested deeper than {MAX_ARGUMENT_DEPTH}"
    return value, None


def _validated_call(name: Any, arguments: Any, raw: str, call_id: str | None) -> ToolCall:
    error = _name_error(name)
    if error is not None:
        return ToolCall(None, None, raw, error, call_id)
    parsed, error = _arguments(arguments)
    return ToolCall(name, parsed, raw, error, call_id)


def _call_from_block(text: str, block: _Block) -> ToolCall:
    body = text[block.body_start : block.body_end]
    raw = _clip(body.strip())
    if not block.closed:
        return ToolCall(None, None, raw, f"malformed_call: unclosed {TOOL_CALL_OPEN}")
    try:
        obj = _loads(body)
    except _JSON_ERRORS as exc:
        return ToolCall(None, None, raw, _json_error(exc))
    if not isinstance(obj, dict):
        return ToolCall(None, None, raw, "malformed_call: call JSON is not an object")
    arguments = obj["arguments"] if "arguments" in obj else obj.get("parameters")
    return _validated_call(obj.get("name"), arguments, raw, None)


def _scan_calls(text: str) -> list[tuple[ToolCall, _Block]]:
    found: list[tuple[ToolCall, _Block]] = []
    for block in _blocks(text):
        if block.kind != "call":
            continue
        if len(found) >= MAX_CALLS:
            break
        found.append((_call_from_block(text, block), block))
    return found


def parse_tool_calls(text: str) -> list[ToolCall]:
    """Every `<tool_call>` block of `text` in order, well-formed or not (at most `MAX_CALLS`).

    Args:
        text: model output in the Qwen text format; text inside `<tool_response>` blocks is
            ignored, so an observation that echoes tag text never becomes a call.

    Returns:
        One `ToolCall` per block; malformed blocks carry `error` (`ok` is False).

    Example:
        >>> calls = parse_tool_calls('<tool_call>\\n{"name": "add", "arguments": {"a": 1}}\\n'
        ...                          '</tool_call><tool_call>{"name": 3}</tool_call><tool_call>{')
        >>> [(c.name, c.arguments, c.error) for c in calls]  # doctest: +NORMALIZE_WHITESPACE
        [('add', {'a': 1}, None), (None, None, 'malformed_call: name is not a string'),
         (None, None, 'malformed_call: unclosed <tool_call>')]
    """
    if not isinstance(text, str):
        return []
    return [call for call, _ in _scan_calls(text)]


def _escape_tags(body: str) -> str:
    # "<" only occurs inside JSON strings, where "\u003c" decodes to the same text; escaping it
    # keeps a value like "</tool_call>" from closing the block early. Plain calls are unchanged.
    if any(tag in body for tag in _TAGS):
        return body.replace("<", "\\u003c")
    return body


def _block_text(body: str) -> str:
    return f"{TOOL_CALL_OPEN}\n{_escape_tags(body)}\n{TOOL_CALL_CLOSE}"


def render_tool_call(name: str, arguments: dict[str, Any]) -> str:
    """Render one call exactly as the Qwen chat template does.

    Args:
        name: the tool name.
        arguments: a JSON-serialisable arguments object.

    Returns:
        `<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>` (`ensure_ascii=False`). A
        `<` is written as `\\u003c` only when a value holds tag text, so the block stays whole.

    Raises:
        TypeError, ValueError: when the arguments are not JSON-serialisable (NaN included).

    Example:
        >>> print(render_tool_call("multiply", {"a": 3, "b": 12}))
        <tool_call>
        {"name": "multiply", "arguments": {"a": 3, "b": 12}}
        </tool_call>
    """
    body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False, allow_nan=False)
    return _block_text(body)


def render_tool_response(content: str) -> str:
    """Render one observation as the Qwen chat template does.

    Args:
        content: the tool output. It is written verbatim, so it must not itself contain
            `</tool_response>` (the template has the same limit).

    Returns:
        `<tool_response>\\n{content}\\n</tool_response>`.

    Example:
        >>> render_tool_response("36")
        '<tool_response>\\n36\\n</tool_response>'
    """
    return f"{TOOL_RESPONSE_OPEN}\n{content}\n{TOOL_RESPONSE_CLOSE}"


def parse_tool_responses(text: str) -> list[str]:
    """Contents of the closed `<tool_response>` blocks of `text`, in order.

    Args:
        text: Qwen-style text.

    Returns:
        Each block's content with the one newline `render_tool_response` adds on each side
        removed, so `parse_tool_responses(render_tool_response(c)) == [c]`. An unclosed final
        block is left out.

    Example:
        >>> parse_tool_responses("<tool_response>\\n36\\n</tool_response> <tool_response>x")
        ['36']
    """
    if not isinstance(text, str):
        return []
    contents = []
    for block in _blocks(text):
        if block.kind == "response" and block.closed:
            content = text[block.body_start : block.body_end]
            content = content[1:] if content.startswith("\n") else content
            contents.append(content[:-1] if content.endswith("\n") else content)
    return contents


def strip_tool_calls(text: str) -> str:
    """The content of an assistant turn: `text` without its well-formed call blocks, stripped.

    Malformed blocks stay as text: nothing the model wrote is lost, and parsing the content
    again reports them again (so a message and its text score alike). A removed block leaves a
    newline, so the text on its two sides never fuses into a tag or a `\\boxed`.

    Args:
        text: one assistant turn in the Qwen text format.

    Returns:
        The remaining text, stripped.

    Example:
        >>> strip_tool_calls('Let me add.\\n<tool_call>\\n{"name": "add"}\\n</tool_call>')
        'Let me add.'
    """
    if not isinstance(text, str):
        return ""
    kept = []
    pos = 0
    for call, block in _scan_calls(text):
        if call.ok:
            kept.append(text[pos : block.start])
            pos = block.end
    kept.append(text[pos:])
    return "\n".join(kept).strip()


def _braced(text: str, brace: int) -> str | None:
    """Stripped content of the balanced group opening at `text[brace] == "{"`, or None."""
    if text.find("}", brace) < 0:  # fast exit for a long unclosed tail
        return None
    depth = 0
    for match in _BRACE_TOKEN.finditer(text, brace):
        token = match.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth == 0:
                return text[brace + 1 : match.start()].strip() or None
    return None


def extract_boxed(text: str) -> str | None:
    """Content of the last `\\boxed{...}` with balanced braces.

    Args:
        text: any text.

    Returns:
        The stripped content of the last `\\boxed{` (or `\\boxed {`); None when there is none,
        when the last one is never closed, or when its content is blank. A `\\boxed` that is not
        followed by a brace (a word such as `\\boxedx`, or the name in prose) is skipped.

    Example:
        >>> extract_boxed(r"so \\boxed{1} ... finally \\boxed{\\frac{3}{4}}.")
        '\\\\frac{3}{4}'
        >>> extract_boxed(r"\\boxed{2} then \\boxed{3") is None
        True
    """
    if not isinstance(text, str):
        return None
    end = len(text)
    while True:
        start = text.rfind(_BOXED, 0, end)
        if start < 0:
            return None
        brace = _WHITESPACE.match(text, start + len(_BOXED)).end()
        if brace < len(text) and text[brace] == "{":
            return _braced(text, brace)
        end = start


def content_text(content: Any) -> str:
    """Text of a message `content`: a string, None, or a list of `{"type": "text"}` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


def _as_dict(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    dump = getattr(value, "model_dump", None)  # pydantic objects of the openai client
    if callable(dump):
        try:
            dumped = dump()
        except Exception:  # a broken object is a malformed call, never a crash
            return None
        return dumped if isinstance(dumped, dict) else None
    return None


def _normalize_arguments(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            decoded = _loads(value)
        except _JSON_ERRORS:
            decoded = None
        return decoded if isinstance(decoded, dict) else {RAW_ARGUMENTS_KEY: _clip(value)}
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        text = "<arguments not serialisable as JSON>"
    return {RAW_ARGUMENTS_KEY: _clip(text)}


def _normalize_entry(entry: Any, index: int) -> dict[str, Any]:
    entry = _as_dict(entry) or {}
    function = entry.get("function")
    # The flat form {"name", "arguments"} is what some clients and the Qwen template accept.
    function = (_as_dict(function) or {}) if function is not None else entry
    call_id = entry.get("id")
    name = function.get("name")
    if "arguments" in function:
        arguments = function["arguments"]
    else:
        arguments = function.get("parameters")
    return {
        "id": call_id if isinstance(call_id, str) and call_id else f"call_{index}",
        "type": "function",
        "function": {
            # "" is a blank name, so an entry without a string name stays a malformed call.
            "name": name if isinstance(name, str) else "",
            "arguments": _normalize_arguments(arguments),
        },
    }


def normalize_tool_calls(tool_calls: list | None) -> list[dict[str, Any]]:
    """Bring `tool_calls` entries of any origin into the stored form; never raises.

    Args:
        tool_calls: entries in the OpenAI API form (arguments as a JSON string, maybe invalid),
            the stored form, the flat form `{"name", "arguments"}`, or pydantic objects with
            `model_dump()`; None. At most `MAX_CALLS` entries are kept.

    Returns:
        `{"id", "type": "function", "function": {"name", "arguments"}}` dicts. A missing id
        becomes `call_<index>`; arguments are a JSON object: decoded from a string, `{}` when
        missing or blank, `{"__raw__": "<text>"}` when they did not parse to an object; a
        missing or non-string name becomes `""`. The last two make the entry a malformed call
        for `parse_completion`. Other items in the list become such malformed entries too.

    Example:
        >>> normalize_tool_calls([{"id": "c1", "type": "function",
        ...     "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}}])
        ... # doctest: +NORMALIZE_WHITESPACE
        [{'id': 'c1', 'type': 'function',
          'function': {'name': 'add', 'arguments': {'a': 1, 'b': 2}}}]
        >>> normalize_tool_calls([{"function": {"name": "add", "arguments": '{"a": 1'}}])
        ... # doctest: +NORMALIZE_WHITESPACE
        [{'id': 'call_0', 'type': 'function',
          'function': {'name': 'add', 'arguments': {'__raw__': '{"a": 1'}}}]
    """
    if isinstance(tool_calls, dict) or (
        not isinstance(tool_calls, (list, tuple)) and _as_dict(tool_calls) is not None
    ):
        tool_calls = [tool_calls]
    if not isinstance(tool_calls, (list, tuple)):
        return []
    return [_normalize_entry(entry, i) for i, entry in enumerate(tool_calls[:MAX_CALLS])]


def _call_from_entry(entry: dict[str, Any]) -> ToolCall:
    """The `ToolCall` of a normalised `tool_calls` entry, validated like a text block."""
    function = entry["function"]
    call = _validated_call(function["name"], function["arguments"], "", entry["id"])
    try:
        body = json.dumps(
            {"name": function["name"], "arguments": function["arguments"]},
            ensure_ascii=False,
            allow_nan=False,
        )
    except (TypeError, ValueError, RecursionError):
        # The text form could not hold these arguments either (NaN, sets, huge integers).
        error = call.error or "malformed_call: arguments are not JSON-serialisable"
        return ToolCall(call.name, None, "", error, call.id)
    return ToolCall(call.name, call.arguments, _clip(body), call.error, call.id)


def _render_entry(entry: dict[str, Any]) -> str:
    """Text of a normalised entry; a malformed entry renders as a block that parses malformed."""
    call = _call_from_entry(entry)
    if call.ok and call.name is not None and call.arguments is not None:
        return render_tool_call(call.name, call.arguments)
    arguments = entry["function"]["arguments"]
    if _is_raw_marker(arguments):
        text = arguments[RAW_ARGUMENTS_KEY]
    else:
        text = "<arguments not serialisable as JSON>"
    if _arguments(text)[1] is None:  # keep a hand-made marker from parsing as an object
        text += _TRUNCATED
    # A None name is written as "", which parses back as a blank name: malformed as well.
    body = json.dumps({"name": call.name or "", "arguments": text}, ensure_ascii=False)
    return _block_text(body)


def _is_assistant(message: dict[str, Any]) -> bool:
    # A message without a role is what a response parser returns for model output.
    role = message.get("role")
    return role is None or role == "assistant"


def _as_messages(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, dict):
        return [messages]
    if isinstance(messages, (list, tuple)):
        return [m for m in messages if isinstance(m, dict)]
    return []


def text_to_assistant_message(text: str) -> dict[str, Any]:
    """The stored assistant message of one turn of Qwen text.

    Args:
        text: one assistant turn.

    Returns:
        `{"role": "assistant", "content": strip_tool_calls(text), "tool_calls": [...]}` with
        ids `call_0`, `call_1`, ...; `tool_calls` is omitted when there is no well-formed call.
        Malformed blocks stay in the content as text.

    Example:
        >>> text_to_assistant_message('Adding.\\n<tool_call>\\n{"name": "add", "arguments": '
        ...                           '{"a": 1, "b": 2}}\\n</tool_call>')
        ... # doctest: +NORMALIZE_WHITESPACE
        {'role': 'assistant', 'content': 'Adding.', 'tool_calls': [{'id': 'call_0',
         'type': 'function', 'function': {'name': 'add', 'arguments': {'a': 1, 'b': 2}}}]}
    """
    if not isinstance(text, str):
        text = ""
    found = _scan_calls(text)
    kept = []
    entries = []
    pos = 0
    for call, block in found:
        if call.ok:
            kept.append(text[pos : block.start])
            pos = block.end
            entries.append(
                {
                    "id": f"call_{len(entries)}",
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
            )
    kept.append(text[pos:])
    message: dict[str, Any] = {"role": "assistant", "content": "\n".join(kept).strip()}
    if entries:
        message["tool_calls"] = entries
    return message


def assistant_message_to_text(message: dict[str, Any]) -> str:
    """One assistant message as Qwen text: its content, then one block per tool call.

    Args:
        message: an assistant message (stored or API form; content may be a list of parts).

    Returns:
        The content and the rendered `<tool_call>` blocks, joined by newlines as the chat
        template joins them; "" for anything that is not a dict.

    Example:
        >>> print(assistant_message_to_text({"role": "assistant", "content": "Adding.",
        ...     "tool_calls": [{"function": {"name": "add", "arguments": {"a": 1}}}]}))
        Adding.
        <tool_call>
        {"name": "add", "arguments": {"a": 1}}
        </tool_call>
    """
    if not isinstance(message, dict):
        return ""
    content = content_text(message.get("content"))
    parts = [content] if content else []
    parts.extend(_render_entry(e) for e in normalize_tool_calls(message.get("tool_calls")))
    return "\n".join(parts)


def messages_to_text(messages: list[dict[str, Any]]) -> str:
    """A conversation tail as Qwen text, for logs and for scoring both forms identically.

    Assistant messages become their text with `<tool_call>` blocks; every other message
    (tool, and anything else) is an observation and becomes a `<tool_response>` block, so its
    text is never read as calls or answers. Items that are not dicts are skipped.

    Parity with `parse_completion(messages)` holds for real conversations, where assistant
    turns are separated by observations. It can break only when a tool message's content holds
    `</tool_response>`, or an assistant message that is not the last holds an unclosed
    `<tool_response>` or, with no observation after it, an unclosed `<tool_call>`.

    Args:
        messages: chat messages (a single message dict is accepted too).

    Returns:
        The messages' text joined by newlines.

    Example:
        >>> print(messages_to_text([
        ...     {"role": "assistant", "content": "", "tool_calls": [
        ...         {"function": {"name": "add", "arguments": {"a": 1, "b": 2}}}]},
        ...     {"role": "tool", "content": "3"},
        ...     {"role": "assistant", "content": "\\\\boxed{3}"}]))
        <tool_call>
        {"name": "add", "arguments": {"a": 1, "b": 2}}
        </tool_call>
        <tool_response>
        3
        </tool_response>
        \\boxed{3}
    """
    parts = []
    for message in _as_messages(messages):
        if _is_assistant(message):
            parts.append(assistant_message_to_text(message))
        else:
            parts.append(render_tool_response(content_text(message.get("content"))))
    return "\n".join(parts)


def _final_turn(text: str) -> tuple[str | None, int]:
    """Answer of the last turn of `text` (after the last observation, calls left out) and turns."""
    pieces: list[str] = []
    pos = 0
    turns = 0
    spoke = False  # the current turn has a call or non-blank text
    for block in _blocks(text):
        if block.kind == "call" and not block.closed:
            continue  # not a call: its text stays in the turn, and so does the text after it
        before = text[pos : block.start]
        spoke = spoke or block.kind == "call" or bool(before.strip())
        if block.kind == "response":
            turns += spoke
            spoke = False
            pieces = []
        else:
            pieces.append(before)
        pos = block.end
    rest = text[pos:]
    pieces.append(rest)
    turns += spoke or bool(rest.strip())
    # Joined as strip_tool_calls joins, so a turn and its stored message give the same answer.
    return extract_boxed("\n".join(pieces)), turns


def parse_completion(
    completion: str | list[dict[str, Any]] | dict[str, Any], truncated: bool = False
) -> ParsedCompletion:
    """Parse one completion, text or messages, into what the rewards score; never raises.

    Args:
        completion: Qwen text, or a list of chat messages (TRL's conversational completion:
            assistant(tool_calls) -> tool -> ... -> assistant), or one message dict. Calls come
            from `tool_calls` entries and from `<tool_call>` blocks left in assistant content (a
            server without a tool parser); the content block calls of a message come first,
            as in its text. Non-assistant messages are skipped. Anything else parses as empty.
        truncated: the completion hit the length limit (the EOS gate of every reward).

    Returns:
        A `ParsedCompletion`; its `answer` is read from the final assistant turn only.

    Example:
        >>> p = parse_completion([
        ...     {"role": "assistant", "content": "", "tool_calls": [
        ...         {"function": {"name": "add", "arguments": {"a": 1, "b": 2}}},
        ...         {"function": {"name": "bogus", "arguments": {}}}]},
        ...     {"role": "tool", "content": "3"},
        ...     {"role": "assistant", "content": "So \\\\boxed{3}."}])
        >>> p.answer, p.tool_names, p.num_turns
        ('3', ['add', 'bogus'], 2)
        >>> sorted(p.valid_tools(["add", "subtract"])), sorted(p.invalid_tools(["add"]))
        (['add'], ['bogus'])
    """
    truncated = bool(truncated)
    if isinstance(completion, str):
        answer, turns = _final_turn(completion)
        return ParsedCompletion(parse_tool_calls(completion), answer, truncated, turns)
    messages = _as_messages(completion)
    calls: list[ToolCall] = []
    turns = 0
    for message in messages:
        if not _is_assistant(message):
            continue
        turns += 1
        if len(calls) < MAX_CALLS:
            calls.extend(parse_tool_calls(content_text(message.get("content"))))
            entries = normalize_tool_calls(message.get("tool_calls"))
            calls.extend(_call_from_entry(e) for e in entries)
    answer = None
    if messages and _is_assistant(messages[-1]):
        answer = _final_turn(content_text(messages[-1].get("content")))[0]
    return ParsedCompletion(calls[:MAX_CALLS], answer, truncated, turns)


def _offered_names(offered: Any) -> set[str]:
    if offered is None:
        return set()
    if isinstance(offered, str):  # one name, not its characters
        return {offered}
    if not isinstance(offered, Iterable):
        return set()
    names = set()
    for item in offered:
        if isinstance(item, str):
            names.add(item)
        elif isinstance(item, dict):
            function = item.get("function")
            name = (function if isinstance(function, dict) else item).get("name")
            if isinstance(name, str):
                names.add(name)
    return names
