"""`datadrop-slo ship` following its sources: signals, rotation, crashes, writers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from ship_helpers import (
    ENTRY_POINT,
    LogFile,
    Output,
    RunningShipper,
    event_ids_in,
    timing_line,
    wait_until,
)

StartShipper = Callable[..., RunningShipper]


def assert_each_once(output: Output, written_ids: list[str]) -> None:
    counts = output.id_counts()
    assert sorted(counts) == sorted(written_ids)
    repeated = {event_id: n for event_id, n in counts.items() if n > 1}
    assert repeated == {}


class TestFollow:
    @pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
    def test_appended_lines_arrive_once(
        self,
        source_folder: Path,
        output: Output,
        start_shipper: StartShipper,
        signal_number: int,
    ) -> None:
        """Lines appended while following arrive once; a signal stops it with 0."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(10)
        shipper = start_shipper(log.path)

        for _ in range(5):
            log.append(7)
            wait_until(lambda: output.has_all(log.written_ids), "appended lines")

        assert shipper.stop(signal_number) == 0
        assert_each_once(output, log.written_ids)
        assert shipper.event_names()[-1] == "ship_stopped"

    def test_new_file_matching_glob_picked_up(
        self, source_folder: Path, output: Output, start_shipper: StartShipper
    ) -> None:
        """A file created after the start is found by the glob on a later scan."""
        shipper = start_shipper(str(source_folder / "*.jsonl"))
        log = LogFile(source_folder / "shard-7.jsonl")
        log.append(12)

        wait_until(lambda: output.has_all(log.written_ids), "the new file's lines")
        assert shipper.stop() == 0
        assert_each_once(output, log.written_ids)

    def test_rename_rotation_while_following(
        self, source_folder: Path, output: Output, start_shipper: StartShipper
    ) -> None:
        """Lines before, around and after a rename rotation each arrive once,
        also those the old writer appends to the renamed file."""
        log = LogFile(source_folder / "bot.jsonl")
        shipper = start_shipper(log.path, extra=("--rotate-wait", "0.5"))
        log.append(50)
        wait_until(lambda: len(output.shipped_ids()) > 0, "the first lines")

        log.append(20)
        log.path.rename(source_folder / "bot.jsonl.1")
        old_writer = LogFile(source_folder / "bot.jsonl.1")
        old_writer.append(5)
        new_log = LogFile(log.path)
        new_log.append(30)
        written = log.written_ids + old_writer.written_ids + new_log.written_ids

        wait_until(lambda: output.has_all(written), "every line around the rename")
        wait_until(
            lambda: "source_released" in shipper.event_names(),
            "the renamed file to be released",
        )
        assert shipper.stop() == 0
        assert_each_once(output, written)

    def test_copytruncate_while_following(
        self, source_folder: Path, output: Output, start_shipper: StartShipper
    ) -> None:
        """Lines before and after a copytruncate arrive once: the file is read
        again from 0, and the copy is not shipped a second time."""
        log = LogFile(source_folder / "bot.jsonl")
        shipper = start_shipper(str(source_folder / "bot.jsonl*"))
        for round_number in range(3):
            log.append(40)
            wait_until(lambda: len(output.shipped_ids()) > 0, "some lines")
            log.append(10)
            copy = source_folder / f"bot.jsonl.{round_number + 1}"
            shutil.copyfile(log.path, copy)
            os.truncate(log.path, 0)
            log.append(15)

        wait_until(lambda: output.has_all(log.written_ids), "every line")
        assert shipper.stop() == 0
        assert_each_once(output, log.written_ids)

    def test_deleted_source_drained(
        self, source_folder: Path, output: Output, start_shipper: StartShipper
    ) -> None:
        """Lines written just before a file is deleted still arrive, and the
        shipper goes on shipping other files."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(5)
        shipper = start_shipper(str(source_folder / "*.jsonl"))
        wait_until(lambda: output.has_all(log.written_ids), "the first lines")

        log.append(25)
        log.path.unlink()
        other = LogFile(source_folder / "api.jsonl")
        other.append(8)

        written = log.written_ids + other.written_ids
        wait_until(lambda: output.has_all(written), "lines of both files")
        assert shipper.process.poll() is None
        assert shipper.stop() == 0
        assert_each_once(output, written)
        assert "source_deleted" in shipper.event_names()


class TestCrash:
    def test_kill_9_then_restart(
        self, source_folder: Path, output: Output, start_shipper: StartShipper
    ) -> None:
        """After `kill -9` mid-run and a restart every line arrives at least
        once, and `report` counts each event exactly once."""
        log = LogFile(source_folder / "bot.jsonl")
        for _ in range(20):
            log.append(5000, with_other=False)
        shipper = start_shipper(log.path)
        wait_until(lambda: len(output.shipped_ids()) > 0, "the first shipped lines")

        shipper.kill_hard()
        shipped_before_restart = len(output.shipped_ids())
        restart = subprocess.run(
            [
                str(ENTRY_POINT),
                "ship",
                "--once",
                "--to",
                str(output.folder),
                str(log.path),
            ],
            capture_output=True,
            check=False,
        )

        assert restart.returncode == 0, restart.stderr
        assert shipped_before_restart < len(log.written_ids)
        assert set(output.shipped_ids()) == set(log.written_ids)
        report = subprocess.run(
            [
                str(ENTRY_POINT),
                "report",
                *map(str, output.timing_files()),
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert report.returncode == 0, report.stderr
        rows = json.loads(report.stdout)
        assert sum(row["count"] for row in rows) == len(log.written_ids)


WRITER = textwrap.dedent(
    """
    import sys
    from datadrop_timing import configure, timed
    import structlog

    configure(service="datadrop-bot", entrypoint="bot", output=sys.argv[1])
    log = structlog.get_logger()
    for number in range(int(sys.argv[2])):
        with timed("state.transition", tenant=str(1000 + number % 7)):
            pass
        if number % 4 == 0:
            log.info("member_state_changed", number=number)
    """
)


class TestConcurrentWriters:
    def test_all_lines_of_all_writers_arrive(
        self, source_folder: Path, output: Output, start_shipper: StartShipper
    ) -> None:
        """Four instrumented processes append to their own files at once while
        the shipper follows them; every timing line arrives once."""
        shipper = start_shipper(str(source_folder / "shard-*.jsonl"))
        writers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WRITER,
                    str(source_folder / f"shard-{n}.jsonl"),
                    "3000",
                ]
            )
            for n in range(4)
        ]
        for writer in writers:
            assert writer.wait(timeout=120) == 0

        written: list[str] = []
        for path in sorted(source_folder.glob("shard-*.jsonl")):
            written.extend(event_ids_in(path.read_bytes()))
        assert len(written) == 4 * 3000
        wait_until(lambda: output.has_all(written), "every writer's lines")
        assert shipper.stop() == 0
        assert_each_once(output, written)


class TestLock:
    def test_second_shipper_exits_4(
        self, source_folder: Path, output: Output, start_shipper: StartShipper
    ) -> None:
        """A second shipper on the same state file exits 4 and names the holder;
        after the first stops, it runs."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(3)
        shipper = start_shipper(log.path)
        args = [
            str(ENTRY_POINT),
            "ship",
            "--once",
            "--to",
            str(output.folder),
            str(log.path),
        ]

        second = subprocess.run(args, capture_output=True, text=True, check=False)

        assert second.returncode == 4
        assert "is in use by process" in second.stderr
        assert str(shipper.process.pid) in second.stderr
        shipper.kill_hard()
        after = subprocess.run(args, capture_output=True, text=True, check=False)
        assert after.returncode == 0, after.stderr


