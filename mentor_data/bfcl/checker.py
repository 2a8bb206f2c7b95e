"""`judge_bfcl(metadata, calls)`: the one judge of BFCL rows, for verify, rewards and eval.

`calls` holds, per user turn, the calls the model made as `{"name": str, "arguments": dict}`
(`[]` or `[[]]`: no call). By category (`metadata["category"]`):

- **AST** (`simple_python`, `multiple`, `parallel`, `parallel_multiple`, `live_*` but
  irrelevance): bfcl's own `ast_checker` on the calls of all turns together, after three checks
  of ours that give sharper reasons: every call well-formed (`malformed_call`), every name
  offered (`unknown_function`), as many calls as the ground truth (`missing_call`,
  `extra_call`). bfcl's error types map to the reason codes below (`ERROR_TYPE_REASONS`).
- **irrelevance** (`irrelevance`, `live_irrelevance`): right iff no call (`unexpected_call`).
- **multi-turn** (`multi_turn_base`): bfcl's multi-turn rules without its `eval()`: the calls run
  on fresh instances (`MultiTurnEnv`), the parsed ground-truth calls on another fresh set; after
  each turn whose ground truth has calls, the instances' public attributes must be equal
  (bfcl's `state_checker`) and every result the ground truth's calls returned in that turn must
  be among the results of the model's calls so far (bfcl's `response_checker`). A turn with no
  model call where the ground truth has some fails at once (`missing_call`). Extra calls, even
  to unknown names, fail nothing by themselves, as in bfcl.

Reason codes: `wrong_call` (another function), `wrong_arguments` (a wrong value, an unexpected
parameter), `wrong_type`, `missing_argument`, `missing_call`, `extra_call`, `unknown_function`
(a name not offered), `wrong_order` (multi-turn: the right calls in an order that changes the
state), `unexpected_call` (irrelevance), `wrong_state` (multi-turn), `malformed_call`. A verdict
with `correct=None` could not be judged: `no_ground_truth`, or `judge_error` (bfcl's checker
raised; the detail says what).

bfcl's AST checker imports `bfcl_eval.constants.model_config`, which imports every cloud SDK;
`_ast_checker` registers a stand-in module (a `MODEL_CONFIG_MAPPING` with this judge's model
names) only while importing it, so nothing else is needed and nothing else sees the stand-in.
"""

from __future__ import annotations

import copy
import functools
import json
import sys
import types
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mentor_data.bfcl import BFCL_REASONS
from mentor_data.bfcl.data import (
    AST_CATEGORIES,
    CATEGORIES,
    IRRELEVANCE_CATEGORIES,
    MULTI_TURN_CATEGORIES,
    tool_name,
)

UNJUDGED_REASONS = ("no_ground_truth", "judge_error")
"""Reason codes of a verdict with `correct=None`."""

MODEL_NAME = "mentor"
"""The model name passed to bfcl's AST checker: names are compared as they are."""
UNDERSCORE_MODEL_NAME = "mentor-underscore"
"""The model name for rows loaded with `names=underscore` (bfcl's `underscore_to_dot`)."""

ERROR_TYPE_REASONS = {
    "simple_function_checker:wrong_func_name": "wrong_call",
    "simple_function_checker:missing_required": "missing_argument",
    "simple_function_checker:missing_optional": "missing_argument",
    "simple_function_checker:unexpected_param": "wrong_arguments",
    "type_error:simple": "wrong_type",
    "type_error:nested": "wrong_type",
}
"""bfcl AST error type -> reason; other `value_error:*` and checker types are
`wrong_arguments`, `*:wrong_count` is `missing_call` or `extra_call` by the counts."""

_DETAIL_CHARS = 300


@dataclass(frozen=True)
class BfclVerdict:
    """The judgement of one BFCL trajectory.

    Args:
        correct (`bool` or `None`): True when right; None when it cannot be judged (no ground
            truth, or the checker crashed).
        reason (`str` or `None`): A code of `BFCL_REASONS` when wrong, of `UNJUDGED_REASONS`
            when not judged, None when right.
        detail (`str`): What failed, for humans.
    """

    correct: bool | None
    reason: str | None
    detail: str = ""


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "..."


def _wrong(reason: str, detail: str) -> BfclVerdict:
    return BfclVerdict(False, reason, _clip(detail))


