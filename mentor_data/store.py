"""A versioned dataset store: `DATA_DIR/NAME/vNNNN/` holds Parquet shards and a `manifest.json`.

Versions are immutable and appear atomically: a version is written into a hidden folder beside
its final place and renamed into `vNNNN` only once every shard and the manifest are on disk, so
a crash never leaves half a version. Drafts (`NAME/.draft-ID/`) hold the shards of a version
still being produced; they are how `generate` resumes after a kill: shards are written whole
(temp file, then rename), so a draft only ever holds complete shards, and the keys in them are
what a resumed run skips.

References: `NAME` or `NAME@latest` is the newest version, `NAME@v3` (or `NAME@3`) a given one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, Features

from mentor_data.schema import SCHEMA_VERSION, TRAJECTORY_FEATURES, row_key, utc_now

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "MENTOR_DATA_DIR"
DEFAULT_DATA_DIR = "data"
MANIFEST = "manifest.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VERSION_RE = re.compile(r"^v(\d{4,})$")


class StoreError(Exception):
    """A store problem a user can act on: the message names what is wrong and the fix."""


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


class VersionWriter:
    """Writes the shards of one new version into a draft folder, then commits it atomically.

    A draft with an explicit `draft_id` survives crashes: a new writer with the same id reopens
    it, `existing_keys()` tells which rows are already on disk, and new shards continue the
    numbering. Without `draft_id` the draft is private to this writer.
    """

    def __init__(
        self, store: Store, name: str, features: Features | None = None, draft_id: str | None = None
    ):
        self.store = store
        self.name = check_name(name)
        self.features = features or TRAJECTORY_FEATURES
        self.draft_id = draft_id or uuid.uuid4().hex
        self.path = store.root / name / f".draft-{self.draft_id}"
        self.path.mkdir(parents=True, exist_ok=True)

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
        found = (_VERSION_RE.match(p.name) for p in folder.iterdir())
        return sorted(
            int(m.group(1)) for m in found if m and (folder / m.group(0) / MANIFEST).is_file()
        )

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
        info = ref if isinstance(ref, VersionInfo) else self.resolve(ref)
        return json.loads((info.path / MANIFEST).read_text())

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
