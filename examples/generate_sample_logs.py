"""Regenerate `sample_logs/` by running operations instrumented with datadrop_timing.

Every line is written by the real library: `configure()` sets up the JSON
lines, `timed(...)` times each core action, and ordinary structlog and stdlib
log lines are interleaved. A `ManualClock` places two days of traffic in time
without sleeping, so the script finishes in seconds.

What the logs hold, by design:
- 25 guilds (one id above 2^53) and DM traffic with no tenant;
- the core actions of the bot and the API, with failures and user rejections;
- `reset.execute` slow throughout (its p95 is above 500 ms), and a 45-minute
  slowdown of `verification.submit` on the second day;
- the first day as a rotated, gzip-compressed `bot.jsonl.1.gz`;
- `api.jsonl` ending in a cut-off line, as a killed process leaves it.

Usage: python examples/generate_sample_logs.py [--out sample_logs] [--seed 7]
"""

from __future__ import annotations

import argparse
import gzip
import logging
import random
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from datadrop_timing import ManualClock, bind_context, configure, new_request_id, timed

START = datetime(2026, 11, 29, tzinfo=UTC)

DAY = timedelta(days=1)

SLOWDOWN_START = START + DAY + timedelta(hours=14)

SLOWDOWN_LENGTH = timedelta(minutes=45)

EVENTS_PER_DAY = {"bot": 2400, "api": 900}


class InvalidCodeError(Exception):
    """The member typed a wrong verification code (a user rejection)."""


class ConfigValidationError(Exception):
    """A config value failed validation."""


class DatabaseTimeoutError(Exception):
    """The database did not answer in time."""


def make_guilds(rng: random.Random) -> list[str]:
    guilds = [str(rng.randrange(10**17, 10**18 * 2)) for _ in range(24)]
    guilds.append(str(2**53 + rng.randrange(10**6)))
    return guilds


class Workload:
    """Runs core actions in time order on a manual clock."""

    def __init__(self, clock: ManualClock, rng: random.Random, guilds: list[str]):
        self.clock = clock
        self.rng = rng
        self.guilds = guilds
        self.log = structlog.get_logger("datadrop")
        self.stdlib_log = logging.getLogger("discord.gateway")

    def work_ms(self, median_ms: float, spread: float = 0.6) -> None:
        """Spend a log-normally distributed time inside the current operation."""
        factor = 1.0
        now = self.clock.now()
        if SLOWDOWN_START <= now < SLOWDOWN_START + SLOWDOWN_LENGTH:
            factor = 6.0
        self.clock.advance(ms=self.rng.lognormvariate(0, spread) * median_ms * factor)

    def pause(self, mean_s: float) -> None:
        self.clock.advance(ms=self.rng.expovariate(1 / mean_s) * 1000)

    def tenant(self) -> str:
        return self.rng.choice(self.guilds)

    def verification_start(self) -> None:
        tenant = None if self.rng.random() < 0.05 else self.tenant()
        with timed("verification.start", tenant=tenant, clock=self.clock):
            self.work_ms(60)
            self.log.info("verification code issued")

    def verification_submit(self) -> None:
        tenant = self.tenant()
        with timed("verification.submit", tenant=tenant, clock=self.clock) as span:
            self.work_ms(140)
            if self.rng.random() < 0.08:
                span.reject("InvalidCodeError")
                self.log.info("verification code rejected")
                return
            self.state_transition(tenant, "pending", "verified")
            if self.rng.random() < 0.01:
                raise DatabaseTimeoutError("state write timed out")

    def state_transition(self, tenant: str, old: str, new: str) -> None:
        with timed("state.transition", tenant=tenant, clock=self.clock, to_state=new):
            self.work_ms(25)
            self.log.debug("member state written", from_state=old)

    def config_get(self) -> None:
        with timed("config.get", tenant=self.tenant(), clock=self.clock):
            self.work_ms(15)

    def config_update(self) -> None:
        with timed("config.update", tenant=self.tenant(), clock=self.clock):
            self.work_ms(90)
            if self.rng.random() < 0.05:
                raise ConfigValidationError("verified role is missing")

    def reset_plan(self) -> None:
        with timed("reset.plan", tenant=self.tenant(), clock=self.clock) as span:
            members = self.rng.randrange(50, 5000)
            self.work_ms(120 + members * 0.05)
            span.set(members=members)

    def reset_execute(self) -> None:
        with timed("reset.execute", tenant=self.tenant(), clock=self.clock) as span:
            batches = self.rng.randrange(1, 12)
            for _ in range(batches):
                self.work_ms(90, spread=0.4)
            span.set(batches=batches)
            if self.rng.random() < 0.03:
                raise DatabaseTimeoutError("batch write timed out")

    def api_call(self) -> None:
        route, method, action = self.rng.choice(API_ROUTES)
        tenant = self.tenant()
        with bind_context(tenant=tenant, request_id=new_request_id()):
            with timed(
                "api.request",
                entrypoint="api",
                clock=self.clock,
                route=route,
                method=method,
            ) as request:
                status_code = self.api_operation(action)
                request.set(status_code=status_code)
                if status_code >= 500:
                    request.fail("HTTPServerError")
                elif status_code >= 400:
                    request.reject("HTTPClientError")

    def api_operation(self, action: str) -> int:
        with timed("api.auth", entrypoint="api", clock=self.clock) as auth:
            self.work_ms(8)
            if self.rng.random() < 0.04:
                auth.reject("InvalidTokenError")
                return 401

        try:
            with timed(action, entrypoint="api", clock=self.clock):
                self.work_ms(API_MEDIANS_MS[action])
                if action == "config.update" and self.rng.random() < 0.05:
                    raise ConfigValidationError("unknown channel")
                if self.rng.random() < 0.01:
                    raise DatabaseTimeoutError("query timed out")
        except ConfigValidationError:
            return 422
        except DatabaseTimeoutError:
            return 503
        return 200


