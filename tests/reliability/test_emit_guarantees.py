"""Emit-side promises: one line per call, a line size cap, safe write failures."""

from __future__ import annotations

import io
import json
import logging
import operator
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
import structlog
from helpers import CLOCK_START, EmittedLog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_properties import _VALUES as FIELD_VALUES

from datadrop_timing import configure, flush, timed
from datadrop_timing.render import MAX_LINE_BYTES, TRUNCATION_MARK, render_line
from datadrop_timing.schema import format_timestamp
from datadrop_timing.sink import LineSink
from datadrop_timing.stdlib import JsonLineFormatter, LineSinkHandler

FULL_DEVICE = Path("/dev/full")

# Keys that are not plain identifiers or that name a `LogRecord` attribute,
# a schema key or an argument of the logging call itself.
_AWKWARD_KEYS = st.sampled_from(
    [
        "name",
        "msg",
        "args",
        "exc_info",
        "stack_info",
        "stacklevel",
        "extra",
        "timestamp",
        "level",
        "logger",
        "schema",
        "lone \ud800 surrogate",
        "",
    ]
)

# The field values of the timer's property test, and values that must be cut,
# cleaned or converted on the way to the line.
_VALUES = st.one_of(
    FIELD_VALUES,
    st.lists(
        st.sampled_from(["x" * 70_000, "\ud83d", ValueError("bad 'value'"), object()]),
        max_size=3,
    ),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.dictionaries(
        st.one_of(st.text(max_size=12), _AWKWARD_KEYS, st.integers()),
        _VALUES,
        max_size=6,
    )
)
def test_stdlib_and_structlog_give_one_line_each(
    emitted: EmittedLog, fields: dict[object, object]
) -> None:
    """Any `extra` or keyword fields: no exception, one JSON object per call."""
    before = len(emitted.raw_lines())
    # Keyword arguments must be strings, and `event` is the positional message.
    keywords = {str(key): value for key, value in fields.items() if str(key) != "event"}

    logging.getLogger("app").warning("with extras", extra=fields)
    structlog.get_logger().warning("with fields", **keywords)

    new_lines = emitted.raw_lines()[before:]
    assert len(new_lines) == 2
    for raw in new_lines:
        assert b"\n" not in raw
        assert len(raw) <= MAX_LINE_BYTES
        assert isinstance(json.loads(raw), dict)


class _FailingStr:
    def __str__(self) -> str:
        msg = "str exploded"
        raise RuntimeError(msg)


def test_unformattable_record_gives_a_fallback_line(
    emitted: EmittedLog, capfd: pytest.CaptureFixture[str]
) -> None:
    """A stdlib message whose arguments do not format still gives one line.

    The records go to the handler directly: pytest's own log capture handlers
    raise on such records, which a program's handlers do not.
    """
    root_handlers = logging.getLogger().handlers
    (handler,) = [item for item in root_handlers if isinstance(item, LineSinkHandler)]
    for message, args in (("%s", (_FailingStr(),)), ("%d items", ("many",))):
        record = logging.LogRecord(
            "app", logging.INFO, __file__, 1, message, args, None
        )
        handler.handle(record)

    lines = emitted.lines()
    assert [line["event"] for line in lines] == ["unformattable log record"] * 2
    assert all(line["logger"] == "app" for line in lines)
    assert "Logging error" not in capfd.readouterr().err


def test_fallback_line_has_the_formatter_timestamp(emitted: EmittedLog) -> None:
    """The fallback line is stamped like every other line of the handler."""
    root_handlers = logging.getLogger().handlers
    (handler,) = [item for item in root_handlers if isinstance(item, LineSinkHandler)]
    for message, args in (("%d items", ("many",)), ("%d items", (3,))):
        record = logging.LogRecord(
            "app", logging.INFO, __file__, 1, message, args, None
        )
        handler.handle(record)

    fallback, formatted = emitted.lines()
    assert fallback["event"] == "unformattable log record"
    assert formatted["event"] == "3 items"
    assert fallback["timestamp"] == format_timestamp(emitted.clock.now())
    assert fallback["timestamp"] == formatted["timestamp"]


