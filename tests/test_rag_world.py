"""The generated rag world: deterministic, unique titles, grounded questions, clean splits."""

from __future__ import annotations

import copy
import json
import re
import time
from collections import Counter

import pytest

from mentor_data.rag.questions import (
    HELD_OUT_TYPES,
    QUESTION_COUNTS,
    TYPE_TOOLS,
    check_world,
    world_questions,
    write_builtin,
)
from mentor_data.rag.world import COUNTS, SNIPPET_CHARS, build_world, world_documents

TRAIN_TYPES = set(QUESTION_COUNTS) - set(HELD_OUT_TYPES)


@pytest.fixture(scope="module")
def world():
    return build_world(0)


@pytest.fixture(scope="module")
def docs(world):
    return world_documents(world)


@pytest.fixture(scope="module")
def questions(world):
    return world_questions(world)


def test_write_builtin_is_deterministic_per_seed(tmp_path):
    start = time.perf_counter()
    a = write_builtin(tmp_path / "a", seed=0)
    elapsed = time.perf_counter() - start
    b = write_builtin(tmp_path / "b", seed=0)
    c = write_builtin(tmp_path / "c", seed=1)
    assert [p.name for p in a] == ["corpus.jsonl", "questions.jsonl"]
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert a[0].read_bytes() != c[0].read_bytes() and a[1].read_bytes() != c[1].read_bytes()
    # Generous: ~0.5 s here; the bound only catches an accidental quadratic blow-up.
    assert elapsed < 10, elapsed
    row = json.loads(a[1].read_text().splitlines()[0])
    assert set(row) == {"id", "question", "answer", "golden_answers", "metadata"}
    assert row["golden_answers"][0] == row["answer"] == row["metadata"]["program_answer"]
    assert row["metadata"]["family"] == row["metadata"]["type"]
    # The rows still pass the self-check (it reads the JSONL shape as well).
    rows = [json.loads(line) for line in a[1].read_text().splitlines()]
    assert check_world(build_world(0), rows) == []


def test_seeds_give_different_worlds(world):
    other = build_world(1)
    assert {p.name for p in world.people} != {p.name for p in other.people}
    assert build_world(0).people == world.people


def test_counts_ids_and_titles_are_unique(world, docs):
    assert [len(g) for g in world.groups()] == [
        COUNTS[k] for k in ("people", "organisations", "cities", "countries")
    ]
    titles = [d["title"] for d in docs]
    assert len(set(titles)) == len(titles) == len(world.index)
    assert [d["id"] for d in docs] == [f"e{i}" for i in range(len(docs))]


def test_no_title_is_inside_another(docs):
    # Stricter than BM25 needs (case-insensitive, within words): a city "Vorrek" would be lost
    # in "Talin Vorrek" and an exact-title lookup could not tell them apart in the text checks.
    lowered = [d["title"].lower() for d in docs]
    joined = "\n".join(lowered)
    assert [t for t in lowered if joined.count(t) != 1] == []
    assert all(re.fullmatch(r"[A-Z][a-z]+( [A-Z][a-z]+)*", d["title"]) for d in docs)


def test_pages_name_linked_entities_and_have_three_to_six_sentences(world, docs):
    text = {d["title"]: d["text"] for d in docs}
    for o in world.organisations:
        assert o.founder in text[o.name] and o.headquarters in text[o.name]
    for c in world.cities:
        assert c.mayor in text[c.name] and c.country in text[c.name]
    for p in world.people:
        assert p.birth_city in text[p.name] and p.employer in text[p.name]
    for d in docs:
        assert 3 <= len(re.findall(r"[.?!](?: |$)", d["text"])) <= 6, d


def test_every_question_follows_from_the_pages(world, questions):
    assert check_world(world, questions) == []
    assert len({q["question"] for q in questions}) == len(questions)
    assert len({q["id"] for q in questions}) == len(questions)
    assert Counter(q["type"] for q in questions) == QUESTION_COUNTS
    assert all(2 <= len(q["program"]) <= 4 for q in questions)


def test_check_world_catches_wrong_questions(world, questions):
    bad = copy.deepcopy([q for q in questions if q["type"] == "bridge"][:1])
    bad[0]["answer"] = bad[0]["program_answer"] = "Nowhere"
    wrong_number = copy.deepcopy([q for q in questions if q["type"] == "compute"][:1])
    wrong_number[0]["program"][-1]["arguments"]["a"] += 1  # a year no page shows
    swapped = copy.deepcopy([q for q in questions if q["type"] == "comparison"][:1])
    a, b = swapped[0]["entities"]
    swapped[0]["answer"] = swapped[0]["program_answer"] = b if swapped[0]["answer"] == a else a
    for case in (bad, wrong_number, swapped):
        assert check_world(world, case), case


def test_each_type_uses_exactly_its_tool_set(questions):
    for q in questions:
        assert tuple(sorted({s["tool"] for s in q["program"]})) == TYPE_TOOLS[q["type"]], q
    assert len(set(TYPE_TOOLS.values())) == len(TYPE_TOOLS) - 1  # only bridge/comparison share


def test_splits(world, questions):
    held_out = world.held_out_titles()
    assert 0.15 < len(held_out) / (len(world.people) + len(world.organisations)) < 0.25
    kinds = Counter((q["split"], q["held_out_reason"], q["type"]) for q in questions)
    assert {t for s, _, t in kinds if s == "train"} == TRAIN_TYPES
    assert {t for s, r, t in kinds if r == "entity"} == TRAIN_TYPES
    assert {t for s, r, t in kinds if r == "type"} == set(HELD_OUT_TYPES)
    for q in questions:
        named = set(q["entities"]) | {str(v) for s in q["program"] for v in s["arguments"].values()}
        # People and organisations are split; cities and countries are shared.
        linked = {e for e in q["entities"] if hasattr(world.index[e], "held_out")}
        if q["type"] in HELD_OUT_TYPES:
            assert (q["split"], q["held_out_reason"]) == ("held_out", "type")
        if q["split"] == "train" or q["held_out_reason"] == "type":
            # Train questions (and held-out types, which change only the type) never name one.
            assert not named & held_out, q
            assert not any(t in q["question"] for t in held_out), q
        else:
            assert q["held_out_reason"] == "entity" and linked and linked <= held_out, q


def test_deep_facts_lie_beyond_the_snippet(docs, questions):
    text = {d["title"]: d["text"] for d in docs}
    deep = [q for q in questions if q["type"] == "deep"]
    for q in deep:
        page = text[q["program"][-1]["arguments"]["title"]]
        assert re.search(rf"\b{q['answer']}\b", page), q
        assert not re.search(rf"\b{q['answer']}\b", page[:SNIPPET_CHARS]), q
    # And what a search-only hop reads is in the snippet (of the page the next step names).
    for q in (q for q in questions if q["type"] == "bridge"):
        assert q["program"][1]["arguments"]["query"] in text[q["entities"][0]][:SNIPPET_CHARS]
