"""`datadrop-slo report`: p50/p95/p99 per group from timing lines."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import click
import polars as pl
from click.core import ParameterSource

from aggregator.atomic_files import replace_file
from aggregator.cache import EventCache
from aggregator.config_file import report_config
from aggregator.dashboard_data import DASHBOARD_COLUMNS
from aggregator.errors import InputError, NoEventsError
from aggregator.event_columns import STORED_SCHEMA
from aggregator.loading import ProgressCallback, ReadStats, read_events
from aggregator.projection import with_text_keys
from aggregator.quantiles import QuantileMethod
from aggregator.slo_config import SloConfig
from aggregator.summary import SummaryOptions, check_outcome, summarise
from aggregator.timerange import TimeRange, build_range, format_instant
from cli.formats import FORMATS, ReportView, render
from cli.notes import describe_reading, read_notes
from cli.options import GroupKeys, Instant, Objective

DEFAULT_OBJECTIVE_MS = 500.0

REPORT_FILE_MODE = 0o600

# Events dated this far after the clock are from a skewed host: not used.
FUTURE_TOLERANCE = timedelta(minutes=5)

HTML_NEEDS_OUTPUT = (
    "--format html writes a page of about 5 MB: give -o FILE, such as -o slo.html"
)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--by",
    type=GroupKeys(),
    default="action",
    show_default=True,
    help="Group keys, comma-separated: action, action_type, tenant, entrypoint, "
    "outcome, route, method, service.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="Output format. json is an array of row objects; html is the "
    "dashboard page (needs -o) with objectives from slo.toml if present.",
)
@click.option(
    "--objective",
    type=Objective(),
    default="500ms",
    show_default=True,
    help="p95 latency objective; groups above it are marked ABOVE.",
)
@click.option(
    "--outcome",
    type=click.Choice(["success", "failure"]),
    default=None,
    help="Only count events with this outcome (every column). Default: all.",
)
@click.option(
    "--quantile-method",
    type=click.Choice([method.value for method in QuantileMethod]),
    default=QuantileMethod.NEAREST_RANK.value,
    show_default=True,
    help="nearest-rank (numpy inverted_cdf; agrees with the good-events ratio) "
    "or linear (as Prometheus quantile_over_time and Loki).",
)
@click.option(
    "--since",
    metavar="WHEN",
    help="Only events after WHEN: a duration back from --now (30m, 24h, 7d) "
    "or an RFC 3339 timestamp with an offset.",
)
@click.option(
    "--until",
    metavar="WHEN",
    help="Only events at or before WHEN, given as for --since.",
)
@click.option(
    "--now",
    type=Instant(),
    default=None,
    help="The moment relative times count back from, and the default --until. "
    "Default: the clock, with no --until.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the report to this file instead of stdout.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Read every file in full, without using or updating the cache of "
    "parsed closed files in $XDG_CACHE_HOME/datadrop-slo.",
)
def report(
    paths: tuple[str, ...],
    by: tuple[str, ...],
    output_format: str,
    objective: float,
    outcome: str | None,
    quantile_method: str,
    since: str | None,
    until: str | None,
    now: datetime | None,
    output: str | None,
    no_cache: bool,
) -> None:
    """Report p50/p90/p95/p99 latency per group from timing log files.

    PATHS are .jsonl files, gzip-compressed .jsonl.gz files, or folders
    (their .jsonl, .jsonl.gz and rotated .jsonl.1 files). Malformed lines are
    skipped and counted on stderr; events repeating an event_id count once.

    Exit status: 0 report written; 2 bad option, missing or unreadable input,
    or no timing events.
    """
    if until is None and now is not None:
        until = format_instant(now)
    time_range = build_range(since, until, now or datetime.now(UTC))
    options = SummaryOptions(
        by, check_outcome(outcome), QuantileMethod(quantile_method)
    )

    if output_format == "html" and output is None:
        raise click.UsageError(HTML_NEEDS_OUTPUT)

    cache = None if no_cache else EventCache(EventCache.default_folder(), STORED_SCHEMA)
    is_page = output_format == "html"
    columns = DASHBOARD_COLUMNS if is_page else _report_columns(by)
    events, stats = read_events(
        paths, on_file=_progress_printer(), cache=cache, columns=columns
    )
    for note in read_notes(stats):
        click.echo(f"datadrop-slo: {note}", err=True)
    if cache is not None and cache.error is not None:
        click.echo(f"datadrop-slo: cache not written: {cache.error}", err=True)

    events = _drop_future(events, now)
    events = _select(events, stats, time_range, options.outcome)
    if output is not None and is_page:
        _write_dashboard(with_text_keys(events), stats, time_range, options, output)
        return

    config = _objectives_config()
    summary = summarise(events, options)
    header = _header(events, stats, time_range, config, options)
    if output_format in ("json", "csv"):
        click.echo(f"datadrop-slo: {header}", err=True)

    objectives = _action_objectives(events, config) if "action" in by else {}
    view = ReportView(header, by, config.latency.threshold_ms, objectives)
    _write(render(summary, view, output_format), output)


def _report_columns(by: tuple[str, ...]) -> tuple[str, ...]:
    """Name the event columns a table report reads: fewer columns, less memory."""
    return (
        "timestamp",
        "action",
        "action_type",
        "duration_ms",
        "outcome",
        "ack_ms",
        *by,
    )


def _objectives_config() -> SloConfig:
    """Return `slo.toml`'s objectives, with an explicit --objective applied."""
    context = click.get_current_context()
    is_default = context.get_parameter_source("objective") is ParameterSource.DEFAULT
    return report_config(None if is_default else context.params["objective"])


