"""`datadrop-slo check` from cron: what fires, what does not, and delivery."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from check_support import Receiver, TrafficLog, run_check, write_config
from helpers import ENTRY_POINT, case_path

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

SLOW_MS = 800.0
FAST_MS = 100.0


def _config(tmp_path: Path, logs: Path, sinks: str = "", extra: str = "") -> Path:
    text = f'logs = "{logs}"\nstate = "state.json"\n{extra}\n{sinks}'
    return write_config(tmp_path / "slo.toml", text)


def _discord_sink() -> str:
    return '[[sinks]]\nname = "ops-discord"\ntype = "discord"\nurl_env = "TEST_HOOK"\n'


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fired(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("[FIRING]")]


class TestFires:
    def test_sustained_breach_reaches_discord_receiver(
        self, tmp_path: Path, traffic: TrafficLog, receiver: Receiver
    ) -> None:
        traffic.add(
            NOW - timedelta(hours=2),
            NOW - timedelta(minutes=30),
            per_minute=30,
            duration_ms=FAST_MS,
        )
        traffic.add(
            NOW - timedelta(minutes=30), NOW, per_minute=30, duration_ms=SLOW_MS
        )
        config = _config(tmp_path, traffic.folder, _discord_sink())

        result = run_check(
            "--config", config, "--now", _at(NOW), env={"TEST_HOOK": receiver.url}
        )

        assert result.returncode == 1, result.stderr
        rules = {body["embeds"][0]["title"] for body in receiver.bodies()}
        assert rules == {"[FIRING] verification.submit"}
        sustained = [
            body
            for body in receiver.bodies()
            if "sustained-p95" in body["embeds"][0]["description"]
        ]
        assert len(sustained) == 1
        embed = sustained[0]["embeds"][0]
        assert sustained[0]["allowed_mentions"] == {"parse": []}
        assert embed["timestamp"] == "2026-12-04T12:00:00Z"
        assert {"name": "p95", "value": "800.0 ms", "inline": True} in embed["fields"]
        assert len(embed["title"]) <= 256
        assert len(embed["description"]) <= 4096
        assert receiver.url not in result.stdout + result.stderr

    def test_second_run_in_the_episode_sends_nothing(
        self, tmp_path: Path, traffic: TrafficLog, receiver: Receiver
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40),
            NOW + timedelta(minutes=2),
            per_minute=30,
            duration_ms=SLOW_MS,
        )
        config = _config(tmp_path, traffic.folder, _discord_sink())
        env = {"TEST_HOOK": receiver.url}

        first = run_check("--config", config, "--now", _at(NOW), env=env)
        sent_first = len(receiver.requests)
        second = run_check(
            "--config", config, "--now", _at(NOW + timedelta(minutes=1)), env=env
        )

        assert (first.returncode, second.returncode) == (1, 1)
        assert sent_first >= 1
        assert len(receiver.requests) == sent_first
        assert second.stdout == ""

    def test_clearing_run_sends_resolved_after_five_clean_minutes(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40), NOW, per_minute=30, duration_ms=SLOW_MS
        )
        traffic.add(NOW, NOW + timedelta(hours=8), per_minute=30, duration_ms=FAST_MS)
        config = _config(tmp_path, traffic.folder)

        # The rule stops holding at 12:05, when the first window with no slow
        # event ends; at 12:07 it has been clear for 3 evaluations, at 12:09
        # for 5, so the alert resolves then.
        firing = run_check("--config", config, "--now", _at(NOW))
        still = run_check("--config", config, "--now", _at(NOW + timedelta(minutes=7)))
        clearing = run_check(
            "--config", config, "--now", _at(NOW + timedelta(minutes=20))
        )

        assert "[FIRING] page: sustained-p95" in firing.stdout
        assert "sustained-p95" not in still.stdout
        resolved = [
            line
            for line in clearing.stdout.splitlines()
            if line.startswith("[RESOLVED] page: sustained-p95")
        ]
        assert len(resolved) == 1
        assert "firing since 2026-12-04T12:00:00Z" in resolved[0]


class TestDoesNotFire:
    def test_two_minute_spike_does_not_page(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(
            NOW - timedelta(hours=3),
            NOW - timedelta(minutes=5),
            per_minute=30,
            duration_ms=FAST_MS,
        )
        traffic.add(
            NOW - timedelta(minutes=5),
            NOW - timedelta(minutes=3),
            per_minute=30,
            duration_ms=SLOW_MS,
        )
        traffic.add(NOW - timedelta(minutes=3), NOW, per_minute=30, duration_ms=FAST_MS)

        result = run_check(
            "--config", _config(tmp_path, traffic.folder), "--now", _at(NOW)
        )

        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout == ""

    def test_breach_older_than_every_window_does_not_fire(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(
            NOW - timedelta(days=4, hours=2),
            NOW - timedelta(days=4),
            per_minute=30,
            duration_ms=SLOW_MS,
        )
        traffic.add(NOW - timedelta(hours=1), NOW, per_minute=5, duration_ms=FAST_MS)

        result = run_check(
            "--config", _config(tmp_path, traffic.folder), "--now", _at(NOW)
        )

        assert result.returncode == 0, result.stdout + result.stderr

    def test_too_few_events_never_fire(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        """Twelve slow events in an hour: every window is under 20 events."""
        traffic.add(
            NOW - timedelta(hours=1),
            NOW,
            per_minute=1,
            duration_ms=SLOW_MS,
            name="a.jsonl",
        )
        traffic.folder.joinpath("b.jsonl").write_text("")
        lines = traffic.folder.joinpath("a.jsonl").read_text().splitlines()[::5]
        traffic.folder.joinpath("a.jsonl").write_text("\n".join(lines) + "\n")

        result = run_check(
            "--config",
            _config(tmp_path, traffic.folder),
            "--now",
            _at(NOW),
            "--dry-run",
        )

        assert len(lines) == 12
        assert result.returncode == 0, result.stdout + result.stderr

    def test_flapping_threshold_opens_one_alert(self, tmp_path: Path) -> None:
        """Alternate 5-minute windows at 520 ms and 480 ms, cron every 5 min."""
        logs = tmp_path / "logs"
        logs.mkdir()
        logs.joinpath("api.jsonl").write_bytes(case_path("C32").read_bytes())
        one_window_rule = (
            '[[burn_rate]]\nname = "one-window"\nseverity = "page"\n'
            'long_window = "5m"\nshort_window = "5m"\nfactor = 1.0\n'
        )
        config = _config(tmp_path, logs, extra=one_window_rule)
        start = datetime(2025, 6, 1, 7, 0, tzinfo=UTC)

        outputs = [
            run_check("--config", config, "--now", _at(start + timedelta(minutes=m)))
            for m in range(5, 61, 5)
        ]

        lines = [line for result in outputs for line in result.stdout.splitlines()]
        assert not [line for line in lines if "sustained-p95" in line]
        # The first 520 ms window fires the one-window rule. A resolve needs
        # 5 clean runs in a row, but the 480 ms windows give at most one.
        assert len([line for line in lines if line.startswith("[FIRING]")]) == 1
        assert len([line for line in lines if line.startswith("[RESOLVED]")]) == 0


class TestDelivery:
    def test_failing_webhook_exits_3_and_next_run_delivers(
        self, tmp_path: Path, traffic: TrafficLog, receiver: Receiver
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40),
            NOW + timedelta(minutes=2),
            per_minute=30,
            duration_ms=SLOW_MS,
        )
        sink = '[[sinks]]\nname = "hook"\ntype = "webhook"\nurl_env = "TEST_HOOK"\n'
        config = _config(tmp_path, traffic.folder, sink)
        env = {"TEST_HOOK": receiver.url}
        receiver.statuses = [500] * 100

        failed = run_check("--config", config, "--now", _at(NOW), env=env)
        receiver.statuses = []
        attempts = len(receiver.requests)
        retried = run_check(
            "--config", config, "--now", _at(NOW + timedelta(minutes=1)), env=env
        )

        assert failed.returncode == 3
        assert (
            "sink 'hook' could not deliver: HTTP 500 after 3 attempts" in failed.stderr
        )
        assert receiver.url not in failed.stderr
        assert "secret-token" not in failed.stderr + failed.stdout
        assert retried.returncode == 1, retried.stderr
        delivered = [r for r in receiver.requests[attempts:] if r["status"] == 204]
        assert delivered
        assert {body["body"]["status"] for body in delivered} == {"firing"}

    def test_overlapping_runs_send_each_alert_once(
        self, tmp_path: Path, traffic: TrafficLog, receiver: Receiver
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40), NOW, per_minute=30, duration_ms=SLOW_MS
        )
        sink = '[[sinks]]\nname = "hook"\ntype = "webhook"\nurl_env = "TEST_HOOK"\n'
        config = _config(tmp_path, traffic.folder, sink)
        receiver.delay_s = 0.5
        command = [
            str(ENTRY_POINT),
            "check",
            "--config",
            str(config),
            "--now",
            _at(NOW),
        ]
        env = {**os.environ, "TEST_HOOK": receiver.url}

        processes = [
            subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        for process in processes:
            process.communicate(timeout=120)
        codes = [process.returncode for process in processes]

        keys = [request["body"]["key"] for request in receiver.requests]
        assert codes == [1, 1]
        assert keys
        assert len(keys) == len(set(keys))

    def test_jsonl_sink_writes_one_object_per_alert(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40), NOW, per_minute=30, duration_ms=SLOW_MS
        )
        sink = '[[sinks]]\ntype = "jsonl"\npath = "alerts.jsonl"\n'
        config = _config(tmp_path, traffic.folder, sink)

        result = run_check("--config", config, "--now", _at(NOW))

        alerts = [
            json.loads(line)
            for line in (tmp_path / "alerts.jsonl").read_text().splitlines()
        ]
        assert result.returncode == 1
        assert {alert["status"] for alert in alerts} == {"firing"}
        assert (tmp_path / "alerts.jsonl").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600


class TestNoData:
    def test_stale_logs_raise_no_data_not_healthy(self, tmp_path: Path) -> None:
        """Five events ending at 12:03:20, checked at 12:30: no data, no NaN."""
        logs = tmp_path / "logs"
        logs.mkdir()
        logs.joinpath("bot.jsonl").write_bytes(case_path("C31").read_bytes())
        sink = '[[sinks]]\ntype = "jsonl"\npath = "alerts.jsonl"\n'
        sink += '[[sinks]]\ntype = "stdout"\n'
        config = _config(tmp_path, logs, sink)

        result = run_check("--config", config, "--now", "2025-06-01T12:30:00Z", "-v")

        assert result.returncode == 1
        assert "[FIRING] no-data: newest timing event is 27 min old" in result.stdout
        text = (tmp_path / "alerts.jsonl").read_text() + result.stdout
        assert "NaN" not in text
        assert "inf" not in text.lower().replace("info", "")

    def test_empty_logs_folder_is_no_data(self, tmp_path: Path) -> None:
        (tmp_path / "logs").mkdir()

        result = run_check(
            "--config", _config(tmp_path, tmp_path / "logs"), "--now", _at(NOW)
        )

        assert result.returncode == 1
        assert "[FIRING] no-data: no timing events since" in result.stdout


class TestErrors:
    def test_missing_logs_folder_exits_2(self, tmp_path: Path) -> None:
        result = run_check("--config", _config(tmp_path, tmp_path / "nope"))

        assert result.returncode == 2
        assert "nope" in result.stderr

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ("thresold = 3", "unknown key 'thresold'"),
            ("[latency]\ntarget = 1.5", "between 0 and 1"),
            ('[sustained]\nwindow = "90s"', "whole number of minutes"),
            ('[[burn_rate]]\nfactor = 25\nname = "x"', "factor 25 can never fire"),
            ('[[sinks]]\ntype = "discord"', "needs url_env"),
            ('[[sinks]]\ntype = "pager"', "'pager'"),
            ("logs = [", "not valid TOML"),
            ("logs = []", "empty list"),
            ('[latency]\noutcomes = ["ok"]', "'success' and/or 'failure'"),
            (
                '[[burn_rate]]\nname = "a"\nfactor = 2\n'
                '[[burn_rate]]\nname = "a"\nfactor = 3',
                "two entries named 'a'",
            ),
            ("[[burn_rate]]\nfactor = -1", "must be above 0"),
            (
                '[[burn_rate]]\nfactor = 2\nlong_window = "5m"\nshort_window = "1h"',
                "swap them",
            ),
            ("sinks = []", "alerts would go nowhere"),
            ('[[sinks]]\ntype = "stdout"\nseverities = []', "is empty"),
            (
                '[[sinks]]\ntype = "webhook"\nurl_env = "X"\ntimeout = "1h"',
                "at most 60s",
            ),
        ],
    )
    def test_invalid_config_exits_2_naming_the_key(
        self, tmp_path: Path, extra: str, message: str
    ) -> None:
        (tmp_path / "logs").mkdir()
        config = write_config(tmp_path / "slo.toml", extra + "\n")

        result = run_check("--config", config, tmp_path / "logs")

        assert result.returncode == 2, result.stdout
        assert message in result.stderr
        assert "Traceback" not in result.stderr

    def test_unset_webhook_variable_exits_2(self, tmp_path: Path) -> None:
        (tmp_path / "logs").mkdir()
        config = _config(tmp_path, tmp_path / "logs", _discord_sink())

        result = run_check("--config", config, env={"TEST_HOOK": ""})

        assert result.returncode == 2
        assert "$TEST_HOOK" in result.stderr

    def test_corrupt_state_is_moved_aside_and_rebuilt(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40), NOW, per_minute=30, duration_ms=SLOW_MS
        )
        config = _config(tmp_path, traffic.folder)
        (tmp_path / "state.json").write_text("{not json")

        result = run_check("--config", config, "--now", _at(NOW))

        assert result.returncode == 1
        assert "is corrupt" in result.stderr
        assert (tmp_path / "state.json.corrupt").read_text() == "{not json"
        assert json.loads((tmp_path / "state.json").read_text())["version"] == 1

    def test_defaults_are_announced_without_a_config(self, tmp_path: Path) -> None:
        (tmp_path / "logs").mkdir()

        result = run_check("--dry-run", cwd=tmp_path)

        assert "using the built-in defaults" in result.stderr


class TestModes:
    def test_show_config_prints_toml_that_loads_back(self, tmp_path: Path) -> None:
        printed = run_check("--show-config", cwd=tmp_path)
        config = write_config(tmp_path / "slo.toml", printed.stdout)

        again = run_check("--show-config", "--config", config, cwd=tmp_path)

        assert printed.returncode == 0
        assert 'threshold = "500ms"' in printed.stdout
        assert again.stdout.replace(str(tmp_path) + "/", "") == printed.stdout

    def test_dry_run_touches_no_state(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40), NOW, per_minute=30, duration_ms=SLOW_MS
        )
        config = _config(tmp_path, traffic.folder)

        result = run_check("--config", config, "--now", _at(NOW), "--dry-run")

        assert result.returncode == 1
        assert "[ACTIVE] page: sustained-p95" in result.stdout
        assert not (tmp_path / "state.json").exists()

    def test_replay_lists_fire_and_resolve_times(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        start = NOW - timedelta(hours=3)
        traffic.add(
            start, start + timedelta(hours=1), per_minute=30, duration_ms=FAST_MS
        )
        traffic.add(
            start + timedelta(hours=1),
            start + timedelta(hours=1, minutes=30),
            per_minute=30,
            duration_ms=SLOW_MS,
        )
        traffic.add(
            start + timedelta(hours=1, minutes=30),
            NOW,
            per_minute=30,
            duration_ms=FAST_MS,
        )
        config = _config(tmp_path, traffic.folder)

        result = run_check("--config", config, "--now", _at(NOW), "--replay", "3h")

        sustained = [line for line in result.stdout.splitlines() if "sustained" in line]
        assert result.returncode == 0
        # Slow events start after 10:00. The window ending 10:01 is 20% slow,
        # above the 5% budget, so it breaches; the 15th breaching window in a
        # row ends at 10:15. The last slow event is at 10:30, the window ending
        # 10:35 is clean, and the 5th clean evaluation is at 10:39.
        assert sustained[0].startswith("2026-12-04T10:15:00Z [FIRING]")
        assert sustained[1].startswith("2026-12-04T10:39:00Z [RESOLVED]")
        assert len(sustained) == 2
        assert not (tmp_path / "state.json").exists()


class TestStaleLoop:
    def _loop_lines(self, traffic: TrafficLog, last: datetime) -> None:
        """A one-minute loop whose iterations end at `last`, 30 minutes long."""
        traffic.add(
            last - timedelta(minutes=30),
            last,
            per_minute=1,
            duration_ms=12.0,
            action="bot.task.refresh_cache",
        )
        traffic.add(NOW - timedelta(hours=1), NOW, per_minute=30, duration_ms=FAST_MS)

    def test_loop_that_stopped_is_reported(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        self._loop_lines(traffic, NOW - timedelta(minutes=4))

        result = run_check(
            "--config", _config(tmp_path, traffic.folder), "--now", _at(NOW)
        )

        assert result.returncode == 1
        (line,) = result.stdout.splitlines()
        assert line.startswith("[FIRING] ticket: stale-action: bot.task.refresh_cache")
        assert "wrote no line for 4 min (expected every 1 min" in line

    def test_loop_that_runs_is_quiet(self, tmp_path: Path, traffic: TrafficLog) -> None:
        self._loop_lines(traffic, NOW - timedelta(minutes=1))

        result = run_check(
            "--config", _config(tmp_path, traffic.folder), "--now", _at(NOW)
        )

        assert result.returncode == 0, result.stdout


class TestOrderAndSkew:
    def test_line_and_file_order_do_not_change_the_evaluation(
        self, tmp_path: Path
    ) -> None:
        """Out-of-order lines and a host 10 minutes ahead, checked at 07:10."""
        lines = case_path("C16").read_text().splitlines(keepends=True)
        outputs = []
        for name, ordered in (("given", lines), ("sorted", sorted(lines))):
            logs = tmp_path / name / "logs"
            logs.mkdir(parents=True)
            half = len(ordered) // 2
            logs.joinpath("b.jsonl").write_text("".join(ordered[:half]))
            logs.joinpath("a.jsonl").write_text("".join(ordered[half:]))
            config = _config(tmp_path / name, logs)
            outputs.append(
                run_check(
                    "--config",
                    config,
                    "--now",
                    "2025-06-01T07:10:00Z",
                    "--dry-run",
                    "-v",
                )
            )

        given, ordered_run = outputs
        assert given.stdout == ordered_run.stdout
        assert "2 events dated after 2025-06-01T07:15:00Z" in given.stderr
        (row,) = [line for line in given.stdout.splitlines() if "stats" in line]
        cells = [cell.strip(" │") for cell in row.split("┆")]
        # Windows are (t - 5 min, t]: the 5-minute window ending 07:10 holds
        # 07:05:30 .. 07:07:00 (4 events, all above 500 ms, burn rate 20);
        # the 30-minute window holds all 10 events on time. The two lines
        # dated 07:20 are not counted.
        assert cells[3:5] == ["4", "10"]
        assert cells[8] == "20.00"


class TestSinkDetails:
    def test_discord_429_retry_after_is_honoured(
        self, tmp_path: Path, traffic: TrafficLog, receiver: Receiver
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40), NOW, per_minute=30, duration_ms=SLOW_MS
        )
        config = _config(tmp_path, traffic.folder, _discord_sink())
        receiver.statuses = [(429, {"retry_after": 0.2, "global": False})]

        result = run_check(
            "--config", config, "--now", _at(NOW), env={"TEST_HOOK": receiver.url}
        )

        statuses = [request["status"] for request in receiver.requests]
        assert result.returncode == 1, result.stderr
        assert statuses[:2] == [429, 204]
        assert receiver.requests[0]["body"] == receiver.requests[1]["body"]

    def test_huge_action_name_fits_discord_limits(
        self, tmp_path: Path, traffic: TrafficLog, receiver: Receiver
    ) -> None:
        action = "config." + "x" * 9000 + "@everyone"
        traffic.add(
            NOW - timedelta(minutes=40),
            NOW,
            per_minute=30,
            duration_ms=SLOW_MS,
            action=action,
        )
        config = _config(tmp_path, traffic.folder, _discord_sink())

        run_check(
            "--config", config, "--now", _at(NOW), env={"TEST_HOOK": receiver.url}
        )

        assert receiver.requests
        for body in receiver.bodies():
            embed = body["embeds"][0]
            text = (
                embed["title"]
                + embed["description"]
                + "".join(field["name"] + field["value"] for field in embed["fields"])
            )
            assert len(embed["title"]) <= 256
            assert len(embed["description"]) <= 4096
            assert len(text) <= 6000
            assert body["allowed_mentions"] == {"parse": []}

    def test_sink_takes_only_its_severities(
        self, tmp_path: Path, traffic: TrafficLog, receiver: Receiver
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40), NOW, per_minute=30, duration_ms=SLOW_MS
        )
        sink = (
            '[[sinks]]\nname = "tickets"\ntype = "webhook"\nurl_env = "TEST_HOOK"\n'
            'severities = ["ticket"]\n[[sinks]]\ntype = "stdout"\n'
        )
        config = _config(tmp_path, traffic.folder, sink)

        result = run_check(
            "--config", config, "--now", _at(NOW), env={"TEST_HOOK": receiver.url}
        )

        assert "[FIRING] page:" in result.stdout
        assert {body["severity"] for body in receiver.bodies()} == {"ticket"}


class TestObjectives:
    def test_slow_interaction_acks_fire_the_ack_objective(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40),
            NOW,
            per_minute=30,
            duration_ms=FAST_MS,
            action="bot.app_command.verify",
            ack_ms=2900.0,
        )

        result = run_check(
            "--config", _config(tmp_path, traffic.folder), "--now", _at(NOW)
        )

        sustained = [line for line in result.stdout.splitlines() if "sustained" in line]
        assert result.returncode == 1
        assert len(sustained) == 1
        assert "ack p95 2,900.0 ms" in sustained[0]
        assert "objective p95 ack <= 2500 ms" in sustained[0]

    def test_availability_objective_counts_failures(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=70),
            NOW,
            per_minute=30,
            duration_ms=FAST_MS,
            outcome="failure",
        )
        config = _config(
            tmp_path, traffic.folder, extra="[availability]\nenabled = true\n"
        )

        result = run_check("--config", config, "--now", _at(NOW))

        fired = [line for line in result.stdout.splitlines() if "availability" in line]
        assert result.returncode == 1
        assert any("page-fast-burn" in line for line in fired)
        assert all("sustained" not in line for line in fired)

    def test_per_tenant_mode_names_the_noisy_guild(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(NOW - timedelta(hours=2), NOW, per_minute=30, duration_ms=FAST_MS)
        traffic.add(
            NOW - timedelta(minutes=40),
            NOW,
            per_minute=30,
            duration_ms=SLOW_MS,
            name="noisy.jsonl",
            tenant="42",
        )
        config = _config(
            tmp_path,
            traffic.folder,
            extra="[tenants]\nenabled = true\nmin_events = 50\n",
        )

        result = run_check("--config", config, "--now", _at(NOW))

        tenant_lines = [
            line for line in result.stdout.splitlines() if "(tenant 42)" in line
        ]
        assert tenant_lines
        assert all(
            "700000000000000001" not in line for line in result.stdout.splitlines()
        )


class TestTesterFindings:
    def test_outcomes_setting_narrows_what_counts(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40), NOW, per_minute=30, duration_ms=SLOW_MS
        )
        config = _config(
            tmp_path, traffic.folder, extra='[latency]\noutcomes = ["failure"]\n'
        )

        result = run_check("--config", config, "--now", _at(NOW), "--dry-run")

        assert result.returncode == 0, result.stdout

    @pytest.mark.parametrize(
        "url",
        ["http://hook.invalid:SECRETport/x", "http://[SECRETTOKEN]/x", "ftp://h/x"],
    )
    def test_invalid_webhook_url_is_a_config_error_without_the_url(
        self, tmp_path: Path, url: str
    ) -> None:
        (tmp_path / "logs").mkdir()
        config = _config(tmp_path, tmp_path / "logs", _discord_sink())

        result = run_check("--config", config, env={"TEST_HOOK": url})

        assert result.returncode == 2
        assert "does not hold a valid http or https URL" in result.stderr
        assert "SECRET" not in result.stderr + result.stdout

    def test_state_that_is_not_an_object_is_rebuilt(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40), NOW, per_minute=30, duration_ms=SLOW_MS
        )
        (tmp_path / "state.json").write_text("[]")

        result = run_check(
            "--config", _config(tmp_path, traffic.folder), "--now", _at(NOW)
        )

        assert result.returncode == 1
        assert "not an object" in result.stderr
        assert "[FIRING]" in result.stdout

    def test_open_alert_keeps_exit_1_until_resolved(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(
            NOW - timedelta(minutes=40), NOW, per_minute=30, duration_ms=SLOW_MS
        )
        traffic.add(NOW, NOW + timedelta(hours=1), per_minute=30, duration_ms=FAST_MS)
        config = _config(tmp_path, traffic.folder, extra="burn_rate = []\n")

        run_check("--config", config, "--now", _at(NOW))
        clearing = run_check(
            "--config", config, "--now", _at(NOW + timedelta(minutes=7))
        )
        resolved = run_check(
            "--config", config, "--now", _at(NOW + timedelta(minutes=30))
        )

        assert clearing.returncode == 1
        assert resolved.returncode == 0

    def test_after_a_gap_each_alert_sends_only_its_latest_news(
        self, tmp_path: Path, traffic: TrafficLog
    ) -> None:
        traffic.add(NOW - timedelta(hours=2), NOW, per_minute=30, duration_ms=FAST_MS)
        traffic.add(
            NOW, NOW + timedelta(minutes=30), per_minute=30, duration_ms=SLOW_MS
        )
        traffic.add(
            NOW + timedelta(minutes=30),
            NOW + timedelta(hours=2),
            per_minute=30,
            duration_ms=FAST_MS,
        )
        config = _config(tmp_path, traffic.folder)

        run_check("--config", config, "--now", _at(NOW))
        after_gap = run_check(
            "--config", config, "--now", _at(NOW + timedelta(minutes=59))
        )

        sustained = [
            line for line in after_gap.stdout.splitlines() if "sustained" in line
        ]
        assert len(sustained) == 1
        assert sustained[0].startswith("[RESOLVED]")
