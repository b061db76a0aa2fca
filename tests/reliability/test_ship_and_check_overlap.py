"""`ship` and `check` running at the same time on one logs folder."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from helpers import run_command

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _append_traffic(path: Path, start: int, count: int) -> None:
    with path.open("a", encoding="utf-8") as stream:
        for index in range(start, start + count):
            moment = NOW - timedelta(seconds=count - (index - start))
            line = {
                "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "level": "info",
                "event": "timing",
                "action": "config.get",
                "duration_ms": 20.0,
                "outcome": "success",
                "tenant": "1",
                "action_type": "config",
                "entrypoint": "bot",
                "service": "s",
                "event_id": f"{index:032x}",
                "schema": 1,
            }
            stream.write(json.dumps(line) + "\n")


def test_check_reads_while_ship_writes(tmp_path: Path) -> None:
    source = tmp_path / "app" / "bot.jsonl"
    source.parent.mkdir()
    logs = tmp_path / "logs"
    state = tmp_path / "ship-state.json"
    (tmp_path / "slo.toml").write_text(f'logs = "{logs}"\nstate = "check-state.json"\n')
    _append_traffic(source, 0, 500)
    run_command("ship", "--once", "--to", logs, "--state", state, source)

    check_codes: list[int] = []

    def run_checks() -> None:
        for _ in range(6):
            result = run_command(
                "check",
                "--config",
                tmp_path / "slo.toml",
                "--now",
                NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            check_codes.append(result.returncode)

    checker = threading.Thread(target=run_checks)
    checker.start()
    ship_codes = []
    for round_index in range(1, 7):
        _append_traffic(source, round_index * 500, 500)
        ship_codes.append(
            run_command(
                "ship", "--once", "--to", logs, "--state", state, source
            ).returncode
        )
    checker.join(timeout=300)

    report = run_command("report", logs, "--format", "json")
    assert ship_codes == [0] * 6
    assert set(check_codes) <= {0}, check_codes
    assert json.loads(report.stdout)[0]["count"] == 3500
