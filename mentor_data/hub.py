"""`mentor-data publish`: upload a store version to the Hugging Face Hub as a dataset repository.

What is uploaded (`upload_files`), the same for `--dry-run DIR` and for the Hub:

    README.md                                 the dataset card (`mentor_data.cards`)
    data/train-00000-of-0000N.parquet, ...    the version's Parquet shards, byte for byte

`datasets.load_dataset(DIR_OR_REPO)` reads it: the card's `configs` maps the `train` split to
`data/train-*`, and the shards carry their `datasets` features.

On the Hub, a version is ONE commit (`HfApi.create_commit` with every file; many small commits
hit rate limits) whose message names the version, then a tag `vN` on that commit (left alone,
with a warning, when the repository already has it). Files under `data/train-*` that the new
version does not have (shards of an earlier, larger version) are deleted in the same commit, so
the split never mixes versions. An existing README.md is merged, not clobbered (`merge_readme`).

The token is never handled here: `HfApi()` finds it (`HF_TOKEN`, or `hf auth login`'s cache) and
it is never written to a file, a manifest or a log.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mentor_data.cards import CARD_END, CARD_START, DATA_FILES, build_card, shard_path_in_repo

logger = logging.getLogger(__name__)

README = "README.md"
_UNION_KEYS = ("tags", "task_categories", "language")
_OURS_KEYS = ("size_categories",)
_TRY = "or use --dry-run DIR to write the upload folder without the Hub"


class RepoIdError(ValueError):
    """A `--repo-id` the Hub would refuse; the message names the rule and the fix."""


class HubError(RuntimeError):
    """The Hub could not be reached or refused a request; the message says what to try."""


def check_repo_id(repo_id: str) -> str:
    """Check a dataset repository id against the Hub's rule before anything is written.

    The rule (`huggingface_hub.utils.validate_repo_id`): `NAMESPACE/NAME` or `NAME`, letters,
    digits, `-`, `_` and `.`, not starting or ending with `-` or `.`, no `--` or `..`, not
    ending in `.git`, each part at most 96 characters.

    Raises:
        RepoIdError: the id breaks the rule.
    """
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise RepoIdError(
            f"--repo-id {repo_id!r} is not a valid Hub repository id: use NAMESPACE/NAME or NAME, "
            "letters, digits, '-', '_' and '.' only, no '--' or '..', at most 96 characters each "
            "(e.g. my-org/arith-verified)"
        ) from None
    return repo_id


def _network_errors() -> tuple[type[BaseException], ...]:
    """The exceptions of a failed or refused Hub request (httpx, httpx2 or requests, by version)."""
    import importlib

    errors: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module, name in (
        ("huggingface_hub.errors", "HTTPError"),
        ("httpx", "HTTPError"),
        ("httpx2", "HTTPError"),
        ("requests", "RequestException"),
    ):
        try:
            errors.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


def _hub_error(exc: BaseException, repo_id: str) -> HubError:
    """One line saying why a Hub request failed and what to try."""
    from huggingface_hub.errors import HfHubHTTPError

    first = (str(exc).strip().splitlines() or [""])[0]
    cause = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if isinstance(exc, HfHubHTTPError):
        return HubError(
            f"the Hub refused the request for {repo_id} ({cause}); check HF_TOKEN or "
            f"`hf auth login` and that you may write to it, {_TRY}"
        )
    return HubError(f"could not reach the Hub ({cause}); check the network or HF_ENDPOINT, {_TRY}")


@dataclass(frozen=True)
class PublishResult:
    """What a publish did (or, for a dry run, would do).

    Args:
        repo_id (`str` or `None`): The dataset repository (None for a dry run).
        ref (`str`): The store version published.
        files (`list[str]`): Paths in the repository that were written.
        deleted (`list[str]`): Stale paths removed in the same commit.
        commit_url (`str` or `None`): The commit on the Hub.
        tag (`str` or `None`): The tag created (None when it existed already or for a dry run).
        folder (`Path` or `None`): The dry-run folder.
    """

    repo_id: str | None
    ref: str
    files: list[str]
    deleted: list[str] = field(default_factory=list)
    commit_url: str | None = None
    tag: str | None = None
    folder: Path | None = None


def upload_files(store: Any, ref: str) -> tuple[Any, list[tuple[str, Path]]]:
    """The version and its (path in repo, local shard) pairs; shards are checked (sha256).

    Raises:
        StoreError: the version has no rows (`load_dataset` cannot read an empty split).
    """
    from mentor_data.store import StoreError

    info = store.resolve(ref)
    if not store.manifest(info)["rows"]:
        raise StoreError(f"{info.ref} has no rows: nothing to publish (did verify keep any?)")
    shards = store.shard_paths(info)  # sha256-checked: never upload a corrupted shard
    return info, [(shard_path_in_repo(i, len(shards)), p) for i, p in enumerate(shards)]


def _merge_lists(theirs: Any, ours: Any) -> list[Any]:
    theirs = theirs if isinstance(theirs, list) else ([theirs] if theirs else [])
    return theirs + [v for v in ours or [] if v not in theirs]


def merge_readme(existing: str | None, card: str) -> str:
    """Merge a new card into an existing README.md instead of overwriting it.

    Metadata: `dataset_info` and `configs` are merged per config name as `push_to_hub` does
    (our `default` config replaces theirs, other configs stay); `size_categories` is ours;
    `tags`, `task_categories` and `language` are the union (theirs first); every other key
    (license, pretty_name, anything else) keeps the existing value and is added when missing.
    Body: the text between `CARD_START` and `CARD_END` is replaced; a README without those
    markers keeps its text and gets the new section appended.

    Args:
        existing: the current README.md text (None or blank: there is none).
        card: the new card from `build_card`.

    Returns:
        The README.md text to upload.
    """
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    if not existing or not existing.strip():
        return card
    old = DatasetCard(existing, ignore_metadata_errors=True)
    new = DatasetCard(card)
    data = old.data
    ours = new.data.to_dict()
    for key, value in ours.items():
        if key in ("dataset_info", "configs"):
            continue
        if key in _UNION_KEYS:
            data[key] = _merge_lists(data.get(key), value)
        elif key in _OURS_KEYS or data.get(key) is None:
            data[key] = value
    DatasetInfosDict.from_dataset_card_data(new.data).to_dataset_card_data(data)
    MetadataConfigs.from_dataset_card_data(new.data).to_dataset_card_data(data)
    section = new.text[new.text.find(CARD_START) :]
    text = old.text
    start, end = text.find(CARD_START), text.find(CARD_END)
    if 0 <= start < end:
        body = text[:start] + section.rstrip("\n") + text[end + len(CARD_END) :]
    else:
        body = text.rstrip("\n") + "\n\n" + section
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{body.lstrip(chr(10))}"))


def write_upload_folder(
    ref: str, out: str | Path, *, store: Any = None, **card_kwargs: Any
) -> PublishResult:
    """Write exactly the files `publish` would upload into `out` (the `--dry-run` folder).

    The card is the fresh one: a dry run reads nothing from the Hub, so there is no existing
    README to merge with.

    Args:
        ref: the store version.
        out: an empty or new folder.
        store: the `Store` (default: `Store()`).
        **card_kwargs: passed to `build_card` (license, pretty_name, repo_id, ...).

    Raises:
        FileExistsError: `out` exists and is not empty.
        RepoIdError: `repo_id` (for the card) is not a valid Hub repository id.
    """
    from mentor_data.store import Store

    if card_kwargs.get("repo_id") is not None:
        check_repo_id(card_kwargs["repo_id"])
    store = store or Store()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty: give a new or empty folder to --dry-run")
    info, files = upload_files(store, ref)
    card = build_card(info.ref, store=store, **card_kwargs)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for path_in_repo, local in files:
        shutil.copyfile(local, out / path_in_repo)
    (out / README).write_text(card, encoding="utf-8")
    logger.info("dry run: wrote %d file(s) of %s to %s", len(files) + 1, info.ref, out)
    return PublishResult(None, info.ref, [README, *(p for p, _ in files)], folder=out)


def _is_data_file(path: str) -> bool:
    from fnmatch import fnmatch

    return fnmatch(path, DATA_FILES)


def publish(
    ref: str,
    repo_id: str,
    *,
    store: Any = None,
    private: bool = False,
    revision: str | None = None,
    api: Any = None,
    **card_kwargs: Any,
) -> PublishResult:
    """Upload a store version to a Hub dataset repository in one commit, and tag it `vN`.

    Args:
        ref: the store version.
        repo_id: `ORG/NAME` of the dataset repository (created when missing).
        store: the `Store` (default: `Store()`).
        private: create the repository private (an existing repository keeps its visibility).
        revision: the branch to commit to (created from the default branch when missing);
            None is the default branch.
        api: an `HfApi` (default: `HfApi()`, which finds the token itself).
        **card_kwargs: passed to `build_card` (license, pretty_name, ...).

    Returns:
        A `PublishResult` with the commit URL and the tag.

    Raises:
        RepoIdError: `repo_id` is not a valid Hub repository id (checked before anything else).
        HubError: the Hub could not be reached or refused a request.
    """
    from huggingface_hub import HfApi

    from mentor_data.store import Store

    check_repo_id(repo_id)
    store = store or Store()
    api = api or HfApi()
    info, files = upload_files(store, ref)
    card = build_card(info.ref, store=store, repo_id=repo_id, **card_kwargs)
    try:
        return _publish_to_hub(api, store, info, files, card, repo_id, private, revision)
    except _network_errors() as exc:
        raise _hub_error(exc, repo_id) from None


def _publish_to_hub(
    api: Any,
    store: Any,
    info: Any,
    files: list[tuple[str, Path]],
    card: str,
    repo_id: str,
    private: bool,
    revision: str | None,
) -> PublishResult:
    """The Hub requests of `publish`: repository, branch, merged card, one commit, the tag."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    api.create_repo(repo_id, repo_type="dataset", private=private or None, exist_ok=True)
    if revision:
        api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True)
    present = set(api.list_repo_files(repo_id, repo_type="dataset", revision=revision))
    if README in present:
        readme = Path(
            api.hf_hub_download(repo_id, README, repo_type="dataset", revision=revision)
        ).read_text(encoding="utf-8")
        card = merge_readme(readme, card)
    ours = [p for p, _ in files]
    stale = sorted(p for p in present if _is_data_file(p) and p not in ours)
    operations = [CommitOperationAdd(path_in_repo=README, path_or_fileobj=card.encode("utf-8"))]
    operations += [
        CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(local)) for p, local in files
    ]
    operations += [CommitOperationDelete(path_in_repo=p) for p in stale]
    rows = store.manifest(info)["rows"]
    commit = api.create_commit(
        repo_id,
        operations,
        repo_type="dataset",
        revision=revision,
        commit_message=f"Upload {info.ref} ({rows} rows)",
        commit_description=f"mentor-data publish {info.ref}: {len(files)} shard(s), "
        f"{len(stale)} stale file(s) removed.",
    )
    tag = f"v{info.version}"
    tags = {t.name for t in api.list_repo_refs(repo_id, repo_type="dataset").tags}
    if tag in tags:
        logger.warning("%s already has tag %s; it was left where it is", repo_id, tag)
        tag = None
    else:
        api.create_tag(
            repo_id, tag=tag, revision=commit.oid, repo_type="dataset", tag_message=f"{info.ref}"
        )
    logger.info("published %s to %s (%s)", info.ref, repo_id, commit.commit_url)
    return PublishResult(repo_id, info.ref, [README, *ours], stale, commit.commit_url, tag)


__all__ = [
    "README",
    "HubError",
    "PublishResult",
    "RepoIdError",
    "check_repo_id",
    "merge_readme",
    "publish",
    "upload_files",
    "write_upload_folder",
]
