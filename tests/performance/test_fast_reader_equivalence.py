"""The batched reader classifies every line exactly as `parse_line` does."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator import files, line_batches
from aggregator.files import LineSource
from aggregator.line_batches import iter_line_batches
from aggregator.lines import BLANK, OTHER, Malformed, TimingEvent, parse_line
from aggregator.loading import EVENT_SCHEMA, read_files


def _writer_line(index: int, **changes: object) -> dict[str, object]:
    line: dict[str, object] = {
        "timestamp": f"2026-11-30T14:{index % 60:02d}:09.231840Z",
        "level": "info",
        "event": "timing",
        "action": "verification.submit",
        "duration_ms": 171.004512 + index,
        "outcome": "success",
        "tenant": "1444299331546478261",
        "action_type": "verification",
        "entrypoint": "bot",
        "service": "datadrop-bot",
        "request_id": "c3e5a370c41fcbffaca885ff906b9217",
        "event_id": f"{index:032x}",
        "schema": 1,
    }
    line.update(changes)
    return line


ODD_VALUES = st.sampled_from(
    [
        {"timestamp": "2026-11-30T15:05:09.231840+01:00"},
        {"timestamp": "2026-11-30T14:05:09,2318Z"},
        {"timestamp": "2026-11-30T14:05:60.000000Z"},
        {"timestamp": "2026-02-30T14:05:09.231840Z"},
        {"timestamp": "0000-01-01T00:00:00.000000Z"},
        {"timestamp": "2026-11-30T24:00:00.000000Z"},
        {"timestamp": "2026-11-30 14:05:09.231840"},
        {"duration_ms": 12},
        {"duration_ms": 0},
        {"duration_ms": -1.5},
        {"duration_ms": 1e-7},
        {"duration_ms": "fast"},
        {"duration_ms": 123456789012345678},
        {"tenant": 18446744073709551615},
        {"tenant": 1444299331546478261},
        {"tenant": None},
        {"tenant": ""},
        {"tenant": -3},
        {"outcome": "failure", "level": "warning", "error_type": "TimeoutError"},
        {"outcome": "maybe"},
        {"schema": 2},
        {"schema": 1.0},
        {"action": ""},
        {"route": "/guilds/{guild_id}", "method": "PUT", "status_code": 401},
        {"status_code": 999},
        {"status_code": 200.0},
        {"ack_ms": 12.5},
        {"ack_ms": -1},
        {"extra_note": 'a, "quoted" b'},
        {"exception": {"type": "E", "message": "m"}},
        {"event": "gateway heartbeat"},
        {"action": "caf\u00e9.ouvrir"},
        {"event_id": "0" * 32},
    ]
)

NOISE = st.one_of(
    st.binary(max_size=60),
    st.text(max_size=60).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [
            b"",
            b"\r",
            b"   ",
            b"[1, 2]",
            b"42",
            b'{"event": "timing"}',
            b'{"a":NaN}',
            b'{"a":"\\ud800"}',
            b'{"event":"x","event":"timing"}',
            b'{"event":"timing","event":"x"}',
            b'{"level":"info","event":"started","n":1}',
            b"\xef\xbb\xbf" + b'{"event":"other"}',
        ]
    ),
)


def _encode(line: dict[str, object], variant: int) -> bytes:
    data = orjson.dumps(line)
    if variant == 1:
        return data + b"\r"
    if variant == 2:
        return b"\xef\xbb\xbf" + data
    if variant == 3:
        return data.replace(b'":', b'": ')
    if variant == 4:
        # A second value for a key that the reader must not miss.
        return data[:-1] + b',"duration_ms":-4}'
    return data


@st.composite
def log_lines(draw: st.DrawFn) -> list[bytes]:
    lines: list[bytes] = []
    for index in range(draw(st.integers(0, 40))):
        kind = draw(st.integers(0, 9))
        if kind < 5:
            lines.append(_encode(_writer_line(index), 0))
        elif kind < 8:
            changes = draw(ODD_VALUES)
            variant = draw(st.integers(0, 4))
            lines.append(_encode(_writer_line(index % 7, **changes), variant))
        else:
            lines.append(draw(NOISE).replace(b"\n", b" "))
    return lines


def _reference(path: Path) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Classify each line with `parse_line` alone, as the reader used to."""
    events: list[dict[str, object]] = []
    counts: dict[str, object] = {"lines": 0, "other": 0, "blank": 0}
    skipped: dict[str, tuple[int, int]] = {}
    for raw in LineSource(path):
        counts["lines"] = int(counts["lines"]) + 1  # type: ignore[call-overload]
        result = parse_line(raw.data, is_complete=raw.is_complete)
        if isinstance(result, TimingEvent):
            events.append(_event_row(result))
        elif isinstance(result, Malformed):
            count, first = skipped.get(result.code, (0, raw.number))
            skipped[result.code] = (count + 1, first)
        elif result in (OTHER, BLANK):
            counts[result] = int(counts[result]) + 1  # type: ignore[call-overload]
    counts["skipped"] = skipped
    return events, counts


