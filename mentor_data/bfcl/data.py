"""BFCL data as mentor problems: locate the files, convert the function docs, split the ids.

The data ship inside `bfcl_eval` (see `BFCL_INSTALL`):

- `bfcl_eval/data/BFCL_v4_<category>.json`: JSON lines with `id`, `question` (a list of user
  turns, each a list of chat messages) and `function` (BFCL function docs); multi-turn rows
  carry `initial_config` and `involved_classes` instead of functions, whose docs are the
  `data/multi_turn_func_doc/*.json` files of the involved classes (as bfcl's own loader does);
- `bfcl_eval/data/possible_answer/BFCL_v4_<category>.json`: `ground_truth` per id: for AST
  categories one `{function: {parameter: [acceptable values]}}` per call (`""` among the values:
  the parameter may be omitted), for multi-turn the call strings of each user turn. Irrelevance
  categories have none: no call is the right answer.

Function docs use BFCL types (`dict`, `float`, `tuple`, `any`, `String`, ...) that are not JSON
Schema; `function_to_tool` converts them as bfcl's own FC handlers do (`GORILLA_TO_OPENAPI`),
recursively, and keeps names as they are, dots included (`uber.ride`). OpenAI's API rejects
dots in tool names (vLLM and chat templates accept them): load with `names=underscore` to offer
`uber_ride` instead; the judge then maps the names back (bfcl's `underscore_to_dot`).

The split is stable and independent of the category mix: `sha256(id)` as a number in [0, 1)
below `held_out_fraction` puts a row in `held_out`, else in `train`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from mentor_data.bfcl import BFCL_DOMAIN, BFCL_INSTALL, BFCL_PREFIX
from mentor_data.problems import Problem

VERSION_PREFIX = "BFCL_v4"

AST_CATEGORIES = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
)
"""Categories judged by bfcl's AST checker (the calls of one user turn against the answers)."""
IRRELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance")
"""Categories where no offered function fits: right iff the model calls nothing."""
MULTI_TURN_CATEGORIES = ("multi_turn_base",)
"""Categories run against live API instances and judged by their state after each turn."""
CATEGORIES = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "multi_turn_base",
)
"""Every supported category, in the leaderboard's order."""
CATEGORY_GROUPS = {"all": CATEGORIES}
"""Names that stand for several categories in a spec."""

SPLITS = ("train", "held_out", "all")
DEFAULT_HELD_OUT_FRACTION = 0.2
NAME_STYLES = ("keep", "underscore")
_SPEC_KEYS = ("split", "n", "offset", "held_out_fraction", "names")

# BFCL type -> JSON Schema type: bfcl_eval.constants.type_mappings.GORILLA_TO_OPENAPI (copied,
# so that converting a doc needs no bfcl_eval and a test can compare the two).
BFCL_TO_JSON_SCHEMA = {
    "integer": "integer",
    "number": "number",
    "float": "number",
    "string": "string",
    "boolean": "boolean",
    "bool": "boolean",
    "array": "array",
    "list": "array",
    "dict": "object",
    "object": "object",
    "tuple": "array",
    "any": "string",
    "byte": "integer",
    "short": "integer",
    "long": "integer",
    "double": "number",
    "char": "string",
    "ArrayList": "array",
    "Array": "array",
    "HashMap": "object",
    "Hashtable": "object",
    "Queue": "array",
    "Stack": "array",
    "Any": "string",
    "String": "string",
    "Bigint": "integer",
}
PYTHON_HINT = " Note that the provided function is in Python 3 syntax."
"""Appended to every function description, as bfcl does for Python categories."""
FLOAT_HINT = " This is a float type value."
"""Appended to the description of `float` parameters, as bfcl's OpenAI-style conversion does."""


