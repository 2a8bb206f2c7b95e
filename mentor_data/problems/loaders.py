"""Load problems from a spec: built-in families, files, `save_to_disk` folders or store versions.

Every record goes through `_record_to_problem`, so a file of any format is checked the same way:
the question must be a non-empty string, the id (when the file has one) a non-empty string or
integer, unique; the answer a string, a number or null; `tools` (optional) a list of schema
objects; `metadata` (optional) an object. The first bad record stops the load with a
`ValueError` naming the file, the line / item / row and the field.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from mentor_data.domains import default_domain, domain_for_spec
from mentor_data.problems import Problem
from mentor_data.problems.builtin import FAMILIES, SPLITS
from mentor_data.tools import render_number

if TYPE_CHECKING:
    from mentor_data.store import Store

logger = logging.getLogger(__name__)

BUILTIN_PREFIX = "builtin:"
DEFAULT_BUILTIN_N = 1000
MAX_PROBLEMS = 10_000_000
"""The most problems (`n`) one spec may ask for: more is split into runs with `offset`."""
MAX_INDEX = 2**63 - 1
"""The largest `offset` and `seed` of a spec (int64, as the store's integer columns)."""
_FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
_BUILTIN_KEYS = ("n", "offset", "seed")
_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(@(latest|[vV]?\d+))?$")


def parse_builtin_spec(spec: str, *, seed: int = 0) -> tuple[list[str], dict[str, int | None]]:
    """Split `builtin:FAMILY[,FAMILY...][?n=N&offset=K&seed=S]` into family names and options.

    Args:
        spec: The spec; a family list may use the split names `in_domain`, `held_out`, `all`.
        seed: Problem seed when the spec sets none.

    Returns:
        (family names in order, {"n": N or None, "offset": K, "seed": S}).

    Raises:
        ValueError: an unknown family or option, or a value that is not a non-negative integer.

    Example:
        >>> parse_builtin_spec("builtin:held_out?n=10")[1]
        {'n': 10, 'offset': 0, 'seed': 0}
    """
    body = spec[len(BUILTIN_PREFIX) :] if spec.startswith(BUILTIN_PREFIX) else spec
    names_part, _, query = body.partition("?")
    names: list[str] = []
    for part in (p.strip() for p in names_part.split(",")):
        if part in SPLITS:
            names.extend(n for n in SPLITS[part] if n not in names)
        elif part in FAMILIES:
            if part not in names:
                names.append(part)
        else:
            known = ", ".join([*SPLITS, *FAMILIES])
            raise ValueError(f"{spec!r}: unknown built-in family {part!r}; known: {known}")
    options: dict[str, int | None] = {"n": None, "offset": 0, "seed": seed}
    for key, values in parse_qs(query, keep_blank_values=True, strict_parsing=bool(query)).items():
        if key not in _BUILTIN_KEYS:
            raise ValueError(f"{spec!r}: unknown option {key!r}; use n, offset, seed")
        value = values[-1]
        options[key] = spec_size(spec, key, value)
    return names, options


def spec_size(spec: str, key: str, value: str) -> int:
    """The value of a spec's `n`, `offset` or `seed` option, checked.

    Raises:
        ValueError: not a non-negative integer, or above `MAX_PROBLEMS` (n) or `MAX_INDEX`
            (offset, seed); the message says the limit and how to split the work.
    """
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{spec!r}: option {key}={value!r} must be a non-negative integer")
    limit = MAX_PROBLEMS if key == "n" else MAX_INDEX
    if len(value.lstrip("0")) > len(str(limit)) or int(value) > limit:
        if key != "n":
            raise ValueError(f"{spec!r}: {key}={value} is too large; the limit is 2**63 - 1")
        raise ValueError(
            f"{spec!r}: n={value} is too large: at most {limit:,} problems per spec; split "
            f"the work into runs of n={limit:,} with offset=0, then offset={limit:,}, ..."
        )
    return int(value)


def builtin_problems(names: list[str], n: int, offset: int = 0, seed: int = 0) -> list[Problem]:
    """`n` built-in problems from global index `offset`, families interleaved round-robin.

    Global index j is problem `j // len(names)` of family `names[j % len(names)]`.

    Raises:
        ValueError: `n` is negative or above `MAX_PROBLEMS`, or `offset` outside int64.
    """
    if not 0 <= n <= MAX_PROBLEMS:
        raise ValueError(
            f"n={n}: must be between 0 and {MAX_PROBLEMS:,}; split the work into runs of "
            f"n={MAX_PROBLEMS:,} with offset=0, then offset={MAX_PROBLEMS:,}, ..."
        )
    if not 0 <= offset <= MAX_INDEX - n:
        raise ValueError(f"offset={offset}: must be between 0 and 2**63 - 1 - n")
    families = [FAMILIES[name] for name in names]
    k = len(families)
    return [families[j % k].generate(j // k, seed) for j in range(offset, offset + n)]


def load_problems(
    spec: str,
    *,
    id_field: str = "id",
    question_field: str = "question",
    answer_field: str = "answer",
    limit: int | None = None,
    seed: int = 0,
    store: Store | None = None,
) -> list[Problem]:
    """Load problems from a spec (see the `mentor_data.problems` docstring for the forms).

    Args:
        spec: `builtin:...`, `bfcl:CATEGORY[,...]?split=train|held_out|all&n=N&offset=K`
            (function calling; see `mentor_data.bfcl.data.load_bfcl_problems`), a file (.jsonl,
            .json, .parquet, .csv), a `save_to_disk` folder or a store reference `NAME@vN`.
        id_field: Field holding the problem id (store versions use `problem_id` when the
            field is absent). A file without any id field gets ids `STEM-ROW`.
        question_field: Field holding the question.
        answer_field: Field holding the ground-truth answer (optional in each record).
        limit: Keep only the first `limit` problems (for built-ins: the default `n`).
        seed: Problem seed of built-in families when the spec sets none.
        store: Store to resolve references in (default: `Store()`).

    Returns:
        The problems, in file order.

    Raises:
        ValueError: a bad spec, file or record; the message names the line/row and field.
        ImportError: a `bfcl:` spec without bfcl-eval installed (the message says how).
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit={limit}: must be >= 0")
    spec = str(spec).strip()
    domain = domain_for_spec(spec)
    if domain is not None:  # a domain's own problems (builtin:, bfcl:, a plug-in's prefix)
        problems = domain.load_problems(spec, limit=limit, seed=seed)
        return problems if limit is None else problems[:limit]
    path = Path(spec)
    fields = {"id": id_field, "question": question_field, "answer": answer_field}
    if path.is_dir():
        records = _dataset_records(path)
        source = path.name
    elif path.is_file():
        suffix = path.suffix.lower()
        if suffix not in _FILE_SUFFIXES:
            raise ValueError(
                f"{path}: unsupported file type {suffix!r}; use "
                f"{', '.join(_FILE_SUFFIXES)} or a save_to_disk folder"
            )
        reader = {
            ".jsonl": _jsonl_records,
            ".json": _json_records,
            ".parquet": _parquet_records,
            ".csv": _csv_records,
        }[suffix]
        records = reader(path)
        source = path.name
    elif _REF_RE.match(spec) and not _looks_like_path(spec):
        return _store_problems(spec, fields, limit, store)
    else:
        raise ValueError(
            f"--problems {spec!r}: no such file or folder, and not a built-in spec "
            f"(builtin:FAMILY, builtin:in_domain, builtin:held_out, bfcl:CATEGORY) or a store "
            f"reference"
        )
    return _to_problems(records, fields, source, str(path), limit)


def _looks_like_path(spec: str) -> bool:
    return "/" in spec or spec.lower().endswith(_FILE_SUFFIXES)


def _to_problems(
    records: Iterable[tuple[str, dict]],
    fields: dict[str, str],
    source: str,
    where: str,
    limit: int | None,
) -> list[Problem]:
    problems: list[Problem] = []
    first_seen: dict[str, str] = {}
    has_ids: bool | None = None
    for i, (loc, record) in enumerate(records):
        if limit is not None and len(problems) >= limit:
            break
        if not isinstance(record, dict):
            raise ValueError(f"{where}: {loc}: expected an object, got {type(record).__name__}")
        if has_ids is None:
            has_ids = fields["id"] in record
            if not has_ids:
                logger.warning(
                    "%s has no %r field: ids are %s-ROW", where, fields["id"], Path(source).stem
                )
        problem = _record_to_problem(
            record,
            fields,
            f"{where}: {loc}",
            None if has_ids else f"{Path(source).stem}-{i}",
            source,
        )
        if problem.id in first_seen:
            raise ValueError(
                f"{where}: {loc}: field {fields['id']!r}: duplicate id "
                f"{problem.id!r} (first at {first_seen[problem.id]})"
            )
        first_seen[problem.id] = loc
        problems.append(problem)
    return problems


def _record_to_problem(
    record: dict, fields: dict[str, str], where: str, default_id: str | None, source: str
) -> Problem:
    id_field, q_field, a_field = fields["id"], fields["question"], fields["answer"]
    if default_id is None:
        if id_field not in record:
            raise ValueError(f"{where}: missing field {id_field!r}")
        pid = record[id_field]
        if isinstance(pid, bool) or not isinstance(pid, (str, int)) or str(pid).strip() == "":
            raise ValueError(
                f"{where}: field {id_field!r} must be a non-empty string or integer, got {pid!r}"
            )
        pid = str(pid)
    else:
        pid = default_id
    if q_field not in record:
        raise ValueError(
            f"{where}: missing field {q_field!r} (set the question field with --question-field)"
        )
    question = record[q_field]
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{where}: field {q_field!r} must be a non-empty string, got {question!r}")
    answer = _answer_text(record.get(a_field), f"{where}: field {a_field!r}")
    tools = record.get("tools")
    if isinstance(tools, str) and tools.strip():  # CSV and JSON-text columns
        try:
            tools = json.loads(tools)
        except ValueError as exc:
            raise ValueError(f"{where}: field 'tools' is not valid JSON ({exc})") from exc
    if tools in (None, ""):
        tools = ()
    if not isinstance(tools, (list, tuple)) or not all(isinstance(t, dict) for t in tools):
        raise ValueError(f"{where}: field 'tools' must be a list of tool schemas (objects)")
    metadata = record.get("metadata")
    if isinstance(metadata, str) and metadata.strip():
        try:
            metadata = json.loads(metadata)
        except ValueError as exc:
            raise ValueError(f"{where}: field 'metadata' is not valid JSON ({exc})") from exc
    if metadata in (None, ""):
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValueError(f"{where}: field 'metadata' must be an object")
    domain = record.get("domain") or default_domain().name
    if not isinstance(domain, str):
        raise ValueError(f"{where}: field 'domain' must be a string")
    own_source = record.get("source")
    return Problem(
        id=pid,
        question=question,
        answer=answer,
        domain=domain,
        source=own_source if isinstance(own_source, str) and own_source else source,
        tools=tuple(tools),
        metadata=metadata,
    )


def _answer_text(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{where} must be a string or a number, got a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):  # pandas/polars write a missing CSV cell as NaN
            return None
        if not math.isfinite(value):
            raise ValueError(f"{where} must be a finite number, got {value}")
        return render_number(value)
    if isinstance(value, str):
        return value.strip() or None
    raise ValueError(f"{where} must be a string or a number, got {type(value).__name__}")


# -- readers: each yields (location, record) ---------------------------------------------------
def _jsonl_records(path: Path) -> Iterator[tuple[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield f"line {line_no}", json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise ValueError(f"{path}: line {line_no}: not valid JSON ({exc})") from exc


def _json_records(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if isinstance(data, dict):  # {"problems": [...]} or {"data": [...]}
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise ValueError(
                f"{path}: expected a JSON array of problems (or an object with exactly one array)"
            )
        data = lists[0]
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of problems")
    for i, item in enumerate(data):
        yield f"item {i}", item


def _csv_records(path: Path) -> Iterator[tuple[str, Any]]:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise ValueError(f"{path}: empty CSV file (expected a header row)")
        start = reader.line_num + 1
        for row in reader:
            # An empty CSV cell means "no value", not an empty string.
            yield (
                f"line {start}",
                {k: (v if v != "" else None) for k, v in row.items() if k is not None},
            )
            start = reader.line_num + 1


def _parquet_records(path: Path) -> Iterator[tuple[str, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise ValueError(f"{path}: not a readable Parquet file ({exc})") from exc
    yield from _table_records(table)


def _dataset_records(path: Path) -> Iterator[tuple[str, Any]]:
    from datasets import DatasetDict, load_from_disk

    try:
        ds = load_from_disk(str(path))
    except Exception as exc:  # datasets raises FileNotFoundError or its own errors
        raise ValueError(f"{path}: not a datasets.save_to_disk folder ({exc})") from exc
    if isinstance(ds, DatasetDict):
        if len(ds) != 1:
            raise ValueError(
                f"{path}: a DatasetDict with splits {list(ds)}; point --problems "
                "at one split folder"
            )
        ds = next(iter(ds.values()))
    for i, row in enumerate(ds):
        yield f"row {i}", row


def _table_records(table) -> Iterator[tuple[str, Any]]:
    from datasets import Dataset

    # Through datasets so JSON extension columns (store shards) decode to python objects.
    for i, row in enumerate(Dataset(table)):
        yield f"row {i}", row


def _store_problems(
    spec: str, fields: dict[str, str], limit: int | None, store: Store | None
) -> list[Problem]:
    from mentor_data.store import Store, StoreError

    store = store or Store()
    try:
        info = store.resolve(spec)
    except StoreError as exc:
        raise ValueError(f"--problems {spec!r}: {exc}") from exc
    if fields["id"] == "id":  # trajectory rows key problems by problem_id
        fields = {**fields, "id": "problem_id"}
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, row in enumerate(store.iter_rows(info)):
        pid = str(row.get(fields["id"]))
        if pid in seen:  # one row per sample: keep the problem once
            continue
        seen.add(pid)
        problems.append(
            _record_to_problem(
                {**row, "source": info.ref}, fields, f"{info.ref}: row {i}", None, info.ref
            )
        )
        if limit is not None and len(problems) >= limit:
            break
    return problems
