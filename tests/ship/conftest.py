"""Fixtures for the shipper tests: an output folder, a source folder, shippers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ship_helpers import Output, RunningShipper


@pytest.fixture
def output(tmp_path: Path) -> Output:
    return Output(tmp_path / "central")


@pytest.fixture
def source_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


@pytest.fixture
def start_shipper(
    tmp_path: Path, output: Output
) -> Iterator[Callable[..., RunningShipper]]:
    """Start following shippers; any still running at the end is killed."""
    started: list[RunningShipper] = []

    def start(*sources: str | Path, extra: tuple[str, ...] = ()) -> RunningShipper:
        args = [
            "--to",
            str(output.folder),
            "--interval",
            "0.05",
            *extra,
            *map(str, sources),
        ]
        shipper = RunningShipper(args, tmp_path / f"shipper-{len(started)}.log")
        started.append(shipper)
        shipper.wait_started()
        return shipper

    yield start

    for shipper in started:
        if shipper.process.poll() is None:
            shipper.kill_hard()
