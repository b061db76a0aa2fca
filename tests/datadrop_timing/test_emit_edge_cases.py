"""Emit-side edge cases: levels, field types, redaction, defaults."""

from __future__ import annotations

import datetime
import json
import logging
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import structlog
from helpers import CLOCK_START, EmittedLog

from aggregator.lines import TimingEvent, parse_line
from datadrop_timing import ManualClock, bind_context, configure, flush, timed
from datadrop_timing.render import render_line

WEBHOOK = "https://discord.com/api/webhooks/123456/planted-webhook-secret"


class InvalidCodeError(Exception):
    pass


def _readable_by_aggregator(emitted: EmittedLog) -> list[TimingEvent]:
    results = [parse_line(raw) for raw in emitted.raw_lines()]
    return [result for result in results if isinstance(result, TimingEvent)]


def test_timing_lines_are_written_at_any_level(tmp_path: Path) -> None:
    clock = ManualClock(CLOCK_START)
    path = tmp_path / "warn.jsonl"
    configure(service="s", output=path, level="warning", clock=clock)
    try:
        with timed("config.get", clock=clock):
            pass
        structlog.get_logger().info("dropped at warning level")
        structlog.get_logger().warning("kept")
    finally:
        flush()
        logging.getLogger().handlers.clear()

    events = [json.loads(line)["event"] for line in path.read_text().splitlines()]
    assert events == ["timing", "kept"]


class TestFieldTypes:
    def test_wrong_types_move_aside_and_the_line_stays_readable(
        self, emitted: EmittedLog
    ) -> None:
        with timed("api.request", clock=emitted.clock, status_code="200", route=123):
            pass
        with timed("api.request", clock=emitted.clock, method=["GET"], ack_ms="x"):
            pass
        with timed("api.request", clock=emitted.clock, status_code=700):
            pass

        first, second, third = emitted.timing()
        assert (first["status_code"], first["extra_route"]) == (200, 123)
        assert (second["extra_method"], second["extra_ack_ms"]) == (["GET"], "x")
        assert third["extra_status_code"] == 700
        assert len(_readable_by_aggregator(emitted)) == 3

    def test_ordinary_message_timing_is_not_a_timing_line(
        self, emitted: EmittedLog
    ) -> None:
        structlog.get_logger().info("timing")
        logging.getLogger("app").info("timing")

        assert [line["event"] for line in emitted.lines()] == [
            "timing (log message)",
            "timing (log message)",
        ]
        assert [parse_line(raw) for raw in emitted.raw_lines()] == ["other", "other"]

    def test_integral_float_tenant_is_written_as_digits(
        self, emitted: EmittedLog
    ) -> None:
        with timed("config.get", tenant=1234.0, clock=emitted.clock):
            pass

        assert emitted.only_timing()["tenant"] == "1234"


class TestRedaction:
    @pytest.mark.parametrize(
        "key",
        [
            "webhookUrl",
            "auth_token",
            "discord-token",
            "accessToken",
            "client_secret",
            "db_password",
            "X-Api-Key",
            "user_name",
            "messageContent",
        ],
    )
    def test_secret_names_in_any_spelling_are_dropped(
        self, emitted: EmittedLog, key: str
    ) -> None:
        with timed("api.auth", clock=emitted.clock, **{key: "planted-secret-1"}):
            pass

        assert "planted-secret-1" not in emitted.text()
        assert emitted.only_timing()["redacted_keys"] == [key]

    def test_nested_keys_and_url_values_are_scrubbed(self, emitted: EmittedLog) -> None:
        headers = {"authorization": "Bearer planted-bearer-value", "accept": "json"}
        with timed("api.auth", clock=emitted.clock, headers=headers, target=WEBHOOK):
            pass

        text = emitted.text()
        line = emitted.only_timing()
        assert "planted-bearer-value" not in text
        assert "planted-webhook-secret" not in text
        assert line["headers"] == {"accept": "json"}
        assert line["redacted_keys"] == ["headers.authorization"]
        assert line["target"] == "[redacted webhook URL]"

    def test_exception_messages_lose_webhook_urls_and_bearer_tokens(
        self, emitted: EmittedLog
    ) -> None:
        try:
            raise ConnectionError(f"POST {WEBHOOK} failed; Bearer abcdefgh12345678")
        except ConnectionError:
            structlog.get_logger().exception("delivery failed")
            logging.getLogger("app").exception("delivery failed")

        text = emitted.text()
        assert "planted-webhook-secret" not in text
        assert "abcdefgh12345678" not in text
        assert text.count("[redacted webhook URL]") >= 2

    def test_ordinary_names_are_kept(self, emitted: EmittedLog) -> None:
        fields = {"request_count": 1, "tokenizer": "x", "route": "/a", "batches": 2}
        with timed("config.get", clock=emitted.clock, **fields):
            pass

        line = emitted.only_timing()
        assert "redacted_keys" not in line
        assert {key: line[key] for key in fields} == fields


