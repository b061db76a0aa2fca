"""`datadrop-slo check`: evaluate SLO alert rules over recent logs, for cron."""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import polars as pl
import tomli_w

from aggregator.checking import CheckRun, check, dry_run, replay
from aggregator.config_file import config_to_data, find_config, load_config
from aggregator.errors import UnreadableInputError
from aggregator.notifications import build_notification
from aggregator.sinks import Sinks
from aggregator.slo_config import SloConfig
from aggregator.timerange import format_instant, parse_duration
from aggregator.windows import SERIES_ID
from cli.formats import escape_text
from cli.notes import read_notes
from cli.options import Instant

EXIT_LOGS_UNREADABLE = 4


class _LogsUnreadable(click.ClickException):
    exit_code = EXIT_LOGS_UNREADABLE


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="SLO config file. Default: slo.toml in the working folder, if any.",
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False),
    help="Alert state file (mode 0600). Default: beside the config file.",
)
@click.option("--now", type=Instant(), help="Evaluate as if at this moment.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print every active alert; send nothing and leave the state alone.",
)
@click.option(
    "--replay",
    metavar="SINCE",
    help="Evaluate every minute of the last SINCE (e.g. 7d) and print when "
    "each alert would have fired and resolved. Sends nothing.",
)
@click.option("--show-config", is_flag=True, help="Print the effective config as TOML.")
@click.option("-v", "--verbose", is_flag=True, help="Also print the evaluation table.")
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to wait for an overlapping run to release the state lock.",
)
def check_command(
    paths: tuple[str, ...],
    config_path: str | None,
    state_path: str | None,
    now: datetime | None,
    dry_run: bool,
    replay: str | None,
    show_config: bool,
    verbose: bool,
    lock_timeout: float,
) -> None:
    """Evaluate the SLO alert rules and notify on a sustained breach.

    PATHS override the logs location of the config (default: logs/).
    Run it every minute from cron; it prints only when an alert fires,
    repeats or resolves.

    Exit status: 0 no active breach; 1 an alert condition holds or an alert
    is still open; 2 usage or config error, a missing logs folder, or the
    state lock held past --lock-timeout; 3 an alert could not be delivered
    (wins over 1); 4 the logs could not be read.
    """
    config = _config(config_path, state_path, quiet=show_config)
    if show_config:
        click.echo(tomli_w.dumps(config_to_data(config)), nl=False)
        return

    log_paths = [Path(path) for path in paths] or list(config.logs)
    moment = now or datetime.now(UTC)
    try:
        run = _run(
            config,
            log_paths,
            moment,
            dry=dry_run,
            replay_text=replay,
            lock_timeout_s=lock_timeout,
            is_live=now is None,
        )
    except UnreadableInputError as error:
        raise _LogsUnreadable(str(error)) from error

    _print_run(run, verbose=verbose or dry_run or replay is not None)
    if verbose:
        _print_table(run)
    if replay is not None:
        _print_replay(run, replay)
        return
    if dry_run:
        for condition_line in _active_lines(run):
            click.echo(condition_line)
    sys.exit(run.exit_code)


def _config(
    config_path: str | None, state_path: str | None, *, quiet: bool
) -> SloConfig:
    path = find_config(config_path)
    config = load_config(path)
    if path is None and not quiet:
        click.echo(
            f"datadrop-slo: no slo.toml in {Path.cwd()} and no --config: using the "
            "built-in defaults (print them with --show-config)",
            err=True,
        )
    if state_path is not None:
        config = dataclasses.replace(config, state=Path(state_path))
    return config


def _run(
    config: SloConfig,
    paths: list[Path],
    now: datetime,
    *,
    dry: bool,
    replay_text: str | None,
    lock_timeout_s: float,
    is_live: bool,
) -> CheckRun:
    if replay_text is not None:
        since = parse_duration(replay_text)
        return replay(config, paths, since, now, is_live=is_live)
    sinks = Sinks(config.sinks, stream=sys.stdout)
    sinks.check_urls()
    if dry:
        return dry_run(config, paths, now, is_live=is_live)

    return check(
        config, paths, now, sinks, lock_timeout_s=lock_timeout_s, is_live=is_live
    )


def _print_run(run: CheckRun, *, verbose: bool) -> None:
    for note in run.notes:
        click.echo(f"datadrop-slo: {note}", err=True)
    if verbose and run.stats is not None:
        for note in read_notes(run.stats):
            click.echo(f"datadrop-slo: {note}", err=True)
    for failure in run.failures:
        click.echo(
            f"datadrop-slo: sink {failure.sink!r} could not deliver: {failure.reason}; "
            "kept for the next run",
            err=True,
        )


def _active_lines(run: CheckRun) -> list[str]:
    assert run.evaluator is not None
    lines = []
    for condition in run.conditions:
        notification = build_notification(
            "active", condition, run.evaluator.window_quantile(condition)
        )
        lines.append(escape_text(notification.line))
    return lines


def _print_replay(run: CheckRun, since: str) -> None:
    fired = 0
    resolved = 0
    for instant, notification in run.notifications:
        click.echo(f"{format_instant(instant)} {escape_text(notification.line)}")
        fired += notification.status == "firing"
        resolved += notification.status == "resolved"

    first, last = run.instants[0], run.instants[-1]
    click.echo(
        f"replayed {len(run.instants):,} evaluations ({since}) from "
        f"{format_instant(first - timedelta(minutes=1))} to {format_instant(last)}: "
        f"{fired} fired, {resolved} resolved, {fired - resolved} still firing",
        err=True,
    )


def _print_table(run: CheckRun) -> None:
    if run.evaluator is None:
        return
    for scope, counts in run.evaluator.last_counts.items():
        if counts.height == 0:
            continue
        columns = [c for c in counts.columns if c.startswith(("total_", "burn_"))]
        keys = ["objective", "action", "route"] + (
            ["tenant"] if scope == "tenant" else []
        )
        table = counts.select([*keys, *columns]).sort(keys, nulls_last=True)
        click.echo(f"evaluation at {format_instant(run.instants[-1])} ({scope}):")
        with pl.Config(
            tbl_rows=-1,
            tbl_cols=-1,
            tbl_width_chars=200,
            tbl_hide_dataframe_shape=True,
            float_precision=2,
        ):
            click.echo(str(table.drop(SERIES_ID, strict=False)))
