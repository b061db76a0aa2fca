"""Shipper source files: bounded line splitting, resumed reads, glob expansion."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aggregator.files import KEPT_BYTES
from aggregator.source_files import (
    LineSplitter,
    OpenedSource,
    SourceLine,
    expand_sources,
)


def split_all(content: bytes, chunk_bytes: int) -> list[SourceLine]:
    splitter = LineSplitter(0)
    lines = []
    for start in range(0, len(content), chunk_bytes):
        lines.extend(splitter.feed(content[start : start + chunk_bytes]))
    partial = splitter.pending()
    if partial is not None:
        lines.append(partial)
    return lines


class TestLineSplitter:
    @pytest.mark.parametrize("chunk_bytes", [1, 3, 7, 64, 10_000])
    def test_chunking_does_not_change_lines(self, chunk_bytes: int) -> None:
        """Lines, offsets and lengths are the same however the content is cut."""
        content = b"first\n\nthird line\nlast, no newline"

        lines = split_all(content, chunk_bytes)

        assert [line.data for line in lines] == [
            b"first",
            b"",
            b"third line",
            b"last, no newline",
        ]
        assert [line.start_offset for line in lines] == [0, 6, 7, 18]
        assert [line.end_offset for line in lines] == [6, 7, 18, len(content)]
        assert [line.is_complete for line in lines] == [True, True, True, False]
        assert [line.is_cut for line in lines] == [False] * 4

    @pytest.mark.parametrize("chunk_bytes", [4096, 1024 * 1024, 8 * 1024 * 1024])
    def test_long_line_kept_only_to_limit(self, chunk_bytes: int) -> None:
        """A line past `KEPT_BYTES` keeps its first bytes and its real length,
        and the line after it is whole."""
        long_line = b"x" * (3 * KEPT_BYTES + 5)
        content = b"a\n" + long_line + b"\nb\n"

        lines = split_all(content, chunk_bytes)

        assert [line.length for line in lines] == [1, len(long_line), 1]
        assert lines[1].data == long_line[:KEPT_BYTES]
        assert lines[1].is_cut
        assert lines[1].start_offset == 2
        assert lines[2].data == b"b"
        assert lines[2].end_offset == len(content)

    def test_line_at_limit_not_cut(self) -> None:
        """A line of exactly `KEPT_BYTES` is kept whole."""
        line = b"y" * KEPT_BYTES

        (result,) = split_all(line + b"\n", 1000)

        assert result.data == line
        assert not result.is_cut

    def test_long_partial_line_bounded(self) -> None:
        """A partial line past the limit is counted, not kept."""
        content = b"z" * (2 * KEPT_BYTES)

        (partial,) = split_all(content, 65536)

        assert not partial.is_complete
        assert partial.length == len(content)
        assert len(partial.data) == KEPT_BYTES


def write(path: Path, data: bytes) -> OpenedSource:
    path.write_bytes(data)
    return OpenedSource.open(path)


def overwrite(path: Path, offset: int, data: bytes) -> None:
    with path.open("r+b") as stream:
        stream.seek(offset)
        stream.write(data)


class TestOpenedSourceResume:
    def test_scanned_bytes_not_searched_again(self, tmp_path: Path) -> None:
        """With `scanned_to`, bytes past the kept prefix are not read again:
        newlines written over them afterwards do not split the line."""
        path = tmp_path / "bot.jsonl"
        write(path, b"q" * (KEPT_BYTES + 5000)).close()
        overwrite(path, KEPT_BYTES + 100, b"\n\n\n")
        with path.open("ab") as stream:
            stream.write(b"tail\nnext\n")
        source = OpenedSource.open(path)

        lines = list(source.lines_from(0, KEPT_BYTES + 5000))
        source.close()

        assert [line.length for line in lines] == [KEPT_BYTES + 5004, 4]
        assert lines[0].is_cut
        assert lines[1].data == b"next"

    def test_held_partial_not_read_again(self, tmp_path: Path) -> None:
        """The same open source continues a partial line from memory: its
        first bytes are not read from the file again."""
        path = tmp_path / "bot.jsonl"
        source = write(path, b"12345")
        (first,) = source.lines_from(0)
        overwrite(path, 0, b"abcde")
        with path.open("ab") as stream:
            stream.write(b"678\n")

        (second,) = source.lines_from(0, first.end_offset)
        source.close()

        assert not first.is_complete
        assert second.data == b"12345678"
        assert second.is_complete

    def test_short_file_ignores_scanned_to(self, tmp_path: Path) -> None:
        """A `scanned_to` beyond a newline now in the prefix is not trusted."""
        path = tmp_path / "bot.jsonl"
        source = write(path, b"ab\ncd\n")

        lines = list(source.lines_from(0, 5))
        source.close()

        assert [line.data for line in lines] == [b"ab", b"cd"]

    def test_resumed_line_complete_and_whole(self, tmp_path: Path) -> None:
        """A short partial line resumed from disk is yielded whole once ended."""
        path = tmp_path / "bot.jsonl"
        write(path, b"done\npart").close()
        with path.open("ab") as stream:
            stream.write(b"ial\n")
        source = OpenedSource.open(path)

        lines = list(source.lines_from(5, 9))
        source.close()

        assert [line.data for line in lines] == [b"partial"]
        assert lines[0].start_offset == 5
        assert lines[0].end_offset == 13


class TestExpandSources:
    def test_classifies_what_is_not_a_file(self, tmp_path: Path) -> None:
        """Directories, dangling and looping links and FIFOs are skipped with
        a reason; a link to a file is read."""
        (tmp_path / "real.jsonl").write_bytes(b"x\n")
        (tmp_path / "dir.jsonl").mkdir()
        (tmp_path / "dangling.jsonl").symlink_to(tmp_path / "gone.jsonl")
        (tmp_path / "loop.jsonl").symlink_to(tmp_path / "loop.jsonl")
        (tmp_path / "link.jsonl").symlink_to(tmp_path / "real.jsonl")
        os.mkfifo(tmp_path / "pipe.jsonl")

        matches = expand_sources([str(tmp_path / "*.jsonl")])

        assert matches.paths == [tmp_path / "link.jsonl", tmp_path / "real.jsonl"]
        reasons = {match.path.name: match.reason for match in matches.skipped}
        assert reasons == {
            "dangling.jsonl": "dangling_symlink",
            "dir.jsonl": "directory",
            "loop.jsonl": "symlink_loop",
            "pipe.jsonl": "not_regular_file",
        }
        assert matches.unmatched == []

    def test_pattern_without_file_unmatched(self, tmp_path: Path) -> None:
        """A glob or path that matches no regular file is listed as unmatched."""
        (tmp_path / "only-a-dir").mkdir()
        (tmp_path / "bot.jsonl").write_bytes(b"x\n")
        patterns = [
            str(tmp_path / "*.jsonl"),
            str(tmp_path / "*.jsnol"),
            str(tmp_path / "only-a-dir"),
            str(tmp_path / "api.jsonl"),
        ]

        matches = expand_sources(patterns)

        assert matches.unmatched == patterns[1:]
        assert matches.paths == [tmp_path / "bot.jsonl"]

    def test_first_pattern_recorded(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Each file records the first pattern that matched it, made absolute."""
        (tmp_path / "bot.jsonl").write_bytes(b"x\n")
        monkeypatch.chdir(tmp_path)

        matches = expand_sources(["*.jsonl", "bot.*"])

        assert matches.pattern_of == {tmp_path / "bot.jsonl": str(tmp_path / "*.jsonl")}
        assert matches.unmatched == []
