"""A versioned dataset store: `DATA_DIR/NAME/vNNNN/` holds Parquet shards and a `manifest.json`.

Versions are immutable and appear atomically: a version is written into a hidden folder beside
its final place and renamed into `vNNNN` only once every shard and the manifest are on disk, so
a crash never leaves half a version. Drafts (`NAME/.draft-ID/`) hold the shards of a version
still being produced; they are how `generate` resumes after a kill: shards are written whole
(temp file, then rename), so a draft only ever holds complete shards, and the keys in them are
what a resumed run skips. A draft is written under its lock (`NAME/.draft-ID.lock`, see
`VersionWriter.lock`), taken before the draft folder is created; a draft left by a killed run is
listed by `Store.drafts()` and removed by `Store.remove_drafts()` (`mentor-data drafts`).

References: `NAME` or `NAME@latest` is the newest version, `NAME@v3` (or `NAME@3`) a given one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, Features

from mentor_data.schema import SCHEMA_VERSION, TRAJECTORY_FEATURES, row_key, utc_now

try:
    import fcntl
except ImportError:  # not POSIX: drafts are not locked
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "MENTOR_DATA_DIR"
DEFAULT_DATA_DIR = "data"
MANIFEST = "manifest.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VERSION_RE = re.compile(r"^v(\d{4,})$")


class StoreError(Exception):
    """A store problem a user can act on: the message names what is wrong and the fix."""


class ManifestError(StoreError):
    """A version whose `manifest.json` is missing, not JSON, or lacks what a version needs."""

    def __init__(self, info: VersionInfo, reason: str):
        self.info = info
        self.path = info.path / MANIFEST
        self.reason = reason
        super().__init__(
            f"{info.ref}: broken manifest {self.path}: {reason}; remove the version folder "
            f"{info.path} or restore its manifest from a copy"
        )


@dataclass(frozen=True)
class Ref:
    """A parsed dataset reference; `version` None means the latest."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return f"{self.name}@{'latest' if self.version is None else f'v{self.version}'}"


@dataclass(frozen=True)
class VersionInfo:
    """A resolved, existing version."""

    name: str
    version: int
    path: Path

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"


@dataclass(frozen=True)
class DraftInfo:
    """An unfinished version (`NAME/.draft-ID/`): a running command's, or one a killed run left."""

    name: str
    draft_id: str
    path: Path
    lock_path: Path
    age_s: float  # seconds since anything in the draft last changed
    bytes: int
    in_use: bool  # a live run holds its lock

    @property
    def label(self) -> str:
        return f"{self.name}/{self.path.name}"


def parse_ref(text: str) -> Ref:
    """Parse `NAME`, `NAME@latest`, `NAME@v3` or `NAME@3`.

    Example:
        >>> parse_ref("arith@v2")
        Ref(name='arith', version=2)
    """
    name, _, ver = str(text).strip().partition("@")
    check_name(name)
    if ver in ("", "latest"):
        return Ref(name)
    digits = ver[1:] if ver[:1] in ("v", "V") else ver
    if not digits.isdigit() or int(digits) < 1:
        raise StoreError(
            f"bad version {ver!r} in {text!r}: use NAME@latest, NAME@vN or NAME@N (N >= 1)"
        )
    return Ref(name, int(digits))


def check_name(name: str) -> str:
    """Validate a dataset name (letters, digits, '.', '_', '-'; no path separators)."""
    if not _NAME_RE.match(name or ""):
        raise StoreError(
            f"bad dataset name {name!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def default_data_dir() -> Path:
    """`$MENTOR_DATA_DIR` if set, else `./data`."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rows_to_table(rows: list[dict[str, Any]], features: Features) -> pa.Table:
    """Encode python rows into an Arrow table of the given features (schema metadata included)."""
    try:
        if not rows:  # from_list cannot build an empty table with JSON extension columns
            return Dataset.from_dict({k: [] for k in features}, features=features).data.table
        return Dataset.from_list(rows, features=features).data.table
    except Exception as exc:  # datasets raises many types; the user needs the row and column
        raise StoreError(f"rows do not fit the schema: {exc}") from exc


def write_parquet_atomic(table: pa.Table, path: Path) -> dict[str, Any]:
    """Write `table` to `path` via a temp file + rename; return its shard record."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return {
        "file": path.name,
        "rows": table.num_rows,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
    }


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _manifest_problem(manifest: Any) -> str | None:
    """What makes `manifest` unusable as a version's manifest, or None."""
    if not isinstance(manifest, dict):
        return f"not a JSON object but {type(manifest).__name__}"
    missing = [k for k in ("name", "version", "rows", "shards") if k not in manifest]
    if missing:
        return "no " + ", ".join(repr(k) for k in missing)
    if not isinstance(manifest["name"], str) or not _is_count(manifest["version"]):
        return "'name' is not a name or 'version' not a number"
    if not _is_count(manifest["rows"]):
        return f"'rows' is {manifest['rows']!r}, not a row count"
    shards = manifest["shards"]
    if not isinstance(shards, list) or not shards:
        return "'shards' is not a non-empty list"
    for i, shard in enumerate(shards):
        if not (
            isinstance(shard, dict)
            and isinstance(shard.get("file"), str)
            and isinstance(shard.get("sha256"), str)
            and _is_count(shard.get("rows"))
            and _is_count(shard.get("bytes"))
        ):
            return f"shard {i} lacks a 'file', 'sha256', 'rows' or 'bytes'"
        name = shard["file"]
        if name in ("", ".", "..", MANIFEST) or "/" in name or "\\" in name:
            return f"shard {i} file {name!r} is not a file name inside the version"
    return None


