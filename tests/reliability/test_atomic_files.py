"""State files are replaced whole: a failed write leaves the previous file intact."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

import pytest

from aggregator.alert_state import AlertState, load_state, save_state
from aggregator.checkpoints import ShipState
from aggregator.errors import StateFileError

FIRST_RUN = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
SECOND_RUN = datetime(2026, 12, 1, 7, 5, tzinfo=UTC)


def _failing_replace(source: object, target: object) -> NoReturn:
    msg = "injected failure before the rename"
    raise OSError(msg)


def _failing_fsync(fd: int) -> NoReturn:
    msg = "injected failure in fsync"
    raise OSError(msg)


class TestAlertState:
    def test_new_state_is_private(self, tmp_path: Path) -> None:
        path = tmp_path / "state.json"

        save_state(path, AlertState(last_evaluated=FIRST_RUN))

        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert load_state(path)[0].last_evaluated == FIRST_RUN

    def test_failed_write_keeps_previous_state(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "state.json"
        save_state(path, AlertState(last_evaluated=FIRST_RUN))
        before = path.read_bytes()

        monkeypatch.setattr(os, "replace", _failing_replace)
        with pytest.raises(OSError, match="injected failure"):
            save_state(path, AlertState(last_evaluated=SECOND_RUN))
        monkeypatch.undo()

        assert path.read_bytes() == before
        assert sorted(item.name for item in tmp_path.iterdir()) == ["state.json"]


class TestShipState:
    def test_new_state_is_private(self, tmp_path: Path) -> None:
        path = tmp_path / ".ship-state.json"
        state = ShipState.load(path)
        state.setdefault("f" * 16).offset = 120

        assert state.save_if_changed()

        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        checkpoint = ShipState.load(path).get("f" * 16)
        assert checkpoint is not None
        assert checkpoint.offset == 120

    @pytest.mark.parametrize(
        ("name", "failure"),
        [("replace", _failing_replace), ("fsync", _failing_fsync)],
        ids=["replace", "fsync"],
    )
    def test_failed_write_keeps_previous_state(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        name: str,
        failure: Callable[..., NoReturn],
    ) -> None:
        path = tmp_path / ".ship-state.json"
        state = ShipState.load(path)
        state.setdefault("f" * 16).offset = 120
        state.save_if_changed()
        before = path.read_bytes()

        state.setdefault("f" * 16).offset = 480
        monkeypatch.setattr(os, name, failure)
        with pytest.raises(StateFileError, match="injected failure"):
            state.save_if_changed()
        monkeypatch.undo()

        assert path.read_bytes() == before
        assert sorted(item.name for item in tmp_path.iterdir()) == [".ship-state.json"]
        checkpoint = ShipState.load(path).get("f" * 16)
        assert checkpoint is not None
        assert checkpoint.offset == 120

    def test_folder_in_place_of_state_leaves_no_temporary(self, tmp_path: Path) -> None:
        """The rename onto a folder fails, and the temporary file is removed."""
        path = tmp_path / ".ship-state.json"
        state = ShipState.load(path)
        state.setdefault("f" * 16).offset = 120
        (path / "occupied").mkdir(parents=True)

        with pytest.raises(StateFileError, match=r"\.ship-state\.json"):
            state.save_if_changed()

        assert sorted(item.name for item in tmp_path.iterdir()) == [".ship-state.json"]
        assert [item.name for item in path.iterdir()] == ["occupied"]

    def test_failed_write_is_retried_on_next_save(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A failed save does not count as saved, so the next save writes."""
        path = tmp_path / ".ship-state.json"
        state = ShipState.load(path)
        state.setdefault("f" * 16).offset = 120

        monkeypatch.setattr(os, "replace", _failing_replace)
        with pytest.raises(StateFileError):
            state.save_if_changed()
        monkeypatch.undo()

        assert state.save_if_changed()
        checkpoint = ShipState.load(path).get("f" * 16)
        assert checkpoint is not None
        assert checkpoint.offset == 120