def _action_objectives(events: pl.DataFrame, config: SloConfig) -> dict[str, float]:
    """Map each action to its latency threshold, when any differs from the default."""
    if all(
        override.threshold_ms == config.latency.threshold_ms
        for override in config.latency.overrides
    ):
        # No action can differ: skip the scan of every event.
        return {}

    pairs = events.select("action", "action_type").unique().iter_rows()
    objectives = {
        action: config.latency.for_action(action, action_type)[0]
        for action, action_type in pairs
    }
    default = config.latency.threshold_ms
    if all(threshold == default for threshold in objectives.values()):
        return {}
    return objectives


def _write_dashboard(
    events: pl.DataFrame,
    stats: ReadStats,
    time_range: TimeRange,
    options: SummaryOptions,
    output: str,
) -> None:
    """Write the HTML dashboard; its objectives come from `slo.toml` if present."""
    # Imported here: the page's modules take about 0.1 s to import, which
    # table reports would pay for nothing.
    from aggregator.dashboard import dashboard_page
    from aggregator.dashboard_data import DashboardOptions

    config = _objectives_config()
    dashboard = DashboardOptions(outcome=options.outcome, method=options.method)
    page = dashboard_page(events, stats, config, dashboard, time_range)
    _write(page, output)
    click.echo(f"datadrop-slo: wrote {output} ({_events(events.height)})", err=True)


def _drop_future(events: pl.DataFrame, now: datetime | None) -> pl.DataFrame:
    """Drop events dated after the clock (plus tolerance), with a note.

    With an explicit --now the range ends there anyway; later events are
    ordinary history, not clock skew.
    """
    if now is not None or events.height == 0:
        return events
    limit = datetime.now(UTC) + FUTURE_TOLERANCE
    future = events.filter(pl.col("timestamp") > limit)
    if future.height:
        click.echo(
            f"datadrop-slo: {_events(future.height)} dated after "
            f"{format_instant(limit)} (the clock + 5 min) were not used: a "
            "writer's clock may be skewed",
            err=True,
        )
    return events.filter(pl.col("timestamp") <= limit)