# -- locating the data ---------------------------------------------------------------------------
def bfcl_data_dir() -> Path:
    """The `data` folder of the installed bfcl_eval package.

    Raises:
        ImportError: bfcl_eval is not installed (the message gives the install command).
    """
    spec = importlib.util.find_spec("bfcl_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the bfcl domain needs bfcl-eval: {BFCL_INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not path.is_dir():
        raise ImportError(f"bfcl_eval has no data folder at {path}; reinstall it: {BFCL_INSTALL}")
    return path


def check_category(category: str) -> str:
    """`category` when it is supported.

    Raises:
        ValueError: an unknown category; the message lists the supported ones.
    """
    if category not in CATEGORIES:
        raise ValueError(
            f"unknown BFCL category {category!r}; supported: {', '.join(CATEGORIES)} "
            f"(or {', '.join(CATEGORY_GROUPS)})"
        )
    return category


@functools.cache
def _lines(path: Path) -> tuple[str, ...]:
    """The non-blank lines of a JSON-lines file (cached as text: every load parses its own
    copy, so no caller can change another's rows)."""
    with open(path, encoding="utf-8") as f:
        return tuple(line for line in f if line.strip())


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        raise ImportError(f"missing BFCL data file {path}; reinstall bfcl-eval: {BFCL_INSTALL}")
    rows = []
    for i, line in enumerate(_lines(path), 1):
        try:
            rows.append(json.loads(line))
        except ValueError as exc:
            raise ValueError(f"{path}: line {i}: not valid JSON ({exc})") from exc
    return rows


def multi_turn_function_docs(involved_classes: Iterable[str]) -> list[dict]:
    """The function docs of a multi-turn row: each involved class's doc file, in order.

    Raises:
        ValueError: a class bfcl does not know.
    """
    from bfcl_eval.constants.executable_backend_config import MULTI_TURN_FUNC_DOC_FILE_MAPPING

    docs: list[dict] = []
    for name in involved_classes:
        if name not in MULTI_TURN_FUNC_DOC_FILE_MAPPING:
            known = ", ".join(MULTI_TURN_FUNC_DOC_FILE_MAPPING)
            raise ValueError(f"unknown BFCL API class {name!r}; bfcl knows: {known}")
        path = bfcl_data_dir() / "multi_turn_func_doc" / MULTI_TURN_FUNC_DOC_FILE_MAPPING[name]
        docs.extend(_read_jsonl(path))
    return docs


def load_category(category: str) -> list[dict]:
    """The entries of one category, in file order, each with its `ground_truth` and functions.

    Args:
        category: One of `CATEGORIES`.

    Returns:
        Fresh dicts (`id`, `question`, `function`, `ground_truth` (None for irrelevance), and
        `initial_config`, `involved_classes` for multi-turn rows).

    Raises:
        ValueError: an unknown category, or an entry without its ground truth.
        ImportError: bfcl_eval is not installed.
    """
    check_category(category)
    root = bfcl_data_dir()
    entries = _read_jsonl(root / f"{VERSION_PREFIX}_{category}.json")
    answers: dict[str, Any] = {}
    if category not in IRRELEVANCE_CATEGORIES:
        answer_file = root / "possible_answer" / f"{VERSION_PREFIX}_{category}.json"
        answers = {a["id"]: a["ground_truth"] for a in _read_jsonl(answer_file)}
    for entry in entries:
        if category in IRRELEVANCE_CATEGORIES:
            entry["ground_truth"] = None
        elif entry["id"] in answers:
            entry["ground_truth"] = answers[entry["id"]]
        else:
            raise ValueError(f"BFCL {category}: {entry['id']} has no ground truth")
        if category in MULTI_TURN_CATEGORIES:
            entry["function"] = multi_turn_function_docs(entry["involved_classes"])
    return entries


# -- function docs -> OpenAI tools -------------------------------------------------------------
def to_json_schema(doc: Any, where: str = "parameters") -> dict:
    """A BFCL parameter doc (any depth) as JSON Schema: BFCL types mapped, the rest kept.

    `type` goes through `BFCL_TO_JSON_SCHEMA` (a missing type is `string`, as in bfcl); a
    `float` also gets `"format": "float"` and `FLOAT_HINT` in its description, as bfcl's
    OpenAI-style conversion does; `properties`, `items` and `additionalProperties` are converted
    recursively (bfcl's own conversion stops at two levels).

    Args:
        doc: The parameter doc.
        where: Its path, for error messages.

    Raises:
        ValueError: a doc that is not an object, or a type BFCL does not define.

    Example:
        >>> to_json_schema({"type": "tuple", "items": {"type": "float", "description": "x"}})
        ... # doctest: +NORMALIZE_WHITESPACE
        {'type': 'array', 'items': {'type': 'number',
         'description': 'x This is a float type value.', 'format': 'float'}}
    """
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: expected an object, got {type(doc).__name__}")
    out = dict(doc)
    kind = doc.get("type", "string")
    if kind not in BFCL_TO_JSON_SCHEMA:
        raise ValueError(
            f"{where}: unknown BFCL type {kind!r}; known: {', '.join(BFCL_TO_JSON_SCHEMA)}"
        )
    out["type"] = BFCL_TO_JSON_SCHEMA[kind]
    if kind == "float":
        description = doc.get("description")
        out["description"] = (description if isinstance(description, str) else "") + FLOAT_HINT
        out["format"] = "float"
    if isinstance(doc.get("properties"), dict):
        out["properties"] = {
            name: to_json_schema(sub, f"{where}.{name}") for name, sub in doc["properties"].items()
        }
    if "items" in doc:
        out["items"] = to_json_schema(doc["items"], f"{where}[]")
    if isinstance(doc.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(
            doc["additionalProperties"], f"{where}.additionalProperties"
        )
    return out


def tool_name(name: str, names: str = "keep") -> str:
    """The offered name of a BFCL function: as is, or with dots as underscores (`underscore`)."""
    return name.replace(".", "_") if names == "underscore" else name


def function_to_tool(doc: dict, *, names: str = "keep") -> dict:
    """A BFCL function doc as an OpenAI tool `{"type": "function", "function": {...}}`.

    The description gets `PYTHON_HINT`; `parameters` becomes a JSON Schema object
    (`to_json_schema`); keys other than name, description and parameters (multi-turn docs carry
    a `response` schema) are left out.

    Args:
        doc: The BFCL doc (`name`, `description`, `parameters`).
        names: `keep` (dots stay) or `underscore` (dots become underscores).

    Raises:
        ValueError: a doc without a name or with a parameter type BFCL does not define.

    Example:
        >>> function_to_tool({"name": "uber.ride", "description": "Book.", "parameters":
        ...     {"type": "dict", "properties": {"loc": {"type": "string"}}, "required": []}},
        ...     names="underscore")["function"]["name"]
        'uber_ride'
    """
    name = doc.get("name") if isinstance(doc, dict) else None
    if not isinstance(name, str) or not name:
        raise ValueError(f"a BFCL function doc without a name: {str(doc)[:120]}")
    if names not in NAME_STYLES:
        raise ValueError(f"names={names!r}: use one of {', '.join(NAME_STYLES)}")
    parameters = to_json_schema(
        doc.get("parameters") or {"type": "dict", "properties": {}}, f"{name}.parameters"
    )
    parameters["type"] = "object"
    parameters.setdefault("properties", {})
    description = doc.get("description")
    return {
        "type": "function",
        "function": {
            "name": tool_name(name, names),
            "description": (description if isinstance(description, str) else "") + PYTHON_HINT,
            "parameters": parameters,
        },
    }


# -- split ---------------------------------------------------------------------------------------
def split_of(bfcl_id: str, held_out_fraction: float = DEFAULT_HELD_OUT_FRACTION) -> str:
    """`held_out` or `train`: stable, from the sha256 of the id alone.

    Example:
        >>> split_of("simple_python_0", 0.0), split_of("simple_python_0", 1.0)
        ('train', 'held_out')
    """
    digest = hashlib.sha256(bfcl_id.encode("utf-8")).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "held_out" if position < held_out_fraction else "train"


# -- specs and problems --------------------------------------------------------------------------
def parse_bfcl_spec(spec: str) -> tuple[list[str], dict[str, Any]]:
    """Split `bfcl:CATEGORY[,CATEGORY...][?split=..&n=..&offset=..&held_out_fraction=..&names=..]`.

    Returns:
        (categories in order, {"split", "n" (None: all), "offset", "held_out_fraction", "names"}).

    Raises:
        ValueError: an unknown category or option, or a bad option value.

    Example:
        >>> parse_bfcl_spec("bfcl:simple_python,multiple?split=train&n=10")
        ... # doctest: +NORMALIZE_WHITESPACE
        (['simple_python', 'multiple'],
         {'split': 'train', 'n': 10, 'offset': 0, 'held_out_fraction': 0.2, 'names': 'keep'})
    """
    body = spec[len(BFCL_PREFIX) :] if spec.startswith(BFCL_PREFIX) else spec
    names_part, _, query = body.partition("?")
    categories: list[str] = []
    for part in (p.strip() for p in names_part.split(",")):
        for category in CATEGORY_GROUPS.get(part, (part,)):
            try:
                check_category(category)
            except ValueError as exc:
                raise ValueError(f"{spec!r}: {exc}") from None
            if category not in categories:
                categories.append(category)
    options: dict[str, Any] = {
        "split": "all",
        "n": None,
        "offset": 0,
        "held_out_fraction": DEFAULT_HELD_OUT_FRACTION,
        "names": "keep",
    }
    try:
        pairs = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise ValueError(f"{spec!r}: bad options ({exc}); use ?split=train&n=100") from None
    for key, values in pairs.items():
        value = values[-1]
        if key not in _SPEC_KEYS:
            raise ValueError(f"{spec!r}: unknown option {key!r}; use {', '.join(_SPEC_KEYS)}")
        if key in ("n", "offset"):
            if not value.isdigit():
                raise ValueError(f"{spec!r}: {key}={value!r} must be a non-negative integer")
            options[key] = int(value)
        elif key == "held_out_fraction":
            try:
                fraction = float(value)
            except ValueError:
                fraction = -1.0
            if not 0.0 <= fraction <= 1.0:
                raise ValueError(f"{spec!r}: held_out_fraction={value!r} must be in [0, 1]")
            options[key] = fraction
        elif key == "split":
            if value not in SPLITS:
                raise ValueError(f"{spec!r}: split={value!r}; use one of {', '.join(SPLITS)}")
            options[key] = value
        else:
            if value not in NAME_STYLES:
                raise ValueError(f"{spec!r}: names={value!r}; use one of {', '.join(NAME_STYLES)}")
            options[key] = value
    return categories, options


def _question_text(turn: Any, where: str) -> str:
    """The content of the last user message of a turn."""
    if isinstance(turn, list):
        for message in reversed(turn):
            if isinstance(message, dict) and message.get("role") == "user":
                content = message.get("content")
                if isinstance(content, str) and content.strip():
                    return content
    raise ValueError(f"{where}: the first turn has no user message with text")


def entry_problem(
    entry: dict,
    category: str,
    *,
    held_out_fraction: float = DEFAULT_HELD_OUT_FRACTION,
    names: str = "keep",
) -> Problem:
    """One BFCL entry (from `load_category`) as a `Problem`.

    The metadata (the contract every consumer codes against): `category`, `bfcl_id`, `split`,
    `turns` (every user turn as its list of messages, a live row's system message included),
    `ground_truth` (None for irrelevance), `functions` (the BFCL docs as shipped), and for
    multi-turn rows `initial_config` and `involved_classes`; with `names=underscore` also
    `underscore_to_dot: True`.
    """
    bfcl_id = str(entry["id"])
    where = f"BFCL {category}: {bfcl_id}"
    turns = entry.get("question")
    if not isinstance(turns, list) or not turns:
        raise ValueError(f"{where}: no question turns")
    functions = entry.get("function") or []
    ground_truth = entry.get("ground_truth")
    metadata: dict[str, Any] = {
        "category": category,
        "bfcl_id": bfcl_id,
        "split": split_of(bfcl_id, held_out_fraction),
        "turns": turns,
        "ground_truth": ground_truth,
        "functions": functions,
    }
    if category in MULTI_TURN_CATEGORIES:
        metadata["initial_config"] = entry.get("initial_config") or {}
        metadata["involved_classes"] = list(entry.get("involved_classes") or [])
    if names == "underscore":
        metadata["underscore_to_dot"] = True
    return Problem(
        id=bfcl_id,
        question=_question_text(turns[0], where),
        answer=None if ground_truth is None else json.dumps(ground_truth, sort_keys=True),
        domain=BFCL_DOMAIN,
        source=f"{BFCL_PREFIX}{category}",
        tools=tuple(function_to_tool(doc, names=names) for doc in functions),
        metadata=metadata,
    )


def load_bfcl_problems(spec: str, *, limit: int | None = None) -> list[Problem]:
    """Problems of a `bfcl:` spec.

    Categories are interleaved round-robin (as built-in families are), then `split` filters,
    then `offset` and `n` (or `limit`) take a window, so `offset` windows of one spec never
    overlap.

    Args:
        spec: `bfcl:CATEGORY[,CATEGORY...]` (or `bfcl:all`) with options `split=train|held_out|
            all` (default all), `n` (default: every row), `offset` (default 0),
            `held_out_fraction` (default 0.2) and `names=keep|underscore` (default keep).
        limit: Keep at most this many problems when the spec sets no `n`.

    Raises:
        ValueError: a bad spec (unknown category or option).
        ImportError: bfcl_eval is not installed (the message gives the install command).

    Example:
        >>> problems = load_bfcl_problems("bfcl:simple_python?split=held_out&n=2")
        >>> [(p.domain, p.source, p.metadata["split"]) for p in problems][0]
        ('bfcl', 'bfcl:simple_python', 'held_out')
    """
    categories, options = parse_bfcl_spec(spec)
    fraction = options["held_out_fraction"]
    per_category = [load_category(c) for c in categories]
    interleaved: list[tuple[dict, str]] = []
    for i in range(max(len(rows) for rows in per_category)):
        for category, rows in zip(categories, per_category, strict=True):
            if i < len(rows):
                interleaved.append((rows[i], category))
    if options["split"] != "all":
        interleaved = [
            (e, c) for e, c in interleaved if split_of(str(e["id"]), fraction) == options["split"]
        ]
    n = options["n"] if options["n"] is not None else limit
    start = options["offset"]
    window = interleaved[start : None if n is None else start + n]
    return [
        entry_problem(e, c, held_out_fraction=fraction, names=options["names"]) for e, c in window
    ]


__all__ = [
    "AST_CATEGORIES",
    "BFCL_PREFIX",
    "BFCL_TO_JSON_SCHEMA",
    "CATEGORIES",
    "DEFAULT_HELD_OUT_FRACTION",
    "IRRELEVANCE_CATEGORIES",
    "MULTI_TURN_CATEGORIES",
    "NAME_STYLES",
    "SPLITS",
    "bfcl_data_dir",
    "check_category",
    "entry_problem",
    "function_to_tool",
    "load_bfcl_problems",
    "load_category",
    "multi_turn_function_docs",
    "parse_bfcl_spec",
    "split_of",
    "to_json_schema",
    "tool_name",
]