API_ROUTES = [
    ("/guilds/{guild_id}/config", "GET", "config.get"),
    ("/guilds/{guild_id}/config", "PUT", "config.update"),
    ("/guilds/{guild_id}/verification/{member_ref}", "GET", "verification.status"),
    ("/guilds/{guild_id}/reset/plan", "POST", "reset.plan"),
]

API_MEDIANS_MS = {
    "config.get": 12,
    "config.update": 80,
    "verification.status": 20,
    "reset.plan": 180,
}


def bot_operations(workload: Workload) -> list[tuple[Callable[[], None], float]]:
    return [
        (workload.verification_start, 30),
        (workload.verification_submit, 28),
        (workload.config_get, 20),
        (workload.config_update, 8),
        (workload.reset_plan, 2),
        (workload.reset_execute, 2),
    ]


def run_day(workload: Workload, entrypoint: str, day_end: datetime) -> None:
    operations = (
        bot_operations(workload) if entrypoint == "bot" else [(workload.api_call, 1)]
    )
    functions = [function for function, _ in operations]
    weights = [weight for _, weight in operations]
    mean_gap_s = DAY.total_seconds() / EVENTS_PER_DAY[entrypoint]

    while workload.clock.now() < day_end:
        workload.pause(mean_gap_s)
        try:
            with bind_context(request_id=new_request_id()):
                workload.rng.choices(functions, weights)[0]()
        except (DatabaseTimeoutError, ConfigValidationError) as error:
            workload.log.warning("operation failed", error_type=type(error).__name__)
        if workload.rng.random() < 0.15:
            workload.stdlib_log.info("heartbeat acknowledged, latency %.1f ms", 42.0)


def write_entrypoint(out: Path, entrypoint: str, seed: int) -> None:
    rng = random.Random(f"{seed}-{entrypoint}")
    guilds = make_guilds(random.Random(seed))
    clock = ManualClock(START)
    workload = Workload(clock, rng, guilds)
    service = f"datadrop-{entrypoint}"

    first_day = out / f"{entrypoint}.jsonl.1"
    configure(service=service, entrypoint=entrypoint, output=first_day, clock=clock)
    run_day(workload, entrypoint, START + DAY)

    current = out / f"{entrypoint}.jsonl"
    configure(service=service, entrypoint=entrypoint, output=current, clock=clock)
    run_day(workload, entrypoint, START + 2 * DAY)
    logging.getLogger().handlers.clear()

    if entrypoint == "bot":
        with (
            first_day.open("rb") as plain,
            gzip.open(f"{first_day}.gz", "wb") as packed,
        ):
            shutil.copyfileobj(plain, packed)
        first_day.unlink()
    else:
        first_day.rename(out / f"{entrypoint}-previous.jsonl")
        with current.open("ab") as stream:
            stream.write(b'{"timestamp":"2026-11-30T23:59:59.990000Z","level":"in')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("sample_logs"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.jsonl*"):
        old.unlink()

    for entrypoint in ("bot", "api"):
        write_entrypoint(args.out, entrypoint, args.seed)
    print(f"wrote {', '.join(sorted(p.name for p in args.out.iterdir()))}")


if __name__ == "__main__":
    main()
