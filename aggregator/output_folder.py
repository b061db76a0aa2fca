"""The output folder of the shipper: daily timing files and rejected lines.

Timing lines go to `DIR/timing-YYYY-MM-DD.jsonl` by the UTC date of their
timestamp, byte for byte as they were read. Lines that fail validation go to
`DIR/rejected/YYYY-MM-DD.jsonl` by the UTC date they were rejected, one JSON
object each with the reason and the source position. Lines are buffered in
memory and written by `flush`, which fsyncs every file it wrote to.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from aggregator.checkpoints import sync_folder
from aggregator.errors import OutputWriteError

OUTPUT_FILE_MODE = 0o640

REJECTED_FOLDER = "rejected"

# A rejected line is written with at most this many of its bytes, so that a
# runaway line of hundreds of megabytes costs kilobytes in `rejected/`.
REJECTED_DATA_BYTES = 64 * 1024

TIMING_FILE_RE = re.compile(r"timing-\d{4}-\d{2}-\d{2}\.jsonl")

_EPOCH_DATE = date(1970, 1, 1)

_US_PER_DAY = 86_400_000_000


@dataclass(frozen=True, slots=True)
class RejectedLine:
    """A line that failed validation, and where it came from.

    `data` may be the start of the line only; `length` is its full length in
    bytes, without the newline.
    """

    source: str
    line: int
    offset: int
    code: str
    reason: str
    data: bytes
    length: int


def timing_file_name(timestamp_us: int) -> str:
    """Return the daily file name for an event at `timestamp_us` (UTC, µs)."""
    day = _EPOCH_DATE + timedelta(days=timestamp_us // _US_PER_DAY)
    return f"timing-{day.isoformat()}.jsonl"


class OutputFolder:
    """Buffered, append-only writer of the shipper's output files.

    Not thread-safe. Several shippers may append to the same folder, because
    each write contains whole lines and files are opened with `O_APPEND`.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.rejected_folder = folder / REJECTED_FOLDER
        self._buffers: dict[Path, list[bytes]] = {}
        self.pending_bytes = 0

    def add_timing(self, timestamp_us: int, line: bytes) -> None:
        """Queue one timing line, which must end with its newline."""
        self._add(self.folder / timing_file_name(timestamp_us), line)

    def add_rejected(self, rejected: RejectedLine, now_s: float) -> None:
        """Queue one rejected line with its reason, position and length.

        Only the first `REJECTED_DATA_BYTES` of the line are written as
        `data`; `length` keeps its real length.
        """
        moment = datetime.fromtimestamp(now_s, UTC)
        record: dict[str, Any] = {
            "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "event": "rejected_line",
            "source": rejected.source,
            "line": rejected.line,
            "offset": rejected.offset,
            "code": rejected.code,
            "reason": rejected.reason,
            "length": rejected.length,
            "data": rejected.data[:REJECTED_DATA_BYTES].decode("utf-8", "replace"),
        }
        path = self.rejected_folder / f"{moment.date().isoformat()}.jsonl"
        self._add(path, orjson.dumps(record) + b"\n")

    def flush(self) -> None:
        """Append every queued line to its file and fsync each file written.

        Raises:
            OutputWriteError: a file cannot be created or written. A file that
                was written in part is cut back to its previous size, so no
                half line is left for the next append to continue.
        """
        buffers, self._buffers = self._buffers, {}
        self.pending_bytes = 0
        for path, lines in sorted(buffers.items()):
            _append(path, b"".join(lines))

    def _add(self, path: Path, line: bytes) -> None:
        self._buffers.setdefault(path, []).append(line)
        self.pending_bytes += len(line)


def _append(path: Path, data: bytes) -> None:
    try:
        fd, is_new = _open_for_append(path)
    except OSError as error:
        msg = f"cannot create output file {str(path)!r}: {error}"
        raise OutputWriteError(msg) from error

    try:
        _write_whole(fd, path, data)
        if is_new:
            sync_folder(path.parent)
    except OSError as error:
        msg = f"cannot sync output file {str(path)!r}: {error}"
        raise OutputWriteError(msg) from error
    finally:
        os.close(fd)


def _open_for_append(path: Path) -> tuple[int, bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, OUTPUT_FILE_MODE)
    except FileExistsError:
        return os.open(path, flags), False

    os.fchmod(fd, OUTPUT_FILE_MODE)
    return fd, True


def _write_whole(fd: int, path: Path, data: bytes) -> None:
    size_before = os.fstat(fd).st_size
    view = memoryview(data)
    try:
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as error:
        _cut_back(fd, size_before)
        msg = f"cannot write output file {str(path)!r}: {error}"
        raise OutputWriteError(msg) from error


def _cut_back(fd: int, size: int) -> None:
    try:
        os.ftruncate(fd, size)
    except OSError:
        # NOTE: if even the cut fails, the file may end in a half line; the
        # next successful append then starts a line that `report` skips.
        pass
