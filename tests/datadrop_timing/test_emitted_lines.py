"""What reaches the file: schema-valid single lines, whatever the values."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from importlib import resources

import jsonschema
import pytest
import structlog
from helpers import EmittedLog

from aggregator.lines import TimingEvent, parse_line
from datadrop_timing import bind_context, configure, new_request_id, timed
from datadrop_timing.schema import GLANCE_KEYS


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    text = resources.files("datadrop_timing").joinpath("event.schema.json").read_text()
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _time_core_actions(emitted: EmittedLog) -> None:
    with timed("verification.submit", tenant=700000000000000001, clock=emitted.clock):
        emitted.clock.advance(ms=140)
    with pytest.raises(TimeoutError):
        with timed("reset.execute", entrypoint="worker", clock=emitted.clock):
            raise TimeoutError
    with timed(
        "api.request",
        entrypoint="api",
        clock=emitted.clock,
        route="/guilds/{guild_id}/config",
        method="PUT",
    ) as span:
        span.set(status_code=201)


class TestSchema:
    def test_emitted_lines_validate_against_the_json_schema(
        self, emitted: EmittedLog, validator: jsonschema.Draft202012Validator
    ) -> None:
        _time_core_actions(emitted)

        lines = emitted.timing()
        assert len(lines) == 3
        for line in lines:
            validator.validate(line)

    def test_schema_refuses_a_line_that_breaks_the_contract(
        self, emitted: EmittedLog, validator: jsonschema.Draft202012Validator
    ) -> None:
        """The schema file is strict enough to catch a writer regression."""
        _time_core_actions(emitted)
        line = emitted.timing()[1]

        broken = dict(line, timestamp="2026-12-01 07:00:00")
        assert not validator.is_valid(broken)
        assert not validator.is_valid(
            {k: v for k, v in line.items() if k != "error_type"}
        )
        assert not validator.is_valid(dict(line, tenant=123))

    def test_glance_keys_come_first_in_fixed_order(self, emitted: EmittedLog) -> None:
        _time_core_actions(emitted)

        for raw in emitted.raw_lines():
            keys = list(json.loads(raw))
            if "action" in keys:
                assert tuple(keys[: len(GLANCE_KEYS)]) == GLANCE_KEYS
                assert keys[-2:] == ["event_id", "schema"]

    def test_the_aggregator_reads_back_every_field(self, emitted: EmittedLog) -> None:
        _time_core_actions(emitted)

        parsed = [parse_line(raw) for raw in emitted.raw_lines()]
        events = [event for event in parsed if isinstance(event, TimingEvent)]
        assert [e.action for e in events] == [
            "verification.submit",
            "reset.execute",
            "api.request",
        ]
        first, second, third = events
        assert (first.tenant, first.duration_ms) == ("700000000000000001", 140.0)
        assert (second.outcome, second.error_type, second.entrypoint) == (
            "failure",
            "TimeoutError",
            "worker",
        )
        assert (third.route, third.method, third.status_code) == (
            "/guilds/{guild_id}/config",
            "PUT",
            201,
        )


class _FailingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


_AWKWARD_VALUES = {
    "started_at": datetime(2025, 6, 1, 7, 0, 0, tzinfo=UTC),
    "roles": {"moderator", "member"},
    "raw": b"\x00\xff\x10",
    "trace_ref": uuid.UUID("00000000-0000-4000-8000-000000000001"),
    "per_shard": {uuid.UUID("00000000-0000-4000-8000-000000000002"): 3, (0, 1): 5},
    "last_error": ValueError("quota exceeded"),
    "cfg": _FailingRepr(),
    "label": "lone \ud83d surrogate",
    "shard_mask": 2**70,
}

_EXPECTED_RENDERING = {
    "started_at": "2025-06-01T07:00:00Z",
    "roles": ["member", "moderator"],
    "raw": "00ff10",
    "trace_ref": "00000000-0000-4000-8000-000000000001",
    "per_shard": {"00000000-0000-4000-8000-000000000002": 3, "(0, 1)": 5},
    "last_error": {"type": "ValueError", "message": "quota exceeded"},
    "cfg": "<unrenderable _FailingRepr>",
    "label": "lone \ufffd surrogate",
    "shard_mask": "1180591620717411303424",
}


class TestAwkwardValues:
    def test_timer_renders_every_awkward_value(self, emitted: EmittedLog) -> None:
        with timed("bot.app_command.stats", clock=emitted.clock, **_AWKWARD_VALUES):
            pass

        line = emitted.only_timing()
        for key, expected in _EXPECTED_RENDERING.items():
            assert line[key] == expected, key
        assert line["outcome"] == "success"

    def test_stdlib_path_renders_the_same_values_the_same_way(
        self, emitted: EmittedLog
    ) -> None:
        logging.getLogger("datadrop.test").warning("awkward", extra=_AWKWARD_VALUES)
        structlog.get_logger().warning("awkward", **_AWKWARD_VALUES)

        stdlib_line, structlog_line = emitted.lines()
        for key, expected in _EXPECTED_RENDERING.items():
            assert stdlib_line[key] == expected, key
            assert structlog_line[key] == expected, key

    def test_a_huge_string_is_cut_and_the_line_stays_whole(
        self, emitted: EmittedLog
    ) -> None:
        with timed("config.update", clock=emitted.clock, blob="x" * 500_000):
            pass

        (raw,) = emitted.raw_lines()
        line = json.loads(raw)
        assert len(raw) < 70_000
        assert line["blob"].endswith("...[truncated]")
        assert line["action"] == "config.update"


class TestExceptions:
    def test_exception_logging_with_no_active_exception(
        self, emitted: EmittedLog, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """Logging `exc_info=True` after the except block ends loses nothing."""
        try:
            raise LookupError("role gone")
        except LookupError:
            pass
        structlog.get_logger().exception("command failed")
        logging.getLogger("discord.ext").exception("command failed")

        lines = emitted.lines()
        assert len(lines) == 2
        assert all("exception" not in line for line in lines)
        assert "Logging error" not in capfd.readouterr().err

    def test_multiline_chained_exception_stays_on_one_line(
        self, emitted: EmittedLog
    ) -> None:
        try:
            try:
                raise ValueError("first\nsecond line ü\n" + "x" * 5000)
            except ValueError as inner:
                raise RuntimeError("while handling") from inner
        except RuntimeError as error:
            structlog.get_logger().error("failed", exc_info=error)

        (raw,) = emitted.raw_lines()
        line = json.loads(raw)
        assert line["exception"]["type"] == "RuntimeError"
        assert "ValueError: first" in line["exception"]["traceback"]
        assert parse_line(raw) == "other"


class TestLogRecordClashes:
    @pytest.mark.parametrize(
        "name",
        sorted(
            {*logging.LogRecord("", 0, "", 0, "", (), None).__dict__}
            | {"message", "asctime", "taskName"}
        ),
    )
    def test_every_record_attribute_is_safe_as_an_extra(
        self, emitted: EmittedLog, name: str
    ) -> None:
        logging.getLogger("datadrop.ship").info("rotated", extra={name: "user value"})

        (line,) = emitted.lines()
        assert line["extra_" + name] == "user value"
        assert (line["event"], line["level"], line["logger"]) == (
            "rotated",
            "info",
            "datadrop.ship",
        )

    def test_timer_fields_named_like_record_attributes(
        self, emitted: EmittedLog
    ) -> None:
        fields = {"name": "a", "message": "b", "msg": "c", "args": "d", "created": 1}
        with timed("bot.command.name", clock=emitted.clock, **fields):
            pass

        line = emitted.only_timing()
        assert {key: line[key] for key in fields} == fields
        assert line["event"] == "timing"


class TestContext:
    async def test_context_does_not_leak_between_tasks(
        self, emitted: EmittedLog
    ) -> None:
        async def command(guild: str) -> None:
            with bind_context(tenant=guild, request_id=new_request_id()):
                await asyncio.sleep(0)
                structlog.get_logger().info("working")
                await asyncio.sleep(0)
                with timed("config.get", clock=emitted.clock):
                    await asyncio.sleep(0)

        await asyncio.gather(*(command(str(guild)) for guild in range(1, 21)))

        lines = emitted.lines()
        assert len(lines) == 40
        by_request: dict[str, set[object]] = {}
        for line in lines:
            by_request.setdefault(line["request_id"], set()).add(line["tenant"])
        assert len(by_request) == 20
        assert all(len(tenants) == 1 for tenants in by_request.values())

    def test_context_is_restored_after_the_block(self, emitted: EmittedLog) -> None:
        with bind_context(tenant="1"):
            with bind_context(tenant="2"):
                pass
            with timed("config.get", clock=emitted.clock):
                pass
        with timed("config.get", clock=emitted.clock):
            pass

        assert [line["tenant"] for line in emitted.timing()] == ["1", None]


class TestWriteFailures:
    def test_closed_stream_never_breaks_the_operation(
        self, capfd: pytest.CaptureFixture[str]
    ) -> None:
        stream = io.BytesIO()
        sink = configure(service="test", output=stream)
        stream.close()

        results = []
        for _ in range(5):
            with timed("config.get"):
                results.append("done")

        assert results == ["done"] * 5
        assert sink.failures == 5
        assert capfd.readouterr().err.count("cannot write log lines") == 1
        logging.getLogger().handlers.clear()


def test_importing_the_emit_side_does_not_import_polars_or_click() -> None:
    code = (
        "import sys, datadrop_timing; "
        "print(sorted(m for m in ('polars', 'click', 'aggregator', 'cli') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
