"""The `Shipper` in process: source problems reported once across scans."""

from __future__ import annotations

from pathlib import Path

from ship_helpers import timing_line
from structlog.testing import capture_logs

from aggregator.checkpoints import ShipState
from aggregator.output_folder import OutputFolder
from aggregator.shipping import Shipper


def make_shipper(tmp_path: Path, *patterns: str) -> Shipper:
    outputs = OutputFolder(tmp_path / "central")
    state = ShipState.load(tmp_path / "state.json")
    return Shipper(list(patterns), outputs, state)


class TestShipperSourceProblems:
    def test_unmatched_glob_reported_once(self, tmp_path: Path) -> None:
        """A following shipper warns about an unmatched glob and counts it on
        the first scan only, so later scans log nothing."""
        pattern = str(tmp_path / "*.jsonl")
        shipper = make_shipper(tmp_path, pattern)

        with capture_logs() as events:
            counts = [shipper.scan().unreadable for _ in range(3)]
        shipper.close()

        assert counts == [1, 0, 0]
        names = [event["event"] for event in events]
        assert names == ["source_not_found", "scan_done"]

    def test_broken_link_reported_once(self, tmp_path: Path) -> None:
        """A dangling link is warned about once, and again after it was fixed
        and broke anew."""
        (tmp_path / "bot.jsonl").write_bytes(timing_line(1))
        link = tmp_path / "api.jsonl"
        link.symlink_to(tmp_path / "api-real.jsonl")
        shipper = make_shipper(tmp_path, str(tmp_path / "*.jsonl"))

        with capture_logs() as events:
            shipper.scan()
            shipper.scan()
            (tmp_path / "api-real.jsonl").write_bytes(timing_line(2))
            shipper.scan()
            (tmp_path / "api-real.jsonl").unlink()
            shipper.scan()
        shipper.close()

        skipped = [event for event in events if event["event"] == "source_skipped"]
        assert [event["reason"] for event in skipped] == ["dangling_symlink"] * 2
        assert all(event["path"] == str(link) for event in skipped)
