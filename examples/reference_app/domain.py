"""DataDrop's core actions on a SQLite state, each timed with `datadrop_timing`.

Actions: `verification.start`, `verification.submit`, `state.transition`,
`config.get`, `config.update`, `reset.plan` and `reset.execute`. Invalid user
input (a wrong code, an unknown config key) is recorded as a rejection:
outcome `success` with `error_type`, following the event schema's outcome rule.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from datadrop_timing import SYSTEM_CLOCK, Clock, ManualClock, timed

CONFIG_DEFAULTS = {"verified_role": "member", "code_length": "6", "reset_month": "9"}
RESET_BATCH_SIZE = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS members (
    guild_id TEXT NOT NULL, member_key TEXT NOT NULL, state TEXT NOT NULL,
    code_hash TEXT, PRIMARY KEY (guild_id, member_key));
CREATE TABLE IF NOT EXISTS config (
    guild_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (guild_id, key));
"""


class ConfigValidationError(ValueError):
    """A config update names an unknown key or gives an invalid value."""


@dataclass
class Slowdown:
    """An injected slowdown: `delay_ms` added to the named actions while active."""

    actions: frozenset[str] = frozenset()
    delay_ms: float = 0.0
    is_active: bool = False


@dataclass
class DataDrop:
    """The reference app's state and core actions; one instance per process."""

    path: Path
    clock: Clock = SYSTEM_CLOCK
    slowdown: Slowdown = field(default_factory=Slowdown)
    work_ms: float = 3.0
    rng: random.Random = field(default_factory=random.Random)
    fault_rates: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path)
        try:
            with db:
                yield db
        finally:
            db.close()

    def _work(self, action: str, ms: float | None = None) -> None:
        """Spend the action's processing time: advance a manual clock, or sleep.

        The time varies around `work_ms` (log-normal), the injected slowdown
        adds to it, and an injected fault raises `sqlite3.OperationalError`.
        """
        base_ms = self.work_ms if ms is None else ms
        delay_ms = base_ms * self.rng.lognormvariate(0.0, 0.6)
        if self.slowdown.is_active and action in self.slowdown.actions:
            delay_ms += self.slowdown.delay_ms
        if isinstance(self.clock, ManualClock):
            self.clock.advance(ms=delay_ms)
        else:
            time.sleep(delay_ms / 1000)

        if self.rng.random() < self.fault_rates.get(action, 0.0):
            msg = f"database is locked (fault injected into {action})"
            raise sqlite3.OperationalError(msg)

    def start_verification(self, guild_id: int, member_key: str) -> str:
        """Issue a code and put the member in the `pending` state."""
        with timed("verification.start", tenant=guild_id, clock=self.clock):
            code = f"{secrets.randbelow(10**6):06d}"
            self._work("verification.start")
            with self._connect() as db:
                db.execute(
                    "INSERT OR REPLACE INTO members VALUES (?, ?, 'pending', ?)",
                    (str(guild_id), member_key, _hash(code)),
                )
            return code

    def submit_verification(self, guild_id: int, member_key: str, code: str) -> bool:
        """Check a code; move the member to `verified` or `failed`."""
        with timed("verification.submit", tenant=guild_id, clock=self.clock) as span:
            self._work("verification.submit")
            with self._connect() as db:
                row = db.execute(
                    "SELECT code_hash FROM members WHERE guild_id=? AND member_key=?",
                    (str(guild_id), member_key),
                ).fetchone()
            is_valid = row is not None and row[0] == _hash(code)
            if not is_valid:
                span.reject("InvalidCode")
            new_state = "verified" if is_valid else "failed"
            self.transition(guild_id, [member_key], new_state)
            return is_valid

    def transition(self, guild_id: int, member_keys: list[str], new_state: str) -> None:
        """Write a member state change, one `state.transition` line per batch."""
        with timed(
            "state.transition",
            tenant=guild_id,
            clock=self.clock,
            to_state=new_state,
            member_count=len(member_keys),
        ):
            self._work("state.transition", ms=1.0)
            with self._connect() as db:
                db.executemany(
                    "UPDATE members SET state=? WHERE guild_id=? AND member_key=?",
                    [(new_state, str(guild_id), key) for key in member_keys],
                )

    def member_state(self, guild_id: int, member_key: str) -> str | None:
        """Return a member's verification state, or None if unknown."""
        with self._connect() as db:
            row = db.execute(
                "SELECT state FROM members WHERE guild_id=? AND member_key=?",
                (str(guild_id), member_key),
            ).fetchone()
        return None if row is None else str(row[0])

    def get_config(self, guild_id: int) -> dict[str, str]:
        """Return the guild's config with defaults filled in."""
        with timed("config.get", tenant=guild_id, clock=self.clock):
            self._work("config.get", ms=1.0)
            with self._connect() as db:
                rows = db.execute(
                    "SELECT key, value FROM config WHERE guild_id=?", (str(guild_id),)
                ).fetchall()
            return {**CONFIG_DEFAULTS, **dict(rows)}

    def update_config(self, guild_id: int, key: str, value: str) -> None:
        """Set one config key.

        Raises:
            ConfigValidationError: `key` is unknown or `value` is invalid.
        """
        with timed("config.update", tenant=guild_id, clock=self.clock) as span:
            self._work("config.update")
            invalid = _validation_error(key, value)
            if invalid is not None:
                # Recorded as a rejection; raising inside the block would make
                # the timer record a failure.
                span.reject(type(invalid).__name__)
            else:
                with self._connect() as db:
                    db.execute(
                        "INSERT OR REPLACE INTO config VALUES (?, ?, ?)",
                        (str(guild_id), key, value),
                    )
        if invalid is not None:
            raise invalid

    def check_token(self, token: str, tokens: dict[str, int]) -> int | None:
        """Return the guild a bearer token grants, or None for an unknown token."""
        self._work("api.auth", ms=0.5)
        return tokens.get(token)

    def plan_reset(self, guild_id: int) -> list[str]:
        """Return the members whose verification the yearly reset clears."""
        with timed("reset.plan", tenant=guild_id, clock=self.clock) as span:
            self._work("reset.plan")
            with self._connect() as db:
                rows = db.execute(
                    "SELECT member_key FROM members"
                    " WHERE guild_id=? AND state != 'pending'",
                    (str(guild_id),),
                ).fetchall()
            span.set(member_count=len(rows))
            return [str(row[0]) for row in rows]

    def execute_reset(self, guild_id: int) -> int:
        """Move every planned member back to `pending`, in batches."""
        member_keys = self.plan_reset(guild_id)
        with timed("reset.execute", tenant=guild_id, clock=self.clock) as span:
            self._work("reset.execute")
            for start in range(0, len(member_keys), RESET_BATCH_SIZE):
                batch = member_keys[start : start + RESET_BATCH_SIZE]
                self.transition(guild_id, batch, "pending")
            span.set(member_count=len(member_keys))
            return len(member_keys)


def _validation_error(key: str, value: str) -> ConfigValidationError | None:
    if key not in CONFIG_DEFAULTS:
        msg = f"unknown config key {key!r}: use one of {', '.join(CONFIG_DEFAULTS)}"
        return ConfigValidationError(msg)
    if key in ("code_length", "reset_month") and not value.isdigit():
        msg = f"invalid value {value!r} for {key!r}: expected a whole number"
        return ConfigValidationError(msg)
    return None


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
