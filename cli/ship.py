"""`datadrop-slo ship`: collect timing lines from log files into one folder.

Exit codes: 0 shipped, or nothing to ship. 1 some lines were rejected, a
source matched no file or could not be read, a file vanished before it was
shipped to its end, or an output file could not be written. 2 a usage error.
4 another shipper holds the lock on the state file. A follow run that
is stopped by SIGINT or SIGTERM exits 0 after flushing, because its problems
were logged as they happened.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import structlog

from aggregator.checkpoints import ShipState
from aggregator.errors import LockHeldError, OutputWriteError, StateFileError
from aggregator.output_folder import OutputFolder
from aggregator.shipping import (
    DEFAULT_ROTATE_WAIT_S,
    ShipCounts,
    Shipper,
    ship_stream,
)
from aggregator.source_files import STDIN_SOURCE
from aggregator.state_lock import StateLock
from datadrop_timing import configure

PROBLEM_EXIT = 1

LOCK_HELD_EXIT = 4

DEFAULT_STATE_NAME = ".ship-state.json"

log = structlog.get_logger("datadrop_slo.ship")


@click.command()
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--to",
    "output_folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder for timing-YYYY-MM-DD.jsonl files; created if missing.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"State file with the checkpoints. Default: DIR/{DEFAULT_STATE_NAME}.",
)
@click.option(
    "--once",
    is_flag=True,
    help="Ship what the sources hold now and exit, for cron. "
    "Default: follow the sources until SIGINT or SIGTERM.",
)
@click.option(
    "--interval",
    "interval_s",
    type=click.FloatRange(min=0.05),
    default=1.0,
    show_default=True,
    help="Seconds between scans while following.",
)
@click.option(
    "--rotate-wait",
    "rotate_wait_s",
    type=click.FloatRange(min=0.0),
    default=DEFAULT_ROTATE_WAIT_S,
    show_default=True,
    help="Seconds a rotated or deleted file must stay unmodified before it is "
    "released; its last line is then shipped even without a newline.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="With --once, also log start, stop and counts (default: only problems).",
)
def ship(
    sources: tuple[str, ...],
    output_folder: Path,
    state_path: Path | None,
    once: bool,
    interval_s: float,
    rotate_wait_s: float,
    verbose: bool,
) -> None:
    """Ship timing lines from SOURCES into the folder given by --to.

    SOURCES are files or quoted globs, expanded again on every scan so new
    files are found, or - for standard input. Only timing lines are shipped,
    each unchanged, into DIR/timing-YYYY-MM-DD.jsonl by its UTC date. Lines
    that fail validation go to DIR/rejected/YYYY-MM-DD.jsonl with the reason.
    Logs go to stderr as JSON lines.
    """
    is_stdin = _check_sources(sources)
    quiet = (once or is_stdin) and not verbose
    configure(
        service="datadrop-slo-ship",
        entrypoint="worker",
        output=sys.stderr.buffer,
        level="warning" if quiet else "info",
    )

    outputs = OutputFolder(output_folder)
    if is_stdin:
        counts = _run_stdin(outputs)
    else:
        state_path = state_path or output_folder / DEFAULT_STATE_NAME
        counts = _run_files(
            list(sources), outputs, state_path, once, interval_s, rotate_wait_s
        )

    # A follow run has logged each problem as it happened, and a service
    # manager would read exit 1 after SIGTERM as a crash.
    if counts.has_problems and (once or is_stdin):
        raise SystemExit(PROBLEM_EXIT)


def _check_sources(sources: tuple[str, ...]) -> bool:
    if STDIN_SOURCE not in sources:
        return False

    if len(sources) > 1:
        msg = (
            f"- (standard input) cannot be combined with other sources, got "
            f"{' '.join(sources)!r}: run one shipper for stdin and one for files"
        )
        raise click.UsageError(msg)
    return True


def _run_stdin(outputs: OutputFolder) -> ShipCounts:
    stop = threading.Event()
    counts = ShipCounts()
    with _stop_on_signals(stop), _logged_run(STDIN_SOURCE, counts):
        counts.add(ship_stream(sys.stdin.fileno(), outputs, stop.is_set))
    return counts


def _run_files(
    patterns: list[str],
    outputs: OutputFolder,
    state_path: Path,
    once: bool,
    interval_s: float,
    rotate_wait_s: float,
) -> ShipCounts:
    _prepare_folders(outputs.folder, state_path)
    lock = StateLock(state_path)
    try:
        lock.acquire()
    except LockHeldError as error:
        click.echo(f"Error: {error}", err=True)
        raise SystemExit(LOCK_HELD_EXIT) from error

    try:
        state = ShipState.load(state_path)
        shipper = Shipper(patterns, outputs, state, rotate_wait_s=rotate_wait_s)
        return _scan_until_stopped(shipper, once, interval_s)
    finally:
        lock.release()


def _scan_until_stopped(shipper: Shipper, once: bool, interval_s: float) -> ShipCounts:
    stop = threading.Event()
    total = ShipCounts()
    with _stop_on_signals(stop), _logged_run(shipper.patterns, total):
        try:
            while True:
                total.add(shipper.scan(stop.is_set))
                if once or stop.wait(interval_s):
                    break
        finally:
            shipper.close()
    return total


def _prepare_folders(output_folder: Path, state_path: Path) -> None:
    for folder in (output_folder, state_path.parent):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            msg = f"cannot create folder {str(folder)!r}: {error}"
            raise StateFileError(msg) from error


@contextmanager
def _logged_run(sources: object, total: ShipCounts) -> Iterator[None]:
    """Log the start of a run, its stop with the `total` counts, and a fatal error."""
    log.info("ship_started", sources=sources)
    try:
        yield
    except OutputWriteError as error:
        log.error("ship_failed", error=str(error))
        raise SystemExit(PROBLEM_EXIT) from error
    except StateFileError as error:
        log.error("ship_failed", error=str(error))
        raise
    log.info("ship_stopped", **total.as_fields())


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set `stop` on SIGINT and SIGTERM, so the current scan finishes and flushes."""

    def request_stop(signal_number: int, frame: object) -> None:
        log.info("stop_requested", signal=signal.Signals(signal_number).name)
        stop.set()

    previous = {
        number: signal.signal(number, request_stop)
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
