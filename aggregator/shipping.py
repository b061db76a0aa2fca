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
from aggregator.lines import (
    MAX_LINE_BYTES,
    Malformed,
    ParseResult,
    TimingEvent,
    parse_line,
)
from aggregator.output_folder import TIMING_FILE_RE, OutputFolder, RejectedLine
from aggregator.rotation import find_rotated
from aggregator.source_files import (
    FileKey,
    LineSplitter,
    OpenedSource,
    SkippedMatch,
    SourceLine,
    absolute_pattern,
    expand_sources,
)

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
    """Lines handled by one scan or one run, and sources that failed.

    `unreadable` counts sources that could not be read or matched no file,
    and `vanished` files that disappeared before they were shipped to the end.
    """

    shipped: int = 0
    skipped: int = 0
    rejected: int = 0
    files: int = 0
    unreadable: int = 0
    vanished: int = 0

    @property
    def has_problems(self) -> bool:
        """Return whether lines were rejected, or a source failed or vanished."""
        return self.rejected > 0 or self.unreadable > 0 or self.vanished > 0

    @property
    def has_activity(self) -> bool:
        return self.shipped + self.skipped + self.rejected > 0 or self.has_problems

    def add(self, other: ShipCounts) -> None:
        self.shipped += other.shipped
        self.skipped += other.skipped
        self.rejected += other.rejected
        self.files += other.files
        self.unreadable += other.unreadable
        self.vanished += other.vanished

    def as_fields(self) -> dict[str, int]:
        """Return the counts as log fields."""
        return {
            "shipped": self.shipped,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "files": self.files,
            "unreadable": self.unreadable,
            "vanished": self.vanished,
        }


class LineRouter:
    """Classify lines with the validator `report` uses, and queue them for output."""

    def __init__(self, outputs: OutputFolder, counts: ShipCounts, clock: Clock) -> None:
        self.outputs = outputs
        self.counts = counts
        self.clock = clock

    def route(self, item: SourceLine, *, source: str, line: int) -> None:
        """Ship a timing line unchanged, reject a malformed one, skip the rest.

        Args:
            item: the line; a cut one (longer than the reader keeps) is
                rejected as `line_too_long` without being parsed.
            source: the path or `<stdin>`, written with a rejected line.
            line: the 1-based line number in the source.
        """
        result = _classify(item)
        if isinstance(result, TimingEvent):
            self.outputs.add_timing(result.timestamp_us, item.data + b"\n")
            self.counts.shipped += 1
            return

        if isinstance(result, Malformed):
            rejected = RejectedLine(
                source,
                line,
                item.start_offset,
                result.code,
                result.message,
                item.data,
                item.length,
            )
            self.outputs.add_rejected(rejected, self.clock())
            self.counts.rejected += 1
            return

        self.counts.skipped += 1


