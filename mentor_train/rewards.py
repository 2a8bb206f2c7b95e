"""MENTOR rewards: pure component scorers on a parsed completion, composed into named variants.

Every variant reads its targets from dataset columns that GRPOTrainer passes as keyword lists
(`answer`, `teacher_tools`, `tool_names`) and scores the whole multi-turn completion, given as
chat messages (TRL's conversational tail: assistant(tool_calls) -> tool -> ... -> assistant) or as
text in the `<tool_call>` format; both parse through `mentor_data.formats.parse_completion` and
score the same.

| variant | correct answer | wrong answer |
|---|---|---|
| `sparse` | 1.0 | 0.1 |
| `mentor` | 0.7 + 0.3·match + 0.1·clean | 0.2·0.3·match + 0.1·clean |
| `ablation-partial` | 0.7 + 0.3·overlap | 0.2·0.3·overlap |
| `ablation-hallucination` | 0.7 + 0.1·clean | 0.1·clean |
| `ablation-f1` | 0.7 + 0.3·F1 + 0.1·clean | 0.2·0.3·F1 + 0.1·clean |

Gates first, in every variant: a truncated completion (no end-of-turn token) scores 0.0; no
`\\boxed{}` in the final assistant turn, an unclosed or a blank one scores 0.1.

Correctness comes from the row's domain (its `domain` column: `Domain.judge`, the one judge that
verify and eval call too). Answer-judged domains (arithmetic, a user's `--tools`) read the final
`\\boxed{}` against `answer`; BFCL rows are judged by BFCL's checker on the completion's
well-formed calls against the row's `metadata` column, with no `\\boxed{}` gate (function calling
has no boxed answer) and a malformed call block counting as wrong; truncation, tool match and
hallucination work as for every row.

Semantics (docs/method.md, "Exact semantics"):

* student set = the VALID names called (offered tools, well-formed calls), duplicates collapse;
  a hallucinated name is not in the set, it only removes the 0.1 (`clean` = no hallucinated name);
  a malformed block is neither. `teacher_tools` is used as a set.
* match = [student set == teacher set]; overlap = [sets intersect]; F1 = set F1, 0 when the
  student used no valid tool. A teacher that used no tool: match = overlap = [student used no
  valid tool] and F1(empty, empty) = 1.
* the offered tool set is the row's `tool_names` column, else the tool registry the reward was
  built with (`get_reward(name, tools=...)`), restricted to the tools the trainer runs
  (`executable=`); never a list written in here.
* unscorable -> None (TRL skips it): a row without a usable ground truth (missing, blank or
  unparseable `answer`, per `mentor_data.answers.check_gold`: None for every completion of the
  row, gates included, so a broken reference never trains), a judge ERROR on a completion's
  answer (a timeout), or a missing `teacher_tools` for a variant that needs it.

Truncation reaches a reward in one of two ways. GRPOTrainer passes `completion_ids`; TRL itself
counts a completion as clipped when its last id is not an EOS or pad id
(`completions/clipped_ratio`), and the rewards apply the same test with the ids bound by
`get_reward(name, eos_token_ids=...)` (`mentor_train.grpo` binds the trainer's). An explicit
`truncated` column (offline scoring, `mentor-train reward`) takes precedence.

A third cut ends on an end-of-turn token, so neither test sees it: when the trainer runs the
tools (`executable=`, what `mentor_train.grpo` builds), TRL's tool loop drops a tool result that
would overflow `max_completion_length` and stops after `max_tool_calling_iterations` rounds,
leaving a completion whose last turn is a well-formed call nobody answered. The budget stopped
it, not the student, so it is truncated (0.0) like a clipped one
(`ends_on_unanswered_call`); scored as "no answer" (0.1) it would pay the same as finishing with a
wrong answer, and a tight budget would teach nothing about finishing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from mentor_data.domains import DomainError, Judgement, domain_of
from mentor_data.formats import ParsedCompletion, parse_completion

logger = logging.getLogger(__name__)

TRUNCATED_REWARD = 0.0
"""Score of a completion that hit the length limit (no end-of-turn token), in every variant."""
FORMAT_REWARD = 0.1
"""Score of a completion without a usable `\\boxed{}` answer, in every variant."""
CORRECT_REWARD = 0.7
"""Correct-answer term of the MENTOR variants."""
MATCH_WEIGHT = 0.3
"""Weight of the tool agreement term (exact match, overlap or F1)."""
NO_HALLUCINATION_WEIGHT = 0.1
"""Weight of the no-hallucinated-tool term."""
WRONG_ANSWER_SCALE = 0.2
"""Tool agreement is worth a fifth as much when the answer is wrong."""
SPARSE_CORRECT = 1.0
"""Sparse baseline: a correct answer."""
SPARSE_WRONG = 0.1
"""Sparse baseline: a wrong answer (the same as the format credit)."""


# -- components: small pure functions ------------------------------------------------------------
def tool_set(parsed: ParsedCompletion, offered: Iterable[str]) -> frozenset[str]:
    """The student's tool set: the offered names it called in well-formed calls.

    Example:
        >>> p = parse_completion('<tool_call>{"name": "add", "arguments": {}}</tool_call>'
        ...                      '<tool_call>{"name": "bogus", "arguments": {}}</tool_call>')
        >>> sorted(tool_set(p, ["add", "multiply"]))
        ['add']
    """
    return frozenset(parsed.valid_tools(offered))


def hallucinated_tools(parsed: ParsedCompletion, offered: Iterable[str]) -> frozenset[str]:
    """Well-formed calls of names that are not offered.

    Example:
        >>> p = parse_completion('<tool_call>{"name": "bogus", "arguments": {}}</tool_call>')
        >>> sorted(hallucinated_tools(p, ["add"]))
        ['bogus']
    """
    return frozenset(parsed.invalid_tools(offered))


def exact_match(student: frozenset[str], teacher: frozenset[str]) -> bool:
    """[student set == teacher set]; with a tool-less teacher, [student used no valid tool].

    Example:
        >>> exact_match(frozenset({"add"}), frozenset({"add"}))
        True
        >>> exact_match(frozenset(), frozenset())
        True
        >>> exact_match(frozenset(), frozenset({"add"}))
        False
    """
    return student == teacher


def overlap(student: frozenset[str], teacher: frozenset[str]) -> bool:
    """[the sets share a tool]; with a tool-less teacher, [student used no valid tool].

    Example:
        >>> overlap(frozenset({"add", "sqrt"}), frozenset({"add"}))
        True
        >>> overlap(frozenset(), frozenset())
        True
        >>> overlap(frozenset({"sqrt"}), frozenset())
        False
    """
    if not teacher:
        return not student
    return bool(student & teacher)


def tool_f1(student: frozenset[str], teacher: frozenset[str]) -> float:
    """Set F1 of the student's valid names against the teacher's; F1(empty, empty) = 1.

    Example:
        >>> tool_f1(frozenset({"add", "sqrt"}), frozenset({"add"}))
        0.6666666666666666
        >>> tool_f1(frozenset(), frozenset({"add"})), tool_f1(frozenset(), frozenset())
        (0.0, 1.0)
    """
    if not student and not teacher:
        return 1.0
    common = len(student & teacher)
    if not common:
        return 0.0
    return 2 * common / (len(student) + len(teacher))


def scaled(correct: bool, tool_term: float) -> float:
    """0.7 + the tool term for a correct answer, a fifth of the tool term for a wrong one.

    Example:
        >>> scaled(True, 0.3), round(scaled(False, 0.3), 10)
        (1.0, 0.06)
    """
    return CORRECT_REWARD + tool_term if correct else WRONG_ANSWER_SCALE * tool_term


def judge(answer: str, gold: str) -> bool | None:
    """Correctness by the project's one judge (`mentor_data.answers`): True, False or None (ERROR).

    Example:
        >>> judge("\\\\frac{3}{4}", "0.75"), judge("12", "-12")
        (True, False)
    """
    from mentor_data.answers import Verdict, check_answer

    verdict = check_answer(answer, gold)
    if verdict is Verdict.PASS:
        return True
    if verdict is Verdict.FAIL:
        return False
    return None


@dataclass(frozen=True)
class Correctness:
    """How the completions of one row are judged: through the row's domain's judge.

    Attributes:
        usable: the row has a reference to judge against (`Domain.reference_usable`); if not,
            every completion of the row scores None (`no_gold`), gates included.
        judge: parsed completion -> the domain's `Judgement` (`no_answer` is the format gate;
            `correct` None is undecided: the completion scores None).
    """

    usable: bool
    judge: Callable[[ParsedCompletion], Judgement]


def row_correctness(row: Mapping[str, Any], completion: Any) -> Correctness:
    """The check of one completion of a row, by the row's domain (`domain_of(row)`).

    Args:
        row: the row's columns: `domain`, `answer`, `metadata` (a dict or a JSON string), ...
        completion: the raw completion (text or messages), as the domain's judge reads it.

    Example:
        >>> c = row_correctness({"answer": "3"}, "\\\\boxed{3}")
        >>> c.usable, c.judge(parse_completion("\\\\boxed{3}")).correct
        (True, True)
    """
    try:
        domain = domain_of(row)
    except DomainError:  # a domain that is not loaded: nothing to judge against
        return Correctness(False, lambda parsed: Judgement(None, "error"))
    usable = domain.reference_usable(row)
    # The answer judge's in-training limit (check_answer's default), as before domains.
    return Correctness(
        usable, lambda parsed: domain.judge(row, completion, parsed=parsed, timeout_s=2.0)
    )


# -- one completion, all components ---------------------------------------------------------------
@dataclass(frozen=True)
class Components:
    """Every component of one completion's score; `total` is the variant's composition.

    Attributes:
        total: the reward, or None when the completion cannot be scored (see `reason`).
        reason: `scored`, `truncated`, `no_answer`, `judge_error`, `no_gold` or
            `no_teacher_tools`.
        truncated: the completion hit the length limit.
        answer: the final `\\boxed{}` content (None when there is none).
        correct: the judge's verdict (None when not judged or undecided).
        student_tools: the student's tool set (valid names), sorted.
        invalid_tools: hallucinated names, sorted.
        teacher_tools: the teacher's set, sorted (None when the row has none).
        exact_match, overlap, tool_f1: tool agreement (None without a teacher set).
        no_hallucination: no hallucinated name was called.
        n_calls: well-formed calls, repeats included (valid and hallucinated).
        n_invalid_calls: well-formed calls of names that are not offered.
        n_malformed: blocks that did not parse (not calls for the rewards).
    """

    total: float | None
    reason: str
    truncated: bool
    answer: str | None
    correct: bool | None
    student_tools: list[str]
    invalid_tools: list[str]
    teacher_tools: list[str] | None
    exact_match: bool | None
    overlap: bool | None
    tool_f1: float | None
    no_hallucination: bool
    n_calls: int
    n_invalid_calls: int
    n_malformed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _sparse(c: Components) -> float:
    return SPARSE_CORRECT if c.correct else SPARSE_WRONG


def _mentor(c: Components) -> float:
    return (
        scaled(c.correct, MATCH_WEIGHT * c.exact_match)
        + NO_HALLUCINATION_WEIGHT * c.no_hallucination
    )


def _partial(c: Components) -> float:
    return scaled(c.correct, MATCH_WEIGHT * c.overlap)


def _hallucination(c: Components) -> float:
    # Not scaled for wrong answers (the method doc's "Exact semantics").
    return CORRECT_REWARD * c.correct + NO_HALLUCINATION_WEIGHT * c.no_hallucination


def _f1(c: Components) -> float:
    return (
        scaled(c.correct, MATCH_WEIGHT * c.tool_f1) + NO_HALLUCINATION_WEIGHT * c.no_hallucination
    )


@dataclass(frozen=True)
class Variant:
    """A named composition of the components.

    Attributes:
        name: the recipe name (`mentor`, `sparse`, ...).
        compose: components that passed the gates -> total.
        needs_teacher: whether the variant reads `teacher_tools`.
    """

    name: str
    compose: Callable[[Components], float]
    needs_teacher: bool


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("mentor", _mentor, True),
        Variant("sparse", _sparse, False),
        Variant("ablation-partial", _partial, True),
        Variant("ablation-hallucination", _hallucination, False),
        Variant("ablation-f1", _f1, True),
    )
}
"""Reward variants by recipe name."""


def _variant(name: str) -> Variant:
    if name not in VARIANTS:
        raise ValueError(f"unknown reward variant {name!r}; known: {', '.join(VARIANTS)}")
    return VARIANTS[name]


def _teacher_set(teacher_tools: Any) -> frozenset[str] | None:
    if isinstance(teacher_tools, str):  # one name, not its characters
        return frozenset([teacher_tools])
    if teacher_tools is None or isinstance(teacher_tools, bytes):
        return None
    try:
        return frozenset(t for t in teacher_tools if isinstance(t, str))
    except TypeError:
        return None


def _round(x: float) -> float:
    # Plain sums (0.7 + 0.3 + 0.1); rounding only hides float noise such as 1.0999999999999999.
    return round(x, 10)


def score_components(
    variant: str,
    parsed: ParsedCompletion,
    answer: Any,
    teacher_tools: Iterable[str] | None,
    offered: Iterable[str],
    *,
    correctness: Correctness | None = None,
) -> Components:
    """Score one parsed completion with one variant, keeping every component.

    Args:
        variant: a name in `VARIANTS`.
        parsed: `parse_completion(completion, truncated=...)`.
        answer: the ground truth (`answer` column).
        teacher_tools: the teacher's tool names (`teacher_tools` column; duplicates allowed;
            [] = the teacher used no tool; None = the row has no teacher targets).
        offered: the names of the tools offered on the row.
        correctness: how the row is judged; None = `row_correctness({"answer": answer}, ...)`,
            the default domain's judge (the boxed answer).

    Returns:
        `Components`; `total` is None when the completion cannot be scored.

    Example:
        >>> p = parse_completion([
        ...     {"role": "assistant", "content": "", "tool_calls": [
        ...         {"type": "function",
        ...          "function": {"name": "add", "arguments": {"a": 1, "b": 2}}}]},
        ...     {"role": "tool", "name": "add", "content": "3"},
        ...     {"role": "assistant", "content": "\\\\boxed{3}"}])
        >>> score_components("mentor", p, "3", ["add"], ["add", "multiply"]).total
        1.1
    """
    spec = _variant(variant)
    offered = list(offered)
    names = parsed.tool_names
    offered_set = set(offered)
    n_invalid = sum(1 for n in names if n not in offered_set)
    student = tool_set(parsed, offered)
    invalid = hallucinated_tools(parsed, offered)
    teacher = _teacher_set(teacher_tools)
    check = correctness if correctness is not None else row_correctness({"answer": answer}, None)

    def done(total: float | None, reason: str, correct: bool | None = None) -> Components:
        has_teacher = teacher is not None
        return Components(
            total=None if total is None else _round(total),
            reason=reason,
            truncated=parsed.truncated,
            answer=parsed.answer,
            correct=correct,
            student_tools=sorted(student),
            invalid_tools=sorted(invalid),
            teacher_tools=sorted(teacher) if has_teacher else None,
            exact_match=exact_match(student, teacher) if has_teacher else None,
            overlap=overlap(student, teacher) if has_teacher else None,
            tool_f1=tool_f1(student, teacher) if has_teacher else None,
            no_hallucination=not invalid,
            n_calls=len(names),
            n_invalid_calls=n_invalid,
            n_malformed=len(parsed.malformed),
        )

    if not check.usable:
        return done(None, "no_gold")
    if parsed.truncated:
        return done(TRUNCATED_REWARD, "truncated")
    verdict = check.judge(parsed)
    if verdict.reason == "no_answer":  # the format gate (answer-judged domains)
        return done(FORMAT_REWARD, "no_answer")
    if spec.needs_teacher and teacher is None:
        return done(None, "no_teacher_tools")
    correct = verdict.correct
    if correct is None:
        return done(None, "judge_error")
    parts = done(0.0, "scored", correct)
    return replace(parts, total=_round(spec.compose(parts)))


def score(
    variant: str,
    completion: str | list[dict] | dict,
    answer: Any,
    teacher_tools: Iterable[str] | None,
    offered: Iterable[str],
    truncated: bool = False,
) -> float | None:
    """The reward of one raw completion (text or messages) under one variant.

    Example:
        >>> score("sparse", "So \\\\boxed{391}.", "391", None, ["multiply"])
        1.0
        >>> score("mentor", "So \\\\boxed{391}.", "391", ["multiply"], ["multiply"], truncated=True)
        0.0
    """
    parsed = parse_completion(completion, truncated=truncated)
    return score_components(variant, parsed, answer, teacher_tools, offered).total


# -- TRL-facing callables ---------------------------------------------------------------------
def _offered_from_registry(tools: Any) -> list[str]:
    if tools is None:
        return []
    if isinstance(tools, str):
        from mentor_data.tools import get_registry

        return get_registry(tools).names()
    if hasattr(tools, "names") and callable(tools.names):
        return list(tools.names())
    return [t for t in tools if isinstance(t, str)]


def _column(values: Any, n: int, name: str) -> list[Any]:
    if values is None:
        return [None] * n
    values = list(values)
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return values


def truncation_flags(
    n: int,
    truncated: Sequence[Any] | None,
    completion_ids: Sequence[Sequence[int]] | None,
    eos_token_ids: Iterable[int] | None,
) -> list[bool]:
    """Which completions hit the length limit.

    An explicit `truncated` column wins; else a completion is truncated when its last token id
    is not one of `eos_token_ids` (TRL's own test: EOS ids plus the pad id); else none is.

    Example:
        >>> truncation_flags(2, None, [[5, 2], [5, 7]], [2, 0])
        [False, True]
    """
    if truncated is not None:
        return [bool(t) for t in _column(truncated, n, "truncated")]
    if completion_ids is not None and eos_token_ids is not None:
        eos = set(eos_token_ids)
        ids = _column(completion_ids, n, "completion_ids")
        return [not (len(x) and int(x[-1]) in eos) for x in ids]
    return [False] * n


def ends_on_unanswered_call(completion: Any) -> bool:
    """Whether a completion stops on a well-formed tool call that got no tool response.

    Example:
        >>> call = {"type": "function", "function": {"name": "add", "arguments": {"a": 1}}}
        >>> ends_on_unanswered_call([{"role": "assistant", "content": "", "tool_calls": [call]}])
        True
        >>> ends_on_unanswered_call('<tool_call>{"name": "add"}</tool_call><tool_response>1'
        ...                         '</tool_response>\\boxed{1}')
        False
    """
    if isinstance(completion, str):
        last: Any = completion.rsplit("</tool_response>", 1)[-1]
    elif (
        isinstance(completion, Sequence)
        and completion
        and isinstance(completion[-1], dict)
        and completion[-1].get("role") == "assistant"
    ):
        last = [completion[-1]]
    else:
        return False
    return bool(parse_completion(last).tool_names)


class MentorReward:
    """A reward variant as a GRPOTrainer reward function (picklable; `__name__` = metric key).

    Called exactly as TRL calls rewards: keyword lists of dataset columns (`answer`,
    `teacher_tools`, `tool_names`; `domain` and `metadata` for function-calling rows) plus
    `prompts`, `completions`, `completion_ids`, `trainer_state`, `log_extra` and `log_metric`.
    Returns one float, or None (unscorable), per completion. When `log_metric` is given it logs,
    under `<__name__>/...`: `tool_call_rate` (completions with a well-formed call),
    `invalid_tool_rate` (hallucinated calls / well-formed calls), `malformed_call_rate` (blocks
    that did not parse / all blocks), `correct_rate` (of judged completions), `set_match_rate`,
    `truncated_rate`, `no_answer_rate`, `unscorable_rate`; `log_extra` gets per-completion columns
    `<__name__>/correct`, `<__name__>/student_tools`, `<__name__>/invalid_tools`.

    Args:
        variant: a name in `VARIANTS`.
        tools: the offered tools when a row has no `tool_names` column: a registry name
            (`"arithmetic"`), a `ToolRegistry` or a list of names.
        eos_token_ids: ids that end a completion (EOS and pad), to detect truncation from
            `completion_ids`; None = only an explicit `truncated` column marks truncation.
        executable: the tools the trainer actually offers and runs (None: no restriction). A
            row's `tool_names` is intersected with it, so a tool the teacher was offered but a
            recipe's `tools:` subset left out counts as hallucinated (TRL answers "Tool X not
            found" to it). Set, it also marks a completion that ends on an unanswered call as
            truncated (the trainer's budget stopped it: the module docstring).
    """

    def __init__(
        self,
        variant: str,
        *,
        tools: Any = "arithmetic",
        eos_token_ids: Iterable[int] | None = None,
        executable: Any = None,
    ):
        _variant(variant)
        self.variant = variant
        self.__name__ = f"{variant.replace('-', '_')}_reward"
        self.offered = _offered_from_registry(tools)
        self.eos_token_ids = None if eos_token_ids is None else [int(i) for i in eos_token_ids]
        self.executable = None if executable is None else set(_offered_from_registry(executable))
        self._warned_no_eos = False

    def __repr__(self) -> str:
        return (
            f"MentorReward({self.variant!r}, tools={len(self.offered)} names, "
            f"eos={self.eos_token_ids})"
        )

    def components(
        self,
        completions: Sequence[Any],
        answer: Sequence[Any] | None = None,
        teacher_tools: Sequence[Any] | None = None,
        tool_names: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        truncated: Sequence[Any] | None = None,
        domain: Sequence[Any] | None = None,
        metadata: Sequence[Any] | None = None,
    ) -> list[Components]:
        """Every component of every completion (what `__call__` sums).

        Each row is judged by its domain (`row_correctness`): BFCL rows on their `metadata`,
        answer-judged rows (arithmetic, a user's tools) on their `answer`.
        """
        n = len(completions)
        if truncated is None and completion_ids is not None and self.eos_token_ids is None:
            if not self._warned_no_eos:
                logger.warning(
                    "%s: no eos_token_ids bound, so truncated completions are not "
                    "detected; build it with get_reward(name, eos_token_ids=...)",
                    self.__name__,
                )
                self._warned_no_eos = True
        flags = truncation_flags(n, truncated, completion_ids, self.eos_token_ids)
        answers = _column(answer, n, "answer")
        teachers = _column(teacher_tools, n, "teacher_tools")
        offered_rows = _column(tool_names, n, "tool_names")
        domains = _column(domain, n, "domain")
        metadatas = _column(metadata, n, "metadata")
        out = []
        for completion, gold, teacher, offered, cut, dom, meta in zip(
            completions, answers, teachers, offered_rows, flags, domains, metadatas, strict=True
        ):
            names = self.offered if offered is None else _offered_from_registry(offered)
            if self.executable is not None:
                names = [n for n in names if n in self.executable]
            if self.executable is not None and not cut:
                cut = ends_on_unanswered_call(completion)
            parsed = parse_completion(completion, truncated=cut)
            row = {"domain": dom, "answer": gold, "metadata": meta}
            check = row_correctness(row, completion)
            out.append(
                score_components(self.variant, parsed, gold, teacher, names, correctness=check)
            )
        return out

    def __call__(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        answer: Sequence[Any] | None = None,
        teacher_tools: Sequence[Any] | None = None,
        tool_names: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        truncated: Sequence[Any] | None = None,
        domain: Sequence[Any] | None = None,
        metadata: Sequence[Any] | None = None,
        log_extra: Callable[[str, list], None] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        completions = list(completions or [])
        comps = self.components(
            completions,
            answer,
            teacher_tools,
            tool_names,
            completion_ids,
            truncated,
            domain=domain,
            metadata=metadata,
        )
        if log_metric is not None and comps:
            for key, value in summarize(comps).items():
                log_metric(f"{self.__name__}/{key}", value)
        if log_extra is not None and comps:
            log_extra(f"{self.__name__}/correct", [c.correct for c in comps])
            log_extra(f"{self.__name__}/student_tools", [",".join(c.student_tools) for c in comps])
            log_extra(f"{self.__name__}/invalid_tools", [",".join(c.invalid_tools) for c in comps])
        return [c.total for c in comps]


def summarize(components: Sequence[Components]) -> dict[str, float]:
    """Batch rates of tool use and outcomes (what the rewards log every step).

    Example:
        >>> c = score_components("mentor", parse_completion("\\\\boxed{3}"), "3", [], ["add"])
        >>> summarize([c])["correct_rate"], summarize([c])["tool_call_rate"]
        (1.0, 0.0)
    """
    n = len(components)
    if not n:
        return {}
    calls = sum(c.n_calls for c in components)
    blocks = calls + sum(c.n_malformed for c in components)
    judged = [c.correct for c in components if c.correct is not None]
    matched = [c.exact_match for c in components if c.exact_match is not None]
    return {
        "tool_call_rate": sum(c.n_calls > 0 for c in components) / n,
        "calls_per_completion": calls / n,
        "invalid_tool_rate": sum(c.n_invalid_calls for c in components) / calls if calls else 0.0,
        "malformed_call_rate": sum(c.n_malformed for c in components) / blocks if blocks else 0.0,
        "correct_rate": sum(judged) / len(judged) if judged else 0.0,
        "set_match_rate": sum(matched) / len(matched) if matched else 0.0,
        "truncated_rate": sum(c.reason == "truncated" for c in components) / n,
        "no_answer_rate": sum(c.reason == "no_answer" for c in components) / n,
        "unscorable_rate": sum(c.total is None for c in components) / n,
    }


REWARDS: dict[str, MentorReward] = {name: MentorReward(name) for name in VARIANTS}
"""Default reward functions by recipe name (arithmetic tools offered, truncation only from a
`truncated` column). Training builds its own with `get_reward` to bind the trainer's tools and
EOS ids."""


def get_reward(
    name: str,
    *,
    tools: Any = "arithmetic",
    eos_token_ids: Iterable[int] | None = None,
    executable: Any = None,
) -> MentorReward:
    """A reward function for a recipe's `reward_funcs` name.

    Args:
        name: `mentor`, `sparse`, `ablation-partial`, `ablation-hallucination` or `ablation-f1`
            (underscores and a `_reward` suffix are accepted: `mentor_reward`).
        tools: offered tools for rows without a `tool_names` column (registry name, registry or
            names).
        eos_token_ids: ids that end a completion, to detect truncation from `completion_ids`.
        executable: the tools the trainer runs; rows' offered names outside it are not offered.

    Returns:
        A `MentorReward`.

    Raises:
        ValueError: an unknown name (the message lists the known ones).

    Example:
        >>> get_reward("ablation_f1_reward").__name__
        'ablation_f1_reward'
    """
    key = name.strip()
    if key.endswith("_reward"):
        key = key[: -len("_reward")]
    key = key.replace("_", "-")
    if key not in VARIANTS:
        raise ValueError(f"unknown reward {name!r}; known: {', '.join(VARIANTS)}")
    return MentorReward(key, tools=tools, eos_token_ids=eos_token_ids, executable=executable)


__all__ = [
    "REWARDS",
    "VARIANTS",
    "Components",
    "Correctness",
    "MentorReward",
    "Variant",
    "row_correctness",
    "exact_match",
    "get_reward",
    "hallucinated_tools",
    "judge",
    "overlap",
    "scaled",
    "score",
    "score_components",
    "summarize",
    "tool_f1",
    "tool_set",
    "truncation_flags",
]
