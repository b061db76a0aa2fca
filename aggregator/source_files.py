"""Source files of the shipper: glob expansion, opening, and reading from an offset.

Offsets count bytes of the file's content: of the file itself when it is
plain, of the decompressed stream when it is gzip-compressed. So a checkpoint
taken on `bot.jsonl` stays valid for `bot.jsonl.1.gz` made from it.
"""

from __future__ import annotations

import errno
import glob
import gzip
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aggregator.files import GZIP_MAGIC, KEPT_BYTES
from aggregator.fingerprint import fingerprint_content

STDIN_SOURCE = "-"

_CHUNK_BYTES = 1024 * 1024

_FINGERPRINT_CHUNK_BYTES = 64 * 1024

FileKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One line of a source, without its newline, and where it lies in the content.

    `data` is cut to its first `KEPT_BYTES` bytes when the line is longer, so
    that one runaway line cannot fill the memory. `length` is then larger
    than `len(data)`. `end_offset` is the content offset after the newline, or
    after the last byte read for a line that no newline ended yet.
    """

    data: bytes
    start_offset: int
    end_offset: int
    length: int
    is_complete: bool

    @property
    def is_cut(self) -> bool:
        """Return whether `data` holds only the start of a longer line."""
        return self.length > len(self.data)


class LineSplitter:
    """Split content, fed chunk by chunk, into lines of at most `KEPT_BYTES` kept bytes.

    Past that limit the rest of a line is counted but not kept, so memory
    stays bounded whatever the line length. Not thread-safe.
    """

    def __init__(self, start_offset: int) -> None:
        self.line_start = start_offset
        self.position = start_offset
        self._prefix_parts: list[bytes] = []
        self._prefix_bytes = 0

    def feed(self, chunk: bytes) -> Iterator[SourceLine]:
        """Yield the lines that a newline in `chunk` completes; keep the rest."""
        pieces = chunk.split(b"\n")
        rest = pieces.pop()
        for piece in pieces:
            self._keep(piece)
            self.position += len(piece) + 1
            yield self._take(is_complete=True)

        self._keep(rest)
        self.position += len(rest)

    def skip_to(self, offset: int) -> None:
        """Continue the pending line at `offset` without keeping the bytes before it.

        The caller checked that no newline lies between the current position
        and `offset`, and that `KEPT_BYTES` of the line are kept already or
        that nothing is skipped.
        """
        self.position = max(self.position, offset)

    def pending(self) -> SourceLine | None:
        """Return the line that no newline ended yet, or None if there is none."""
        if self.position == self.line_start:
            return None
        return self._line(is_complete=False)

    def _keep(self, piece: bytes) -> None:
        room = KEPT_BYTES - self._prefix_bytes
        if room > 0 and piece:
            kept = piece[:room]
            self._prefix_parts.append(kept)
            self._prefix_bytes += len(kept)

    def _take(self, *, is_complete: bool) -> SourceLine:
        line = self._line(is_complete=is_complete)
        self.line_start = self.position
        self._prefix_parts = []
        self._prefix_bytes = 0
        return line

    def _line(self, *, is_complete: bool) -> SourceLine:
        length = self.position - self.line_start - (1 if is_complete else 0)
        data = b"".join(self._prefix_parts)
        return SourceLine(data, self.line_start, self.position, length, is_complete)


@dataclass(frozen=True, slots=True)
class SkippedMatch:
    """A path that a source pattern matched but that is not a file to read.

    `reason` is `directory`, `dangling_symlink`, `symlink_loop` or
    `not_regular_file` (a FIFO, socket or device).
    """

    path: Path
    reason: str


@dataclass(slots=True)
class SourceMatches:
    """The result of one expansion of the source patterns.

    `paths` are the regular files, each listed once; `pattern_of` maps each
    of them to the first pattern, made absolute, that matched it. `unmatched`
    lists the patterns, as given, that matched no regular file at all.
    """

    paths: list[Path] = field(default_factory=list)
    pattern_of: dict[Path, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    skipped: list[SkippedMatch] = field(default_factory=list)


def absolute_pattern(pattern: str) -> str:
    """Return `pattern` as an absolute path, the form checkpoints record."""
    return str(Path(pattern).absolute())


def expand_sources(patterns: list[str]) -> SourceMatches:
    """Expand each pattern, a path or a glob, into the regular files it matches now.

    Paths are made absolute, so checkpoints stay valid when the next run
    starts in another working directory. Directories, dangling or looping
    symbolic links and other non-regular files are listed in `skipped`. A
    path whose type cannot be read (a folder without search permission) is
    listed in `paths`, so opening it reports the error.
    """
    matches = SourceMatches()
    for pattern in patterns:
        is_matched = False
        for name in sorted(glob.glob(pattern)):
            path = Path(name).absolute()
            reason = _skip_reason(path)
            if reason is not None:
                matches.skipped.append(SkippedMatch(path, reason))
                continue

            is_matched = True
            if path not in matches.pattern_of:
                matches.pattern_of[path] = absolute_pattern(pattern)
                matches.paths.append(path)

        if not is_matched:
            matches.unmatched.append(pattern)

    return matches


def _skip_reason(path: Path) -> str | None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        # A file deleted since `glob` listed it is left to `open` to skip.
        return "dangling_symlink" if path.is_symlink() else None
    except OSError as error:
        return "symlink_loop" if error.errno == errno.ELOOP else None

    if stat.S_ISDIR(mode):
        return "directory"
    if not stat.S_ISREG(mode):
        return "not_regular_file"
    return None


class OpenedSource:
    """An open source file, read through its descriptor so a rename does not matter.

    Not thread-safe: one shipper reads each source from one thread.
    """

    def __init__(self, path: Path, stream: BinaryIO) -> None:
        self.path = path
        self.stream = stream
        status = os.fstat(stream.fileno())
        self.key: FileKey = (status.st_dev, status.st_ino)
        self.is_gzip = os.pread(stream.fileno(), 2, 0) == GZIP_MAGIC
        self.read_error: str | None = None
        self._pending: LineSplitter | None = None

    @classmethod
    def open(cls, path: Path) -> OpenedSource:
        """Open `path` for reading; raises OSError as `open` does."""
        stream = path.open("rb", buffering=0)
        try:
            return cls(path, stream)
        except BaseException:
            stream.close()
            raise

    def close(self) -> None:
        self.stream.close()

    def size(self) -> int:
        """Return the current size in bytes on disk (compressed for gzip)."""
        return os.fstat(self.stream.fileno()).st_size

    def idle_s(self, now_s: float) -> float:
        """Return how many seconds ago the file was last modified."""
        return now_s - os.fstat(self.stream.fileno()).st_mtime

    def is_linked(self) -> bool:
        """Return whether any name in the filesystem still points to the file."""
        return os.fstat(self.stream.fileno()).st_nlink > 0

    def fingerprint(self) -> str | None:
        """Hash the first complete line of the content, read now.

        Returns None while there is no complete line, or when the file is
        gzip data that cannot be decompressed.
        """
        self.read_error = None
        chunks = self._content_chunks(0, _FINGERPRINT_CHUNK_BYTES)
        return fingerprint_content(chunks)

    def lines_from(
        self, offset: int, scanned_to: int | None = None
    ) -> Iterator[SourceLine]:
        """Yield the lines after content offset `offset`, as far as the file goes now.

        The last line is yielded with `is_complete=False` when no newline ends
        it yet. A gzip stream that is corrupt or cut off ends the lines early
        and sets `read_error`.

        Args:
            offset: where the first line starts.
            scanned_to: how far an earlier read found no newline after
                `offset`. Reading goes on from there, so the bytes of a long
                partial line are not searched again on every scan; only its
                first `KEPT_BYTES` are read again, and not even those while
                this object still has them in memory from the previous call.
        """
        self.read_error = None
        splitter = self._resume(offset, scanned_to or offset)
        self._pending = None
        for chunk in self._content_chunks(splitter.position, _CHUNK_BYTES):
            yield from splitter.feed(chunk)

        partial = splitter.pending()
        if partial is not None:
            self._pending = splitter
            yield partial

    def _resume(self, offset: int, scanned_to: int) -> LineSplitter:
        """Return a splitter for the line at `offset`, continued at `scanned_to`."""
        cached = self._pending
        if cached is not None and cached.line_start == offset:
            if cached.position >= scanned_to:
                return cached

        splitter = LineSplitter(offset)
        if scanned_to <= offset:
            return splitter

        prefix = self._read_prefix(offset, min(scanned_to - offset, KEPT_BYTES))
        if b"\n" in prefix:
            # The content changed since `scanned_to` was recorded: read it all.
            return splitter

        list(splitter.feed(prefix))
        splitter.skip_to(scanned_to)
        return splitter

    def _read_prefix(self, offset: int, size: int) -> bytes:
        chunks = []
        remaining = size
        for chunk in self._content_chunks(offset, min(size, _CHUNK_BYTES)):
            chunks.append(chunk[:remaining])
            remaining -= len(chunks[-1])
            if remaining <= 0:
                break
        return b"".join(chunks)

    def _content_chunks(self, offset: int, chunk_bytes: int) -> Iterator[bytes]:
        if not self.is_gzip:
            yield from self._plain_chunks(offset, chunk_bytes)
            return

        try:
            yield from self._gzip_chunks(offset, chunk_bytes)
        except (EOFError, OSError, zlib.error) as error:
            self.read_error = f"{type(error).__name__}: {error}"

    def _plain_chunks(self, offset: int, chunk_bytes: int) -> Iterator[bytes]:
        position = offset
        while chunk := os.pread(self.stream.fileno(), chunk_bytes, position):
            position += len(chunk)
            yield chunk

    def _gzip_chunks(self, offset: int, chunk_bytes: int) -> Iterator[bytes]:
        self.stream.seek(0)
        with gzip.GzipFile(fileobj=self.stream, mode="rb") as content:
            content.seek(offset)
            while chunk := content.read(chunk_bytes):
                yield chunk
