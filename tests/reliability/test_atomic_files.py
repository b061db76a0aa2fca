"""State files are replaced whole: a failed write leaves the previous file intact."""

from __future__ import annotations

import os
import stat
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

    def test_failed_write_keeps_previous_state(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / ".ship-state.json"
        state = ShipState.load(path)
        state.setdefault("f" * 16).offset = 120
        state.save_if_changed()
        before = path.read_bytes()

        state.setdefault("f" * 16).offset = 480
        monkeypatch.setattr(os, "replace", _failing_replace)
        with pytest.raises(StateFileError, match="injected failure"):
            state.save_if_changed()
        monkeypatch.undo()

        assert path.read_bytes() == before
        checkpoint = ShipState.load(path).get("f" * 16)
        assert checkpoint is not None
        assert checkpoint.offset == 120