class TestStdin:
    def test_stdin_ships_and_rejects(self, output: Output) -> None:
        """Lines piped in are shipped or rejected; the unterminated last one
        is shipped when it is a whole timing line."""
        lines = [timing_line(n) for n in range(30)]
        unterminated = timing_line(99).rstrip(b"\n")
        data = b"".join(lines) + b"plain text\n" + unterminated

        result = subprocess.run(
            [str(ENTRY_POINT), "ship", "--to", str(output.folder), "-"],
            input=data,
            capture_output=True,
            check=False,
        )

        assert result.returncode == 1
        assert output.shipped_ids() == event_ids_in(data)
        assert output.shipped_bytes().endswith(unterminated + b"\n")
        assert [record["line"] for record in output.rejected()] == [31]

    def test_stdin_stopped_by_signal(self, output: Output, tmp_path: Path) -> None:
        """SIGTERM while stdin is still open flushes what was read and exits 0."""
        process = subprocess.Popen(
            [str(ENTRY_POINT), "ship", "--to", str(output.folder), "-", "-v"],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdin is not None
        lines = [timing_line(n) for n in range(12)]
        process.stdin.write(b"".join(lines))
        process.stdin.flush()
        written = event_ids_in(b"".join(lines))
        wait_until(lambda: output.has_all(written), "piped lines")

        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)

        assert process.returncode == 0, stderr
        assert b'"ship_stopped"' in stderr
        assert output.shipped_ids() == written
