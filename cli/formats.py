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
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import orjson
import polars as pl

FORMATS = ("table", "json", "csv", "markdown", "html")

_NUMBER_COLUMNS = {"count", "failures"}

_MS_HEADINGS = {
    "p50_ms": "p50 ms",
    "p90_ms": "p90 ms",
    "p95_ms": "p95 ms",
    "p99_ms": "p99 ms",
    "max_ms": "max ms",
    "ack_p95_ms": "ack p95 ms",
}

# C0 and C1 controls, and the bidirectional overrides and isolates that can
# reorder what a terminal shows.
_HIDDEN = [
    *range(0x20),
    *range(0x7F, 0xA0),
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_CONTROL = {
    code: (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") for code in _HIDDEN
}

# CSV cells starting with these characters run as formulas in spreadsheets.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ReportView:
    """What a rendered report shows besides the rows."""

    header: str
    group_keys: tuple[str, ...]
    objective_ms: float
    action_objectives_ms: Mapping[str, float] = field(default_factory=dict)


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
    """Render rows as CSV; text cells that a spreadsheet would run get a `'`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(summary.columns)
    for row in summary.iter_rows():
        writer.writerow([_csv_cell(value) for value in row])
    return buffer.getvalue()


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


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
    per_action = view.action_objectives_ms
    if per_action:
        headings += ["objective ms", "p95 vs objective"]
    else:
        headings.append(f"p95 vs {view.objective_ms:g} ms")

    rows = []
    for record in summary.iter_rows(named=True):
        cells = [_cell(name, record[name], view.group_keys) for name in columns]
        cells.insert(len(view.group_keys) + 2, _percent(record["failure_rate"]))
        objective_ms = per_action.get(record.get("action", ""), view.objective_ms)
        if per_action:
            cells.append(_format_ms(objective_ms))
        cells.append(_status(record["p95_ms"], objective_ms))
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
    escaped = [_markdown_text(cell) for cell in cells]
    return "| " + " | ".join(escaped) + " |"


def _markdown_text(cell: str) -> str:
    """Escape a cell so Markdown renderers show it as text, HTML included."""
    cell = html.escape(cell, quote=False)
    return cell.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")
