"""Keep the parsed events of closed log files as Parquet, to repeat reports fast.

An entry contains one file's events, before de-duplication across files, and
the counts of what reading it found (lines, other lines, skipped lines per
reason with the first line number). It is keyed by the file's device and
inode, and stores the file's size, modification time in nanoseconds and
`FORMAT_VERSION`; an entry whose stored values differ from the file's
current ones is ignored and replaced.

Only closed files are cached: a file modified within `OPEN_FILE_AGE_S`, a
file whose last line has no newline, a file that changed while it was read
and a file whose reading stopped early are always read in full.

Entries live under `$XDG_CACHE_HOME/datadrop-slo` (default
`~/.cache/datadrop-slo`) with mode 0600 in a folder of mode 0700, and are
written to a temporary file first and renamed into place, so a reader
never sees half an entry. An entry that cannot be read or decoded is
ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

import polars as pl

# 2: low-cardinality keys stored as categoricals, and id hashes added
# (`STORED_SCHEMA`).
FORMAT_VERSION = 2

# A file modified more recently than this may still be written to.
OPEN_FILE_AGE_S = 60.0

FOLDER_MODE = 0o700

_METADATA_KEY = "datadrop_slo_cache"

# lz4 entries are about 1.7 times the size of zstd ones, but `read_parquet`
# read the entry of benchmarks/report.py's 1M-line file in 0.08 s instead of
# 0.18 s (2-core VM). Readers decode either codec.
_COMPRESSION: Final = "lz4"

# How much of each end of a file its identity hashes.
END_BYTES = 4096

# Events per part file while an entry is built: about 100 MB of events.
PART_ROWS = 1_000_000

# Temporary files older than this are left by a killed run and removed.
STALE_TEMPORARY_S = 3600.0

# Errors that make an entry unusable: missing, unreadable, not Parquet, or
# Parquet without the expected columns.
_ENTRY_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    pl.exceptions.PolarsError,
    # A damaged entry can make polars' Parquet reader panic. PanicException
    # derives from BaseException, so it needs naming.
    pl.exceptions.PanicException,
)

# Left while an entry is read: `<prefix><entry name>.<pid>`. A marker whose
# process is gone names an entry that may have crashed its reader.
_LOADING_PREFIX = ".loading-"


@dataclass(frozen=True, slots=True)
class FileIdentity:
    """The file id, size, mtime and ends that a current cache entry must match.

    `ends` hashes the file's first and last `END_BYTES`, because an inode
    can be reused by a new file of equal size and mtime (archives restore
    mtimes in whole seconds), and it would then get the old file's entry.
    """

    device: int
    inode: int
    size: int
    mtime_ns: int
    ends: str

    @classmethod
    def of(cls, path: Path) -> FileIdentity | None:
        """Return the identity of a regular file, or None for anything else."""
        try:
            # Checked before opening: opening a FIFO would wait for a writer.
            if not stat.S_ISREG(os.stat(path).st_mode):
                return None
            with path.open("rb") as stream:
                status = os.fstat(stream.fileno())
                ends = _hash_ends(stream, status.st_size)
        except OSError:
            return None
        return cls(
            status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, ends
        )

    def is_closed(self, now_s: float) -> bool:
        """Tell whether the file was last modified long enough ago to cache."""
        return self.mtime_ns / 1e9 < now_s - OPEN_FILE_AGE_S

    def entry_name(self) -> str:
        return f"{self.device:x}-{self.inode:x}.parquet"

    def as_metadata(self) -> dict[str, int | str]:
        return {
            "version": FORMAT_VERSION,
            # The id hashes are stable within one polars version only.
            "polars": pl.__version__,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "ends": self.ends,
        }


def _hash_ends(stream: BinaryIO, size: int) -> str:
    """Hash the first and the last `END_BYTES` of an open file."""
    hasher = hashlib.blake2b(stream.read(END_BYTES), digest_size=16)
    if size > END_BYTES:
        stream.seek(max(END_BYTES, size - END_BYTES))
        hasher.update(stream.read(END_BYTES))
    return hasher.hexdigest()


@dataclass(slots=True)
class CachedFile:
    """A file's events, and its read counts as JSON-ready data."""

    events: pl.DataFrame
    counts: dict[str, Any]


