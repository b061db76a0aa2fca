"""Drive the reference bot and API through their real dispatch paths and log it.

    python -m examples.reference_app.workload OUT_DIR [--rotate-gzip] [--truncate-tail]

The bot runs offline (gateway payloads fed to discord.py, send paths faked);
the API runs under uvicorn on 127.0.0.1 and is called with httpx. Both write
JSON lines to OUT_DIR/datadrop.jsonl. By default time comes from a
`ManualClock`, so the timestamps and durations are reproducible with `--seed`.
OUT_DIR must be empty, or `--force` given to replace the logs of a previous run.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import logging
import os
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn

import datadrop_timing
from datadrop_timing import SYSTEM_CLOCK, Clock, ManualClock, bind_context

from . import offline
from .api import build_api
from .bot import VerifyButton, build_bot, member_key
from .domain import DataDrop, Slowdown

_log = logging.getLogger("datadrop.workload")

CLOCK_START = datetime(2025, 6, 1, 7, 0, tzinfo=UTC)
FIRST_GUILD_ID = 733_000_000_000_000_000
SLOW_ACTIONS = frozenset({"config.update"})
FAULT_RATES = {"reset.execute": 0.15}


LOG_NAME = "datadrop.jsonl"


def positive_int(text: str) -> int:
    """Parse a whole number of at least 1, for argparse."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"invalid value {text!r}: use a whole number of at least 1"
        raise argparse.ArgumentTypeError(msg)
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", type=Path, help="folder the JSONL logs go to")
    parser.add_argument(
        "--tenants", type=positive_int, default=24, help="number of guilds (default 24)"
    )
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=6,
        help="rounds of traffic per guild (default 6)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="delete the log files of a previous run in OUT_DIR before writing",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--slowdown-ms",
        type=float,
        default=700.0,
        help="delay added to config.update in the slowdown round, in ms (default 700)",
    )
    parser.add_argument(
        "--real-time",
        action="store_true",
        help="use the system clock and real sleeps instead of a manual clock",
    )
    parser.add_argument(
        "--rotate-gzip",
        action="store_true",
        help="halfway through, rotate the log to datadrop.jsonl.1.gz (as logrotate)",
    )
    parser.add_argument(
        "--truncate-tail",
        action="store_true",
        help="end the last log file with a line cut off mid-way (no newline)",
    )
    return parser.parse_args(argv)  # fmt: skip


class InFlight:
    """An ASGI wrapper that reports whether a request is being handled.

    The workload advances a shared manual clock between requests. The server
    writes a request's line after the client has read the response, so the
    workload waits for the app to return before moving the clock.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.idle = threading.Event()
        self.idle.set()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.idle.clear()
        try:
            await self.app(scope, receive, send)
        finally:
            self.idle.set()

    def wait(self) -> None:
        """Block until the request in progress, if any, has been handled."""
        if not self.idle.wait(10):
            msg = "the API did not finish a request within 10 s"
            raise RuntimeError(msg)


class ApiServer:
    """The reference API under uvicorn on a free 127.0.0.1 port, in a thread."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_config=None, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        # A new thread starts with an empty context: without this, uvicorn's
        # own lines would get the process default entrypoint, `bot`.
        with bind_context(entrypoint="api"):
            asyncio.run(self.server.serve())

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                msg = "the API server did not start within 10 s"
                raise RuntimeError(msg)
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