class TestTimerOptions:
    def test_user_error_types_are_rejections(self, emitted: EmittedLog) -> None:
        with pytest.raises(InvalidCodeError):
            with timed(
                "verification.submit", clock=emitted.clock, rejects=(InvalidCodeError,)
            ):
                raise InvalidCodeError
        with pytest.raises(KeyError):
            with timed(
                "verification.submit", clock=emitted.clock, rejects=(InvalidCodeError,)
            ):
                raise KeyError

        first, second = emitted.timing()
        assert (first["outcome"], first["error_type"]) == (
            "success",
            "InvalidCodeError",
        )
        assert (second["outcome"], second["error_type"]) == ("failure", "KeyError")

    def test_rename_sets_the_action_and_its_type(self, emitted: EmittedLog) -> None:
        with timed("bot.command.unknown", clock=emitted.clock) as span:
            span.rename("config.set Role")
        with timed("api.request", action_type="http", clock=emitted.clock) as span:
            span.rename("api.request.v2")

        first, second = emitted.timing()
        assert (first["action"], first["action_type"]) == ("config.set_role", "config")
        assert (second["action"], second["action_type"]) == ("api.request.v2", "http")


def test_without_configure_timing_lines_are_json_on_stdout() -> None:
    code = (
        "from datadrop_timing import timed\n"
        "with timed('config.get', tenant=5):\n"
        "    pass\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    line = json.loads(result.stdout)
    assert (line["event"], line["tenant"]) == ("timing", "5")
    assert "_end_timestamp" not in result.stdout


class TestIdsInExceptionText:
    def test_snowflakes_leave_exception_messages_and_tracebacks(
        self, emitted: EmittedLog
    ) -> None:
        user_id = "616161616161616161"
        try:
            raise LookupError(f"member {user_id} not found in guild")
        except LookupError as error:
            structlog.get_logger().exception("lookup failed")
            logging.getLogger("app").exception("lookup failed")
            structlog.get_logger().warning("kept as value", last_error=error)

        lines = emitted.lines()
        assert user_id not in emitted.text()
        assert lines[0]["exception"]["message"] == "member [id] not found in guild"
        assert lines[2]["last_error"]["message"] == "member [id] not found in guild"

    def test_tenant_and_short_numbers_are_kept(self, emitted: EmittedLog) -> None:
        with bind_context(tenant=700000000000000001):
            try:
                raise ValueError("retry 3 of 12345")
            except ValueError:
                structlog.get_logger().exception("failed")

        (line,) = emitted.lines()
        assert line["tenant"] == "700000000000000001"
        assert line["exception"]["message"] == "retry 3 of 12345"


_BROKEN_TZINFO_SCRIPT = """
import datetime, sys
from datadrop_timing import configure, flush, timed

class BrokenZone(datetime.tzinfo):
    def utcoffset(self, moment):
        raise RuntimeError("no offset")

    def dst(self, moment):
        return None

    def tzname(self, moment):
        return "broken"

configure(service="s", output=sys.argv[1], route_stdlib=False)
with timed("config.get") as span:
    span.set(planned_at=datetime.datetime(2026, 1, 1, tzinfo=BrokenZone()))
flush()
"""


class TestDatesAndTimes:
    def test_broken_tzinfo_does_not_crash(self, tmp_path: Path) -> None:
        """A tzinfo whose utcoffset() raises becomes a placeholder, not a crash."""
        path = tmp_path / "zone.jsonl"

        result = subprocess.run(
            [sys.executable, "-c", _BROKEN_TZINFO_SCRIPT, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )

        assert result.returncode == 0, result.stderr
        line = json.loads(path.read_bytes())
        assert line["planned_at"] == "<unrenderable datetime>"
        assert line["action"] == "config.get"

    @pytest.mark.parametrize(
        "value",
        [
            datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
            datetime.datetime(2026, 1, 1, 1, 2, 3, 456),
            datetime.datetime(
                2026,
                1,
                1,
                1,
                2,
                3,
                1,
                tzinfo=datetime.timezone(-datetime.timedelta(hours=3)),
            ),
            datetime.date(2026, 2, 3),
            datetime.time(1, 2, 3, 7),
        ],
    )
    def test_dates_render_as_orjson_did(self, value: object) -> None:
        """Dates and times read as orjson wrote them: naive as UTC, UTC as Z."""
        expected = orjson.dumps(
            {"at": value}, option=orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC
        )

        assert render_line({"at": value}) == expected
