"""The RAG domain end to end: built-in world, a user's FlashRAG questions and corpus, a remote
retriever, verify, rewards and eval, and bad input through the real commands."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mentor_data.cli import app
from mentor_data.domains import get_domain
from mentor_data.rag import corpus as rag_corpus
from mentor_data.rag.judge import exact_match, normalize_answer, token_f1
from mentor_data.store import Store
from tests.test_own_tools import tamper
from tests.test_rag_corpus import DOCS, server, write_corpus  # noqa: F401


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A store and a cache folder of the test's own (the built-in world is generated there)."""
    monkeypatch.setenv("MENTOR_CACHE_DIR", str(tmp_path / "cache"))
    return {"MENTOR_DATA_DIR": str(tmp_path / "data"), "MENTOR_CACHE_DIR": str(tmp_path / "cache")}


def run(env, *args):
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def test_the_judge_normalises_and_accepts_aliases():
    assert normalize_answer("The Oskar  Harbour.") == "oskar harbour"
    assert exact_match("oskar harbour", ["Oskar Harbour"])
    assert exact_match("Treluvia", ["Kingdom of Treluvia", "Treluvia"])
    assert not exact_match("Treluvia City", ["Treluvia"])
    assert round(token_f1("Treluvia City", ["Treluvia"]), 3) == 0.667


def test_builtin_world_generates_verifies_and_reuses_its_index(env, tmp_path):
    generated = run(env, "generate", "--problems", "rag:builtin?n=120", "--name", "rag")
    assert generated.exit_code == 0, generated.output
    builds = rag_corpus.INDEX_BUILDS
    checked = run(env, "verify", "rag", "--keep", "all", "--name", "rag-checked")
    assert checked.exit_code == 0, checked.output
    store = Store(tmp_path / "data")
    rows = store.load("rag-checked@v1").to_list()
    assert [r["reason"] for r in rows].count("ok") == 120
    assert {r["metadata"]["type"] for r in rows} == {
        "bridge", "comparison", "compute", "deep", "aggregate", "bridge_compute"
    }  # fmt: skip
    # every type's teacher tool set is its own: the reward's tool-set term has something to teach
    sets = {r["metadata"]["type"]: tuple(r["teacher_tools"]) for r in rows}
    assert sets["bridge"] == ("search",) and sets["compute"] == ("search", "subtract")
    assert sets["deep"] == ("open_page", "search") and sets["aggregate"] == ("add", "search")
    assert rag_corpus.INDEX_BUILDS == builds  # the index was built once, then loaded
    assert (tmp_path / "cache").rglob("*.bm25s")

    # a tampered search observation and a wrong answer are rejected with their codes
    tamper(store, "rag@v1", "rag-tampered")
    rows = store.load("rag@v1").to_list()
    rows[1]["messages"][-1]["content"] = "So the answer is \\boxed{Nowhere Town}."
    store.write_version("rag-wrong", rows)
    for name, reason in (("rag-tampered", "tool_output_mismatch"), ("rag-wrong", "wrong_answer")):
        result = run(env, "verify", name, "--keep", "all", "--name", f"{name}-v")
        assert result.exit_code == 0, result.output
        reasons = [r["reason"] for r in store.load(f"{name}-v@v1").to_list()]
        assert reasons.count(reason) == 1 and reasons.count("ok") == 119


QUESTIONS = [
    {
        "id": "q1",
        "question": "In which country is the town where Marn Velloway was born?",
        "golden_answers": ["Treluvia", "Kingdom of Treluvia"],
        "metadata": {
            "type": "bridge",
            "program": [
                {"tool": "search", "arguments": {"query": "Marn Velloway"}},
                {"tool": "search", "arguments": {"query": "Oskar Harbour"}},
            ],
            "program_answer": "Treluvia",
        },
    },
    {
        "id": "q2",
        "question": "What is the capital of Treluvia?",
        "golden_answers": ["Dunmere"],
        "metadata": {
            "type": "lookup",
            "program": [{"tool": "open_page", "arguments": {"title": "Treluvia"}}],
            "program_answer": "Dunmere",
        },
    },
]


def _questions(tmp_path, records=QUESTIONS):
    path = tmp_path / "questions.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in records))
    return path


