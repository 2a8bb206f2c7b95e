"""The experiment tables: zero-variance shares read back from real log files, seed means, and
which runs finished."""

from __future__ import annotations

import json

import pytest

from mentor_train import report


def test_zero_variance_reads_the_final_log_or_the_last_checkpoint(tmp_path):
    done = tmp_path / "done"
    done.mkdir()
    (done / "log_history.json").write_text(
        json.dumps(
            [
                {"step": 1, "frac_reward_zero_std": 1.0},
                {"step": 2, "frac_reward_zero_std": 0.5},
                {"train_runtime": 3.0, "step": 2},
            ]
        )
    )
    assert report.zero_variance(done) == 0.75
    assert report.steps_done(done) == 2

    running = tmp_path / "running"
    for step, values in ((2, [1.0, 1.0]), (4, [1.0, 1.0, 0.0, 0.0])):
        ckpt = running / f"checkpoint-{step}"
        ckpt.mkdir(parents=True)
        history = [{"step": i + 1, "frac_reward_zero_std": v} for i, v in enumerate(values)]
        (ckpt / "trainer_state.json").write_text(json.dumps({"log_history": history}))
    assert report.zero_variance(running) == 0.5  # checkpoint-4, not checkpoint-2
    assert report.steps_done(running) == 4
    assert report.zero_variance(tmp_path / "absent") is None
    assert report.steps_done(tmp_path / "absent") == 0


def test_aggregate_averages_finished_runs_only():
    rows = [
        {
            "model": "sft+mentor-s0",
            "status": "done",
            "held_out_accuracy": 0.2,
            "held_out_set_match": 0.5,
            "zero_variance": 0.25,
        },
        {
            "model": "sft+mentor-s1",
            "status": "done",
            "held_out_accuracy": 0.4,
            "held_out_set_match": 0.5,
            "zero_variance": 0.75,
        },
        {"model": "sft+mentor-s2", "status": "training 3/8 steps", "held_out_accuracy": None},
    ]
    (arm,) = report.aggregate(rows, {"sft+mentor": [r["model"] for r in rows]}, ["held_out"])
    assert arm["finished"] == "2/3"
    mean, sd = arm["held_out_accuracy"]
    assert mean == pytest.approx(0.3) and sd == pytest.approx(0.141421356)
    assert arm["held_out_set_match"] == (0.5, 0.0)
    assert arm["zero_variance"][0] == pytest.approx(0.5)
    table = report.format_aggregate([arm], ["held_out"])
    assert "| sft+mentor | 2/3 | 30.0 ± 14.1 | 50.0 ± 0.0 | 50.0 ± 35.4 |" in table


def test_format_table_shows_status_and_zero_variance_only_when_known():
    rows = [report.row("vanilla", {"held_out": {"accuracy": 0.0, "tool_call_rate": 0.0}})]
    assert "status" not in report.format_table(rows, ["held_out"])
    rows[0]["status"] = "done"
    rows.append({"model": "sft+sparse-s0", "status": "not started", "zero_variance": None})
    table = report.format_table(rows, ["held_out"])
    assert table.splitlines()[0].endswith("| status |")
    assert "| sft+sparse-s0 | - | - | - | - | not started |" in table
