"""Render a summary as a table, JSON, CSV or Markdown.

JSON is an array of row objects whose keys are the group columns and the
metric names; a null tenant stays null, and an empty percentile is null, never
NaN. CSV writes null as an empty field. The table and Markdown show a null as
`-`, round milliseconds to one decimal, and mark groups whose p95 is above the
objective. Strings from log lines are shown with control characters escaped,
so a hostile action name cannot move the cursor or hide a row.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import polars as pl

FORMATS = ("table", "json", "csv", "markdown")

_NUMBER_COLUMNS = {"count", "failures"}

_MS_HEADINGS = {
    "p50_ms": "p50 ms",
    "p90_ms": "p90 ms",
    "p95_ms": "p95 ms",
    "p99_ms": "p99 ms",
    "max_ms": "max ms",
    "ack_p95_ms": "ack p95 ms",
}

_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]}


@dataclass(frozen=True, slots=True)
class ReportView:
    """What a rendered report shows besides the rows."""

    header: str
    group_keys: tuple[str, ...]
    objective_ms: float


def render(summary: pl.DataFrame, view: ReportView, output_format: str) -> str:
    """Render the summary rows in the given format, ending with a newline."""
    if output_format == "json":
        return render_json(summary)
    if output_format == "csv":
        return render_csv(summary)

    headings, rows = _display_rows(summary, view)
    if output_format == "markdown":
        return f"{view.header}\n\n{_markdown(headings, rows)}"
    return f"{view.header}\n\n{_table(headings, rows, view.group_keys)}"


def render_json(summary: pl.DataFrame) -> str:
    rows = [_without_nan(row) for row in summary.to_dicts()]
    return orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n"


def render_csv(summary: pl.DataFrame) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(summary.columns)
    for row in summary.iter_rows():
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()


def _without_nan(row: dict[str, object]) -> dict[str, object]:
    return {
        key: None if isinstance(value, float) and math.isnan(value) else value
        for key, value in row.items()
    }


def _display_rows(
    summary: pl.DataFrame, view: ReportView
) -> tuple[list[str], list[list[str]]]:
    columns = [name for name in summary.columns if name != "failure_rate"]
    headings = [_heading(name) for name in columns]
    headings.insert(len(view.group_keys) + 2, "fail %")
    headings.append(f"p95 vs {view.objective_ms:g} ms")

    rows = []
    for record in summary.iter_rows(named=True):
        cells = [_cell(name, record[name], view.group_keys) for name in columns]
        cells.insert(len(view.group_keys) + 2, _percent(record["failure_rate"]))
        cells.append(_status(record["p95_ms"], view.objective_ms))
        rows.append(cells)
    return headings, rows


def _heading(name: str) -> str:
    return _MS_HEADINGS.get(name, name)


def _cell(name: str, value: object, group_keys: Sequence[str]) -> str:
    if value is None:
        return "-"
    if name in group_keys:
        return escape_text(str(value))
    if name in _NUMBER_COLUMNS:
        return f"{value:,}"
    return _format_ms(float(value))  # type: ignore[arg-type]


def _format_ms(value_ms: float) -> str:
    if math.isnan(value_ms):
        return "-"
    return f"{value_ms:,.1f}"


def _percent(ratio: float | None) -> str:
    if ratio is None or math.isnan(ratio):
        return "-"
    return f"{ratio * 100:.1f}"


def _status(p95_ms: float | None, objective_ms: float) -> str:
    if p95_ms is None or math.isnan(p95_ms):
        return "-"
    return "ABOVE" if p95_ms > objective_ms else "ok"


def escape_text(text: str) -> str:
    """Escape control characters so a string prints as one visible cell."""
    return text.translate(_CONTROL)


def _table(headings: list[str], rows: list[list[str]], keys: Sequence[str]) -> str:
    widths = [
        max(len(cells[index]) for cells in [headings, *rows])
        for index in range(len(headings))
    ]
    lines = []
    for cells in [headings, *rows]:
        padded = [
            cell.ljust(width)
            if index < len(keys) or index == len(cells) - 1
            else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines) + "\n"


def _markdown(headings: list[str], rows: list[list[str]]) -> str:
    lines = [_markdown_row(headings), "|" + "---|" * len(headings)]
    lines += [_markdown_row(cells) for cells in rows]
    return "\n".join(lines) + "\n"


def _markdown_row(cells: list[str]) -> str:
    escaped = [cell.replace("\\", "\\\\").replace("|", "\\|") for cell in cells]
    return "| " + " | ".join(escaped) + " |"
