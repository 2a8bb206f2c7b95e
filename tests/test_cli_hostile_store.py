"""The CLI on a hostile store: broken manifests and orphaned drafts give a clear one-line error
that names the file and the fix, exit code 1, no traceback, and no new folder in the store."""

from __future__ import annotations

import fcntl
import json

import pytest
from typer.testing import CliRunner

from mentor_data.cli import app
from mentor_data.store import Store
from tests.conftest import sample_row

runner = CliRunner()


def _drop_shards(path):
    manifest = json.loads(path.read_text())
    del manifest["shards"]
    path.write_text(json.dumps(manifest))


BROKEN = {
    "truncated": lambda p: p.write_text(p.read_text()[:40]),
    "empty object": lambda p: p.write_text("{}"),
    "deleted": lambda p: p.unlink(),
    "no shards": _drop_shards,
}


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())


@pytest.fixture
def broken_store(data_dir, request):
    store = Store(data_dir)
    store.write_version("good", [sample_row(i) for i in range(2)])
    store.write_version("d", [sample_row(i) for i in range(2)])
    info = store.write_version("d", [sample_row(i) for i in range(3)])
    BROKEN[request.param](info.path / "manifest.json")
    return info.path / "manifest.json"


@pytest.mark.parametrize("broken_store", list(BROKEN), indirect=True)
def test_ls_lists_healthy_versions_and_marks_the_broken_one(data_dir, broken_store):
    result = runner.invoke(app, ["ls"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert any("good" in line and "v1" in line and "2" in line for line in lines), result.output
    assert any("d" in line and "v1" in line for line in lines), result.output
    assert "broken" in result.output
    assert str(broken_store) in result.output.replace("\n", "")
    assert "remove the version folder" in result.output


@pytest.mark.parametrize("broken_store", list(BROKEN), indirect=True)
@pytest.mark.parametrize(
    "args",
    [
        ["show", "d@v2"],
        ["show", "d"],
        ["stats", "d@v2"],
        ["verify", "d@v2", "--workers", "1"],
        ["export", "d@v2", "--format", "sft"],
    ],
    ids=lambda a: " ".join(a),
)
def test_commands_on_a_broken_version_name_the_manifest(data_dir, broken_store, args):
    before = _tree(data_dir)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert str(broken_store) in errors[0] and "remove the version folder" in errors[0]
    assert _tree(data_dir) == before  # nothing new in the store


def test_drafts_are_reported_by_ls_and_removed_by_drafts(data_dir):
    store = Store(data_dir)
    store.write_version("d", [sample_row(0)])
    store.writer("d", draft_id="killed").write_rows([sample_row(1)])
    result = runner.invoke(app, ["ls"])
    assert result.exit_code == 0 and ".draft-killed" in result.output, result.output
    assert "mentor-data drafts --remove" in result.output

    result = runner.invoke(app, ["drafts"])
    assert result.exit_code == 0 and ".draft-killed" in result.output, result.output
    assert (data_dir / "d" / ".draft-killed").is_dir()  # listing removes nothing

    result = runner.invoke(app, ["drafts", "--remove"])
    assert result.exit_code == 0, result.output
    assert "removed" in result.output and not (data_dir / "d" / ".draft-killed").exists()
    assert runner.invoke(app, ["drafts"]).output.strip().startswith("no drafts")
    assert Store(data_dir).versions("d") == [1]


def test_drafts_remove_refuses_a_draft_in_use(data_dir):
    store = Store(data_dir)
    store.writer("d", draft_id="running").write_rows([sample_row(0)])
    with open(data_dir / "d" / ".draft-running.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        result = runner.invoke(app, ["drafts", "--remove"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert ".draft-running" in result.output and "in use" in result.output
    assert (data_dir / "d" / ".draft-running").is_dir()
