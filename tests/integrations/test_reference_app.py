"""The reference DataDrop app end to end: its API under uvicorn, its workload."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from datadrop_timing import ManualClock
from examples.reference_app.api import build_api
from examples.reference_app.domain import DataDrop
from examples.reference_app.workload import parse_args, prepare_out_dir

from .conftest import CLOCK_START
from .logs import LogFile
from .servers import ServerThread

REPO_ROOT = Path(__file__).resolve().parents[2]
GUILD_ID = 733_000_000_000_000_042

BOT_ACTIONS = {
    "verification.start",
    "verification.submit",
    "state.transition",
    "config.get",
    "config.update",
    "reset.plan",
    "reset.execute",
}
API_ACTIONS = {
    "config.get",
    "config.update",
    "reset.plan",
    "reset.execute",
    "api.auth",
    "api.request",
}
REPORT_COMMAND = str(Path(sys.executable).with_name("datadrop-slo"))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[ServerThread]:
    clock = ManualClock(CLOCK_START)
    datadrop = DataDrop(tmp_path / "state.sqlite3", clock=clock)
    server = ServerThread(build_api(datadrop, {"good": GUILD_ID}, clock=clock))
    server.start()
    yield server
    server.stop()


def test_auth_and_operation_lines(api: ServerThread, log_file: LogFile) -> None:
    """A protected call writes request, auth and operation lines with one id."""
    with httpx.Client(base_url=api.base_url) as http:
        response = http.put(
            f"/guilds/{GUILD_ID}/config",
            headers={"Authorization": "Bearer good", "X-Request-ID": "ref-1"},
            json={"key": "code_length", "value": "8"},
        )
    assert response.status_code == 200

    lines = log_file.wait_for(4, where=lambda line: line.get("request_id") == "ref-1")
    by_action = {line["action"]: line for line in lines}
    # The route returns the new config, so it also reads it back.
    assert set(by_action) == {"api.request", "api.auth", "config.update", "config.get"}
    assert by_action["api.request"]["route"] == "/guilds/{guild_id}/config"
    assert by_action["api.request"]["method"] == "PUT"
    for line in lines:
        assert line["tenant"] == str(GUILD_ID)
        assert line["entrypoint"] == "api"
        assert line["outcome"] == "success"


@pytest.mark.parametrize(("token", "status_code"), [("bad", 401), (None, 401)])
def test_rejected_token_is_client_error(
    api: ServerThread, log_file: LogFile, token: str | None, status_code: int
) -> None:
    """A bad token gives an `api.auth` rejection and no operation line."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=api.base_url) as http:
        response = http.get(f"/guilds/{GUILD_ID}/config", headers=headers)
    assert response.status_code == status_code

    lines = log_file.wait_for(2)
    by_action = {line["action"]: line for line in lines}
    assert set(by_action) == {"api.request", "api.auth"}
    assert by_action["api.auth"]["outcome"] == "success"
    assert by_action["api.auth"]["error_type"] == f"HTTP{status_code}"
    assert by_action["api.request"]["status_code"] == status_code


def _report(paths: list[Path], by: str) -> list[dict[str, object]]:
    completed = subprocess.run(
        [REPORT_COMMAND, "report", *map(str, paths), "--by", by,
         "--format", "json"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False, timeout=120,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "truncated" in completed.stderr
    return json.loads(completed.stdout)


def test_workload_report_shows_everything(tmp_path: Path) -> None:
    """The workload's logs report every core action of both entrypoints."""
    out_dir = tmp_path / "logs"
    completed = subprocess.run(
        [sys.executable, "-m", "examples.reference_app.workload", str(out_dir),
         "--tenants", "20", "--rounds", "4", "--rotate-gzip", "--truncate-tail"],
        capture_output=True, text=True, cwd=REPO_ROOT, check=False, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert (out_dir / "datadrop.jsonl.1.gz").exists()
    assert not (out_dir / "datadrop.jsonl").read_bytes().endswith(b"\n")

    rows = _report([out_dir], "action,entrypoint")
    seen = {(row["action"], row["entrypoint"]) for row in rows}
    for action in BOT_ACTIONS:
        assert (action, "bot") in seen
    for action in API_ACTIONS:
        assert (action, "api") in seen
    slow = [row["action"] for row in rows if row["p95_ms"] > 500]
    assert "config.update" in slow
    failing = {row["action"] for row in rows if row["failures"] > 0}
    assert "reset.execute" in failing

    tenants = {row["tenant"] for row in _report([out_dir], "tenant")}
    assert len(tenants - {None}) == 20

    lines = [
        json.loads(line)
        for line in gzip.decompress((out_dir / "datadrop.jsonl.1.gz").read_bytes())
        .decode("utf-8")
        .splitlines()
    ]
    server_lines = [
        line for line in lines if line.get("logger", "").startswith("uvicorn")
    ]
    assert server_lines
    assert {line["entrypoint"] for line in server_lines} == {"api"}
    slash_config = [
        line
        for line in lines
        if line.get("action") == "bot.command.config_get"
        and line.get("invocation") == "slash"
    ]
    assert slash_config
    assert all("ack_ms" in line for line in slash_config)


class TestWorkloadOutput:
    def test_non_empty_folder_rejected(self, tmp_path: Path) -> None:
        """A second run into one folder stops instead of appending."""
        (tmp_path / "datadrop.jsonl").write_text("{}\n")

        with pytest.raises(SystemExit, match="--force"):
            prepare_out_dir(tmp_path, force=False)
        assert (tmp_path / "datadrop.jsonl").read_text() == "{}\n"

    def test_force_deletes_only_logs(self, tmp_path: Path) -> None:
        """`--force` deletes the files a run writes and keeps the others."""
        written = ["datadrop.jsonl", "datadrop.jsonl.1.gz", "datadrop.4242.jsonl"]
        for name in [*written, "README.md"]:
            (tmp_path / name).write_text("old")

        prepare_out_dir(tmp_path, force=True)
        assert sorted(path.name for path in tmp_path.iterdir()) == ["README.md"]

    @pytest.mark.parametrize("option", ["--tenants", "--rounds"])
    @pytest.mark.parametrize("value", ["0", "-3", "many"])
    def test_counts_must_be_positive(self, option: str, value: str) -> None:
        """`--tenants` and `--rounds` reject zero, negative and non-numbers."""
        with pytest.raises(SystemExit) as exit_info:
            parse_args(["out", option, value])
        assert exit_info.value.code == 2
