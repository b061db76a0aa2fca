"""Find log files and read their lines, plain or gzip-compressed.

Folders given as inputs contribute the files whose names end in `.jsonl`,
`.jsonl.gz` or logrotate's numbered forms (`.jsonl.1`, `.jsonl.2.gz`), without
descending into subfolders. Gzip is recognised by its magic bytes, not by the
name, so a compressed file with any name is read correctly.
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from aggregator.errors import InputError, UnreadableInputError
from aggregator.lines import MAX_LINE_BYTES

LOG_NAME_RE = re.compile(r"\.jsonl(?:\.\d+)?(?:\.gz)?$")

GZIP_MAGIC = b"\x1f\x8b"

_CHUNK_BYTES = 1024 * 1024

# The most of one line kept in memory: past the reader's limit, so that a
# longer line is still classified as too long.
KEPT_BYTES = MAX_LINE_BYTES + 8
_KEPT_BYTES = KEPT_BYTES


@dataclass(frozen=True, slots=True)
class RawLine:
    """One line of a file: its 1-based number, bytes, and whether a newline ended it."""

    number: int
    data: bytes
    is_complete: bool


@dataclass(slots=True)
class FileReadError:
    """A problem with a whole file that stopped reading it early."""

    message: str


@dataclass(slots=True)
class LineSource:
    """The lines of one file, read lazily; `error` is set if reading stopped early."""

    path: Path
    error: FileReadError | None = field(default=None)

    def __iter__(self) -> Iterator[RawLine]:
        yield from _split_lines(self.chunks())

    def chunks(self) -> Iterator[bytes]:
        """Yield the file's bytes, decompressed if it is gzip, in chunks."""
        with self.path.open("rb") as stream:
            is_gzip = looks_like_gzip(stream.read(4))
            stream.seek(0)
            if not is_gzip:
                yield from _chunks(stream)
                return

            yielded = False
            for data in _gunzip(stream, self):
                yielded = True
                yield data
            if not yielded and self.error is not None:
                # Plain text that merely starts like gzip: read it as text.
                self.error = None
                stream.seek(0)
                yield from _chunks(stream)


def looks_like_gzip(head: bytes) -> bool:
    """Tell whether bytes start a gzip member: magic, deflate, no reserved flags."""
    return head[:2] == GZIP_MAGIC and head[2:3] == b"\x08" and not head[3:4] >= b"\x20"


def find_log_files(
    paths: Iterable[str | os.PathLike[str]], *, allow_empty_folders: bool = False
) -> list[Path]:
    """Expand the input paths into log files, each once, in the order given.

    Args:
        paths: files and folders.
        allow_empty_folders: accept a folder with no log files (a logs folder
            the shipper has not written to yet) instead of raising.

    Raises:
        InputError: a path does not exist, or a folder contains no log files.
        UnreadableInputError: a log file cannot be read.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        for path in _expand(Path(given), allow_empty_folders):
            resolved = path.resolve()
            if resolved not in seen:
                seen.add(resolved)
                found.append(path)

    return found


def _expand(path: Path, allow_empty_folders: bool) -> list[Path]:
    if not path.exists():
        msg = f"input {str(path)!r} not found: check the path or the glob"
        raise InputError(msg)

    if path.is_dir():
        files = sorted(
            entry
            for entry in path.iterdir()
            if entry.is_file() and LOG_NAME_RE.search(entry.name)
        )
        if not files and not allow_empty_folders:
            msg = (
                f"folder {str(path)!r} holds no log files: expected names ending "
                "in .jsonl, .jsonl.gz, .jsonl.1 or .jsonl.2.gz"
            )
            raise InputError(msg)
        for file in files:
            _check_readable(file)
        return files

    _check_readable(path)
    return [path]


def _check_readable(path: Path) -> None:
    if not os.access(path, os.R_OK):
        msg = f"input {str(path)!r} is not readable: check its permissions"
        raise UnreadableInputError(msg)


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK_BYTES):
        yield chunk


def _gunzip(stream: BinaryIO, source: LineSource) -> Iterator[bytes]:
    """Decompress every gzip member; a cut-off stream sets `source.error`."""
    decompressor = zlib.decompressobj(wbits=31)
    has_member = False
    for chunk in _chunks(stream):
        while chunk:
            try:
                data = decompressor.decompress(chunk)
            except zlib.error as error:
                source.error = FileReadError(f"corrupt gzip data: {error}")
                return
            has_member = True
            if data:
                yield data
            if not decompressor.eof:
                break
            chunk = decompressor.unused_data
            decompressor = zlib.decompressobj(wbits=31)
            has_member = False
            if chunk and not chunk.strip(b"\x00"):
                # Zero bytes after the last member are padding, as gzip(1)
                # accepts them (tape blocks, preallocated files).
                chunk = b""

    if has_member and not decompressor.eof:
        yield decompressor.flush()
        source.error = FileReadError("gzip stream is cut off before its end")


def _split_lines(chunks: Iterator[bytes]) -> Iterator[RawLine]:
    """Split chunks into lines, keeping at most `_KEPT_BYTES` of a long line.

    Only the start of a line longer than the reader's limit is kept: enough
    to classify it as too long, without holding a huge line in memory.
    """
    pending: list[bytes] = []
    pending_bytes = 0
    number = 0
    for chunk in chunks:
        pieces = chunk.split(b"\n")
        for piece in pieces[:-1]:
            number += 1
            if pending:
                piece = b"".join(pending) + piece[: max(_KEPT_BYTES - pending_bytes, 0)]
                pending, pending_bytes = [], 0
            yield RawLine(number, piece, True)

        tail = pieces[-1]
        if tail and pending_bytes < _KEPT_BYTES:
            kept = tail[: _KEPT_BYTES - pending_bytes]
            pending.append(kept)
            pending_bytes += len(kept)

    if pending:
        yield RawLine(number + 1, b"".join(pending), False)
