"""The versioned store: atomic immutable versions, references, checksums, drafts for resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import polars as pl
import pyarrow.parquet as pq
import pytest

from mentor_data.schema import TRAJECTORY_FEATURES
from mentor_data.store import Store, StoreError, parse_ref
from tests.conftest import sample_row


def rows(n, start=0):
    return [sample_row(i) for i in range(start, start + n)]


def test_parse_ref():
    assert parse_ref("a").version is None
    assert parse_ref("a@latest").version is None
    assert parse_ref("a@v12").version == 12
    assert parse_ref("a@3").version == 3
    for bad in ("a@v0", "a@vx", "../x", "", "a/b", "a@"):
        if bad == "a@":
            assert parse_ref(bad).version is None
            continue
        with pytest.raises(StoreError):
            parse_ref(bad)


def test_a_selected_dataset_writes_only_its_rows(tmp_path):
    # `select` gives an index map over the whole Arrow table; the version holds what it shows.
    store = Store(tmp_path)
    store.write_version("all", rows(5))
    picked = store.load("all").select([3, 1])
    store.write_version("picked", picked)
    assert store.load("picked")["problem_id"] == picked["problem_id"]
    assert store.manifest("picked@v1")["rows"] == 2


def test_write_and_load_round_trip(tmp_path):
    store = Store(tmp_path)
    info = store.write_version("arith", rows(5), command="mentor-data test", lineage={"x": 1})
    assert info.ref == "arith@v1" and info.path.name == "v0001"
    ds = store.load("arith")
    assert ds.features == TRAJECTORY_FEATURES
    assert len(ds) == 5
    first = ds[0]
    assert first["messages"][1]["tool_calls"][0]["function"]["arguments"] == {"a": 1, "b": 2}
    assert first["tool_calls"][0]["arguments"] == {"a": 1, "b": 2}
    manifest = store.manifest("arith@v1")
    assert manifest["rows"] == 5 and manifest["command"] == "mentor-data test"
    assert manifest["lineage"] == {"x": 1} and manifest["schema_version"] == "1.0"
    assert manifest["shards"][0]["sha256"]
    df = store.load_polars("arith@latest")
    assert isinstance(df, pl.DataFrame) and df.height == 5


def test_arguments_of_different_tools_do_not_merge(tmp_path):
    store = Store(tmp_path)
    store.write_version("mixed", [sample_row(0, tool="add"), sample_row(1, tool="sqrt")])
    ds = store.load("mixed")
    assert ds[0]["tool_calls"][0]["arguments"] == {"a": 1, "b": 2}
    assert ds[1]["tool_calls"][0]["arguments"] == {"x": 9}


def test_versions_are_numbered_and_immutable(tmp_path):
    store = Store(tmp_path)
    store.write_version("d", rows(2))
    v2 = store.write_version("d", rows(3), parent="d@v1")
    assert store.versions("d") == [1, 2]
    assert len(store.load("d")) == 3 and len(store.load("d@v1")) == 2
    assert store.manifest(v2)["parent"] == "d@v1"
    assert store.names() == ["d"]


def test_sharding_and_checksums(tmp_path):
    store = Store(tmp_path)
    info = store.write_version("d", rows(10), shard_rows=3)
    assert len(store.manifest(info)["shards"]) == 4
    assert store.keys("d") == {(f"p{i}", 0) for i in range(10)}


def test_corrupted_shard_is_detected(tmp_path):
    store = Store(tmp_path)
    info = store.write_version("d", rows(4))
    shard = info.path / "shard-00000.parquet"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupted"):
        store.load("d")


def test_missing_shard_and_unknown_refs(tmp_path):
    store = Store(tmp_path)
    info = store.write_version("d", rows(1))
    with pytest.raises(StoreError, match="no dataset 'nope'"):
        store.load("nope")
    with pytest.raises(StoreError, match="versions: v1"):
        store.load("d@v7")
    (info.path / "shard-00000.parquet").unlink()
    with pytest.raises(StoreError, match="missing"):
        store.load("d")


def test_failed_write_leaves_no_version(tmp_path):
    store = Store(tmp_path)
    bad = rows(2)
    bad[1]["sample_id"] = "not an int"
    with pytest.raises(StoreError):
        store.write_version("d", bad)
    assert store.versions("d") == []
    assert not any((tmp_path / "d").glob(".draft-*"))


def test_crash_mid_write_leaves_no_version(tmp_path):
    """A process killed while writing leaves a draft, never a visible half version."""
    script = textwrap.dedent(f"""
        import os
        from mentor_data.store import Store
        from tests.conftest import sample_row
        store = Store({str(tmp_path)!r})
        w = store.writer("d")
        w.write_rows([sample_row(i) for i in range(3)])
        os._exit(9)  # dies before commit
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=os.getcwd())
    assert proc.returncode == 9
    store = Store(tmp_path)
    assert store.versions("d") == [] and store.names() == []
    assert len(list((tmp_path / "d").glob(".draft-*/shard-*.parquet"))) == 1


