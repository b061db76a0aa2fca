"""Read the JSON lines a test's `configure()` call wrote."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datadrop_timing

Line = dict[str, Any]


class LogFile:
    """The log file of one test, read back line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def paths(self) -> list[Path]:
        """Return the shared file, then the file of this process's long lines.

        The sink writes a line over 4 KiB (a traceback) to `<stem>.<pid>.jsonl`
        beside the shared file, so a test that read only the shared file
        would miss it.
        """
        own = self.path.with_name(f"{self.path.stem}.{os.getpid()}.jsonl")
        return [self.path, own]

    def raw_lines(self) -> list[str]:
        """Return every complete line of both files, unparsed."""
        datadrop_timing.flush()
        lines: list[str] = []
        for path in self.paths():
            if path.exists():
                text = path.read_text(encoding="utf-8")
                lines += [line for line in text.splitlines() if line]
        return lines

    def lines(self) -> list[Line]:
        """Return every complete line of both files, parsed."""
        return [json.loads(line) for line in self.raw_lines()]

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