def _try_lock(path: Path) -> int | None:
    """Take the exclusive lock file `path` without waiting: an fd, or None if a live run holds it.

    A holder removes the file while still holding it (`_unlock`), so once locked we check that
    the file we hold is still the one at `path`; if it was removed meanwhile, we try again.
    Returns -1 where there is no `fcntl` (not POSIX): no locking.
    """
    if fcntl is None:
        return -1
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            now = os.stat(path)
        except FileNotFoundError:
            now = None
        mine = os.fstat(fd)
        if now is not None and (now.st_ino, now.st_dev) == (mine.st_ino, mine.st_dev):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def _unlock(path: Path, fd: int) -> None:
    """Release a lock from `_try_lock`, removing its file first (safe: see `_try_lock`)."""
    if fd < 0:
        return
    try:
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _lock_in_use(path: Path) -> bool:
    """Whether a live run holds the lock file `path` (the file itself is left alone)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _draft_usage(path: Path) -> tuple[float, int]:
    """(newest mtime, total bytes) of the files under `path`; files vanishing meanwhile skipped."""
    newest, size = 0.0, 0
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        try:
            st = p.stat()
        except OSError:
            continue
        newest = max(newest, st.st_mtime)
        if p.is_file():
            size += st.st_size
    return newest, size


class VersionWriter:
    """Writes the shards of one new version into a draft folder, then commits it atomically.

    A draft with an explicit `draft_id` survives crashes: a new writer with the same id reopens
    it, `existing_keys()` tells which rows are already on disk, and new shards continue the
    numbering. Without `draft_id` the draft is private to this writer.

    Write under `lock()`: the lock is taken before the draft folder is created (the folder
    appears with the first shard), so a run that starts as another commits its draft finds
    either the lock held (a clear error) or no draft (it starts a new one).
    """

    def __init__(
        self, store: Store, name: str, features: Features | None = None, draft_id: str | None = None
    ):
        self.store = store
        self.name = check_name(name)
        self.features = features or TRAJECTORY_FEATURES
        self.draft_id = draft_id or uuid.uuid4().hex
        self.path = store.root / name / f".draft-{self.draft_id}"
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def lock(self, who: str = "another mentor-data run") -> Iterator[None]:
        """Hold the draft's exclusive lock; StoreError at once if a live run holds it."""
        fd = _try_lock(self.lock_path)
        if fd is None:
            raise StoreError(
                f"{who} is writing {self.path} (lock {self.lock_path}); "
                "wait for it to finish or stop it before resuming"
            )
        try:
            yield
        finally:
            _unlock(self.lock_path, fd)

    def shard_files(self) -> list[Path]:
        return sorted(self.path.glob("shard-*.parquet"))

    def existing_keys(self) -> set[tuple[str, int]]:
        """(problem_id, sample_id) of every row already written to this draft."""
        keys: set[tuple[str, int]] = set()
        for f in self.shard_files():
            t = pq.read_table(f, columns=["problem_id", "sample_id"])
            keys.update(zip(t["problem_id"].to_pylist(), t["sample_id"].to_pylist(), strict=True))
        return keys

    def write_rows(self, rows: list[dict[str, Any]]) -> int:
        """Encode and write `rows` as the next shard; returns the number written."""
        if not rows:
            return 0
        return self.write_table(rows_to_table(rows, self.features))

    def write_table(self, table: pa.Table, allow_empty: bool = False) -> int:
        if table.num_rows == 0 and not allow_empty:
            return 0
        self.path.mkdir(parents=True, exist_ok=True)
        index = len(self.shard_files())
        write_parquet_atomic(table, self.path / f"shard-{index:05d}.parquet")
        return table.num_rows

    def commit(
        self,
        *,
        command: str | None = None,
        parent: str | None = None,
        lineage: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Turn the draft into the next immutable version `NAME/vNNNN` and return it."""
        files = self.shard_files()
        if not files:  # an empty version still gets one (empty) shard so it loads with its schema
            self.write_table(rows_to_table([], self.features), allow_empty=True)
            files = self.shard_files()
        shards = []
        rows = 0
        for f in files:
            n = pq.read_metadata(f).num_rows
            rows += n
            shards.append(
                {"file": f.name, "rows": n, "sha256": sha256_file(f), "bytes": f.stat().st_size}
            )
        manifest = {
            "name": self.name,
            "version": None,
            "schema_version": SCHEMA_VERSION,
            "rows": rows,
            "columns": list(self.features),
            "shards": shards,
            "parent": parent,
            "command": command,
            "created_at": utc_now(),
            "lineage": lineage or {},
        }
        return self.store._publish(self, manifest)

    def abort(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class Store:
    """A data directory of versioned datasets (default `./data`, or `$MENTOR_DATA_DIR`)."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_data_dir()

    # -- listing and resolving ------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        # A version folder counts even when its manifest is broken or gone: loading it then
        # names the manifest (ManifestError) instead of the version silently vanishing.
        found = (_VERSION_RE.match(p.name) for p in folder.iterdir() if p.is_dir())
        return sorted(int(m.group(1)) for m in found if m)

    def resolve(self, ref: str | Ref) -> VersionInfo:
        """Find an existing version; the error lists what exists."""
        ref = parse_ref(ref) if isinstance(ref, str) else ref
        versions = self.versions(ref.name)
        if not versions:
            known = ", ".join(self.names()) or "none"
            raise StoreError(
                f"no dataset {ref.name!r} in {self.root} (datasets: {known}); "
                f"create one with `mentor-data generate` or `mentor-data import`, "
                f"or point --data-dir/${DATA_DIR_ENV} at the right folder"
            )
        version = versions[-1] if ref.version is None else ref.version
        if version not in versions:
            raise StoreError(
                f"{ref.name} has no version v{version}; versions: "
                + ", ".join(f"v{v}" for v in versions)
            )
        return VersionInfo(ref.name, version, self.root / ref.name / f"v{version:04d}")

    def manifest(self, ref: str | Ref | VersionInfo) -> dict[str, Any]:
        """A version's manifest; ManifestError (naming the file and the fix) if it is broken."""
        info = ref if isinstance(ref, VersionInfo) else self.resolve(ref)
        path = info.path / MANIFEST
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ManifestError(info, "the file is missing") from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise ManifestError(info, f"not valid JSON ({exc})") from None
        except OSError as exc:
            raise ManifestError(info, f"cannot be read ({exc.strerror or exc})") from None
        problem = _manifest_problem(manifest)
        if problem:
            raise ManifestError(info, problem)
        return manifest

    # -- drafts -------------------------------------------------------------------------
    def drafts(self) -> list[DraftInfo]:
        """Every draft (and stray draft lock) in the store, with its age, size and whether a
        live run holds it."""
        if not self.root.is_dir():
            return []
        found = []
        now = time.time()
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            ids = set()
            for p in folder.glob(".draft-*"):
                if p.is_dir():
                    ids.add(p.name[len(".draft-") :])
                elif p.name.endswith(".lock"):
                    ids.add(p.name[len(".draft-") : -len(".lock")])
            for draft_id in sorted(ids):
                path = folder / f".draft-{draft_id}"
                lock_path = path.with_name(path.name + ".lock")
                newest, size = _draft_usage(path)
                if not newest:
                    newest = _draft_usage(lock_path)[0] or now
                found.append(
                    DraftInfo(
                        folder.name,
                        draft_id,
                        path,
                        lock_path,
                        max(0.0, now - newest),
                        size,
                        _lock_in_use(lock_path),
                    )
                )
        return found

    def remove_drafts(self) -> tuple[list[DraftInfo], list[DraftInfo]]:
        """Delete every draft no live run holds; returns (removed, refused as in use)."""
        removed, refused = [], []
        for draft in self.drafts():
            fd = _try_lock(draft.lock_path)
            if fd is None:
                refused.append(replace(draft, in_use=True))
                continue
            try:
                shutil.rmtree(draft.path, ignore_errors=True)
            finally:
                _unlock(draft.lock_path, fd)
            removed.append(replace(draft, in_use=False))
        return removed, refused

    # -- writing ------------------------------------------------------------------------
    def writer(
        self, name: str, features: Features | None = None, draft_id: str | None = None
    ) -> VersionWriter:
        """A writer for a new version of `name` (see VersionWriter)."""
        return VersionWriter(self, name, features, draft_id)

    def write_version(
        self,
        name: str,
        rows: Iterable[dict[str, Any]] | Dataset | pa.Table,
        *,
        features: Features | None = None,
        command: str | None = None,
        parent: str | None = None,
        lineage: dict[str, Any] | None = None,
        shard_rows: int = 50_000,
    ) -> VersionInfo:
        """Write a whole new version from rows, a Dataset or an Arrow table.

        Nothing is visible until every shard is written; on any error the draft is removed.
        """
        if isinstance(rows, Dataset):
            features = features or rows.features
            # A `select`/`shuffle`/`filter` result is an index map over the whole table.
            table = (rows.flatten_indices() if rows._indices is not None else rows).data.table
        elif isinstance(rows, pa.Table):
            table = rows
        else:
            table = None
        writer = self.writer(name, features or TRAJECTORY_FEATURES)
        with writer.lock():  # so `mentor-data drafts --remove` leaves it alone while it runs
            try:
                if table is not None:
                    for start in range(0, max(table.num_rows, 1), shard_rows):
                        writer.write_table(table.slice(start, shard_rows))
                else:
                    for chunk in _chunks(rows, shard_rows):
                        writer.write_rows(chunk)
                return writer.commit(command=command, parent=parent, lineage=lineage)
            except BaseException:
                writer.abort()
                raise

    def _publish(self, writer: VersionWriter, manifest: dict[str, Any]) -> VersionInfo:
        folder = self.root / writer.name
        # Rename the finished draft into place; if another writer took the number first, the
        # rename fails (target exists) and we take the next one.
        for _ in range(1000):
            version = (self.versions(writer.name) or [0])[-1] + 1
            while (folder / f"v{version:04d}").exists():
                version += 1
            manifest["version"] = version
            manifest_path = writer.path / MANIFEST
            tmp = manifest_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
            os.replace(tmp, manifest_path)
            _fsync_dir(writer.path)
            target = folder / f"v{version:04d}"
            try:
                os.rename(writer.path, target)
            except OSError:
                continue
            _fsync_dir(folder)
            logger.info("wrote %s@v%d (%d rows)", writer.name, version, manifest["rows"])
            return VersionInfo(writer.name, version, target)
        raise StoreError(f"could not allocate a version number for {writer.name}")

    # -- reading ------------------------------------------------------------------------
    def shard_paths(self, ref: str | Ref | VersionInfo, verify: bool = True) -> list[Path]:
        """Shard files of a version, checked against the manifest's sha256 unless verify=False."""
        info = ref if isinstance(ref, VersionInfo) else self.resolve(ref)
        manifest = self.manifest(info)
        paths = []
        for shard in manifest["shards"]:
            path = info.path / shard["file"]
            if not path.is_file():
                raise StoreError(
                    f"{info.ref}: shard {shard['file']} is missing from {info.path}; "
                    "versions are immutable: restore the file or regenerate the version"
                )
            if verify:
                digest = sha256_file(path)
                if digest != shard["sha256"]:
                    raise StoreError(
                        f"{info.ref}: shard {shard['file']} is corrupted (sha256 {digest[:12]}... "
                        f"!= manifest {shard['sha256'][:12]}...); restore it from a copy or "
                        "regenerate the version"
                    )
            paths.append(path)
        return paths

    def load_table(self, ref: str | Ref | VersionInfo, verify: bool = True) -> pa.Table:
        tables = [pq.read_table(p) for p in self.shard_paths(ref, verify)]
        return pa.concat_tables(tables) if len(tables) > 1 else tables[0]

    def load(self, ref: str | Ref | VersionInfo, verify: bool = True) -> Dataset:
        """Load a version as an in-memory `datasets.Dataset` (features from the shards)."""
        return Dataset(self.load_table(ref, verify))

    def load_polars(self, ref: str | Ref | VersionInfo, verify: bool = True):
        """Load a version as a polars DataFrame (JSON columns stay JSON text)."""
        import polars as pl

        return pl.from_arrow(self.load_table(ref, verify))

    def iter_rows(self, ref: str | Ref | VersionInfo, verify: bool = True) -> Iterator[dict]:
        """Decoded rows (JSON columns as python objects), shard by shard."""
        for path in self.shard_paths(ref, verify):
            yield from Dataset(pq.read_table(path))

    def keys(self, ref: str | Ref | VersionInfo) -> set[tuple[str, int]]:
        table = self.load_table(ref)
        return set(
            zip(table["problem_id"].to_pylist(), table["sample_id"].to_pylist(), strict=True)
        )


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


__all__ = [
    "DraftInfo",
    "ManifestError",
    "Ref",
    "Store",
    "StoreError",
    "VersionInfo",
    "VersionWriter",
    "check_name",
    "default_data_dir",
    "parse_ref",
    "row_key",
    "rows_to_table",
]