@dataclass(slots=True)
class EventCache:
    """Cached events of closed log files, in one folder.

    `error` stores the first failure to write an entry; a failed write never
    fails the read, it only leaves the file uncached.
    """

    folder: Path
    schema: dict[str, pl.DataType]
    error: str | None = field(default=None)
    _is_swept: bool = field(default=False, repr=False)

    @classmethod
    def default_folder(cls) -> Path:
        """Return `$XDG_CACHE_HOME/datadrop-slo`, or `~/.cache/datadrop-slo`."""
        base = os.environ.get("XDG_CACHE_HOME", "")
        if not os.path.isabs(base):
            # The XDG base directory spec says to ignore a relative value.
            base = str(Path.home() / ".cache")
        return Path(base) / "datadrop-slo"

    # NOTE: entries carry no checksum, because checking one cost about as
    # much as reading the columns. A bit flipped on disk inside a value can
    # change reports until the log file changes or the folder is cleared.
    def load(
        self, identity: FileIdentity, columns: Sequence[str] | None = None
    ) -> CachedFile | None:
        """Return the entry for `identity`, or None if it is missing or stale.

        `columns` names the columns to read, in order (default: all); Parquet
        reads only those from disk.
        """
        names = list(self.schema if columns is None else columns)
        entry = self.folder / identity.entry_name()
        self._sweep_once()
        marker = _mark_loading(entry)
        try:
            metadata = pl.read_parquet_metadata(entry)
            stored = json.loads(metadata[_METADATA_KEY])
            if stored["identity"] != identity.as_metadata():
                return None
            events = pl.read_parquet(entry, columns=names)
        except _ENTRY_ERRORS:
            return None
        finally:
            if marker is not None:
                marker.unlink(missing_ok=True)

        if dict(events.schema) != {name: self.schema.get(name) for name in names}:
            return None
        return CachedFile(events, stored["counts"])

    def writer(self, identity: FileIdentity) -> EntryWriter:
        """Return a writer that builds the entry for `identity` part by part."""
        return EntryWriter(self, identity)

    def record_error(self, error: OSError | pl.exceptions.PolarsError) -> None:
        """Keep the first failure to write, for the caller to report."""
        if self.error is None:
            reason = getattr(error, "strerror", None) or error
            self.error = f"{self.folder}: {reason}"

    def _prepare_folder(self) -> None:
        """Create the folder with mode 0700, or tighten an existing one to it.

        The first call also removes temporary files that a killed run left.
        """
        self.folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
        mode = stat.S_IMODE(self.folder.stat().st_mode)
        if mode & ~FOLDER_MODE:
            # Only take rights away: a folder its owner made read-only stays so.
            os.chmod(self.folder, mode & FOLDER_MODE)
        self._sweep_once()

    def _sweep_once(self) -> None:
        """On first use, remove what killed or crashed runs left."""
        if self._is_swept or not self.folder.is_dir():
            return
        self._is_swept = True
        _remove_stale_temporaries(self.folder)
        _remove_crashed_entries(self.folder)

    # NOTE: entries of deleted log files are never removed; clear the
    # folder by hand if it grows too large.
    def temporary_file(self, prefix: str) -> tuple[int, Path]:
        """Create a file of mode 0600 in the folder; return its handle and path."""
        self._prepare_folder()
        handle, name = tempfile.mkstemp(dir=self.folder, prefix=prefix)
        return handle, Path(name)


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove part and entry files older than `STALE_TEMPORARY_S`.

    A run that is killed while it builds an entry leaves them behind. Files
    of a run still going are younger, because parts are written as a file is
    read.
    """
    oldest_s = time.time() - STALE_TEMPORARY_S
    for pattern in (".part-*", ".entry-*"):
        for path in folder.glob(pattern):
            try:
                if path.stat().st_mtime < oldest_s:
                    path.unlink()
            except OSError:
                continue


def _mark_loading(entry: Path) -> Path | None:
    """Leave a marker naming `entry` and this process; None if it cannot."""
    marker = entry.with_name(f"{_LOADING_PREFIX}{entry.name}.{os.getpid()}")
    try:
        marker.touch(mode=0o600)
    except OSError:
        return None
    return marker


def _remove_crashed_entries(folder: Path) -> None:
    """Remove each entry whose reader died while reading it, and its marker.

    A damaged entry can abort the process inside polars (a failed allocation
    of a corrupt length), where no exception can be caught. Without this, it
    would abort every later run until removed by hand.
    """
    for marker in folder.glob(f"{_LOADING_PREFIX}*"):
        name, _, pid = marker.name.removeprefix(_LOADING_PREFIX).rpartition(".")
        if not pid.isdigit() or _is_running(int(pid)):
            continue
        for path in (folder / name, marker):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                continue


def _is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EntryWriter:
    """Build one cache entry while its file is read, in bounded memory.

    Frames are written to part files of about `PART_ROWS` rows as they come,
    and `commit` streams the parts into the entry, so a large file's events
    never sit in memory whole. Nothing becomes visible before `commit`.
    """

    def __init__(self, cache: EventCache, identity: FileIdentity) -> None:
        self._cache = cache
        self._identity = identity
        self._frames: list[pl.DataFrame] = []
        self._rows = 0
        self._parts: list[Path] = []
        self._failed = False

    def add(self, events: pl.DataFrame) -> None:
        """Add events in `cache.schema` form; write a part when enough are held."""
        if self._failed:
            return
        self._frames.append(events)
        self._rows += events.height
        if self._rows >= PART_ROWS:
            self._guard(self._write_part)

    def commit(self, counts: dict[str, Any]) -> None:
        """Write the entry with the file's read counts, atomically."""
        if not self._failed:
            self._guard(lambda: self._write_entry(counts))
        self.discard()

    def discard(self) -> None:
        """Drop what was gathered and remove the part files."""
        self._frames.clear()
        for part in self._parts:
            part.unlink(missing_ok=True)
        self._parts.clear()

    def _guard(self, action: Callable[[], None]) -> None:
        try:
            action()
        except (OSError, pl.exceptions.PolarsError) as error:
            self._failed = True
            self._cache.record_error(error)
            self.discard()

    def _write_part(self) -> None:
        handle, path = self._cache.temporary_file(".part-")
        self._parts.append(path)
        with os.fdopen(handle, "wb") as stream:
            self._gathered().write_parquet(stream, compression=_COMPRESSION)
        self._frames.clear()
        self._rows = 0

    def _gathered(self) -> pl.DataFrame:
        empty = pl.DataFrame(schema=self._cache.schema)
        return pl.concat([empty, *self._frames], how="vertical", rechunk=False)

    def _write_entry(self, counts: dict[str, Any]) -> None:
        metadata = {
            _METADATA_KEY: json.dumps(
                {"identity": self._identity.as_metadata(), "counts": counts}
            )
        }
        handle, temporary = self._cache.temporary_file(".entry-")
        try:
            if self._parts:
                os.close(handle)
                if self._frames:
                    self._write_part()
                pl.scan_parquet(self._parts).sink_parquet(
                    temporary, compression=_COMPRESSION, metadata=metadata
                )
            else:
                with os.fdopen(handle, "wb") as stream:
                    self._gathered().write_parquet(
                        stream, compression=_COMPRESSION, metadata=metadata
                    )
            os.replace(temporary, self._cache.folder / self._identity.entry_name())
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
