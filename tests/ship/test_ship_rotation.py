"""Rotation between `ship --once` runs: rename, copytruncate, gzip, inode reuse."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
from ship_helpers import LogFile, Output, run_ship, stderr_events, timing_line


def ship_once(output: Output, *sources: str | Path, extra: tuple[str, ...] = ()):
    return run_ship("--once", "-v", "--to", output.folder, *extra, *map(str, sources))


def assert_each_once(output: Output, written_ids: list[str]) -> None:
    counts = output.id_counts()
    assert sorted(counts) == sorted(written_ids)
    repeated = {event_id: n for event_id, n in counts.items() if n > 1}
    assert repeated == {}


def rename_rotate(log: LogFile) -> LogFile:
    """Rename the file to `.1`, as logrotate does, and start a new one."""
    rotated = log.path.with_name(log.path.name + ".1")
    log.path.rename(rotated)
    return LogFile(log.path)


class TestRenameRotation:
    def test_renamed_file_drained_outside_pattern(
        self, source_folder: Path, output: Output
    ) -> None:
        """Lines appended before and after the rename, to a file the pattern no
        longer matches, arrive once; the new file is read from its start."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(20)
        assert ship_once(output, log.path).returncode == 0

        log.append(7)
        new_log = rename_rotate(log)
        new_log.append(5)
        old_writer = LogFile(source_folder / "bot.jsonl.1")
        old_writer.append(3)
        first = ship_once(output, log.path)
        old_writer.append(2)
        second = ship_once(output, log.path)

        assert first.returncode == 0, first.stderr
        assert second.returncode == 0, second.stderr
        written = log.written_ids + new_log.written_ids + old_writer.written_ids
        assert_each_once(output, written)

    def test_rotation_logged_with_filename(
        self, source_folder: Path, output: Output
    ) -> None:
        """The rotation event carries `filename`, a LogRecord attribute name,
        without an error, and the shipper keeps shipping after it."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(4)
        ship_once(output, log.path)
        log.append(2)
        new_log = rename_rotate(log)
        new_log.append(3)

        result = ship_once(output, log.path)

        assert result.returncode == 0, result.stderr
        events = {event["event"]: event for event in stderr_events(result.stderr)}
        assert events["source_rotated"]["filename"] == "bot.jsonl.1"
        assert events["source_rotated"]["path"] == str(log.path)
        assert events["ship_stopped"]["shipped"] == 5
        assert_each_once(output, log.written_ids + new_log.written_ids)

    def test_idle_renamed_file_released(
        self, source_folder: Path, output: Output
    ) -> None:
        """A renamed file idle for --rotate-wait is shipped with its unterminated
        last line, released, and not read again."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(3)
        ship_once(output, log.path)
        last = timing_line(99)
        with log.path.open("ab") as stream:
            stream.write(last.rstrip(b"\n"))
        rename_rotate(log).path.touch()

        result = ship_once(output, log.path, extra=("--rotate-wait", "0"))

        assert result.returncode == 0, result.stderr
        names = [event["event"] for event in stderr_events(result.stderr)]
        assert "source_released" in names
        assert output.shipped_bytes().endswith(last)
        state = json.loads((output.folder / ".ship-state.json").read_text())
        assert [item["path"] for item in state["checkpoints"]] == [None]

    def test_restart_continues_rotated_file(
        self, source_folder: Path, output: Output
    ) -> None:
        """After a stop, a rename and a new file, the rotated file continues at
        its checkpoint and the new one starts at 0."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(30)
        pattern = str(source_folder / "bot.jsonl*")
        assert ship_once(output, pattern).returncode == 0

        log.append(10)
        new_log = rename_rotate(log)
        new_log.append(8)
        result = ship_once(output, pattern)

        assert result.returncode == 0, result.stderr
        assert_each_once(output, log.written_ids + new_log.written_ids)

    def test_new_file_on_reused_inode(
        self, source_folder: Path, output: Output
    ) -> None:
        """A new file whose inode matches a stale checkpoint is read from 0."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(10)
        ship_once(output, log.path)
        log.path.unlink()
        new_log = LogFile(source_folder / "bot.jsonl")
        new_log.append(40)
        _point_checkpoints_at(output, new_log.path)

        result = ship_once(output, new_log.path)

        assert result.returncode == 0, result.stderr
        assert_each_once(output, log.written_ids + new_log.written_ids)


def _point_checkpoints_at(output: Output, path: Path) -> None:
    """Give every checkpoint the device and inode of `path`, as inode reuse does."""
    state_path = output.folder / ".ship-state.json"
    state = json.loads(state_path.read_text())
    status = path.stat()
    for item in state["checkpoints"]:
        item["device"], item["inode"] = status.st_dev, status.st_ino
        item["path"] = str(path)
    state_path.write_text(json.dumps(state))


class TestCopyTruncate:
    @pytest.mark.parametrize("pattern", ["bot.jsonl", "bot.jsonl*"])
    def test_copytruncate_loses_and_repeats_nothing(
        self, source_folder: Path, output: Output, pattern: str
    ) -> None:
        """Lines shipped before, copied but unshipped, and written after the
        truncation each arrive once, whether the pattern matches the copy or not."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(30)
        assert ship_once(output, source_folder / pattern).returncode == 0

        log.append(10)
        shutil.copyfile(log.path, source_folder / "bot.jsonl.1")
        os.truncate(log.path, 0)
        log.append(12)
        result = ship_once(output, source_folder / pattern)

        assert result.returncode == 0, result.stderr
        assert_each_once(output, log.written_ids)

    def test_truncated_then_regrown_file(
        self, source_folder: Path, output: Output
    ) -> None:
        """A file truncated and refilled past the old offset is read from 0."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(5)
        ship_once(output, log.path)
        os.truncate(log.path, 0)
        log.append(50)

        result = ship_once(output, log.path)

        assert result.returncode == 0, result.stderr
        assert_each_once(output, log.written_ids)


class TestCompressedGeneration:
    def test_gzip_of_shipped_file_not_shipped_again(
        self, source_folder: Path, output: Output
    ) -> None:
        """A compressed rotated file ships only the lines after its checkpoint."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(25)
        pattern = str(source_folder / "bot.jsonl*")
        assert ship_once(output, pattern).returncode == 0

        log.append(5)
        new_log = rename_rotate(log)
        new_log.append(4)
        _gzip_file(source_folder / "bot.jsonl.1")
        first = ship_once(output, pattern)
        second = ship_once(output, pattern)

        assert first.returncode == 0, first.stderr
        assert second.returncode == 0, second.stderr
        assert_each_once(output, log.written_ids + new_log.written_ids)
        shipped = [
            event["shipped"]
            for event in stderr_events(second.stderr)
            if event["event"] == "ship_stopped"
        ]
        assert shipped == [0]

    def test_unknown_gzip_file_shipped_whole(
        self, source_folder: Path, output: Output
    ) -> None:
        """A compressed file never seen before is shipped in full, once."""
        log = LogFile(source_folder / "api.jsonl.3")
        log.append(15)
        _gzip_file(log.path)
        pattern = str(source_folder / "*.gz")

        assert ship_once(output, pattern).returncode == 0
        assert ship_once(output, pattern).returncode == 0

        assert Counter(output.shipped_ids()) == Counter(log.written_ids)


def _gzip_file(path: Path) -> Path:
    """Compress `path` to `path.gz` and remove it, as logrotate's compress does."""
    target = path.with_name(path.name + ".gz")
    with path.open("rb") as source, gzip.open(target, "wb") as sink:
        shutil.copyfileobj(source, sink)
    path.unlink()
    return target
