"""Timing lines written by hand, and readers of the rendered dashboard page."""

from __future__ import annotations

import gzip
import json
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)

HOSTILE_ACTION = "</script><script>window.__pwned=1</script>"
HOSTILE_TENANT = '"><img src=x onerror="window.__pwned=2">'
HOSTILE_ERROR = "<b>bold</b>&amp;$x^2$"


def timing_line(
    action: str,
    duration_ms: float,
    at: datetime,
    *,
    tenant: str | None = "111",
    outcome: str = "success",
    error_type: str | None = None,
) -> dict[str, Any]:
    """Return one schema-1 timing line as a dict."""
    line: dict[str, Any] = {
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "level": "info" if outcome == "success" else "warning",
        "event": "timing",
        "action": action,
        "duration_ms": duration_ms,
        "outcome": outcome,
        "tenant": tenant,
        "action_type": action.split(".")[0],
        "entrypoint": "api",
        "service": "test",
        "event_id": uuid.uuid4().hex,
        "schema": 1,
    }
    if error_type is not None:
        line["error_type"] = error_type
    return line


def write_lines(path: Path, lines: Iterable[dict[str, Any]]) -> Path:
    """Write lines as JSONL; `ensure_ascii=False` keeps hostile text raw."""
    with path.open("w", encoding="utf-8") as stream:
        for line in lines:
            stream.write(json.dumps(line, ensure_ascii=False) + "\n")
    return path


def steady_traffic(
    actions: Iterable[str],
    *,
    minutes: int = 60,
    per_minute: int = 2,
    duration_ms: float = 100.0,
    start: datetime = START,
) -> list[dict[str, Any]]:
    """Return `per_minute` events a minute for each action, all fast."""
    lines = []
    for action in actions:
        for minute in range(minutes):
            for index in range(per_minute):
                at = start + timedelta(minutes=minute, seconds=1 + index)
                lines.append(timing_line(action, duration_ms, at))
    return lines


# The incident: config.update is slow for 40 one-minute windows.
INCIDENT_MINUTES = range(30, 70)
INCIDENT_ACTIONS = ("api.auth", "config.update", "reset.execute")


def incident_traffic() -> list[dict[str, Any]]:
    """Return two hours of traffic in which config.update breaches for 40 min.

    api.auth and config.update get 25 events a minute, enough to judge every
    one-minute window; reset.execute runs once every ten minutes, too rarely.
    """
    lines = steady_traffic(["api.auth"], minutes=120, per_minute=25)
    for minute in range(120):
        slow = minute in INCIDENT_MINUTES
        for index in range(25):
            at = START + timedelta(minutes=minute, seconds=1 + index)
            duration_ms = 900.0 if slow and index < 5 else 80.0
            lines.append(timing_line("config.update", duration_ms, at))
        if minute % 10 == 0:
            at = START + timedelta(minutes=minute, seconds=30)
            lines.append(timing_line("reset.execute", 1200.0, at))
    return lines


def distinct_actions(path: Path) -> int:
    """Count the actions in a log folder, read with the json module."""
    actions = set()
    for file in path.iterdir():
        opener = gzip.open if file.suffix == ".gz" else open
        with opener(file, "rt", encoding="utf-8", errors="replace") as stream:
            for text in stream:
                try:
                    line = json.loads(text)
                except ValueError:
                    continue
                if isinstance(line, dict) and line.get("event") == "timing":
                    actions.add(line["action"])
    return len(actions)


def figure_specs(page: str) -> dict[str, Any]:
    """Return the figure specs embedded in the page."""
    match = re.search(
        r'<script type="application/json" id="slo-figures">(.*?)</script>',
        page,
        re.DOTALL,
    )
    assert match is not None, "the page has no slo-figures script element"
    specs: dict[str, Any] = json.loads(match.group(1))
    return specs


class PageParser(HTMLParser):
    """Collect what a browser's parser would see: elements and cell text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[str] = []
        self.headings: list[str] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "h3"):
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "h3") and self._text is not None:
            target = self.cells if tag == "td" else self.headings
            target.append("".join(self._text))
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def parse_page(page: str) -> PageParser:
    """Parse the page with the standard library's HTML parser."""
    parser = PageParser()
    parser.feed(page)
    parser.close()
    return parser
