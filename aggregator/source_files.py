"""Source files of the shipper: glob expansion, opening, and reading from an offset.

Offsets count bytes of the file's content: of the file itself when it is
plain, of the decompressed stream when it is gzip-compressed. So a checkpoint
taken on `bot.jsonl` stays valid for `bot.jsonl.1.gz` made from it.
"""

from __future__ import annotations

import glob
import gzip
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aggregator.files import GZIP_MAGIC
from aggregator.fingerprint import fingerprint_content

STDIN_SOURCE = "-"

_CHUNK_BYTES = 1024 * 1024

_FINGERPRINT_CHUNK_BYTES = 64 * 1024

FileKey = tuple[int, int]


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One line of a source, with the content offset just after it."""

    data: bytes
    end_offset: int
    is_complete: bool


@dataclass(slots=True)
class SourceMatches:
    """The files the source patterns matched, and the literal paths that are missing."""

    paths: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def expand_sources(patterns: list[str]) -> SourceMatches:
    """Expand each pattern, a path or a glob, into the regular files it matches now.

    Paths are made absolute, so checkpoints stay valid when the next run
    starts in another working directory.

    A literal path that does not exist is listed in `missing`. A glob that
    matches nothing is not an error, because its files may appear later.
    """
    matches = SourceMatches()
    seen: set[Path] = set()
    for pattern in patterns:
        if not glob.has_magic(pattern) and not os.path.lexists(pattern):
            matches.missing.append(pattern)
            continue

        for name in sorted(glob.glob(pattern)):
            path = Path(name).absolute()
            if path not in seen and path.is_file():
                seen.add(path)
                matches.paths.append(path)

    return matches


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

    def lines_from(self, offset: int) -> Iterator[SourceLine]:
        """Yield the lines after content offset `offset`, as far as the file goes now.

        The last line is yielded with `is_complete=False` when no newline ends
        it yet. A gzip stream that is corrupt or cut off ends the lines early
        and sets `read_error`.
        """
        self.read_error = None
        pending = b""
        position = offset
        for chunk in self._content_chunks(offset, _CHUNK_BYTES):
            pieces = (pending + chunk).split(b"\n")
            pending = pieces.pop()
            for piece in pieces:
                position += len(piece) + 1
                yield SourceLine(piece, position, True)

        if pending:
            yield SourceLine(pending, position + len(pending), False)

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