def _event_row(event: TimingEvent) -> dict[str, object]:
    row = {name: getattr(event, name) for name in EVENT_SCHEMA if name != "timestamp"}
    row["timestamp_us"] = event.timestamp_us
    return row


def _first_kept(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    seen: set[object] = set()
    kept = []
    for row in rows:
        if row["event_id"] not in seen:
            seen.add(row["event_id"])
            kept.append(row)
    return kept


def _frame_rows(frame: pl.DataFrame) -> list[dict[str, object]]:
    frame = frame.with_columns(timestamp_us=pl.col("timestamp").dt.epoch("us")).drop(
        "timestamp"
    )
    return frame.to_dicts()


def _assert_same(path: Path) -> None:
    events, stats = read_files([path])
    expected_rows, expected = _reference(path)
    file_stats = stats.files[0]

    assert file_stats.lines == expected["lines"]
    assert file_stats.other == expected["other"]
    assert file_stats.blank == expected["blank"]
    skipped = {
        code: (tally.count, tally.first_line)
        for code, tally in file_stats.skipped.items()
    }
    assert skipped == expected["skipped"]
    assert events.schema == pl.Schema(EVENT_SCHEMA)
    assert _frame_rows(events) == _first_kept(expected_rows)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    lines=log_lines(),
    has_final_newline=st.booleans(),
    is_gzip=st.booleans(),
    batch_bytes=st.sampled_from([64, 1000, line_batches.BATCH_BYTES]),
)
def test_batched_reader_matches_parse_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lines: list[bytes],
    has_final_newline: bool,
    is_gzip: bool,
    batch_bytes: int,
) -> None:
    """Counts, first line numbers and the event frame equal parse_line's."""
    data = b"\n".join(lines) + (b"\n" if has_final_newline and lines else b"")
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(gzip.compress(data) if is_gzip else data)
    monkeypatch.setattr(line_batches, "BATCH_BYTES", batch_bytes)
    monkeypatch.setattr(files, "_CHUNK_BYTES", min(batch_bytes, 1024 * 1024))

    _assert_same(path)


def test_small_batches_keep_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines split across many batches keep their numbers and order."""
    lines = [orjson.dumps(_writer_line(index)) for index in range(50)]
    lines[17] = b"not json"
    lines[33] = orjson.dumps(_writer_line(3, event_id=f"{5:032x}"))
    path = tmp_path / "many.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    monkeypatch.setattr(line_batches, "BATCH_BYTES", 700)
    monkeypatch.setattr(files, "_CHUNK_BYTES", 100)
    batches = list(iter_line_batches(LineSource(path).chunks()))
    assert len(batches) > 5
    _assert_same(path)


def test_over_long_line_is_counted(tmp_path: Path) -> None:
    """A line over the length limit is counted as too long, wherever it sits."""
    long_line = b'{"event":"' + b"x" * (2 * 1024 * 1024) + b'"}'
    path = tmp_path / "long.jsonl"
    path.write_bytes(
        orjson.dumps(_writer_line(1)) + b"\n" + long_line + b"\n" + long_line
    )

    _assert_same(path)


@pytest.mark.parametrize("bad_at", [0, 700, 1499])
def test_invalid_utf8_line_keeps_batch_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad_at: int
) -> None:
    """One invalid UTF-8 line sends a small part of its batch to `parse_line`."""
    lines = [orjson.dumps(_writer_line(index)) for index in range(1500)]
    lines[bad_at] = b'{"event":"timing","action":"\xff\xfe"}'
    path = tmp_path / "bad-byte.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    parsed: list[bytes] = []

    def counting_parse_line(raw: bytes, **options: bool) -> object:
        parsed.append(raw)
        return parse_line(raw, **options)

    monkeypatch.setattr("aggregator.fast_reader.parse_line", counting_parse_line)

    _assert_same(path)
    assert len(parsed) <= 512
