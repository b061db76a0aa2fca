"""Reading files: folders, gzip, skipped lines counted, duplicates dropped."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
from helpers import case_path

from aggregator.errors import InputError
from aggregator.files import find_log_files
from aggregator.loading import read_events


def _event_line(index: int, duration_ms: object = 100.0, **changes: object) -> bytes:
    event = {
        "timestamp": f"2026-12-01T07:00:{index % 60:02d}.000000Z",
        "level": "info",
        "event": "timing",
        "action": "config.update",
        "duration_ms": duration_ms,
        "outcome": "success",
        "tenant": "700000000000000001",
        "action_type": "config",
        "entrypoint": "bot",
        "service": "datadrop-bot",
        "event_id": f"{index:032x}",
        "schema": 1,
        **changes,
    }
    return json.dumps(event).encode()


def _write(path: Path, lines: list[bytes], end: bytes = b"\n") -> Path:
    path.write_bytes(b"".join(line + end for line in lines))
    return path


class TestFiles:
    def test_folder_gives_log_files_and_rotated_forms_only(
        self, tmp_path: Path
    ) -> None:
        names = ["a.jsonl", "a.jsonl.1", "a.jsonl.2.gz", "b.jsonl.gz", "notes.txt"]
        for name in names:
            (tmp_path / name).write_bytes(b"")
        (tmp_path / "sub").mkdir()
        (tmp_path / "sub" / "c.jsonl").write_bytes(b"")

        found = [path.name for path in find_log_files([tmp_path])]

        assert found == ["a.jsonl", "a.jsonl.1", "a.jsonl.2.gz", "b.jsonl.gz"]

    def test_a_file_named_twice_is_read_once(self, tmp_path: Path) -> None:
        path = _write(tmp_path / "x.jsonl", [_event_line(1)])

        events, stats = read_events([path, tmp_path, str(path)])

        assert (events.height, len(stats.files)) == (1, 1)

    def test_missing_path_names_the_path(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope.jsonl"

        with pytest.raises(InputError, match=r"nope\.jsonl"):
            read_events([missing])

    def test_folder_without_logs_says_which_names_count(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match=r"holds no log files.*\.jsonl\.gz"):
            read_events([tmp_path])

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
    def test_unreadable_file_names_the_file(self, tmp_path: Path) -> None:
        path = _write(tmp_path / "locked.jsonl", [_event_line(1)])
        path.chmod(0)

        with pytest.raises(InputError, match=r"locked\.jsonl"):
            read_events([path])

    def test_gzip_is_recognised_by_content_not_name(self, tmp_path: Path) -> None:
        packed = gzip.compress(_event_line(1) + b"\n" + _event_line(2) + b"\n")
        (tmp_path / "rotated.jsonl.1").write_bytes(packed)

        events, _ = read_events([tmp_path / "rotated.jsonl.1"])

        assert events.height == 2

    def test_multi_member_gzip_reads_every_member(self, tmp_path: Path) -> None:
        path = tmp_path / "joined.jsonl.gz"
        path.write_bytes(
            gzip.compress(_event_line(1) + b"\n")
            + gzip.compress(_event_line(2) + b"\n")
        )

        events, _ = read_events([path])

        assert events.height == 2

    def test_cut_off_gzip_keeps_the_lines_before_the_cut(self, tmp_path: Path) -> None:
        lines = [_event_line(index) for index in range(2000)]
        packed = gzip.compress(b"\n".join(lines) + b"\n")
        path = tmp_path / "cut.jsonl.gz"
        path.write_bytes(packed[: len(packed) * 3 // 4])

        events, stats = read_events([path])

        (file_stats,) = stats.files
        assert file_stats.error is not None
        assert 0 < events.height < 2000
        assert file_stats.events + file_stats.skipped_total == file_stats.lines


class TestEdgeFiles:
    def test_empty_gzip_oneline_blank_and_crlf_files(self, tmp_path: Path) -> None:
        """Seven events across the odd files of one folder; nothing raises."""
        (tmp_path / "a.jsonl").write_bytes(b"")
        _write(tmp_path / "b.jsonl", [_event_line(1)])
        (tmp_path / "c.jsonl").write_bytes(_event_line(2))
        lines = [_event_line(3), _event_line(4), _event_line(5)]
        (tmp_path / "d.jsonl.gz").write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
        (tmp_path / "e.jsonl.gz").write_bytes(gzip.compress(b""))
        (tmp_path / "f.jsonl").write_bytes(b"\n\n\n")
        _write(tmp_path / "g.jsonl", [_event_line(6), _event_line(7)], end=b"\r\n")

        plain, _plain_stats = read_events(sorted(tmp_path.glob("*.jsonl")))
        everything, stats = read_events(sorted(tmp_path.glob("*.jsonl*")))

        assert plain.height == 4
        assert everything.height == 7
        assert stats.skipped_total == 0
        assert all(file.error is None for file in stats.files)

    def test_partial_last_line_is_counted_not_used(self) -> None:
        events, stats = read_events([case_path("C29")])

        (file_stats,) = stats.files
        assert events.height == 3
        assert file_stats.skipped["truncated_line"].count == 1
        assert file_stats.skipped["truncated_line"].first_line == 4


class TestSkippedLines:
    def test_each_reason_is_counted_with_its_first_line(self, tmp_path: Path) -> None:
        path = _write(
            tmp_path / "mixed.jsonl",
            [
                _event_line(1, 10.0),
                b'{"event": "timing", "action": ',
                b'{"event": "heartbeat"}',
                _event_line(2, "slow"),
                _event_line(3, 30.0),
                b"not json at all",
                _event_line(4, 40.0, timestamp="2026-12-01 07:00:00"),
                _event_line(5, 50.0),
            ],
        )

        events, stats = read_events([path])

        (file_stats,) = stats.files
        assert events["duration_ms"].to_list() == [10.0, 30.0, 50.0]
        assert {code: tally.count for code, tally in file_stats.skipped.items()} == {
            "invalid_json": 2,
            "wrong_type": 1,
            "timestamp_without_offset": 1,
        }
        assert file_stats.skipped["invalid_json"].first_line == 2
        assert file_stats.skipped["wrong_type"].first_line == 4
        assert (file_stats.lines, file_stats.other) == (8, 1)

    def test_type_drift_between_rows_keeps_every_column(self) -> None:
        events, stats = read_events([case_path("C10")])

        assert events.height == 115
        assert events["tenant"].unique().to_list() == ["987654321098765432"]
        counts = events["status_code"].value_counts().sort("status_code")
        assert counts.rows() == [(None, 105), (200, 8), (500, 2)]
        assert (events["outcome"] == "failure").sum() == 2
        assert stats.skipped_total == 0


class TestDuplicates:
    def test_reshipped_events_count_once(self, tmp_path: Path) -> None:
        lines = [_event_line(index, float(index)) for index in range(10)]
        first = _write(tmp_path / "a.jsonl", lines)
        second = _write(tmp_path / "b.jsonl", lines[5:])

        events, stats = read_events([first, second])

        assert events.height == 10
        assert (stats.duplicates, stats.conflicting_duplicates) == (5, 0)
        assert stats.events == 10

    def test_reused_event_id_with_other_content_is_flagged(
        self, tmp_path: Path
    ) -> None:
        path = _write(
            tmp_path / "a.jsonl",
            [_event_line(1, 10.0), _event_line(1, 99.0), _event_line(2, 20.0)],
        )

        events, stats = read_events([path])

        assert events["duration_ms"].to_list() == [10.0, 20.0]
        assert (stats.duplicates, stats.conflicting_duplicates) == (1, 1)