def test_a_users_corpus_and_flashrag_questions(env, tmp_path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    spec = f"rag:{_questions(tmp_path)}?corpus={corpus}"
    assert run(env, "generate", "--problems", spec, "--name", "mine").exit_code == 0
    result = run(env, "verify", "mine")
    assert result.exit_code == 0 and "2/2 verified" in result.output, result.output
    rows = Store(tmp_path / "data").load("mine@v2").to_list()
    row = next(r for r in rows if r["problem_id"] == "q1")
    assert "Oskar Harbour" in row["messages"][3]["content"]  # the search's passage
    assert row["metadata"]["aliases"] == ["Treluvia", "Kingdom of Treluvia"]


def test_a_remote_retriever(env, tmp_path, server):  # noqa: F811
    spec = f"rag:{_questions(tmp_path)}?retriever={server}/retrieve"
    generated = run(env, "generate", "--problems", spec, "--name", "remote")
    assert generated.exit_code == 0, generated.output
    result = run(env, "verify", "remote")
    assert result.exit_code == 0 and "2/2 verified" in result.output, result.output


def test_rewards_and_eval_scores_come_from_the_domain():
    from mentor_train.rewards import get_reward

    row = {"answer": "Treluvia", "metadata": {"aliases": ["Treluvia", "Kingdom of Treluvia"]}}
    reward = get_reward("mentor", tools=["search", "open_page", "add", "subtract"])
    call = '<tool_call>\n{"name": "search", "arguments": {"query": "Marn"}}\n</tool_call>'
    completions = [
        [
            {"role": "assistant", "content": call},
            {"role": "tool", "content": "[1] Marn Velloway\n..."},
            {"role": "assistant", "content": f"\\boxed{{{answer}}}"},
        ]
        for answer in ("kingdom of treluvia", "Dunmere")
    ]
    scores = reward(
        completions=completions,
        answer=[row["answer"]] * 2,
        teacher_tools=[["search"]] * 2,
        domain=["rag"] * 2,
        metadata=[json.dumps(row["metadata"])] * 2,
    )
    assert scores == [1.1, pytest.approx(0.16)]
    judged = get_domain("rag").judge({"domain": "rag", **row}, completions[1], strict=False)
    assert judged.reason == "wrong_answer" and judged.extra == {"em": False, "f1": 0.0}


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.write_text(""), "has no documents"),
        (lambda p: write_corpus(p, [DOCS[0], DOCS[0]]), "duplicate"),
    ],
)
def test_bad_corpora_fail_clearly_and_write_nothing(env, tmp_path, make, expected):
    corpus = tmp_path / "corpus.jsonl"
    make(corpus)
    spec = f"rag:{_questions(tmp_path)}?corpus={corpus}"
    result = run(env, "generate", "--problems", spec, "--name", "bad")
    assert result.exit_code == 1 and expected in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "data" / "bad").exists()


def test_questions_without_answers_fail_clearly(env, tmp_path):
    corpus = write_corpus(tmp_path / "corpus.jsonl")
    spec = f"rag:{_questions(tmp_path, [{'question': 'Where?'}])}?corpus={corpus}"
    result = run(env, "generate", "--problems", spec, "--name", "bad")
    assert result.exit_code == 1 and "line 1" in result.output and "golden_answers" in result.output
    assert not (tmp_path / "data" / "bad").exists()


@pytest.mark.parametrize("path", ["/slow", None])
def test_a_retriever_that_hangs_or_refuses_fails_before_any_row(env, tmp_path, server, path):  # noqa: F811
    import socket

    if path is None:  # a port nothing listens on
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}/retrieve"
    else:
        url = f"{server}{path}"
    spec = f"rag:{_questions(tmp_path)}?retriever={url}"
    result = run(env, "generate", "--problems", spec, "--name", "bad")
    assert result.exit_code == 1 and "the retriever does not answer" in result.output
    assert url in result.output and not (tmp_path / "data" / "bad").exists()


def test_eval_reports_em_and_f1_per_question_type(tmp_path):
    import polars as pl

    from mentor_data.domains import get_domain
    from mentor_train.evaluate import EvalResult, _add_domain_reports, metrics, score_row

    def row(i, qtype, said):
        return {
            "problem_id": f"q{i}",
            "domain": "rag",
            "question": "?",
            "answer": "Treluvia",
            "metadata": {"type": qtype, "aliases": ["Treluvia"]},
            "finish_reason": "stop",
            "messages": [
                {"role": "user", "content": "?"},
                {"role": "assistant", "content": f"\\boxed{{{said}}}"},
            ],
        }

    rows = [
        score_row(r, ["search"])
        for r in (
            row(0, "bridge", "treluvia"),
            row(1, "bridge", "Treluvia City"),
            row(2, "deep", "x"),
        )
    ]
    overall = metrics(rows, None)
    per_family = {
        f: metrics([r for r in rows if r["family"] == f], None) for f in ("bridge", "deep")
    }
    _add_domain_reports(rows, overall, per_family)
    assert (
        overall["exact_match"] == pytest.approx(1 / 3)
        and per_family["bridge"]["exact_match"] == 0.5
    )
    assert per_family["bridge"]["f1"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-3)
    result = EvalResult("m", "m", overall, per_family, rows, {})
    results, _ = result.write(tmp_path)
    assert pl.read_parquet(results)["f1"].to_list() == [1.0, 0.6667, 0.0]
    table = get_domain("rag").format_eval_report(result)
    assert "| bridge | 2 | 50.0% |" in table


def test_an_llm_teacher_over_the_builtin_world(env, tmp_path):
    """The openai teacher (the local fake server plays the reference programs) searches the
    built-in world through the same domain tools; every row verifies."""
    from mentor_data.problems import load_problems
    from tests.fake_openai_server import FakeOpenAIServer

    spec = "rag:builtin?n=12"
    with FakeOpenAIServer(load_problems(spec)) as teacher:
        generated = run(
            env, "generate", "--problems", spec, "--name", "llm", "--teacher", "openai",
            "--base-url", teacher.base_url, "--model", "teacher",
        )  # fmt: skip
    assert generated.exit_code == 0, generated.output
    result = run(env, "verify", "llm")
    assert result.exit_code == 0 and "12/12 verified" in result.output, result.output
