"""The `datadrop-slo` command and the one place that maps errors to exit codes.

Every command exits with 2 for a usage or config error, a missing input, or
(for `report`) no timing events. `check` adds 1 (a breach), 3 (an alert not
delivered) and 4 (logs not readable); `ship` adds 1 (lines rejected or a
source unreadable) and 4 (another shipper holds the lock). Every error
message names the value and the fix.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from aggregator.errors import AggregatorError

USAGE_ERROR_EXIT = 2


class _UsageFailure(click.ClickException):
    """An error the user can fix: a bad option, input or empty logs."""

    exit_code = USAGE_ERROR_EXIT


# Each subcommand's module, imported only when that command runs, so that
# `report` does not pay for the HTTP client `check` and `ship` import.
_COMMANDS = {
    "check": ("cli.check", "check_command"),
    "report": ("cli.report", "report"),
    "ship": ("cli.ship", "ship"),
}


class _Group(click.Group):
    """A click group that loads commands lazily and maps aggregator errors to 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AggregatorError as error:
            raise _UsageFailure(str(error)) from error


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="datadrop-slo", prog_name="datadrop-slo")
def main() -> None:
    """Measure DataDrop's latency SLO from timing lines in JSON log files."""