# -- bfcl's AST checker, imported without the cloud SDKs -------------------------------------------
@functools.cache
def _ast_checker() -> tuple[Any, Any]:
    """(bfcl's `ast_checker`, `Language.PYTHON`), imported with a stand-in model config."""
    name = "bfcl_eval.constants.model_config"
    previous = sys.modules.get(name)
    stand_in = types.ModuleType(name)
    stand_in.__doc__ = "mentor's stand-in: only MODEL_CONFIG_MAPPING, for the AST checker"
    stand_in.MODEL_CONFIG_MAPPING = {}
    if previous is None:
        sys.modules[name] = stand_in
    try:
        from bfcl_eval.constants.enums import Language
        from bfcl_eval.eval_checker.ast_eval import ast_checker as module
    except ImportError as exc:
        from mentor_data.bfcl import BFCL_INSTALL

        raise ImportError(f"the BFCL judge needs bfcl-eval: {BFCL_INSTALL} ({exc})") from exc
    finally:
        if previous is None:
            # The checker module keeps its reference to the mapping; nobody else sees the stand-in.
            sys.modules.pop(name, None)
    mapping = module.MODEL_CONFIG_MAPPING
    # convert_func_name looks the model up only for dotted names; its "_" -> "/" escape is why
    # the names below have none.
    mapping.setdefault(MODEL_NAME, types.SimpleNamespace(underscore_to_dot=False))
    mapping.setdefault(UNDERSCORE_MODEL_NAME, types.SimpleNamespace(underscore_to_dot=True))
    return module.ast_checker, Language.PYTHON


@functools.cache
def _multi_turn_checkers() -> tuple[Any, Any]:
    """bfcl's `state_checker` and `response_checker` (pure comparisons: no eval)."""
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import (
        response_checker,
        state_checker,
    )

    return state_checker, response_checker


# -- inputs ----------------------------------------------------------------------------------------
def check_metadata(metadata: Any) -> str:
    """The category of a BFCL row's metadata.

    Raises:
        ValueError: metadata that is not a BFCL row's (the message says how to get one).
    """
    category = metadata.get("category") if isinstance(metadata, Mapping) else None
    if category not in CATEGORIES:
        raise ValueError(
            f"not the metadata of a BFCL row (category {category!r}; supported: "
            f"{', '.join(CATEGORIES)}): load problems with --problems bfcl:CATEGORY"
        )
    for key in ("ground_truth", "functions"):
        if key not in metadata:
            raise ValueError(f"BFCL metadata without {key!r}: reload the row with bfcl:{category}")
    return category


def _malformed(calls: Any) -> str | None:
    """Why `calls` is not a list (per turn) of lists of {name: str, arguments: dict}, or None."""
    if not isinstance(calls, Sequence) or isinstance(calls, (str, bytes)):
        return f"calls must be a list of turns, got {type(calls).__name__}"
    for t, turn in enumerate(calls):
        if not isinstance(turn, Sequence) or isinstance(turn, (str, bytes)):
            return f"turn {t}: expected a list of calls, got {type(turn).__name__}"
        for i, call in enumerate(turn):
            if not isinstance(call, Mapping):
                return f"turn {t} call {i}: expected an object, got {type(call).__name__}"
            if not isinstance(call.get("name"), str) or not call["name"]:
                return f"turn {t} call {i}: no function name"
            if not isinstance(call.get("arguments"), Mapping):
                return f"turn {t} call {i} ({call['name']}): arguments are not an object"
    return None


def _names(calls: Sequence[Mapping[str, Any]]) -> list[str]:
    return [c["name"] for c in calls]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


# -- AST -------------------------------------------------------------------------------------------
def _ast_reason(result: Mapping[str, Any], flat: list[dict], ground_truth: list[dict]) -> str:
    """The reason code of a failed bfcl AST check."""
    error_type = str(result.get("error_type") or "")
    if error_type.endswith(":wrong_count"):
        return "missing_call" if len(flat) < len(ground_truth) else "extra_call"
    if error_type.endswith(":cannot_find_match"):
        # Parallel (no order): some expected call has no match. Wrong names first; else the
        # sub-error of a model call with the expected name says what was wrong with it.
        expected = sorted(name for answer in ground_truth for name in answer)
        if sorted(_names(flat)) != expected:
            return "wrong_call"
        for item in result.get("error") or []:
            if not isinstance(item, Mapping):
                continue
            for sub in item.values():
                if not isinstance(sub, Mapping):
                    continue
                answer = sub.get("possible_answer_item") or {}
                output = sub.get("model_output_item") or {}
                if set(answer) == set(output):
                    return _ast_reason({"error_type": sub.get("sub_error_type")}, flat, [])
        return "wrong_arguments"
    if error_type in ERROR_TYPE_REASONS:
        return ERROR_TYPE_REASONS[error_type]
    return "wrong_arguments"


def _error_text(result: Mapping[str, Any]) -> str:
    errors = result.get("error") or []
    first = errors[0] if isinstance(errors, list) and errors else errors
    return f"{result.get('error_type')}: {first}"