class Workload:
    """One run: the app, its traffic and the log files it writes."""

    def __init__(self, args: argparse.Namespace, state_dir: Path) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.clock: Clock = SYSTEM_CLOCK if args.real_time else ManualClock(CLOCK_START)
        self.log_path = args.out_dir / LOG_NAME
        self.guild_ids = [FIRST_GUILD_ID + index for index in range(args.tenants)]
        self.datadrop = DataDrop(
            state_dir / "datadrop.sqlite3",
            clock=self.clock,
            slowdown=Slowdown(actions=SLOW_ACTIONS, delay_ms=args.slowdown_ms),
            rng=self.rng,
            fault_rates=dict(FAULT_RATES),
        )
        self.tokens = {f"token-{guild_id}": guild_id for guild_id in self.guild_ids}
        self.api: InFlight | None = None

    def pause(self) -> None:
        """Let time pass between operations (only on the manual clock)."""
        if self.api is not None:
            self.api.wait()
        if isinstance(self.clock, ManualClock):
            self.clock.advance(ms=self.rng.uniform(500, 4000))

    async def run(self) -> None:
        """Boot the bot offline, start the API and send every round of traffic."""
        bot = build_bot(self.datadrop, clock=self.clock)
        transport = await offline.boot_offline(bot, self.guild_ids)
        bot.add_view(VerifyButton(self.datadrop))
        self.api = InFlight(build_api(self.datadrop, self.tokens, clock=self.clock))
        with ApiServer(self.api) as base_url, httpx.Client(base_url=base_url) as http:
            for round_index in range(self.args.rounds):
                self.datadrop.slowdown.is_active = round_index == self.args.rounds // 2
                _log.info("workload_round", extra={"round": round_index})
                for guild_id in self.guild_ids:
                    await self.bot_round(bot, transport, guild_id)
                    self.api_round(http, guild_id)
                if self.args.rotate_gzip and round_index == self.args.rounds // 2 - 1:
                    self.rotate()
        await bot.close()

    async def bot_round(
        self, bot: object, transport: offline.Transport, guild_id: int
    ) -> None:
        """Send one guild's bot traffic through discord.py's real dispatch."""
        state = bot._connection  # type: ignore[attr-defined]
        user_id = self.rng.randrange(10**17, 10**18)
        steps: list[Callable[[], object]] = [
            lambda: state.parse_guild_member_add(
                offline.member_join_payload(guild_id, user_id)
            ),
            lambda: state.parse_interaction_create(
                offline.slash(guild_id, user_id, "verify_start")
            ),
            lambda: state.parse_interaction_create(
                offline.button(guild_id, user_id, "verify_start:button")
            ),
            lambda: state.parse_message_create(
                offline.message_payload(guild_id, user_id, "!config_get")
            ),
            lambda: state.parse_interaction_create(
                offline.slash(guild_id, user_id, "config_get")
            ),
        ]  # fmt: skip
        for step in steps:
            step()
            await offline.settle()
            self.pause()

        await self.submit_code(state, transport, guild_id, user_id)
        await self.bot_admin(state, guild_id, user_id)

    async def submit_code(
        self, state: object, transport: offline.Transport, guild_id: int, user_id: int
    ) -> None:
        """Submit the code from the last response, or a wrong one 1 time in 5."""
        state.parse_interaction_create(offline.slash(guild_id, user_id, "verify_start"))  # type: ignore[attr-defined]
        await offline.settle()
        match = re.search(r"\d{6}", transport.last_response_content)
        code = match.group() if match and self.rng.random() > 0.2 else "000000"
        state.parse_interaction_create(  # type: ignore[attr-defined]
            offline.slash(guild_id, user_id, "verify_submit", code=code)
        )
        await offline.settle()
        self.pause()

    async def bot_admin(self, state: object, guild_id: int, user_id: int) -> None:
        """Change config, sometimes invalidly, and run a reset now and then."""
        key = self.rng.choice(["verified_role", "code_length", "colour"])
        value = self.rng.choice(["member", "8", "x"])
        payloads = [
            offline.slash(guild_id, user_id, "config_set", key=key, value=value)
        ]
        messages = []
        if self.rng.random() < 0.3:
            messages += ["!reset_plan", "!reset_execute"]
        if self.rng.random() < 0.1:
            messages.append("!no_such_command")

        for payload in payloads:
            state.parse_interaction_create(payload)  # type: ignore[attr-defined]
            await offline.settle()
        for content in messages:
            state.parse_message_create(  # type: ignore[attr-defined]
                offline.message_payload(guild_id, user_id, content)
            )
            await offline.settle()
            self.pause()

    def api_round(self, http: httpx.Client, guild_id: int) -> None:
        """Send one guild's API traffic, including rejected and failing calls."""
        auth = {"Authorization": f"Bearer token-{guild_id}"}
        base = f"/guilds/{guild_id}"
        http.get(f"{base}/config", headers=auth)
        self.pause()
        key = self.rng.choice(["verified_role", "reset_month", "bogus"])
        http.put(f"{base}/config", headers=auth, json={"key": key, "value": "9"})
        self.pause()
        unknown_member = member_key(self.rng.randrange(10**17, 10**18))
        http.get(f"{base}/verification/{unknown_member}", headers=auth)
        http.post(f"{base}/reset/plan", headers=auth)
        if self.rng.random() < 0.3:
            http.post(f"{base}/reset/execute", headers=auth)
        if self.rng.random() < 0.2:
            http.get(f"{base}/config", headers={"Authorization": "Bearer wrong"})
        if self.rng.random() < 0.1:
            http.get("/wp-login.php")
        http.get("/health")
        self.pause()

    def rotate(self) -> None:
        """Rename the log to `.1`, reopen it, and gzip the rotated file."""
        rotated = self.log_path.with_name(self.log_path.name + ".1")
        os.replace(self.log_path, rotated)
        configure_logging(self.log_path, self.clock)
        with rotated.open("rb") as source, gzip.open(f"{rotated}.gz", "wb") as target:
            shutil.copyfileobj(source, target)
        rotated.unlink()


def configure_logging(path: Path, clock: Clock) -> None:
    """Send every line of the process to `path` as JSON."""
    datadrop_timing.configure(
        service="datadrop-reference", entrypoint="bot", output=path, clock=clock
    )


def truncate_tail(path: Path) -> None:
    """Append the first half of the file's last line, without a newline."""
    lines = path.read_bytes().splitlines()
    if lines:
        with path.open("ab") as log:
            log.write(lines[-1][: len(lines[-1]) // 2])


def written_log_files(out_dir: Path) -> list[Path]:
    """Return the files a run writes: the log, its rotated copy, long lines."""
    stem = LOG_NAME.removesuffix(".jsonl")
    candidates = [
        out_dir / LOG_NAME,
        out_dir / f"{LOG_NAME}.1",
        out_dir / f"{LOG_NAME}.1.gz",
        *out_dir.glob(f"{stem}.*.jsonl"),
    ]
    return [path for path in candidates if path.is_file()]


def prepare_out_dir(out_dir: Path, *, force: bool) -> None:
    """Create `out_dir`, or empty it of earlier logs when `force` is set.

    Raises:
        SystemExit: `out_dir` is not empty and `force` is not set, because
            appending to earlier logs would mix two runs with new event ids.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if force:
        for path in written_log_files(out_dir):
            path.unlink()
        return

    if any(out_dir.iterdir()):
        msg = (
            f"error: output folder {str(out_dir)!r} is not empty: "
            "pass --force to replace the logs of a previous run"
        )
        raise SystemExit(msg)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the workload and print where the logs went."""
    args = parse_args(argv)
    prepare_out_dir(args.out_dir, force=args.force)
    with tempfile.TemporaryDirectory() as state_dir:
        workload = Workload(args, Path(state_dir))
        configure_logging(workload.log_path, workload.clock)
        asyncio.run(workload.run())

    # Lines still queued for the writer thread would land after the cut.
    datadrop_timing.flush()
    if args.truncate_tail:
        truncate_tail(workload.log_path)
    print(f"wrote logs for {args.tenants} tenants to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
