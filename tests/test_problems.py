"""Problems in: built-in families (deterministic, correct programs, splits) and file loaders."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset
from hypothesis import given, settings
from hypothesis import strategies as st

from mentor_data.problems import (
    ARITHMETIC_SCHEMAS,
    FAMILIES,
    SPLITS,
    Problem,
    load_problems,
    parse_builtin_spec,
    resolve_arguments,
    run_program,
)
from mentor_data.store import Store
from mentor_data.tools import ARITHMETIC
from tests.conftest import sample_row

HELD_OUT_ONLY = {"power", "sqrt", "round_number", "abs_value", "ceil", "modulo"}


# -- built-in families -------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_is_deterministic_and_large(name):
    family = FAMILIES[name]
    assert family.generate(17, seed=3) == family.generate(17, seed=3)
    assert family.generate(17, seed=3).question != family.generate(17, seed=4).question or (
        family.generate(17, seed=3).answer != family.generate(17, seed=4).answer
    )
    questions = {family.generate(i).question for i in range(3000)}
    assert len(questions) >= 2000, f"{name}: only {len(questions)} distinct of 3000"


@pytest.mark.parametrize("name", list(FAMILIES))
def test_reference_programs_reach_the_answer_with_the_real_executor(name):
    family = FAMILIES[name]
    steps_seen = set()
    for i in range(600):
        p = family.generate(i, seed=i % 3)
        program = p.program
        assert 1 <= len(program) <= 5 and p.metadata["n_steps"] == len(program)
        assert {s["tool"] for s in program} <= set(family.tools) <= set(ARITHMETIC.names())
        results = run_program(program)
        assert all(r.ok for r in results), (p.question, [r.error for r in results])
        assert len(results) == len(program)
        # The answer was computed exactly (Fraction/Decimal), independently of the tools.
        assert results[-1].output == p.answer, (p.question, p.answer, results[-1].output)
        assert json.loads(json.dumps(p.metadata)) == p.metadata  # storable as a JSON column
        steps_seen.add(len(program))
    assert len(steps_seen) >= 1


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(FAMILIES)), index=st.integers(0, 10**7), seed=st.integers(0, 10**4)
)
def test_any_problem_is_solved_by_its_program(name, index, seed):
    p = FAMILIES[name].generate(index, seed)
    results = run_program(p.program)
    assert results[-1].ok and results[-1].output == p.answer


def test_splits_mark_in_domain_and_held_out():
    assert set(SPLITS["in_domain"]) | set(SPLITS["held_out"]) == set(FAMILIES)
    assert not set(SPLITS["in_domain"]) & set(SPLITS["held_out"])
    assert len(SPLITS["in_domain"]) >= 3 and len(SPLITS["held_out"]) >= 3
    for name, family in FAMILIES.items():
        p = family.generate(0)
        assert p.metadata["split"] == ("in_domain" if family.in_domain else "held_out")
        assert p.source == f"builtin:{name}" and p.metadata["family"] == name
        assert p.tools == ARITHMETIC_SCHEMAS
    # Held-out families test operations the in-domain ones never use.
    in_domain_tools = {t for n in SPLITS["in_domain"] for t in FAMILIES[n].tools}
    assert not in_domain_tools & HELD_OUT_ONLY
    held_out_tools = {t for n in SPLITS["held_out"] for t in FAMILIES[n].tools}
    assert HELD_OUT_ONLY <= held_out_tools
    # ... and longer chains.
    assert max(len(FAMILIES["chain"].generate(i).program) for i in range(50)) == 5


def test_builtin_specs():
    assert parse_builtin_spec("builtin:in_domain")[0] == list(SPLITS["in_domain"])
    names, opts = parse_builtin_spec("builtin:clock,shopping,clock?n=5&offset=7&seed=2")
    assert names == ["clock", "shopping"] and opts == {"n": 5, "offset": 7, "seed": 2}
    train = load_problems("builtin:in_domain?n=100")
    test = load_problems("builtin:in_domain?n=50&offset=100")
    assert len(train) == 100 and len(test) == 50
    assert not {p.id for p in train} & {p.id for p in test}
    assert load_problems("builtin:in_domain?n=150")[100:] == test
    assert {p.metadata["family"] for p in train} == set(SPLITS["in_domain"])
    assert len(load_problems("builtin:held_out", limit=7)) == 7
    assert len(load_problems("builtin:shopping")) == 1000  # the default n
    seeded = load_problems("builtin:shopping?n=3&seed=9")
    assert seeded == load_problems("builtin:shopping?n=3", seed=9)
    assert seeded[0].id == "shopping-s9-0"
    for bad, word in [
        ("builtin:nope", "unknown built-in family"),
        ("builtin:clock?x=1", "x"),
        ("builtin:clock?n=-1", "non-negative"),
    ]:
        with pytest.raises(ValueError, match=word):
            load_problems(bad)


def test_builtin_sizes_are_bounded_and_only_what_is_kept_is_made(monkeypatch):
    from mentor_data.problems.loaders import MAX_PROBLEMS, builtin_problems

    assert parse_builtin_spec(f"builtin:clock?n={MAX_PROBLEMS}")[1]["n"] == MAX_PROBLEMS
    for bad, word in [
        ("builtin:clock?n=99999999999999999999", "at most 10,000,000 problems"),
        (f"builtin:clock?n={MAX_PROBLEMS + 1}", "split the work into runs"),
        ("builtin:clock?n=" + "9" * 5000, "at most 10,000,000 problems"),
        ("builtin:clock?offset=" + "9" * 30, "offset=9"),
        ("builtin:clock?seed=" + "9" * 30, "seed=9"),
        ("builtin:clock?n=\u00b2", "non-negative integer"),  # a digit, but not 0-9
    ]:
        with pytest.raises(ValueError, match=word):
            parse_builtin_spec(bad)
    with pytest.raises(ValueError, match="split the work"):
        builtin_problems(["clock"], MAX_PROBLEMS + 1)
    made = []
    real = FAMILIES["clock"].generate
    spy = SimpleNamespace(generate=lambda i, seed=0: made.append(i) or real(i, seed))
    monkeypatch.setitem(FAMILIES, "clock", spy)  # FAMILIES entries are frozen dataclasses
    assert len(load_problems(f"builtin:clock?n={MAX_PROBLEMS}", limit=3)) == 3
    assert made == [0, 1, 2]


def test_resolve_arguments_and_failed_program_stops():
    assert resolve_arguments({"numbers": ["$0", 2]}, ["1e+20"]) == {"numbers": [1e20, 2]}
    with pytest.raises(ValueError, match="has not run"):
        resolve_arguments({"a": "$3"}, [])
    results = run_program(
        [
            {"tool": "divide", "arguments": {"a": 1, "b": 0}},
            {"tool": "add", "arguments": {"a": "$0", "b": 1}},
        ]
    )
    assert len(results) == 1 and results[0].code == "math_error"


# -- loaders -----------------------------------------------------------------------------------
RECORDS = [
    {"qid": "a1", "text": "What is 2 + 3?", "gold": 5},
    {"qid": "a2", "text": "What is 1/4 as a decimal?", "gold": "0.25"},
    {"qid": 3, "text": "Name a prime.", "gold": None},
]
MAPPING = {"id_field": "qid", "question_field": "text", "answer_field": "gold"}


def _check(problems, source):
    assert [p.id for p in problems] == ["a1", "a2", "3"]
    assert [p.answer for p in problems] == ["5", "0.25", None]
    assert problems[0].question == "What is 2 + 3?" and problems[0].source == source
    assert problems[0].offered_tools() == list(ARITHMETIC_SCHEMAS)


def test_load_jsonl_json_csv_parquet_and_save_to_disk(tmp_path):
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    _check(load_problems(str(jsonl), **MAPPING), "p.jsonl")

    js = tmp_path / "p.json"
    js.write_text(json.dumps({"problems": RECORDS}))
    _check(load_problems(str(js), **MAPPING), "p.json")

    csv_path = tmp_path / "p.csv"
    csv_path.write_text(
        'qid,text,gold\na1,"What is 2 + 3?",5\na2,What is 1/4 as a decimal?,0.25\n'
        "3,Name a prime.,\n"
    )
    _check(load_problems(str(csv_path), **MAPPING), "p.csv")

    parquet = tmp_path / "p.parquet"
    table = pa.table(
        {
            "qid": ["a1", "a2", "3"],
            "text": [r["text"] for r in RECORDS],
            "gold": ["5", "0.25", None],
        }
    )
    pq.write_table(table, parquet)
    _check(load_problems(str(parquet), **MAPPING), "p.parquet")

    folder = tmp_path / "ds"
    Dataset.from_dict(table.to_pydict()).save_to_disk(str(folder))
    _check(load_problems(str(folder), **MAPPING), "ds")
    assert len(load_problems(str(folder), limit=2, **MAPPING)) == 2


def test_file_rows_keep_tools_metadata_and_get_ids(tmp_path):
    tools = [ARITHMETIC.get("add").schema]
    path = tmp_path / "q.jsonl"
    path.write_text(
        json.dumps({"question": "1+1?", "answer": 2.5, "tools": tools, "metadata": {"level": 3}})
        + "\n"
        + json.dumps({"question": "2+2?"})
        + "\n"
    )
    problems = load_problems(str(path))
    assert [p.id for p in problems] == ["q-0", "q-1"]  # no id field at all: file stem + row
    assert problems[0].tools == tuple(tools) and problems[0].metadata == {"level": 3}
    assert problems[0].answer == "2.5" and problems[1].answer is None
    assert problems[1].program is None


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        (
            '{"id": "a", "question": "ok?"}\n{"id": "b", "question": ""}\n',
            "jsonl",
            r"line 2: field 'question' must be a non-empty string",
        ),
        (
            '{"id": "a", "question": "ok?"}\n{"id": "b"}\n',
            "jsonl",
            r"line 2: missing field 'question'",
        ),
        ('{"id": "a", "question": "ok?"}\n{oops\n', "jsonl", r"line 2: not valid JSON"),
        (
            '{"id": "a", "question": "ok?"}\n{"question": "x?"}\n',
            "jsonl",
            r"line 2: missing field 'id'",
        ),
        (
            '{"id": "a", "question": "q?"}\n{"id": "a", "question": "r?"}\n',
            "jsonl",
            r"line 2: field 'id': duplicate id 'a' \(first at line 1\)",
        ),
        ('{"id": "a", "question": "q?", "answer": true}\n', "jsonl", r"line 1: field 'answer'"),
        ('{"id": "a", "question": "q?", "tools": "nope"}\n', "jsonl", r"line 1: field 'tools'"),
        (
            '[{"id": 1, "question": "q?"}, {"id": 2, "question": 7}]',
            "json",
            r"item 1: field 'question'",
        ),
        ('{"a": 1}', "json", "expected a JSON array"),
        ("id,question\n1,fine?\n2,\n", "csv", r"line 3: missing field|line 3: field 'question'"),
        ("", "csv", "empty CSV"),
        ("not parquet", "parquet", "not a readable Parquet file"),
        ("x", "txt", "unsupported file type"),
    ],
)
def test_bad_files_fail_fast_naming_line_and_field(tmp_path, content, suffix, message):
    path = tmp_path / f"bad.{suffix}"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_problems(str(path))


def test_missing_paths_and_unknown_refs_are_clear(tmp_path):
    with pytest.raises(ValueError, match="no such file or folder"):
        load_problems(str(tmp_path / "missing.jsonl"))
    with pytest.raises(ValueError, match="no dataset 'nothere'"):
        load_problems("nothere@v1", store=Store(tmp_path))


def test_load_from_a_store_reference(tmp_path):
    store = Store(tmp_path)
    rows = [sample_row(0, 0), sample_row(0, 1), sample_row(1, 0)]
    rows[0]["metadata"] = {
        "family": "test",
        "program": [{"tool": "add", "arguments": {"a": 1, "b": 2}, "note": "the sum"}],
    }
    store.write_version("traj", rows)
    problems = load_problems("traj@v1", store=store)
    assert [p.id for p in problems] == ["p0", "p1"]  # one problem per problem_id
    assert problems[0].source == "traj@v1" and problems[0].answer == "3"
    assert problems[0].program[0]["tool"] == "add"
    assert problems[0].tools == tuple(rows[0]["tools"])
    assert load_problems("traj", store=store, limit=1) == problems[:1]


def test_problem_defaults():
    p = Problem(id="x", question="q?", answer=None)
    assert p.domain == "arithmetic" and p.metadata == {} and p.program is None
