"""The timer records exact durations, outcomes and error types on one line each."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from helpers import CLOCK_START, EmittedLog

from datadrop_timing import InvalidActionError, ManualClock, timed


class TestOutcome:
    def test_success_records_the_exact_duration(self, emitted: EmittedLog) -> None:
        """A block that takes 123.456 ms on the clock writes exactly that."""
        with timed("config.update", tenant="42", clock=emitted.clock):
            emitted.clock.advance(ms=123.456)

        line = emitted.only_timing()
        assert line["duration_ms"] == 123.456
        assert line["outcome"] == "success"
        assert line["level"] == "info"
        assert "error_type" not in line

    def test_timestamp_is_the_end_of_the_operation(self, emitted: EmittedLog) -> None:
        emitted.clock.advance(ms=1000)
        with timed("config.get", clock=emitted.clock):
            emitted.clock.advance(ms=250)

        end = CLOCK_START + timedelta(milliseconds=1250)
        expected = end.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert emitted.only_timing()["timestamp"] == expected

    def test_exception_marks_failure_and_is_reraised_unchanged(
        self, emitted: EmittedLog
    ) -> None:
        error = KeyError("verified_role")
        with pytest.raises(KeyError) as caught:
            with timed("config.update", clock=emitted.clock):
                emitted.clock.advance(ms=7)
                raise error

        assert caught.value is error
        line = emitted.only_timing()
        assert (line["outcome"], line["error_type"], line["level"]) == (
            "failure",
            "KeyError",
            "warning",
        )
        assert line["duration_ms"] == 7.0

    def test_fail_without_raising(self, emitted: EmittedLog) -> None:
        with timed("reset.execute", clock=emitted.clock) as span:
            span.fail("BatchTimeout")

        line = emitted.only_timing()
        assert (line["outcome"], line["error_type"]) == ("failure", "BatchTimeout")

    def test_reject_counts_as_success_with_error_type(
        self, emitted: EmittedLog
    ) -> None:
        """A user's wrong code is visible, but is not our failure."""
        with timed("verification.submit", clock=emitted.clock) as span:
            span.reject("InvalidCodeError")

        line = emitted.only_timing()
        assert (line["outcome"], line["error_type"], line["level"]) == (
            "success",
            "InvalidCodeError",
            "info",
        )

    async def test_cancellation_is_a_failure_and_propagates(
        self, emitted: EmittedLog
    ) -> None:
        started = asyncio.Event()

        async def slow() -> None:
            async with timed("reset.plan", clock=emitted.clock):
                emitted.clock.advance(ms=40)
                started.set()
                await asyncio.sleep(3600)

        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        line = emitted.only_timing()
        assert (line["outcome"], line["error_type"]) == ("failure", "CancelledError")
        assert line["duration_ms"] == 40.0


class TestForms:
    def test_sync_decorator_times_each_call(self, emitted: EmittedLog) -> None:
        @timed("state.transition", clock=emitted.clock)
        def transition(step_ms: float) -> str:
            emitted.clock.advance(ms=step_ms)
            return "verified"

        assert transition(5) == "verified"
        assert transition(15) == "verified"

        durations = [line["duration_ms"] for line in emitted.timing()]
        assert durations == [5.0, 15.0]

    async def test_async_decorator_records_failure(self, emitted: EmittedLog) -> None:
        @timed("verification.start", clock=emitted.clock)
        async def start() -> None:
            emitted.clock.advance(ms=3)
            raise ConnectionResetError

        with pytest.raises(ConnectionResetError):
            await start()

        line = emitted.only_timing()
        assert (line["action"], line["error_type"]) == (
            "verification.start",
            "ConnectionResetError",
        )

    async def test_async_context_manager(self, emitted: EmittedLog) -> None:
        async with timed("config.get", clock=emitted.clock) as span:
            emitted.clock.advance(ms=2.5)
            span.set(cache_hit=True)

        line = emitted.only_timing()
        assert (line["duration_ms"], line["cache_hit"]) == (2.5, True)

    def test_mark_ack_records_time_to_first_response(self, emitted: EmittedLog) -> None:
        with timed("bot.app_command.verify", clock=emitted.clock) as span:
            emitted.clock.advance(ms=180)
            span.mark_ack()
            emitted.clock.advance(ms=2000)
            span.mark_ack()

        line = emitted.only_timing()
        assert (line["ack_ms"], line["duration_ms"]) == (180.0, 2180.0)


class TestActionNames:
    @pytest.mark.parametrize(
        "action",
        ["Config.update", "config update", "config..update", "", "config.", "a-b"],
    )
    def test_invalid_name_is_refused_when_the_timer_is_defined(
        self, action: str
    ) -> None:
        with pytest.raises(InvalidActionError, match=repr(action)):
            timed(action)

    def test_unicode_lowercase_segments_are_valid(self, emitted: EmittedLog) -> None:
        with timed("bot.command.привет_2", clock=emitted.clock):
            pass

        assert emitted.only_timing()["action"] == "bot.command.привет_2"

    def test_run_time_names_are_normalised_never_refused(
        self, emitted: EmittedLog
    ) -> None:
        with timed("bot.command.Set Role-Name!", normalise=True, clock=emitted.clock):
            pass

        line = emitted.only_timing()
        assert (line["action"], line["action_type"]) == (
            "bot.command.set_role_name",
            "bot",
        )

    def test_action_type_defaults_to_first_segment(self, emitted: EmittedLog) -> None:
        with timed("reset.execute", clock=emitted.clock):
            pass
        with timed("api.request", action_type="http", clock=emitted.clock):
            pass

        types = [line["action_type"] for line in emitted.timing()]
        assert types == ["reset", "http"]


class TestFields:
    def test_tenant_snowflake_above_2_53_stays_exact(self, emitted: EmittedLog) -> None:
        guild_id = 2**53 + 1
        with timed("config.get", tenant=guild_id, clock=emitted.clock):
            pass

        assert emitted.only_timing()["tenant"] == "9007199254740993"

    def test_tenant_is_null_without_a_guild(self, emitted: EmittedLog) -> None:
        with timed("verification.start", clock=emitted.clock):
            pass

        assert emitted.only_timing()["tenant"] is None

    def test_sensitive_fields_are_dropped_and_named(self, emitted: EmittedLog) -> None:
        secret = "mfa.planted-token-value"
        with timed(
            "api.auth", clock=emitted.clock, token=secret, user_id=1234, route="/x"
        ):
            pass

        raw = emitted.text()
        line = emitted.only_timing()
        assert secret not in raw
        assert "1234" not in raw
        assert sorted(line["redacted_keys"]) == ["token", "user_id"]
        assert line["route"] == "/x"

    def test_fields_that_clash_with_schema_keys_are_renamed(
        self, emitted: EmittedLog
    ) -> None:
        with timed("config.get", clock=emitted.clock, outcome="green", schema=9):
            pass

        line = emitted.only_timing()
        assert (line["outcome"], line["schema"]) == ("success", 1)
        assert (line["extra_outcome"], line["extra_schema"]) == ("green", 9)

    def test_event_ids_are_unique_lowercase_hex(self, emitted: EmittedLog) -> None:
        for _ in range(200):
            with timed("config.get", clock=emitted.clock):
                pass

        ids = [line["event_id"] for line in emitted.timing()]
        assert len(set(ids)) == 200
        assert all(len(i) == 32 and i == i.lower() and int(i, 16) >= 0 for i in ids)


def test_a_timer_object_cannot_be_entered_twice_at_once() -> None:
    timer = timed("config.get", clock=ManualClock(CLOCK_START))
    with timer, pytest.raises(RuntimeError), timer:
        pass