def _judge_ast(metadata: Mapping[str, Any], category: str, calls: Sequence) -> BfclVerdict:
    ground_truth = metadata.get("ground_truth")
    if not isinstance(ground_truth, list) or not ground_truth:
        return BfclVerdict(None, "no_ground_truth", "the row has no ground-truth calls")
    names = "underscore" if metadata.get("underscore_to_dot") else "keep"
    functions = metadata.get("functions") or []
    offered = {tool_name(f.get("name", ""), names) for f in functions if isinstance(f, Mapping)}
    flat = [dict(c) for turn in calls for c in turn]
    unknown = [n for n in _names(flat) if n not in offered]
    if unknown:
        return _wrong("unknown_function", f"not offered on this row: {', '.join(unknown)}")
    if len(flat) != len(ground_truth):
        reason = "missing_call" if len(flat) < len(ground_truth) else "extra_call"
        expected = [name for answer in ground_truth for name in answer]
        return _wrong(
            reason, f"{len(flat)} call(s) {_names(flat)}, expected {len(ground_truth)}: {expected}"
        )
    checker, python = _ast_checker()
    model_output = [{c["name"]: copy.deepcopy(dict(c["arguments"]))} for c in flat]
    model_name = UNDERSCORE_MODEL_NAME if names == "underscore" else MODEL_NAME
    try:
        result = checker(
            copy.deepcopy(functions),
            model_output,
            copy.deepcopy(ground_truth),
            python,
            category,
            model_name,
        )
    except Exception as exc:  # bfcl's checker on an input it did not expect: not judged
        return BfclVerdict(
            None, "judge_error", _clip(f"bfcl's AST checker raised {type(exc).__name__}: {exc}")
        )
    if result.get("valid"):
        return BfclVerdict(True, None)
    return _wrong(_ast_reason(result, flat, ground_truth), _error_text(result))


# -- multi-turn ------------------------------------------------------------------------------------
def _judge_multi_turn(metadata: Mapping[str, Any], calls: Sequence) -> BfclVerdict:
    from mentor_data.bfcl.calls import CallSyntaxError, parse_call
    from mentor_data.bfcl.executor import MultiTurnEnv

    ground_truth = metadata.get("ground_truth")
    if not isinstance(ground_truth, list) or not ground_truth:
        return BfclVerdict(None, "no_ground_truth", "the row has no ground-truth turns")
    try:
        expected = [[parse_call(text) for text in turn] for turn in ground_truth]
    except (CallSyntaxError, TypeError) as exc:
        return BfclVerdict(None, "judge_error", _clip(f"unusable ground truth: {exc}"))
    extra = [c for turn in calls[len(ground_truth) :] for c in turn]
    if extra:
        return _wrong("extra_call", f"{_names(extra)} after the row's {len(ground_truth)} turns")
    turns = list(calls)
    state_checker, response_checker = _multi_turn_checkers()
    model_env, truth_env = MultiTurnEnv(metadata), MultiTurnEnv(metadata)
    model_results: list[str] = []
    for t, truth_calls in enumerate(expected):
        made = list(turns[t]) if t < len(turns) else []
        model_results.extend(model_env.invoke(c["name"], c["arguments"])[1] for c in made)
        truth_results = [truth_env.invoke_parsed(c)[1] for c in truth_calls]
        if not truth_calls:
            if made:
                return _wrong("unexpected_call", f"turn {t}: {_names(made)} where no call fits")
            continue
        if not made:
            wanted = [c.name for c in truth_calls]
            return _wrong("missing_call", f"turn {t}: no call; the ground truth calls {wanted}")
        state = state_checker(model_env.instances, truth_env.instances)
        if not state.get("valid"):
            reason = "wrong_order" if _same_calls(made, truth_calls, truth_env) else "wrong_state"
            differences = state.get("details", {}).get("differences", {})
            return _wrong(
                reason, f"turn {t}: {state.get('error_message')} differences: {differences}"
            )
        response = response_checker(model_results, truth_results, t)
        if not response.get("valid"):
            missing = response.get("details", {}).get("missing_items", [])
            reason = _missing_result_reason(made, truth_calls, truth_results, missing)
            return _wrong(reason, f"turn {t}: results of the ground truth missing: {missing}")
    return BfclVerdict(True, None)


def _same_calls(made: list, truth_calls: list, env: Any) -> bool:
    """Whether a turn has the ground truth's calls (names, bound arguments) in another order."""
    from mentor_data.bfcl.executor import bind_arguments

    def key(name: str, args: tuple, kwargs: Mapping) -> str:
        signature = env.signatures.get(name)
        try:
            bound = bind_arguments(signature[1], args, kwargs) if signature else dict(kwargs)
        except TypeError:
            bound = {"__args__": list(args), **kwargs}
        return _canonical([name, bound])

    model = [key(c["name"], (), c["arguments"]) for c in made]
    truth = [key(c.name, c.args, c.kwargs) for c in truth_calls]
    return Counter(model) == Counter(truth) and model != truth


