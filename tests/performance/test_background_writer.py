"""Background file writes keep line order, drain on close and bound waiting."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest

from datadrop_timing import background, configure, timed
from datadrop_timing.background import BackgroundWriter
from datadrop_timing.sink import LineSink


class TestBackgroundWriter:
    def test_lines_keep_order(self, tmp_path: Path) -> None:
        """Lines reach the file in the order they were written."""
        sink = LineSink(tmp_path / "ordered.jsonl", background=True)
        for index in range(2000):
            sink.write_line(b'{"n":%d}' % index)
        sink.close()

        lines = (tmp_path / "ordered.jsonl").read_bytes().splitlines()

        assert [orjson.loads(line)["n"] for line in lines] == list(range(2000))

    def test_slow_write_not_blocking(self) -> None:
        """Submitting returns at once while the write itself is stuck."""
        release = threading.Event()
        written: list[bytes] = []

        def slow_write(data: bytes) -> None:
            release.wait(30)
            written.append(data)

        writer = BackgroundWriter(slow_write, "slow disk", max_lines=10)
        for index in range(5):
            writer.submit(b"%d\n" % index)
        written_while_stuck = list(written)
        release.set()
        writer.close()

        # Every submit returned while the first write was still waiting.
        assert written_while_stuck == []
        assert written == [b"%d\n" % index for index in range(5)]

    def test_full_queue_drops_counted(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A queue that stays full drops new lines after a short wait, counted."""
        monkeypatch.setattr(background, "FULL_QUEUE_WAIT_S", 0.05)
        release = threading.Event()

        writer = BackgroundWriter(lambda data: release.wait(5), "full", max_lines=2)
        for index in range(10):
            writer.submit(b"%d\n" % index)
        dropped = writer.dropped
        release.set()
        writer.close()

        # One line is being written, two wait in the queue.
        assert dropped >= 7

    def test_configure_flushes_previous(self, tmp_path: Path) -> None:
        """A second configure() writes the first sink's queued lines."""
        first = tmp_path / "first.jsonl"
        configure(service="bench", output=first, background=True, route_stdlib=False)
        for _ in range(100):
            with timed("config.update"):
                pass
        configure(service="bench", output=tmp_path / "second.jsonl", route_stdlib=False)

        assert len(first.read_bytes().splitlines()) == 100


class TestJoinedWrites:
    def test_writes_hold_whole_lines_within_batch(self) -> None:
        """Joined writes stay within the batch size and split into the lines."""
        writes: list[bytes] = []
        writer = BackgroundWriter(writes.append, "joined", batch_bytes=100)
        lines = [b"%s\n" % (b"x" * (index % 45)) for index in range(300)]
        lines.insert(150, b"y" * 250 + b"\n")
        for line in lines:
            writer.submit(line)
        writer.close()

        assert b"".join(writes) == b"".join(lines)
        for data in writes:
            assert data.endswith(b"\n")
            assert len(data) <= 100 or data.count(b"\n") == 1
        assert len(writes) < len(lines)

    def test_flush_waits_for_queued_lines(self) -> None:
        """After flush() returns True, every line submitted before it is written."""
        writes: list[bytes] = []
        writer = BackgroundWriter(writes.append, "flushed", batch_bytes=4096)
        for index in range(500):
            writer.submit(b"%d\n" % index)

        assert writer.flush()
        assert b"".join(writes).splitlines() == [b"%d" % i for i in range(500)]
        writer.close()

    def test_flush_after_close_returns_at_once(self) -> None:
        """A closed writer has nothing queued: flush() does not wait its timeout."""
        writer = BackgroundWriter(lambda data: None, "closed", batch_bytes=4096)
        writer.submit(b"1\n")
        writer.close()

        assert writer.flush(timeout_s=30)

    def test_file_sink_joins_short_lines_only(self, tmp_path: Path) -> None:
        """Short lines share the file in order; a line over 4 KiB goes to its own."""
        path = tmp_path / "mixed.jsonl"
        sink = LineSink(path, background=True)
        long_line = b'{"n":-1,"pad":"%s"}' % (b"x" * 5000)
        for index in range(3000):
            sink.write_line(b'{"n":%d}' % index)
            if index == 1500:
                sink.write_line(long_line)
        sink.close()

        shared = path.read_bytes().splitlines()
        own_file = sink.own_file_path()
        assert own_file is not None
        assert [orjson.loads(line)["n"] for line in shared] == list(range(3000))
        assert own_file.read_bytes() == long_line + b"\n"
