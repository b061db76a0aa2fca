"""`datadrop-slo ship --once`: checkpoints, daily files, rejects, exit codes."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ship_helpers import (
    ENTRY_POINT,
    LogFile,
    Output,
    event_ids_in,
    other_line,
    run_ship,
    stderr_events,
    timing_line,
)


def ship_once(output: Output, *sources: str | Path, verbose: bool = False):
    args = ["--once", "--to", output.folder, *sources]
    if verbose:
        args.append("-v")
    return run_ship(*args)


class TestShipOnce:
    def test_ships_only_timing_lines_unchanged(
        self, source_folder: Path, output: Output
    ) -> None:
        """Every timing line arrives byte for byte; ordinary lines do not."""
        log = LogFile(source_folder / "bot.jsonl")
        written = log.append(40)

        result = ship_once(output, log.path)

        assert result.returncode == 0, result.stderr
        expected = b"".join(line for line in written if b'"event":"timing"' in line)
        assert output.shipped_bytes() == expected
        assert len(output.shipped_ids()) == 40

    def test_second_run_ships_only_new_lines(
        self, source_folder: Path, output: Output
    ) -> None:
        """A run after appending ships the new lines and nothing twice."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(25)
        assert ship_once(output, log.path).returncode == 0

        log.append(17)
        assert ship_once(output, log.path).returncode == 0
        assert ship_once(output, log.path).returncode == 0

        assert output.shipped_ids() == log.written_ids

    def test_daily_files_by_utc_date(self, source_folder: Path, output: Output) -> None:
        """A line is filed under the UTC date of its timestamp, offsets applied."""
        late_local = timing_line(1).replace(
            b'"2026-12-01T07:00:00.001000Z"', b'"2026-12-01T01:30:00.000000+02:00"'
        )
        next_day = timing_line(2, at=datetime(2026, 12, 2, 0, 0, 1, tzinfo=UTC))
        (source_folder / "bot.jsonl").write_bytes(late_local + next_day)

        result = ship_once(output, source_folder / "bot.jsonl")

        assert result.returncode == 0, result.stderr
        names = [path.name for path in output.timing_files()]
        assert names == ["timing-2026-11-30.jsonl", "timing-2026-12-02.jsonl"]
        assert (output.folder / names[0]).read_bytes() == late_local
        assert (output.folder / names[1]).read_bytes() == next_day

    def test_silent_on_success(self, source_folder: Path, output: Output) -> None:
        """Without -v a successful run prints nothing, so cron mails nothing."""
        LogFile(source_folder / "bot.jsonl").append(5)

        result = ship_once(output, source_folder / "bot.jsonl")

        assert result.returncode == 0
        assert result.stdout == b""
        assert result.stderr == b""

    def test_verbose_logs_start_and_counts(
        self, source_folder: Path, output: Output
    ) -> None:
        """With -v the run logs its start, the scan counts and its stop."""
        LogFile(source_folder / "bot.jsonl").append(6)

        result = ship_once(output, source_folder / "bot.jsonl", verbose=True)

        events = {event["event"]: event for event in stderr_events(result.stderr)}
        assert "ship_started" in events
        assert events["scan_done"]["shipped"] == 6
        assert events["scan_done"]["skipped"] == 2
        assert events["ship_stopped"]["shipped"] == 6

    def test_file_modes(self, source_folder: Path, output: Output) -> None:
        """Output files are created 0640 and the state file 0600."""
        LogFile(source_folder / "bot.jsonl").append(3)

        ship_once(output, source_folder / "bot.jsonl")

        (timing_file,) = output.timing_files()
        assert stat.S_IMODE(timing_file.stat().st_mode) == 0o640
        state = output.folder / ".ship-state.json"
        assert stat.S_IMODE(state.stat().st_mode) == 0o600

    def test_own_output_not_shipped_again(self, tmp_path: Path, output: Output) -> None:
        """A glob that also matches the output folder does not re-ship its files."""
        output.folder.mkdir()
        log = LogFile(output.folder / "bot.jsonl")
        log.append(10)
        pattern = str(output.folder / "*.jsonl")

        assert ship_once(output, pattern).returncode == 0
        assert ship_once(output, pattern).returncode == 0

        assert output.shipped_ids() == log.written_ids


class TestShipPartialLine:
    def test_line_in_two_parts_shipped_once(
        self, source_folder: Path, output: Output
    ) -> None:
        """A line written in two parts is held, then shipped once and whole."""
        path = source_folder / "bot.jsonl"
        line = timing_line(1)
        path.write_bytes(timing_line(0) + line[:50])

        assert ship_once(output, path).returncode == 0
        assert len(output.shipped_ids()) == 1

        with path.open("ab") as stream:
            stream.write(line[50:])
        assert ship_once(output, path).returncode == 0

        assert output.shipped_bytes().endswith(line)
        assert output.shipped_ids() == event_ids_in(path.read_bytes())

    def test_cut_off_last_line_held(self, source_folder: Path, output: Output) -> None:
        """Three complete lines are shipped; the cut-off fourth is neither shipped
        nor rejected while it may still be completed."""
        complete = b"".join(timing_line(seq) for seq in range(3))
        cut_off = timing_line(3)[:120]
        path = source_folder / "bot.jsonl"
        path.write_bytes(complete + cut_off)

        result = ship_once(output, path)

        assert result.returncode == 0, result.stderr
        assert output.shipped_bytes() == complete
        assert output.rejected() == []


