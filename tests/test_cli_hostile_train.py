"""`mentor-train grpo|sft` on hostile recipes: one clear line naming the key, exit 1."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mentor_train.cli import app
from mentor_train.students import StudentError, check_student, require_model_folder
from tests.train_helpers import (  # noqa: F401
    CPU,
    grpo_rows,
    sft_rows,
    tiny_student,
    write_jsonl,
)

RECIPES = {
    "grpo": "trainer: grpo\nreward_funcs: [sparse]\nnum_generations: 2\n"
    "per_device_train_batch_size: 2\nmax_completion_length: 8\nmax_steps: 1\n"
    "smoke_check_steps: 0\nsave_strategy: 'no'\n",
    "sft": "trainer: sft\nper_device_train_batch_size: 1\nmax_length: 1024\nmax_steps: 1\n"
    "save_strategy: 'no'\n",
}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Never reach the Hub, whatever a loader tries (a Hub id fails fast instead of retrying)."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def _train(trainer: str, tmp_path, *overrides: str):
    recipe = tmp_path / f"{trainer}.yaml"
    recipe.write_text(RECIPES[trainer])
    sets = [f"output_dir={tmp_path / 'out'}", *CPU, *overrides]
    args = [trainer, "--recipe", str(recipe), *[x for kv in sets for x in ("--set", kv)]]
    return CliRunner().invoke(app, args)


def _one_clear_line(result) -> str:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.mark.parametrize("trainer", ["grpo", "sft"])
@pytest.mark.parametrize("model", ["org/nosuch-model", "outputs/none/deep/x", "a-file"])
def test_a_student_that_is_not_a_local_folder_is_named(trainer, model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a model")
    line = _one_clear_line(
        _train(trainer, tmp_path, f"model_name_or_path={model}", "dataset=unused.jsonl")
    )
    assert f"model_name_or_path={model!r}" in line
    what = "is a file, not a model folder" if model == "a-file" else "is not an existing folder"
    assert what in line and "not downloaded at run time" in line and "offline" in line


def test_require_model_folder_and_check_student(tmp_path, tiny_student):  # noqa: F811
    assert require_model_folder(tiny_student) == tiny_student
    with pytest.raises(StudentError, match=r"model_name_or_path='org/m' is not an existing folder"):
        require_model_folder("org/m")
    with pytest.raises(StudentError, match="cannot load a tokenizer from org/m: it is not an exi"):
        check_student("org/m")


@pytest.mark.parametrize("trainer", ["grpo", "sft"])
def test_an_unknown_model_init_kwarg_is_named(trainer, tmp_path, tiny_student):  # noqa: F811
    rows = grpo_rows(2) if trainer == "grpo" else sft_rows(2)
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    result = _train(
        trainer,
        tmp_path,
        f"model_name_or_path={tiny_student}",
        f"dataset={data}",
        "model_init_kwargs.nosuch=1",
    )
    line = _one_clear_line(result)
    assert "model_init_kwargs.nosuch" in line and "does not accept" in line
    assert "unexpected keyword argument 'nosuch'" in line
