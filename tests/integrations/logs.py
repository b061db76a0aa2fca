"""Read the JSON lines a test's `configure()` call wrote."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Line = dict[str, Any]


class LogFile:
    """The log file of one test, read back line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[Line]:
        """Return every complete line of the file, parsed."""
        if not self.path.exists():
            return []
        text = self.path.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines() if line]

    def timing(self, **expected: Any) -> list[Line]:
        """Return the timing lines whose fields equal every `expected` value."""
        return [
            line
            for line in self.lines()
            if line.get("event") == "timing"
            and all(line.get(key) == value for key, value in expected.items())
        ]

    def wait_for(
        self,
        count: int,
        *,
        where: Callable[[Line], bool] = lambda line: True,
        timeout_s: float = 10.0,
        timing_only: bool = True,
    ) -> list[Line]:
        """Wait until `count` lines match `where`, and return them.

        Only timing lines are considered unless `timing_only` is false. A
        server thread writes a request's line after the client may already
        have read the response, so tests poll instead of reading once.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            candidates = self.timing() if timing_only else self.lines()
            found = [line for line in candidates if where(line)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.01)
