"""Property tests: arbitrary values never break a line; noise never moves a number."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import orjson
from helpers import EmittedLog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.lines import Malformed, TimingEvent, parse_line
from aggregator.loading import read_files
from aggregator.summary import SummaryOptions, summarise
from datadrop_timing import timed

# The reader fuzz budget: raise it for a longer run, e.g. 20000 before a release.
FUZZ_EXAMPLES = int(os.environ.get("DATADROP_FUZZ_EXAMPLES", "400"))

# Named parameters of `timed`, checked when the timer is defined.
_PARAMETERS = {"action_type", "tenant", "entrypoint", "clock", "normalise", "rejects"}

_KEYS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "name",
            "message",
            "timestamp",
            "level",
            "event",
            "schema",
            "status_code",
            "route",
            "tenant",
            "exc_info",
            "user_id",
        ]
    ),
)

_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(),
        st.binary(max_size=20),
        st.datetimes(),
        st.uuids(),
        st.sets(st.integers(), max_size=4),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=5), st.integers()), inner, max_size=4
        ),
        st.tuples(inner, inner),
    ),
    max_leaves=12,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_any_fields_give_one_readable_timing_line(
    emitted: EmittedLog, fields: dict[object, object]
) -> None:
    before = len(emitted.raw_lines())
    safe = {
        str(key): value for key, value in fields.items() if str(key) not in _PARAMETERS
    }

    with timed("config.update", clock=emitted.clock, **safe):
        emitted.clock.advance(ms=3)

    new_lines = emitted.raw_lines()[before:]
    assert len(new_lines) == 1
    event = parse_line(new_lines[0])
    assert isinstance(event, TimingEvent), event
    assert (event.action, event.duration_ms) == ("config.update", 3.0)


def _valid_line(index: int, duration_ms: float, action: str) -> bytes:
    return orjson.dumps(
        {
            "timestamp": (
                f"2026-12-01T07:{index // 60 % 60:02d}:{index % 60:02d}.000000Z"
            ),
            "level": "info",
            "event": "timing",
            "action": action,
            "duration_ms": duration_ms,
            "outcome": "success",
            "tenant": str(700000000000000000 + index % 7),
            "action_type": "a",
            "entrypoint": "bot",
            "service": "s",
            "event_id": f"{index:032x}",
            "schema": 1,
        }
    )


_NOISE = st.one_of(
    st.binary(max_size=80).map(lambda data: data.replace(b"\n", b"")),
    st.text(max_size=40).map(
        lambda text: text.replace("\n", "").encode("utf-8", "surrogatepass")
    ),
    st.sampled_from(
        [
            b'{"event":"timing","duration_ms":NaN}',
            b"{",
            b"[]",
            b"null",
            b'{"event":"timing"}',
            b'{"event":"heartbeat"}',
            b"\xef\xbb\xbf",
            b"\r",
            b'{"event":"timing","schema":9}',
        ]
    ),
)


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(noise=st.lists(_NOISE, max_size=30), seed=st.integers(0, 2**32 - 1))
def test_noise_never_changes_the_numbers_of_valid_lines(
    tmp_path: Path, noise: list[bytes], seed: int
) -> None:
    rng = random.Random(seed)
    valid = [
        _valid_line(index, round(rng.lognormvariate(4, 1), 3), rng.choice("xyz"))
        for index in range(60)
    ]
    mixed = valid + noise
    rng.shuffle(mixed)
    path = tmp_path / f"mixed-{seed}.jsonl"
    path.write_bytes(b"\n".join(mixed) + b"\n")

    events, stats = read_files([path])
    summary = summarise(events, SummaryOptions(by=("action",)))

    expected: dict[str, list[float]] = {}
    for line in valid:
        data = json.loads(line)
        expected.setdefault(data["action"], []).append(data["duration_ms"])
    rows = {row["action"]: row for row in summary.iter_rows(named=True)}
    assert set(rows) == set(expected)
    for action, durations in expected.items():
        assert rows[action]["count"] == len(durations)
        want = np.percentile(durations, 95, method="inverted_cdf")
        assert rows[action]["p95_ms"] == want
    counted = stats.files[0].events + stats.files[0].other + stats.files[0].blank
    assert counted + stats.skipped_total == stats.files[0].lines


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(raw=st.binary(max_size=300))
def test_line_reader_never_raises(raw: bytes) -> None:
    result = parse_line(raw, is_complete=bool(raw) and raw[-1] % 2 == 0)

    assert isinstance(result, (TimingEvent, Malformed, str))


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_line_order_does_not_change_results(tmp_path_factory, seed: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    lines = [
        _valid_line(i, float(rng.randint(1, 900)), rng.choice("xy")) for i in range(50)
    ]
    folder = tmp_path_factory.mktemp("order")
    sorted_path = folder / "sorted.jsonl"
    shuffled_path = folder / "shuffled.jsonl"
    sorted_path.write_bytes(b"\n".join(lines) + b"\n")
    rng.shuffle(lines)
    shuffled_path.write_bytes(b"\n".join(lines) + b"\n")

    first = summarise(read_files([sorted_path])[0], SummaryOptions())
    second = summarise(read_files([shuffled_path])[0], SummaryOptions())

    assert first.to_dicts() == second.to_dicts()