@pytest.mark.parametrize(
    ("created", "expected_timestamp"),
    [
        (CLOCK_START.timestamp(), "2026-12-01T07:00:00.000000Z"),
        (1_780_000_000.25, "2026-05-28T20:26:40.250000Z"),
    ],
)
def test_fallback_line_has_the_record_time(
    created: float, expected_timestamp: str
) -> None:
    """With the system clock, the fallback line carries the record's own time."""
    stream = io.BytesIO()
    handler = LineSinkHandler(LineSink(stream))
    handler.setFormatter(JsonLineFormatter())
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "%d", ("x",), None)
    record.created = created

    handler.handle(record)

    line = json.loads(stream.getvalue())
    assert line["event"] == "unformattable log record"
    assert line["timestamp"] == expected_timestamp


def test_fallback_line_with_a_broken_record_time() -> None:
    """A record whose `created` is not a time still gives a stamped line."""
    stream = io.BytesIO()
    handler = LineSinkHandler(LineSink(stream))
    handler.setFormatter(JsonLineFormatter())
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "%d", ("x",), None)
    record.created = float("nan")

    handler.handle(record)

    line = json.loads(stream.getvalue())
    assert line["event"] == "unformattable log record"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])


@pytest.fixture
def group_umask() -> Iterator[None]:
    """Set the umask most systems use, so file modes are predictable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_log_file_is_not_world_readable(tmp_path: Path, group_umask: None) -> None:
    path = tmp_path / "bot.jsonl"
    configure(service="test", output=path)
    try:
        with timed("config.get"):
            pass
        flush()
    finally:
        logging.getLogger().handlers.clear()

    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_many_long_values_fit_the_line_cap(emitted: EmittedLog) -> None:
    """Forty 10,000-character values are cut until the line is 64 KiB or less."""
    fields = {f"field_{index}": "v" * 10_000 for index in range(40)}
    with timed("config.update", clock=emitted.clock, **fields):
        pass

    (raw,) = emitted.raw_lines()
    line = json.loads(raw)
    assert len(raw) <= MAX_LINE_BYTES
    assert line["field_0"].endswith("...[truncated]")
    assert line["action"] == "config.update"


def test_huge_message_with_many_keys_fits(emitted: EmittedLog) -> None:
    """Too many keys to cut: the essential keys are kept, and they are cut too."""
    fields = {f"k{index}": "y" for index in range(20_000)}
    structlog.get_logger().info("m" * 200_000, **fields)

    (raw,) = emitted.raw_lines()
    line = json.loads(raw)
    assert len(raw) <= MAX_LINE_BYTES
    assert line["event"].startswith("mmm")
    assert line["event"].endswith(TRUNCATION_MARK)
    assert line["level"] == "info"
    assert line["render_error"] is True
    assert "k0" not in line


class _FailingItemsDict(dict[str, object]):
    def items(self) -> NoReturn:
        msg = "items exploded"
        raise RuntimeError(msg)


@pytest.mark.parametrize("key", ["blob", "event"])
def test_long_mapping_whose_items_raise(key: str) -> None:
    """orjson encodes the dict subclass, but cutting it calls the raising `items()`."""
    event: dict[str, object] = {"timestamp": "t", "level": "info", "event": "m"}
    event[key] = _FailingItemsDict(text="x" * 70_000)

    raw = render_line(event)

    line = json.loads(raw)
    assert len(raw) <= MAX_LINE_BYTES
    assert line["render_error"] is True
    assert line["level"] == "info"
    assert "event" in line


def test_int_beyond_64_bits_in_an_essential_key(emitted: EmittedLog) -> None:
    """orjson rejects such integers, so the line keeps each value as text."""
    structlog.get_logger().info("big ids", request_id=2**70, shard=-(2**64))

    (line,) = emitted.lines()
    assert line["request_id"] == str(2**70)
    assert line["shard"] == str(-(2**64))
    assert "render_error" not in line


# Text with lone surrogates, line breaks, quotes and non-ASCII letters, which
# every change of length on the way to the line must keep valid.
_AWKWARD_TEXT = st.text(
    st.one_of(
        st.characters(),
        st.sampled_from(["\ud800", "\udfff", "\n", "\r", "\x00", '"', "\\", "é", "😀"]),
    ),
    min_size=1,
    max_size=8,
)

# About this many characters of keys and values per event, so that an example
# renders in a fraction of a second.
_EVENT_CHARS = 2_000_000


@st.composite
def _long_text(draw: st.DrawFn, max_chars: int) -> str:
    piece = draw(_AWKWARD_TEXT)
    return piece * draw(st.integers(1, max(1, max_chars // len(piece))))


def _numbered_keys(stem: str, count: int) -> dict[str, int]:
    return {f"{stem}{index}": index for index in range(count)}


# Values that may be huge in size, in item count or as integers orjson rejects.
_ESSENTIAL_VALUES = st.one_of(
    _long_text(300_000),
    st.builds(
        operator.mul, st.lists(_AWKWARD_TEXT, max_size=1), st.integers(0, 100_000)
    ),
    st.builds(_numbered_keys, _AWKWARD_TEXT, st.integers(0, 100_000)),
    st.integers(2**64, 2**80),
    st.integers(-(2**80), -(2**63) - 1),
)


@st.composite
def _finished_events(draw: st.DrawFn) -> dict[str, object]:
    """Draw an event as `finish_event` hands it to `render_line`."""
    key_count = draw(st.integers(0, 20_000))
    chars_per_key = _EVENT_CHARS // max(key_count, 1)
    key_stem = draw(_long_text(chars_per_key // 2))
    value = draw(_long_text(chars_per_key // 2))

    event: dict[str, object] = {
        "timestamp": "2026-12-01T07:00:00.000000Z",
        "level": draw(st.sampled_from(["info", "warning", "error"])),
        "event": draw(_long_text(300_000)),
    }
    event.update({f"{key_stem}{index}": value for index in range(key_count)})

    essential_keys = ["event", "timestamp", "level", "action", "tenant", "request_id"]
    for key in draw(st.lists(st.sampled_from(essential_keys), unique=True)):
        event[key] = draw(_ESSENTIAL_VALUES)
    return event


@settings(max_examples=100, deadline=None)
@given(event=_finished_events())
def test_any_event_renders_within_the_cap(event: dict[str, object]) -> None:
    """Any number and size of keys and values: one JSON line of at most 64 KiB."""
    raw = render_line(event)

    assert len(raw) <= MAX_LINE_BYTES
    assert b"\n" not in raw
    assert b"\r" not in raw
    line = json.loads(raw)
    assert isinstance(line, dict)
    for key in ("event", "timestamp", "level"):
        assert key in line, key


@pytest.mark.skipif(not FULL_DEVICE.exists(), reason="needs /dev/full")
@pytest.mark.parametrize("background", [True, False])
def test_full_disk_is_counted_and_reported_once(
    capfd: pytest.CaptureFixture[str], background: bool
) -> None:
    """Every write fails with ENOSPC, yet each call returns and one notice shows."""
    sink = configure(service="test", output=FULL_DEVICE, background=background)
    completed = []
    try:
        for index in range(5):
            with timed("config.get"):
                completed.append(index)
            structlog.get_logger().info("after the timed call")
            logging.getLogger("app").info("stdlib line")
        flush()
    finally:
        logging.getLogger().handlers.clear()
        sink.close()

    stderr = capfd.readouterr().err
    assert completed == [0, 1, 2, 3, 4]
    assert sink.failures == 15
    assert stderr.count("cannot write log lines to /dev/full") == 1
    assert "No space left on device" in stderr
