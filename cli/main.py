"""The `datadrop-slo` command and the one place that maps errors to exit codes.

Every command exits with 2 for a usage or config error, a missing input, or
(for `report`) no timing events. `check` adds 1 (a breach), 3 (an alert not
delivered) and 4 (logs not readable); `ship` adds 1 (lines rejected or a
source unreadable) and 4 (another shipper holds the lock). Every error
message names the value and the fix.
"""

from __future__ import annotations

from typing import Any

import click

from aggregator.errors import AggregatorError
from cli.check import check_command
from cli.report import report
from cli.ship import ship

USAGE_ERROR_EXIT = 2


class _UsageFailure(click.ClickException):
    """An error the user can fix: a bad option, input or empty logs."""

    exit_code = USAGE_ERROR_EXIT


class _Group(click.Group):
    """A click group that turns aggregator errors into exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AggregatorError as error:
            raise _UsageFailure(str(error)) from error


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="datadrop-slo", prog_name="datadrop-slo")
def main() -> None:
    """Measure DataDrop's latency SLO from timing lines in JSON log files."""


main.add_command(report)
main.add_command(check_command, name="check")
main.add_command(ship)
