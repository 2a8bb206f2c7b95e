"""hub: the dry-run folder round-trips through load_dataset; the exact Hub calls of a publish."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import yaml
from datasets import load_dataset
from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from typer.testing import CliRunner

from mentor_data.cards import CARD_END, CARD_START, build_card
from mentor_data.cli import app
from mentor_data.hub import HubError, RepoIdError, merge_readme, publish, write_upload_folder
from mentor_data.store import Store, StoreError
from mentor_data.verify import VerifyConfig, verify_dataset
from tests.trajectory_fixtures import mixed_rows

SECRET = "hf_ThisIsNotARealTokenButTestsLookForIt123"
OLD_README = """---
license: mit
tags:
- math
pretty_name: Hand-made name
---

# Our dataset

Hand-written text that must survive a publish.
"""


@pytest.fixture
def store(data_dir):
    store = Store(data_dir)
    store.write_version("arith", mixed_rows(), shard_rows=5)  # 3 shards
    verify_dataset("arith", store=store, config=VerifyConfig(workers=1))
    return store


class FakeApi:
    """Records every call `publish` makes; serves a repository state."""

    def __init__(self, files=(), readme: str | None = None, tags=(), tmp: Path | None = None):
        self.calls: list[tuple[str, tuple, dict]] = []
        self.files = list(files) + (["README.md"] if readme is not None else [])
        self.readme, self.tags, self.tmp = readme, list(tags), tmp

    def _record(self, name, *args, **kwargs):
        self.calls.append((name, args, kwargs))

    def create_repo(self, *args, **kwargs):
        self._record("create_repo", *args, **kwargs)

    def create_branch(self, *args, **kwargs):
        self._record("create_branch", *args, **kwargs)

    def list_repo_files(self, *args, **kwargs):
        self._record("list_repo_files", *args, **kwargs)
        return list(self.files)

    def hf_hub_download(self, *args, **kwargs):
        self._record("hf_hub_download", *args, **kwargs)
        path = self.tmp / "downloaded-README.md"
        path.write_text(self.readme)
        return str(path)

    def create_commit(self, *args, **kwargs):
        self._record("create_commit", *args, **kwargs)
        return SimpleNamespace(oid="c0ffee", commit_url="https://hub/commit/c0ffee")

    def list_repo_refs(self, *args, **kwargs):
        self._record("list_repo_refs", *args, **kwargs)
        return SimpleNamespace(tags=[SimpleNamespace(name=t) for t in self.tags])

    def create_tag(self, *args, **kwargs):
        self._record("create_tag", *args, **kwargs)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]

    def call(self, name):
        return next(c for c in self.calls if c[0] == name)


def _ops(api: FakeApi) -> list:
    return list(api.call("create_commit")[1][1])


# -- dry run --------------------------------------------------------------------------------------
@pytest.mark.parametrize("ref", ["arith@v1", "arith@v2"])
def test_dry_run_folder_round_trips_through_load_dataset(store, tmp_path, ref):
    out = tmp_path / "upload"
    result = write_upload_folder(ref, out, store=store, repo_id="org/arith")
    shards = len(store.manifest(ref)["shards"])
    expected = ["README.md"] + [
        f"data/train-{i:05d}-of-{shards:05d}.parquet" for i in range(shards)
    ]
    assert result.files == expected
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(
        expected
    )
    loaded = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "cache"))
    original = store.load(ref)
    assert loaded.features == original.features
    assert loaded.to_list() == original.to_list()


def test_dry_run_refuses_a_non_empty_folder(store, tmp_path):
    out = tmp_path / "full"
    out.mkdir()
    (out / "x").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        write_upload_folder("arith", out, store=store)
    result = CliRunner().invoke(
        app, ["publish", "arith", "--repo-id", "o/a", "--dry-run", str(out)]
    )
    assert result.exit_code == 1 and "not empty" in result.output


def test_an_empty_version_is_not_published(store, tmp_path):
    store.write_version("empty", [])
    with pytest.raises(StoreError, match="no rows"):
        write_upload_folder("empty", tmp_path / "e", store=store)
    with pytest.raises(StoreError, match="no rows"):
        publish("empty", "org/e", store=store, api=FakeApi(tmp=tmp_path))


def test_dry_run_cli(store, tmp_path):
    out = tmp_path / "dry"
    result = CliRunner().invoke(
        app, ["publish", "arith@v2", "--repo-id", "org/arith", "--dry-run", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "dry run: 2 files of arith@v2" in result.output
    assert (out / "README.md").is_file() and (out / "data").is_dir()


# -- publish: the exact Hub calls -----------------------------------------------------------------
def test_publish_new_repo_is_one_commit_and_a_tag(store, tmp_path):
    api = FakeApi(tmp=tmp_path)
    result = publish("arith@v2", "org/arith", store=store, api=api, private=True)
    assert api.names() == [
        "create_repo",
        "list_repo_files",
        "create_commit",
        "list_repo_refs",
        "create_tag",
    ]
    assert api.call("create_repo")[1:] == (
        ("org/arith",),
        {"repo_type": "dataset", "private": True, "exist_ok": True},
    )
    _, (repo_id, ops), kwargs = api.call("create_commit")
    assert repo_id == "org/arith" and kwargs["repo_type"] == "dataset"
    assert kwargs["revision"] is None and kwargs["commit_message"] == "Upload arith@v2 (9 rows)"
    shard = store.shard_paths("arith@v2")[0]
    assert [(type(o).__name__, o.path_in_repo) for o in ops] == [
        ("CommitOperationAdd", "README.md"),
        ("CommitOperationAdd", "data/train-00000-of-00001.parquet"),
    ]
    assert (
        ops[0].path_or_fileobj == build_card("arith@v2", store=store, repo_id="org/arith").encode()
    )
    assert ops[1].path_or_fileobj == str(shard)
    assert api.call("create_tag")[2] == {
        "tag": "v2",
        "revision": "c0ffee",
        "repo_type": "dataset",
        "tag_message": "arith@v2",
    }
    assert result.commit_url == "https://hub/commit/c0ffee" and result.tag == "v2"
    assert result.files == ["README.md", "data/train-00000-of-00001.parquet"]


def test_publish_merges_readme_and_removes_stale_shards(store, tmp_path):
    stale = [f"data/train-{i:05d}-of-00003.parquet" for i in range(3)]
    api = FakeApi(
        files=[*stale, "data/other.csv", ".gitattributes"], readme=OLD_README, tmp=tmp_path
    )
    result = publish("arith@v2", "org/arith", store=store, api=api, revision="v2-branch")
    assert api.call("create_branch")[2] == {
        "branch": "v2-branch",
        "repo_type": "dataset",
        "exist_ok": True,
    }
    assert api.call("hf_hub_download")[2]["revision"] == "v2-branch"
    assert api.call("create_commit")[2]["revision"] == "v2-branch"
    ops = _ops(api)
    deletes = [o.path_in_repo for o in ops if isinstance(o, CommitOperationDelete)]
    assert deletes == stale and result.deleted == stale  # data/other.csv is not ours to touch
    readme = ops[0].path_or_fileobj.decode()
    assert isinstance(ops[0], CommitOperationAdd) and ops[0].path_in_repo == "README.md"
    meta = yaml.safe_load(readme.split("---\n")[1])
    assert meta["license"] == "mit" and meta["pretty_name"] == "Hand-made name"  # theirs kept
    assert meta["tags"][0] == "math" and "tool-use" in meta["tags"]  # union
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train-*"}]
    assert meta["dataset_info"]["splits"][0]["num_examples"] == 9
    assert "Hand-written text that must survive a publish." in readme
    assert readme.count(CARD_START) == 1 and readme.count(CARD_END) == 1


def test_existing_tag_is_left_alone(store, tmp_path, caplog):
    api = FakeApi(tags=["v2"], tmp=tmp_path)
    with caplog.at_level(logging.WARNING, logger="mentor_data.hub"):
        result = publish("arith@v2", "org/arith", store=store, api=api)
    assert "create_tag" not in api.names() and result.tag is None
    assert "already has tag v2" in caplog.text


def test_merge_readme_is_idempotent_and_replaces_its_section(store):
    card = build_card("arith@v2", store=store)
    once = merge_readme(OLD_README, card)
    assert merge_readme(once, card) == once
    newer = card.replace("## Intended use", "## Intended use (v3)")
    twice = merge_readme(once, newer)
    assert "## Intended use (v3)" in twice and twice.count(CARD_START) == 1
    assert merge_readme(None, card) == card and merge_readme("  \n", card) == card


def test_token_is_never_written_anywhere(store, tmp_path, monkeypatch, caplog):
    """HfApi finds HF_TOKEN itself; no file, manifest, log line or output holds it."""
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    fake = FakeApi(tmp=tmp_path)
    for name in (
        "create_repo",
        "create_branch",
        "list_repo_files",
        "hf_hub_download",
        "create_commit",
        "list_repo_refs",
        "create_tag",
    ):
        monkeypatch.setattr(
            huggingface_hub.HfApi, name, lambda self, *a, _n=name, **k: getattr(fake, _n)(*a, **k)
        )
    with caplog.at_level(logging.DEBUG):
        result = CliRunner().invoke(
            app, ["publish", "arith@v2", "--repo-id", "org/arith", "--revision", "dev"]
        )
    assert result.exit_code == 0, result.output
    assert "published arith@v2 to org/arith" in result.output and "(tag v2)" in result.output
    assert SECRET not in result.output and SECRET not in caplog.text
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    for _, args, kwargs in fake.calls:
        assert SECRET not in repr(args) + repr(kwargs)


# -- friendlier failures: bad repo ids, an unreachable Hub ---------------------------------------
BAD_REPO_IDS = ["a/b/c", "../x", "org/na me", "org/a--b", "org/a..b", "org/" + "x" * 97]


@pytest.mark.parametrize("repo_id", BAD_REPO_IDS)
def test_a_bad_repo_id_is_refused_before_anything_is_written(store, tmp_path, repo_id):
    api = FakeApi(tmp=tmp_path)
    with pytest.raises(RepoIdError, match="not a valid Hub repository id"):
        publish("arith", repo_id, store=store, api=api)
    assert api.calls == []
    with pytest.raises(RepoIdError, match="NAMESPACE/NAME"):
        write_upload_folder("arith", tmp_path / "dry", store=store, repo_id=repo_id)
    assert not (tmp_path / "dry").exists()
    for extra in (["--dry-run", str(tmp_path / "cli")], []):
        result = CliRunner().invoke(app, ["publish", "arith", "--repo-id", repo_id, *extra])
        assert result.exit_code == 2, result.output
        assert "not a valid Hub repository id" in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "cli").exists()


def _http():
    """The HTTP client module huggingface_hub uses (httpx or httpx2, by version)."""
    import importlib

    return importlib.import_module(huggingface_hub.errors.HTTPError.__module__)


def _connect_error() -> BaseException:
    """What an unreachable Hub raises (a DNS failure, as seen offline)."""
    return _http().ConnectError("[Errno -2] Name or service not known")


def test_an_unreachable_hub_is_one_line(store, tmp_path, monkeypatch):
    def offline(self, *args, **kwargs):
        raise _connect_error()

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", offline)
    with pytest.raises(HubError, match="could not reach the Hub"):
        publish("arith", "org/arith", store=store)
    result = CliRunner().invoke(app, ["publish", "arith", "--repo-id", "org/arith"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert "could not reach the Hub (ConnectError: [Errno -2] Name or service not known)" in (
        result.output
    )
    assert "check the network or HF_ENDPOINT" in result.output and "--dry-run" in result.output


def test_a_refused_request_says_what_to_check(store, tmp_path):
    from huggingface_hub.errors import HfHubHTTPError

    class Refusing(FakeApi):
        def create_commit(self, *args, **kwargs):
            http = _http()
            response = http.Response(401, request=http.Request("POST", "https://hub/x"))
            raise HfHubHTTPError("401 Client Error: Unauthorized\n\nbad token", response=response)

    with pytest.raises(HubError, match=r"refused the request for org/arith \(HfHubHTTPError: 401"):
        publish("arith", "org/arith", store=store, api=Refusing(tmp=tmp_path))