def _missing_result_reason(
    made: list, truth_calls: list, truth_results: list, missing: list
) -> str:
    """`wrong_arguments` when the model called the function whose result is missing (with other
    arguments), else `missing_call`."""
    called = set(_names(made))
    for call, result in zip(truth_calls, truth_results, strict=True):
        if result in missing and call.name not in called:
            return "missing_call"
    return "wrong_arguments"


# -- the judge -------------------------------------------------------------------------------------
def judge_bfcl(
    metadata: Mapping[str, Any], calls: Sequence[Sequence[Mapping[str, Any]]]
) -> BfclVerdict:
    """Judge the calls a model made on one BFCL row.

    Args:
        metadata: The row's metadata (`Problem.metadata` of a `bfcl:` problem, or the
            trajectory row's `metadata` column): `category`, `ground_truth`, `functions`, and
            `initial_config`, `involved_classes` for multi-turn rows.
        calls: Per user turn, the calls made: `[{"name": str, "arguments": dict}, ...]`;
            single-turn categories read all turns together; `[]` or `[[]]` is no call.

    Returns:
        A `BfclVerdict` (see the module docstring for the reason codes). Never raises on bad
        calls (they are `malformed_call`) or on a checker crash (`correct=None`).

    Raises:
        ValueError: `metadata` is not a BFCL row's.
        ImportError: bfcl-eval is not installed (the message gives the install command).

    Example:
        >>> from mentor_data.problems import load_problems
        >>> meta = load_problems("bfcl:simple_python?n=1")[0].metadata
        >>> judge_bfcl(meta, [[{"name": "calculate_triangle_area",
        ...                     "arguments": {"base": 10, "height": 5}}]])
        BfclVerdict(correct=True, reason=None, detail='')
        >>> judge_bfcl(meta, [[]]).reason
        'missing_call'
    """
    category = check_metadata(metadata)
    problem = _malformed(calls)
    if problem:
        return _wrong("malformed_call", problem)
    if category in IRRELEVANCE_CATEGORIES:
        made = [c["name"] for turn in calls for c in turn]
        if made:
            return _wrong(
                "unexpected_call", f"no offered function fits, but the model called {made}"
            )
        return BfclVerdict(True, None)
    try:
        if category in AST_CATEGORIES:
            return _judge_ast(metadata, category, calls)
        if category in MULTI_TURN_CATEGORIES:
            return _judge_multi_turn(metadata, calls)
    except ImportError:
        raise
    except Exception as exc:  # never let one row stop a verify run or a training step
        return BfclVerdict(
            None, "judge_error", _clip(f"the judge raised {type(exc).__name__}: {exc}")
        )
    raise ValueError(f"no judge for BFCL category {category!r}")  # unreachable: CATEGORIES


def calls_by_user_turn(messages: Sequence[Mapping[str, Any]]) -> list[list[dict]]:
    """The well-formed calls of a conversation, grouped by the user turn they answer.

    A user turn is a run of user messages; the calls of every assistant message after it (and
    before the next run) belong to it. Messages before the first user message count as turn 0.

    Example:
        >>> calls_by_user_turn([
        ...     {"role": "user", "content": "a"},
        ...     {"role": "assistant", "tool_calls": [
        ...         {"id": "1", "function": {"name": "cd", "arguments": {"folder": "x"}}}]},
        ...     {"role": "tool", "tool_call_id": "1", "content": "ok"},
        ...     {"role": "assistant", "content": "done"},
        ...     {"role": "user", "content": "b"},
        ...     {"role": "assistant", "content": "nothing to do"}])
        [[{'name': 'cd', 'arguments': {'folder': 'x'}}], []]
    """
    from mentor_data.formats import parse_completion

    turns: list[list[dict]] = []
    previous = None
    for message in messages:
        role = message.get("role") if isinstance(message, Mapping) else None
        if role == "user" and previous != "user":
            turns.append([])
        elif role == "assistant":
            if not turns:
                turns.append([])
            turns[-1].extend(
                {"name": c.name, "arguments": c.arguments}
                for c in parse_completion([dict(message)]).calls
                if c.ok
            )
        previous = role
    return turns or [[]]


__all__ = [
    "check_metadata",
    "BFCL_REASONS",
    "ERROR_TYPE_REASONS",
    "MODEL_NAME",
    "UNDERSCORE_MODEL_NAME",
    "UNJUDGED_REASONS",
    "BfclVerdict",
    "calls_by_user_turn",
    "judge_bfcl",
]