def _select(
    events: pl.DataFrame,
    stats: ReadStats,
    time_range: TimeRange,
    outcome: str | None,
) -> pl.DataFrame:
    """Keep the events in the range and with the outcome, or raise if none."""
    if events.height == 0:
        msg = f"no timing events found: {describe_reading(stats)}"
        raise NoEventsError(msg)

    selected = time_range.filter(events)
    if selected.height == 0:
        first, last = events["timestamp"].min(), events["timestamp"].max()
        msg = (
            f"no timing events in {time_range.describe()}; the logs hold "
            f"{_events(events.height)} from {format_instant(first)} to "  # type: ignore[arg-type]
            f"{format_instant(last)}: widen --since/--until or check --now"  # type: ignore[arg-type]
        )
        raise NoEventsError(msg)

    if outcome is not None:
        narrowed = selected.filter(pl.col("outcome") == outcome)
        if narrowed.height == 0:
            msg = (
                f"no {outcome} events among {_events(selected.height)} "
                f"in {time_range.describe()}: drop --outcome or widen the range"
            )
            raise NoEventsError(msg)
        selected = narrowed
    return selected


def _events(count: int) -> str:
    return f"{count:,} {'event' if count == 1 else 'events'}"


def _header(
    events: pl.DataFrame,
    stats: ReadStats,
    time_range: TimeRange,
    config: SloConfig,
    options: SummaryOptions,
) -> str:
    first = time_range.since or events["timestamp"].min()
    last = time_range.until or events["timestamp"].max()
    files = len(stats.files)
    outcome = f", {options.outcome} only" if options.outcome else ""
    return (
        f"{format_instant(first)} .. {format_instant(last)}: "  # type: ignore[arg-type]
        f"{_events(events.height)}{outcome} from {files} "
        f"{'file' if files == 1 else 'files'}; {_objective_text(config)}; "
        f"percentiles {options.method.value}"
    )


def _objective_text(config: SloConfig) -> str:
    latency = config.latency
    text = f"objective p95 <= {latency.threshold_ms:g} ms"
    if latency.target != Fraction(95, 100):
        text = (
            f"objective {float(latency.target) * 100:g}% <= {latency.threshold_ms:g} ms"
        )
    if config.source is not None:
        text += f" from {config.source}"
        if latency.overrides:
            text += " (some actions differ)"
    return text


def _progress_printer() -> ProgressCallback | None:
    """Show which file is being read, on a terminal only."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int, path: Path) -> None:
        click.echo(f"\rreading {done}/{total}: {path}\x1b[K", err=True, nl=False)
        if done == total:
            click.echo("\r\x1b[K", err=True, nl=False)

    return show


def _write(text: str, output: str | None) -> None:
    """Print the report, or write it to `output` without a half-written file.

    A regular file is replaced atomically. Anything else (a symlink, a device such as
    /dev/stdout, a FIFO) is written in place, so it is never replaced.
    """
    if output is None:
        click.echo(text, nl=False)
        return

    if not output:
        msg = "-o '' is not a file name: give one, such as -o report.txt"
        raise InputError(msg)

    target = Path(output)
    if not target.parent.is_dir():
        msg = (
            f"folder {str(target.parent)!r} of -o {output!r} does not exist: create it"
        )
        raise InputError(msg)

    try:
        if target.is_symlink() or (target.exists() and not target.is_file()):
            with target.open("w", encoding="utf-8") as stream:
                stream.write(text)
            return
        _replace_file(target, text)
    except OSError as error:
        # A dangling symlink, a folder or a read-only place: name the value.
        reason = error.strerror or str(error)
        if target.is_symlink():
            reason += f" (a symlink to {os.readlink(target)!r})"
        msg = f"cannot write -o {output!r}: {reason}: give a writable file path"
        raise InputError(msg) from None


def _replace_file(target: Path, text: str) -> None:
    """Replace `target` atomically; a new report gets mode 0600.

    A report lists tenant ids, so a new file is not readable by other users;
    an existing file keeps its mode.
    """
    mode = target.stat().st_mode & 0o777 if target.exists() else REPORT_FILE_MODE
    replace_file(target, text.encode("utf-8"), mode)
