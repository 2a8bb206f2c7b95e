"""`mentor-data generate --problems bfcl:... --teacher oracle` -> verify -> card, and resume."""

from __future__ import annotations

import pytest

pytest.importorskip("bfcl_eval", reason="bfcl-eval is not installed (make setup installs it)")

from typer.testing import CliRunner  # noqa: E402

from mentor_data.cli import app  # noqa: E402
from mentor_data.generate import GenerateConfig, generate  # noqa: E402
from mentor_data.store import Store  # noqa: E402
from mentor_data.teachers import GenerationConfig  # noqa: E402
from mentor_data.teachers.oracle import OracleTeacher  # noqa: E402

runner = CliRunner()


def test_generate_verify_card_end_to_end(data_dir, tmp_path):
    result = runner.invoke(
        app,
        [
            "generate",
            "--problems",
            "bfcl:simple_python?n=20",
            "--teacher",
            "oracle",
            "--name",
            "bfcl",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "wrote bfcl@v1" in result.output and "20 new rows" in result.output
    result = runner.invoke(app, ["verify", "bfcl", "--keep", "all"])
    assert result.exit_code == 0, result.output
    assert "19/20 verified" in result.output  # simple_python_17: bfcl's ground truth lacks a
    assert "missing_argument" in result.output  # required parameter (tests/test_bfcl_oracle.py)
    store = Store(data_dir)
    rows = {r["problem_id"]: r for r in store.iter_rows("bfcl@v2")}
    assert rows["simple_python_17"]["reason"] == "missing_argument"
    ok = rows["simple_python_0"]
    assert ok["verified"] and ok["teacher_tools"] == ["calculate_triangle_area"]
    assert ok["teacher_tool_counts"] == {"calculate_triangle_area": 1}
    assert ok["teacher_tool_sequence"] == ["calculate_triangle_area"]
    lineage = store.manifest("bfcl@v2")["lineage"]
    assert lineage["verify"]["by_family"] == {"simple_python": {"rows": 20, "passed": 19}}
    card_path = tmp_path / "card.md"
    result = runner.invoke(app, ["card", "bfcl@v2", "--out", str(card_path)])
    assert result.exit_code == 0, result.output
    card = card_path.read_text()
    assert "| simple_python | 20 | 19 | 95.0% |" in card
    assert "BFCL rows are judged by their calls" in card
    assert "`calculate_triangle_area`" in card
    header = card.split("\n---", 1)[0]
    assert "- bfcl" in header and "synthetic" not in header  # human-written data
    assert "Synthetic arithmetic" not in card


def test_an_interrupted_oracle_run_resumes(tmp_path):
    class Interrupt(BaseException):
        """Stands in for Ctrl-C: not an Exception, so the loop does not turn it into rows."""

    class Crashing(OracleTeacher):
        calls = 0

        async def complete(self, conversations, config):
            Crashing.calls += 1
            if Crashing.calls == 4:
                raise Interrupt
            return await super().complete(conversations, config)

    spec = "bfcl:multi_turn_base,simple_python?n=12"
    config = GenerateConfig(
        problems=spec,
        name="res",
        teacher="oracle",
        shard_rows=1,
        progress=False,
        generation=GenerationConfig(batch_size=3),
    )
    store = Store(tmp_path / "interrupted")
    with pytest.raises(Interrupt):
        generate(config, store=store, teacher=Crashing())
    assert store.versions("res") == []  # nothing committed: the rows wait in the draft
    resumed = generate(config, store=store)
    assert resumed.resumed_rows > 0 and resumed.rows == 12
    reference = generate(config, store=Store(tmp_path / "reference"))
    volatile = {"latency_s", "created_at"}

    def comparable(s):
        return {
            r["problem_id"]: {k: v for k, v in r.items() if k not in volatile}
            for r in s.iter_rows("res@v1")
        }

    assert comparable(store) == comparable(Store(tmp_path / "reference"))
    assert reference.resumed_rows == 0