class TestShipRejected:
    def test_rejects_what_report_skips(
        self, source_folder: Path, output: Output
    ) -> None:
        """Malformed lines go to rejected/ with reason and position; their
        number equals what `report` skips on the same file; exit 1."""
        good = [timing_line(seq) for seq in range(4)]
        no_offset = timing_line(10).replace(b'Z"', b'"')
        bad_json = b'{"event":"timing","timestamp":\n'
        negative = timing_line(11).replace(b'"duration_ms":', b'"duration_ms":-')
        path = source_folder / "bot.jsonl"
        lines = [good[0], no_offset, good[1], bad_json, other_line(1), good[2]]
        path.write_bytes(b"".join([*lines, negative, good[3]]))

        result = ship_once(output, path)

        assert result.returncode == 1
        rejected = output.rejected()
        assert [record["line"] for record in rejected] == [2, 4, 7]
        codes = [record["code"] for record in rejected]
        assert codes == ["timestamp_without_offset", "invalid_json", "invalid_value"]
        assert all(record["source"] == str(path) for record in rejected)
        assert rejected[0]["data"].encode() + b"\n" == no_offset
        assert output.shipped_bytes() == b"".join(good)
        assert _report_skipped(path) == len(rejected)

    def test_rejected_folder_not_matched_by_glob(
        self, source_folder: Path, output: Output
    ) -> None:
        """`DIR/*.jsonl` matches the timing files only, not the rejected lines."""
        path = source_folder / "bot.jsonl"
        path.write_bytes(timing_line(1) + b"not json\n")

        ship_once(output, path)

        names = sorted(path.name for path in output.folder.glob("*.jsonl"))
        assert names == ["timing-2026-12-01.jsonl"]
        assert len(output.rejected()) == 1


