"""Ship timing lines from log files into the output folder, losing none.

Each scan expands the source patterns, identifies every file by its
fingerprint, and ships the complete lines after the file's checkpoint. Files
that left the patterns since the last scan (renamed by rotation, deleted, or
cut back by copytruncate) are found again and drained before they are
forgotten. Output is flushed and fsynced before the checkpoints that cover it
are saved, so delivery is at least once: a crash repeats lines, which
`report` and `check` drop by `event_id`.

The shipper does not import polars, so it can run beside the bot.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from aggregator.checkpoints import FORGET_AFTER_S, Checkpoint, ShipState
from aggregator.lines import Malformed, TimingEvent, parse_line
from aggregator.output_folder import TIMING_FILE_RE, OutputFolder, RejectedLine
from aggregator.rotation import find_rotated
from aggregator.source_files import FileKey, OpenedSource, SourceLine, expand_sources

DEFAULT_ROTATE_WAIT_S = 60.0

COMMIT_BYTES = 8 * 1024 * 1024

STDIN_NAME = "<stdin>"

# `seen_at_s` only decides when a checkpoint is forgotten, days later, so it
# is refreshed hourly to keep unchanged scans from rewriting the state file.
_SEEN_REFRESH_S = 3600.0

_STDIN_CHUNK_BYTES = 64 * 1024

_STDIN_POLL_S = 0.2

log = structlog.get_logger("datadrop_slo.ship")

Clock = Callable[[], float]

StopCheck = Callable[[], bool]


def _never_stop() -> bool:
    return False


@dataclass(slots=True)
class ShipCounts:
    """Lines handled by one scan or one run, and sources that failed."""

    shipped: int = 0
    skipped: int = 0
    rejected: int = 0
    files: int = 0
    unreadable: int = 0

    @property
    def has_problems(self) -> bool:
        """Return whether lines were rejected or a source could not be read."""
        return self.rejected > 0 or self.unreadable > 0

    @property
    def has_activity(self) -> bool:
        return self.shipped + self.skipped + self.rejected + self.unreadable > 0

    def add(self, other: ShipCounts) -> None:
        self.shipped += other.shipped
        self.skipped += other.skipped
        self.rejected += other.rejected
        self.files += other.files
        self.unreadable += other.unreadable


class LineRouter:
    """Classify lines with the validator `report` uses, and queue them for output."""

    def __init__(self, outputs: OutputFolder, counts: ShipCounts, clock: Clock) -> None:
        self.outputs = outputs
        self.counts = counts
        self.clock = clock

    def route(
        self, data: bytes, *, is_complete: bool, source: str, line: int, offset: int
    ) -> None:
        """Ship a timing line unchanged, reject a malformed one, skip the rest.

        Args:
            data: the line without its newline.
            is_complete: False for a last line that no newline ended.
            source: the path or `<stdin>`, written with a rejected line.
            line: the 1-based line number in the source.
            offset: the content offset where the line starts.
        """
        result = parse_line(data, is_complete=is_complete)
        if isinstance(result, TimingEvent):
            self.outputs.add_timing(result.timestamp_us, data + b"\n")
            self.counts.shipped += 1
            return

        if isinstance(result, Malformed):
            rejected = RejectedLine(
                source, line, offset, result.code, result.message, data
            )
            self.outputs.add_rejected(rejected, self.clock())
            self.counts.rejected += 1
            return

        self.counts.skipped += 1


class Shipper:
    """Ship from source patterns into an output folder, scan after scan.

    Not thread-safe. Between scans it keeps the files it read open, so a file
    renamed or deleted after a scan can still be drained by the next one.
    Call `close` when done.
    """

    def __init__(
        self,
        patterns: list[str],
        outputs: OutputFolder,
        state: ShipState,
        *,
        rotate_wait_s: float = DEFAULT_ROTATE_WAIT_S,
        clock: Clock = time.time,
    ) -> None:
        self.patterns = patterns
        self.outputs = outputs
        self.state = state
        self.rotate_wait_s = rotate_wait_s
        self.clock = clock
        self._open_sources: dict[FileKey, OpenedSource] = {}
        self._failing: set[str] = set()
        self._ignored: set[str] = set()
        self._announced: set[str] = set()

    def scan(self, should_stop: StopCheck = _never_stop) -> ShipCounts:
        """Ship what the sources hold now, then save the checkpoints.

        Args:
            should_stop: checked between files and batches; when it returns
                True the scan commits what it shipped and returns early.

        Raises:
            OutputWriteError: an output file cannot be written.
            StateFileError: the state file cannot be written.
        """
        counts = ShipCounts()
        router = LineRouter(self.outputs, counts, self.clock)
        used: dict[FileKey, OpenedSource] = {}

        seen = self._ship_matched(router, used, should_stop)
        if not should_stop():
            self._ship_moved(seen, router, used, should_stop)

        self._close_unused(used)
        self.state.forget_unseen(self.clock() - FORGET_AFTER_S)
        self.commit()
        _log_scan(counts)
        return counts

    def commit(self) -> None:
        """Flush and fsync queued output, then save the checkpoints that cover it."""
        self.outputs.flush()
        self.state.save_if_changed()

    def close(self) -> None:
        """Close every source file still open."""
        self._close_unused({})

    def _ship_matched(
        self,
        router: LineRouter,
        used: dict[FileKey, OpenedSource],
        should_stop: StopCheck,
    ) -> set[str]:
        matches = expand_sources(self.patterns)
        self._report_missing(matches.missing, router.counts)

        seen: set[str] = set()
        for path in matches.paths:
            if should_stop():
                break
            if self._is_own_file(path):
                continue

            source = self._open(path, used, router.counts)
            fingerprint = None if source is None else self._identify(source, router)
            if source is None or fingerprint is None:
                continue

            seen.add(fingerprint)
            checkpoint = self.state.setdefault(fingerprint)
            self._mark_seen(checkpoint)
            if not checkpoint.is_complete:
                self._ship_source(source, checkpoint, router, should_stop)

        return seen

    def _ship_moved(
        self,
        seen: set[str],
        router: LineRouter,
        used: dict[FileKey, OpenedSource],
        should_stop: StopCheck,
    ) -> None:
        for checkpoint in self.state.active():
            if checkpoint.fingerprint in seen:
                continue
            if should_stop():
                return

            source = self._find_moved(checkpoint, used)
            if source is None:
                _log_vanished(checkpoint)
                checkpoint.path = None
                continue

            used[source.key] = source
            self._announce_move(checkpoint, source)
            self._mark_seen(checkpoint)
            is_idle = source.idle_s(self.clock()) >= self.rotate_wait_s
            self._ship_source(source, checkpoint, router, should_stop, is_idle)

    def _ship_source(
        self,
        source: OpenedSource,
        checkpoint: Checkpoint,
        router: LineRouter,
        should_stop: StopCheck,
        is_final: bool = False,
    ) -> None:
        """Ship the complete lines after the checkpoint.

        With `is_final`, a last line without a newline is shipped too, and
        the checkpoint is released.

        A gzip file is always final: nothing is appended to it after it is
        complete, and a cut-off one sets `read_error` and is read again later.
        """
        router.counts.files += 1
        is_final = is_final or source.is_gzip
        if not self._check_truncation(source, checkpoint):
            return

        self._note_location(source, checkpoint)
        for item in source.lines_from(checkpoint.offset):
            checkpoint.size = item.end_offset
            if not item.is_complete and not (is_final and source.read_error is None):
                break

            self._route(item, checkpoint, router, str(source.path))
            if self.outputs.pending_bytes >= COMMIT_BYTES:
                self.commit()
                if should_stop():
                    return

        if source.read_error is not None:
            _log_read_error(source, router.counts)
        elif is_final:
            self._release(checkpoint, source)

    def _route(
        self,
        item: SourceLine,
        checkpoint: Checkpoint,
        router: LineRouter,
        source_name: str,
    ) -> None:
        router.route(
            item.data,
            is_complete=item.is_complete,
            source=source_name,
            line=checkpoint.line + 1,
            offset=checkpoint.offset,
        )
        checkpoint.offset = item.end_offset
        checkpoint.line += 1

    def _check_truncation(self, source: OpenedSource, checkpoint: Checkpoint) -> bool:
        """Return whether to read `source`; rewind the checkpoint if the file shrank.

        Only the file the checkpoint was taken on counts as truncated. Another
        file with the same first line but less content is a shorter copy of
        lines already shipped, so there is nothing to read in it.
        """
        if source.is_gzip:
            return True

        size = source.size()
        if size >= checkpoint.offset:
            return True

        if source.key != (checkpoint.device, checkpoint.inode):
            return False

        log.info(
            "source_truncated",
            path=str(source.path),
            offset=checkpoint.offset,
            size=size,
        )
        checkpoint.offset = 0
        checkpoint.line = 0
        return True

    def _note_location(self, source: OpenedSource, checkpoint: Checkpoint) -> None:
        checkpoint.path = str(source.path)
        checkpoint.device, checkpoint.inode = source.key

    def _release(self, checkpoint: Checkpoint, source: OpenedSource) -> None:
        checkpoint.path = None
        checkpoint.is_complete = True
        if checkpoint.fingerprint in self._announced:
            self._announced.discard(checkpoint.fingerprint)
            log.info(
                "source_released",
                path=str(source.path),
                offset=checkpoint.offset,
                lines=checkpoint.line,
            )

    def _find_moved(
        self, checkpoint: Checkpoint, used: dict[FileKey, OpenedSource]
    ) -> OpenedSource | None:
        key = (checkpoint.device, checkpoint.inode)
        still_open = used.get(key) or self._open_sources.get(key)
        if (
            still_open is not None
            and still_open.fingerprint() == checkpoint.fingerprint
        ):
            return still_open

        found = find_rotated(checkpoint)
        if found is not None and found.key in used:
            found.close()
            return used[found.key]
        return found

    def _announce_move(self, checkpoint: Checkpoint, source: OpenedSource) -> None:
        if checkpoint.fingerprint in self._announced:
            return

        self._announced.add(checkpoint.fingerprint)
        if str(source.path) == checkpoint.path and source.is_linked():
            return

        if not source.is_linked():
            log.info("source_deleted", path=checkpoint.path, offset=checkpoint.offset)
            return

        # `filename` is also a stdlib LogRecord attribute; structlog takes it
        # as an ordinary key, and the stdlib path renames it.
        log.info(
            "source_rotated",
            path=checkpoint.path,
            filename=source.path.name,
            rotated_path=str(source.path),
            offset=checkpoint.offset,
        )

    def _open(
        self, path: Path, used: dict[FileKey, OpenedSource], counts: ShipCounts
    ) -> OpenedSource | None:
        try:
            status = os.stat(path)
        except FileNotFoundError:
            return None
        except OSError as error:
            self._report_unreadable(path, error, counts)
            return None

        # A held descriptor keeps its inode from being reused, so a key match
        # is the same file.
        key = (status.st_dev, status.st_ino)
        source = used.get(key) or self._open_sources.get(key)
        if source is None:
            try:
                source = OpenedSource.open(path)
            except OSError as error:
                self._report_unreadable(path, error, counts)
                return None

        self._failing.discard(str(path))
        source.path = path
        used[source.key] = source
        return source

    def _is_own_file(self, path: Path) -> bool:
        """Return whether `path` is an output, rejected or state file of this shipper.

        A pattern such as `logs/*` with `--to logs` would otherwise ship the
        shipper's own output again, and again.
        """
        resolved = path.resolve()
        state_path = self.state.path.resolve()
        is_own = (
            resolved.parent == self.outputs.rejected_folder.resolve()
            or (
                resolved.parent == self.outputs.folder.resolve()
                and TIMING_FILE_RE.fullmatch(resolved.name) is not None
            )
            or (
                resolved.parent == state_path.parent
                and state_path.name in resolved.name
            )
        )
        if is_own and str(path) not in self._ignored:
            self._ignored.add(str(path))
            log.info("source_is_own_output", path=str(path))
        return is_own

    def _identify(self, source: OpenedSource, router: LineRouter) -> str | None:
        fingerprint = source.fingerprint()
        if fingerprint is None and source.read_error is not None:
            _log_read_error(source, router.counts)
        return fingerprint

    def _mark_seen(self, checkpoint: Checkpoint) -> None:
        now_s = self.clock()
        if now_s - checkpoint.seen_at_s >= _SEEN_REFRESH_S:
            checkpoint.seen_at_s = now_s

    def _report_missing(self, missing: list[str], counts: ShipCounts) -> None:
        for name in missing:
            counts.unreadable += 1
            if name not in self._failing:
                self._failing.add(name)
                log.warning(
                    "source_not_found",
                    path=name,
                    hint="check the path, or quote a glob so the shipper expands it",
                )

    def _report_unreadable(
        self, path: Path, error: OSError, counts: ShipCounts
    ) -> None:
        counts.unreadable += 1
        if str(path) not in self._failing:
            self._failing.add(str(path))
            log.error("source_unreadable", path=str(path), error=str(error))

    def _close_unused(self, used: dict[FileKey, OpenedSource]) -> None:
        for key, source in self._open_sources.items():
            if used.get(key) is not source:
                source.close()
        self._open_sources = dict(used)


def ship_stream(
    fd: int,
    outputs: OutputFolder,
    should_stop: StopCheck = _never_stop,
    clock: Clock = time.time,
) -> ShipCounts:
    """Ship lines read from a descriptor (standard input) until end of file or stop.

    Output is flushed and fsynced after every read. There is no checkpoint,
    because a stream cannot be read again. Lines still unread in the pipe
    when `should_stop` returns True stay there. A last line without a
    newline is shipped if it is a valid timing line, and rejected otherwise.
    """
    counts = ShipCounts(files=1)
    router = LineRouter(outputs, counts, clock)
    pending = b""
    line = 0
    offset = 0
    while not should_stop():
        readable, _, _ = select.select([fd], [], [], _STDIN_POLL_S)
        if not readable:
            continue

        chunk = os.read(fd, _STDIN_CHUNK_BYTES)
        if not chunk:
            break

        pieces = (pending + chunk).split(b"\n")
        pending = pieces.pop()
        for piece in pieces:
            line += 1
            router.route(
                piece, is_complete=True, source=STDIN_NAME, line=line, offset=offset
            )
            offset += len(piece) + 1
        outputs.flush()

    if pending:
        router.route(
            pending, is_complete=False, source=STDIN_NAME, line=line + 1, offset=offset
        )
    outputs.flush()
    _log_scan(counts)
    return counts


def _log_scan(counts: ShipCounts) -> None:
    if not counts.has_activity:
        return

    fields = {
        "shipped": counts.shipped,
        "skipped": counts.skipped,
        "rejected": counts.rejected,
        "files": counts.files,
        "unreadable": counts.unreadable,
    }
    if counts.rejected:
        log.warning("scan_done", **fields)
    else:
        log.info("scan_done", **fields)


def _log_vanished(checkpoint: Checkpoint) -> None:
    unshipped_bytes = checkpoint.size - checkpoint.offset
    if unshipped_bytes <= 0:
        log.info("source_removed", path=checkpoint.path, offset=checkpoint.offset)
        return

    log.warning(
        "source_vanished",
        path=checkpoint.path,
        offset=checkpoint.offset,
        unshipped_bytes=unshipped_bytes,
    )


def _log_read_error(source: OpenedSource, counts: ShipCounts) -> None:
    counts.unreadable += 1
    log.warning("source_read_failed", path=str(source.path), error=source.read_error)