def _classify(item: SourceLine) -> ParseResult:
    if item.is_cut:
        message = (
            f"line is {item.length} bytes, over the limit of {MAX_LINE_BYTES} bytes"
        )
        return Malformed("line_too_long", message)
    return parse_line(item.data, is_complete=item.is_complete)


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
        self._unmatched: set[str] = set()
        self._skipped: set[Path] = set()

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
        self._report_skipped(matches.skipped)
        self._report_unmatched(matches.unmatched, router.counts)

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
            checkpoint.pattern = matches.pattern_of[path]
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
                self._report_gone(checkpoint, router.counts)
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
        for item in source.lines_from(checkpoint.offset, checkpoint.size):
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
        router.route(item, source=source_name, line=checkpoint.line + 1)
        checkpoint.offset = item.end_offset
        checkpoint.line += 1

    def _check_truncation(self, source: OpenedSource, checkpoint: Checkpoint) -> bool:
        """Return whether to read `source`; rewind the checkpoint if the file shrank.

        Only the file the checkpoint was taken on counts as truncated. Another
        file with the same first line but less content is a shorter copy of
        lines already shipped, so there is nothing to read in it.

        `checkpoint.size` records how far the partial last line was
        already searched for a newline. It is reset to the offset when the
        content is shorter now, because those bytes are then not the ones
        searched before.
        """
        if source.is_gzip:
            checkpoint.size = checkpoint.offset
            return True

        size = source.size()
        if size < checkpoint.size:
            checkpoint.size = checkpoint.offset
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
        checkpoint.size = 0
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

    def _report_unmatched(self, unmatched: list[str], counts: ShipCounts) -> None:
        """Log each pattern that matched no file, once until it matches again.

        A pattern that a checkpoint shows matched before, whose files were
        rotated away, is logged at info level and is not a problem. Any other
        is a problem and is counted once, because it is usually a typo or a
        glob that the shell expanded already.
        """
        self._unmatched &= set(unmatched)
        for pattern in unmatched:
            if pattern in self._unmatched:
                continue

            self._unmatched.add(pattern)
            has_matched = self.state.has_matched(absolute_pattern(pattern))
            if not has_matched:
                counts.unreadable += 1
            if has_matched:
                log.info("source_not_found", path=pattern, has_matched_before=True)
            else:
                log.warning(
                    "source_not_found",
                    path=pattern,
                    has_matched_before=False,
                    hint="check the path, or quote a glob so the shipper expands it",
                )

    def _report_skipped(self, skipped: list[SkippedMatch]) -> None:
        """Log each matched path that is not a regular file, once while it stays so.

        A directory is logged at info level, because `logs/*` often matches
        one on purpose. A broken symbolic link or a FIFO is a warning.
        """
        self._skipped &= {match.path for match in skipped}
        for match in skipped:
            if match.path in self._skipped:
                continue

            self._skipped.add(match.path)
            if match.reason == "directory":
                log.info("source_skipped", path=str(match.path), reason=match.reason)
            else:
                log.warning(
                    "source_skipped",
                    path=str(match.path),
                    reason=match.reason,
                    target=_link_target(match.path),
                )

    def _report_gone(self, checkpoint: Checkpoint, counts: ShipCounts) -> None:
        """Log a file that disappeared before it was shipped to its end and released.

        The file of the checkpoint's inode still at its path, with other
        content, was truncated and written again: logged as truncated. Any
        other disappearance (deleted, moved to another folder) is a problem,
        because lines appended since the last scan may be lost, and no
        process can count them any more.
        """
        if _has_inode_at_path(checkpoint):
            log.info(
                "source_truncated",
                path=checkpoint.path,
                offset=checkpoint.offset,
                reason="first line changed",
            )
            return

        counts.vanished += 1
        log.warning(
            "source_vanished",
            path=checkpoint.path,
            offset=checkpoint.offset,
            unshipped_bytes=checkpoint.size - checkpoint.offset,
            hint="unshipped_bytes counts what the last scan saw; lines appended "
            "after it are lost and not counted",
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
    splitter = LineSplitter(0)
    line = 0
    while not should_stop():
        readable, _, _ = select.select([fd], [], [], _STDIN_POLL_S)
        if not readable:
            continue

        chunk = os.read(fd, _STDIN_CHUNK_BYTES)
        if not chunk:
            break

        for item in splitter.feed(chunk):
            line += 1
            router.route(item, source=STDIN_NAME, line=line)
        outputs.flush()

    partial = splitter.pending()
    if partial is not None:
        router.route(partial, source=STDIN_NAME, line=line + 1)
    outputs.flush()
    _log_scan(counts)
    return counts


def _log_scan(counts: ShipCounts) -> None:
    if not counts.has_activity:
        return

    # Rejected lines are not logged one by one, so their count is the warning.
    if counts.rejected:
        log.warning("scan_done", **counts.as_fields())
    else:
        log.info("scan_done", **counts.as_fields())


def _has_inode_at_path(checkpoint: Checkpoint) -> bool:
    if checkpoint.path is None:
        return False
    try:
        status = os.stat(checkpoint.path)
    except OSError:
        return False
    return (status.st_dev, status.st_ino) == (checkpoint.device, checkpoint.inode)


def _link_target(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _log_read_error(source: OpenedSource, counts: ShipCounts) -> None:
    counts.unreadable += 1
    log.warning("source_read_failed", path=str(source.path), error=source.read_error)