def _report_skipped(path: Path) -> int:
    result = subprocess.run(
        [str(ENTRY_POINT), "report", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"skipped (\d+) malformed line", result.stderr)
    assert match, result.stderr
    return int(match.group(1))


class TestShipSourcesAndUsage:
    def test_missing_literal_source_exits_1(
        self, source_folder: Path, output: Output
    ) -> None:
        """A file path that does not exist is a problem: logged, exit 1."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(3)

        result = ship_once(output, log.path, source_folder / "api.jsonl")

        assert result.returncode == 1
        events = stderr_events(result.stderr)
        assert [event["event"] for event in events] == ["source_not_found"]
        assert events[0]["path"] == str(source_folder / "api.jsonl")
        assert output.shipped_ids() == log.written_ids

    def test_glob_without_match_exits_1(
        self, source_folder: Path, output: Output
    ) -> None:
        """A glob that never matched a file, a typo in a cron line, warns and
        exits 1, while the other sources ship."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(3)
        typo = str(source_folder / "*.jsnol")

        result = ship_once(output, str(source_folder / "*.jsonl"), typo)

        assert result.returncode == 1
        (event,) = stderr_events(result.stderr)
        assert event["event"] == "source_not_found"
        assert event["level"] == "warning"
        assert event["path"] == typo
        assert event["has_matched_before"] is False
        assert output.shipped_ids() == log.written_ids

    def test_glob_rotated_away_exits_0(
        self, source_folder: Path, output: Output
    ) -> None:
        """A glob whose files were all rotated away since a run that shipped
        them is no problem: exit 0, logged only with -v."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(3)
        pattern = str(source_folder / "*.jsonl")
        assert ship_once(output, pattern).returncode == 0
        log.path.rename(source_folder / "bot.jsonl.1")

        quiet = ship_once(output, pattern)
        verbose = ship_once(output, pattern, verbose=True)

        assert quiet.returncode == 0, quiet.stderr
        assert quiet.stderr == b""
        assert verbose.returncode == 0
        events = {event["event"]: event for event in stderr_events(verbose.stderr)}
        assert events["source_not_found"]["has_matched_before"] is True
        assert events["source_not_found"]["level"] == "info"
        assert output.shipped_ids() == log.written_ids

    def test_directory_match_logged_with_verbose(
        self, source_folder: Path, output: Output
    ) -> None:
        """A folder matched by the glob is skipped: silent by default, logged
        with -v."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(3)
        (source_folder / "archive.jsonl").mkdir()
        pattern = str(source_folder / "*.jsonl")

        quiet = ship_once(output, pattern)
        verbose = ship_once(output, pattern, verbose=True)

        assert quiet.returncode == 0
        assert quiet.stderr == b""
        skipped = [
            event
            for event in stderr_events(verbose.stderr)
            if event["event"] == "source_skipped"
        ]
        assert [event["reason"] for event in skipped] == ["directory"]
        assert skipped[0]["path"] == str(source_folder / "archive.jsonl")
        assert output.shipped_ids() == log.written_ids

    @pytest.mark.parametrize(
        ("target", "reason"),
        [("gone.jsonl", "dangling_symlink"), ("link.jsonl", "symlink_loop")],
    )
    def test_broken_symlink_warns(
        self, source_folder: Path, output: Output, target: str, reason: str
    ) -> None:
        """A dangling or looping symbolic link matched by the glob is a warning
        naming the link and its target; the other files ship."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(3)
        link = source_folder / "link.jsonl"
        link.symlink_to(source_folder / target)

        result = ship_once(output, str(source_folder / "*.jsonl"))

        (event,) = stderr_events(result.stderr)
        assert event["event"] == "source_skipped"
        assert event["level"] == "warning"
        assert event["reason"] == reason
        assert event["path"] == str(link)
        assert event["target"] == str(source_folder / target)
        assert output.shipped_ids() == log.written_ids

    def test_dangling_literal_path_exits_1(
        self, source_folder: Path, output: Output
    ) -> None:
        """A literal source that is a dangling link matched no file: exit 1."""
        link = source_folder / "bot.jsonl"
        link.symlink_to(source_folder / "gone.jsonl")

        result = ship_once(output, link)

        assert result.returncode == 1
        names = [event["event"] for event in stderr_events(result.stderr)]
        assert names == ["source_skipped", "source_not_found"]

    def test_stdin_with_files_is_usage_error(
        self, source_folder: Path, output: Output
    ) -> None:
        """`-` with another source exits 2 and says why."""
        result = ship_once(output, "-", source_folder / "bot.jsonl")

        assert result.returncode == 2
        assert b"cannot be combined" in result.stderr

    def test_corrupt_state_file_exits_2(
        self, source_folder: Path, output: Output
    ) -> None:
        """A state file that is not JSON stops the run with the file named."""
        LogFile(source_folder / "bot.jsonl").append(2)
        output.folder.mkdir()
        state = output.folder / ".ship-state.json"
        state.write_text("{not json")

        result = ship_once(output, source_folder / "bot.jsonl")

        assert result.returncode == 2
        assert str(state).encode() in result.stderr
        assert b"move it away" in result.stderr
        assert output.timing_files() == []

    def test_unreadable_source_exits_1(
        self, source_folder: Path, output: Output
    ) -> None:
        """A file the shipper may not read is logged and exits 1; others ship."""
        readable = LogFile(source_folder / "bot.jsonl")
        readable.append(3)
        secret = LogFile(source_folder / "api.jsonl")
        secret.append(3)
        secret.path.chmod(0)
        if os.geteuid() == 0:
            pytest.skip("root reads a file whatever its mode")

        result = ship_once(output, str(source_folder / "*.jsonl"))

        assert result.returncode == 1
        names = [event["event"] for event in stderr_events(result.stderr)]
        assert "source_unreadable" in names
        assert output.shipped_ids() == readable.written_ids


class TestShipVanished:
    def test_appended_then_deleted_logged(
        self, source_folder: Path, output: Output
    ) -> None:
        """Lines appended to a file deleted between runs cannot be shipped:
        the next run logs `source_vanished` and exits 1, once."""
        log = LogFile(source_folder / "bot.jsonl")
        log.append(5)
        pattern = str(source_folder / "*.jsonl")
        assert ship_once(output, pattern).returncode == 0
        log.append(4)
        LogFile(source_folder / "api.jsonl").append(1)
        log.path.unlink()

        first = ship_once(output, pattern)
        second = ship_once(output, pattern)

        assert first.returncode == 1
        (event,) = stderr_events(first.stderr)
        assert event["event"] == "source_vanished"
        assert event["level"] == "warning"
        assert event["path"] == str(log.path)
        assert event["unshipped_bytes"] == 0
        assert second.returncode == 0, second.stderr
        assert second.stderr == b""

    def test_unshipped_partial_line_counted(
        self, source_folder: Path, output: Output
    ) -> None:
        """A partial last line seen before the file vanished is counted in
        `unshipped_bytes`."""
        path = source_folder / "bot.jsonl"
        partial = timing_line(2)[:80]
        path.write_bytes(timing_line(1) + partial)
        assert ship_once(output, path).returncode == 0
        path.unlink()

        result = ship_once(output, path)

        assert result.returncode == 1
        events = {event["event"]: event for event in stderr_events(result.stderr)}
        assert events["source_vanished"]["unshipped_bytes"] == len(partial)
        assert list(events) == ["source_vanished"]
