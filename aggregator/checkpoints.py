"""Checkpoints of the shipper: how far each source file has been shipped.

A checkpoint is keyed by the file's fingerprint (see `aggregator.fingerprint`)
and contains the content offset just after the last complete line shipped, with
the device, inode and path where the file was last found. The state file is
JSON, replaced atomically (write, fsync, rename, fsync of the folder), and
created with mode 0600. The caller saves it only after the output lines it
covers are flushed and fsynced, so a crash can repeat lines but never lose them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import orjson

from aggregator.atomic_files import replace_file

# `sync_folder` stays importable from here for `aggregator.output_folder`.
from aggregator.atomic_files import sync_folder as sync_folder
from aggregator.errors import StateFileError

STATE_VERSION = 1

STATE_FILE_MODE = 0o600

# A checkpoint whose file has not been seen for this long is dropped. A file
# that still exists under a source pattern is seen on every scan, so this only
# forgets files that left the patterns, such as old generations logrotate
# deleted.
FORGET_AFTER_S = 7 * 24 * 3600.0


@dataclass(slots=True)
class Checkpoint:
    """Shipping progress in one file's content.

    `offset` is the content offset after the last complete line shipped and
    `line` the number of lines before it. `size` is how far the content went
    at the last read, so `size > offset` means a partial last line is waiting.
    `path` is None once the file has been shipped to its end and released
    (renamed away and idle, deleted, or a complete gzip file); `is_complete`
    is then True and the checkpoint only stops a copy of the file from being
    shipped again. `pattern` is the source pattern, made absolute, that last
    matched the file; it outlives the release, so a pattern whose files were
    all rotated away is known to have matched before.
    """

    fingerprint: str
    offset: int = 0
    line: int = 0
    size: int = 0
    path: str | None = None
    device: int = 0
    inode: int = 0
    seen_at_s: float = 0.0
    is_complete: bool = False
    pattern: str | None = None

    @property
    def is_active(self) -> bool:
        return self.path is not None


class ShipState:
    """All checkpoints, loaded from and saved to one state file."""

    def __init__(self, path: Path, checkpoints: dict[str, Checkpoint]) -> None:
        self.path = path
        self._checkpoints = checkpoints
        self._saved = b""

    @classmethod
    def load(cls, path: Path) -> ShipState:
        """Read the state file, or start empty if it does not exist.

        Raises:
            StateFileError: the file cannot be read or is not a state file.
        """
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return cls(path, {})
        except OSError as error:
            msg = f"cannot read state file {str(path)!r}: {error}"
            raise StateFileError(msg) from error

        state = cls(path, _parse_state(path, data))
        state._saved = data
        return state

    def __iter__(self) -> Iterator[Checkpoint]:
        return iter(list(self._checkpoints.values()))

    def get(self, fingerprint: str) -> Checkpoint | None:
        return self._checkpoints.get(fingerprint)

    def setdefault(self, fingerprint: str) -> Checkpoint:
        """Return the checkpoint of `fingerprint`, creating one at offset 0."""
        checkpoint = self._checkpoints.get(fingerprint)
        if checkpoint is None:
            checkpoint = Checkpoint(fingerprint)
            self._checkpoints[fingerprint] = checkpoint
        return checkpoint

    def has_matched(self, pattern: str) -> bool:
        """Return whether a checkpoint records a file that `pattern` matched."""
        return any(item.pattern == pattern for item in self._checkpoints.values())

    def active(self) -> list[Checkpoint]:
        """Return the checkpoints of files that may still have lines to ship."""
        return [item for item in self._checkpoints.values() if item.is_active]

    def forget_unseen(self, before_s: float) -> int:
        """Drop released checkpoints last seen before `before_s`; return how many."""
        stale = [
            key
            for key, item in self._checkpoints.items()
            if not item.is_active and item.seen_at_s < before_s
        ]
        for key in stale:
            del self._checkpoints[key]
        return len(stale)

    def save_if_changed(self) -> bool:
        """Replace the state file atomically unless it already contains this state.

        Returns:
            Whether the file was written.

        Raises:
            StateFileError: the file or its folder cannot be written.
        """
        document = {
            "version": STATE_VERSION,
            "checkpoints": [asdict(item) for item in self._checkpoints.values()],
        }
        data = orjson.dumps(document, option=orjson.OPT_INDENT_2)
        if data == self._saved:
            return False

        try:
            replace_file(self.path, data, STATE_FILE_MODE)
        except OSError as error:
            msg = f"cannot write state file {str(self.path)!r}: {error}"
            raise StateFileError(msg) from error

        self._saved = data
        return True


def _parse_state(path: Path, data: bytes) -> dict[str, Checkpoint]:
    try:
        document = orjson.loads(data)
        if document.get("version") != STATE_VERSION:
            msg = f"unknown version {document.get('version')!r}"
            raise ValueError(msg)
        items = [_checkpoint(item) for item in document["checkpoints"]]
    except (
        orjson.JSONDecodeError,
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
    ) as error:
        msg = (
            f"state file {str(path)!r} is not valid ({error}): move it away to "
            "start over, which ships every source again from the start"
        )
        raise StateFileError(msg) from error

    return {item.fingerprint: item for item in items}


_FIELD_NAMES = frozenset(item.name for item in fields(Checkpoint))


def _checkpoint(item: Any) -> Checkpoint:
    if not isinstance(item, dict) or not isinstance(item.get("fingerprint"), str):
        msg = f"checkpoint {item!r} has no fingerprint"
        raise ValueError(msg)

    checkpoint = Checkpoint(**{key: item[key] for key in _FIELD_NAMES if key in item})
    if not isinstance(checkpoint.offset, int) or checkpoint.offset < 0:
        msg = f"checkpoint offset {checkpoint.offset!r} is not a byte count"
        raise ValueError(msg)
    return checkpoint
