"""Resumable training stages: a run killed after a checkpoint continues from it with `resume`,
starts over without it, and never continues a checkpoint of different parameters."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

from mentor_train.stages import STARTED_FILE, NotFinished, Stages, train_stage
from tests.train_helpers import make_verified_version, tiny_student  # noqa: F401 (fixture)

KILLER = textwrap.dedent(
    """
    import json, os, signal, sys
    import transformers

    save = transformers.Trainer._save_checkpoint

    def save_then_die(self, *args, **kwargs):  # a real SIGKILL right after checkpoint-2
        save(self, *args, **kwargs)
        if self.state.global_step == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    transformers.Trainer._save_checkpoint = save_then_die
    from mentor_train.stages import train_stage

    train_stage("sft", "tiny-cpu-sft.yaml", json.loads(sys.argv[1]))
    """
)


def _overrides(tmp_path, student, dataset) -> dict:
    return {
        "model_name_or_path": str(student),
        "dataset": dataset,
        "data_dir": str(tmp_path / "data"),
        "output_dir": str(tmp_path / "sft"),
        "max_steps": 4,
        "save_steps": 1,
        "save_total_limit": 1,
        "logging_steps": 1,
        "per_device_train_batch_size": 2,
    }


def test_a_killed_training_stage_resumes_from_its_checkpoint(tmp_path, tiny_student, caplog):  # noqa: F811
    dataset = make_verified_version(tmp_path / "data", "builtin:in_domain?n=8")
    overrides = _overrides(tmp_path, tiny_student, dataset)
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, json.dumps(overrides)], capture_output=True, text=True
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    out = tmp_path / "sft"
    assert (out / "checkpoint-2").is_dir() and not (out / "config.json").exists()
    assert json.loads((out / STARTED_FILE).read_text())["params"] == overrides

    with caplog.at_level(logging.INFO):
        result = train_stage("sft", "tiny-cpu-sft.yaml", overrides, resume=True)
    assert result["global_step"] == 4
    assert any(
        "resuming from" in r.getMessage() and "checkpoint-2" in r.getMessage()
        for r in caplog.records
    )
    history = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in history if "loss" in h] == [1, 2, 3, 4]  # steps 1-2 not redone


def test_a_changed_run_or_no_resume_starts_over(tmp_path, tiny_student, caplog):  # noqa: F811
    dataset = make_verified_version(tmp_path / "data", "builtin:in_domain?n=8")
    overrides = _overrides(tmp_path, tiny_student, dataset)
    out = tmp_path / "sft"
    (out / "checkpoint-3").mkdir(parents=True)  # a stale checkpoint of another run
    (out / STARTED_FILE).write_text(json.dumps({"digest": "other", "params": {}}))
    with caplog.at_level(logging.INFO):
        result = train_stage(
            "sft", "tiny-cpu-sft.yaml", {**overrides, "save_steps": 100}, resume=True
        )
    assert result["global_step"] == 4
    assert not (out / "checkpoint-3").exists()
    assert any("parameters changed" in r.getMessage() for r in caplog.records)


def test_report_only_stages_run_nothing(tmp_path):
    stages = Stages(tmp_path / "run", report_only=True)
    try:
        stages.run("data", {"n": 1}, lambda: {"ran": True})
    except NotFinished as exc:
        assert str(exc) == "data"
    else:
        raise AssertionError("a report-only stage ran")
    assert not (tmp_path / "run").exists()
    live = Stages(tmp_path / "run")
    assert live.run("data", {"n": 1}, lambda: {"ran": True}) == {"ran": True}
    assert Stages(tmp_path / "run", report_only=True).run("data", {"n": 1}, dict) == {"ran": True}


def _answer(x: int) -> dict:
    return {"pid": __import__("os").getpid(), "x": x}


def _fail() -> None:
    from mentor_train.grpo import TrainingError

    raise TrainingError("share_prompt_prefix: PEFT models are not supported; set it to false")


def _die() -> None:
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def test_isolated_stages_run_in_a_fresh_process_and_report_failures():
    import os

    import pytest

    from mentor_train.grpo import TrainingError
    from mentor_train.stages import StageProcessError, _in_child

    result = _in_child(_answer, 7)
    assert result["x"] == 7 and result["pid"] != os.getpid()
    with pytest.raises(TrainingError, match="PEFT models are not supported"):
        _in_child(_fail)  # the child's own error, raised here
    with pytest.raises(StageProcessError, match="exit code -9.*--resume"):
        _in_child(_die)  # killed (the OOM killer): one line, not a hang