def test_draft_resume_by_key(tmp_path):
    store = Store(tmp_path)
    w = store.writer("d", draft_id="job1")
    w.write_rows(rows(2))
    again = store.writer("d", draft_id="job1")
    assert again.existing_keys() == {("p0", 0), ("p1", 0)}
    again.write_rows(rows(2, start=2))
    info = again.commit(command="resumed")
    assert len(store.load(info)) == 4
    assert not (tmp_path / "d" / ".draft-job1").exists()


def test_empty_version_keeps_schema(tmp_path):
    store = Store(tmp_path)
    store.write_version("e", [])
    ds = store.load("e")
    assert len(ds) == 0 and ds.features == TRAJECTORY_FEATURES


def test_shards_are_plain_parquet_readable_by_datasets(tmp_path):
    from datasets import load_dataset

    store = Store(tmp_path)
    info = store.write_version("d", rows(3))
    files = [str(p) for p in store.shard_paths(info)]
    ds = load_dataset("parquet", data_files=files, split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.features == TRAJECTORY_FEATURES and ds[2]["problem_id"] == "p2"
    assert pq.read_metadata(files[0]).num_rows == 3
    assert json.loads((info.path / "manifest.json").read_text())["rows"] == 3


def test_data_dir_from_environment(data_dir):
    store = Store()
    assert store.root == data_dir


# -- a hostile store: broken manifests, orphaned drafts, the draft lock ---------------------------
def _drop_shards(path):
    manifest = json.loads(path.read_text())
    del manifest["shards"]
    path.write_text(json.dumps(manifest))


def _escape_shard(path):
    manifest = json.loads(path.read_text())
    manifest["shards"][0]["file"] = "../v0001/" + manifest["shards"][0]["file"]
    path.write_text(json.dumps(manifest))


BROKEN_MANIFESTS = {
    "truncated": lambda p: p.write_text(p.read_text()[:40]),
    "empty object": lambda p: p.write_text("{}"),
    "a list": lambda p: p.write_text("[]"),
    "deleted": lambda p: p.unlink(),
    "no shards": _drop_shards,
    "shard outside the version": _escape_shard,
}


@pytest.mark.parametrize("breakage", list(BROKEN_MANIFESTS))
def test_a_broken_manifest_is_named_with_the_fix(tmp_path, breakage):
    store = Store(tmp_path)
    store.write_version("d", rows(2))
    info = store.write_version("d", rows(3))
    BROKEN_MANIFESTS[breakage](info.path / "manifest.json")
    assert store.versions("d") == [1, 2]  # a broken version never vanishes silently
    for call in (store.manifest, store.load, store.keys):
        with pytest.raises(StoreError) as exc:
            call("d@v2")
        message = str(exc.value)
        assert str(info.path / "manifest.json") in message, message
        assert "remove the version folder" in message and "\n" not in message
    with pytest.raises(StoreError, match="manifest.json"):
        store.load("d")  # the latest is the broken one: named, not skipped
    assert len(store.load("d@v1")) == 2  # healthy versions still load


def test_the_draft_is_created_only_under_the_lock(tmp_path):
    import fcntl

    from mentor_data.generate import _draft_lock

    store = Store(tmp_path)
    writer = store.writer("d", draft_id="job")
    (tmp_path / "d").mkdir(exist_ok=True)
    with open(tmp_path / "d" / ".draft-job.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(StoreError, match="is writing"):
            with _draft_lock(writer):
                pass
    assert not writer.path.exists()  # a refused run leaves no draft folder


def test_a_run_starting_as_another_commits_gets_a_fresh_draft(tmp_path):
    # B is set up while A holds the lock; A commits (its draft becomes v1) and releases; B then
    # takes the lock: it must find no draft and write a new one, not crash on A's vanished draft.
    from mentor_data.generate import _draft_lock

    store = Store(tmp_path)
    a = store.writer("d", draft_id="job")
    with _draft_lock(a):
        a.write_rows(rows(2))
        b = store.writer("d", draft_id="job")
        a.commit()
    with _draft_lock(b):
        assert b.existing_keys() == set()
        b.write_rows(rows(3))
        info = b.commit()
    assert info.version == 2 and len(store.load(info)) == 3
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["v0001", "v0002"]  # no .lock


def test_orphaned_drafts_are_listed_and_removed_unless_in_use(tmp_path):
    import fcntl

    store = Store(tmp_path)
    store.write_version("d", rows(1))
    store.writer("d", draft_id="killed").write_rows(rows(2))  # a run killed before its commit
    busy = store.writer("d", draft_id="busy")
    busy.write_rows(rows(1))
    drafts = {d.draft_id: d for d in store.drafts()}
    assert set(drafts) == {"killed", "busy"}
    assert drafts["killed"].bytes > 0 and drafts["killed"].age_s >= 0
    assert not drafts["killed"].in_use
    with open(tmp_path / "d" / ".draft-busy.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert {d.draft_id: d.in_use for d in store.drafts()} == {"killed": False, "busy": True}
        removed, refused = store.remove_drafts()
    assert [d.draft_id for d in removed] == ["killed"] and [d.draft_id for d in refused] == ["busy"]
    assert busy.path.is_dir() and not (tmp_path / "d" / ".draft-killed").exists()
    assert store.versions("d") == [1]
