"""Keyed-hash pseudonyms for tenant ids."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog
from helpers import CLOCK_START

from datadrop_timing import (
    ConfigurationError,
    ManualClock,
    bind_context,
    configure,
    flush,
    timed,
)

KEY = "k" * 32


def _lines(path: Path) -> list[dict[str, object]]:
    flush()
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture
def keyed_log(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "keyed.jsonl"
    configure(service="s", output=path, clock=ManualClock(CLOCK_START), tenant_key=KEY)
    yield path
    configure(service="s", output=tmp_path / "plain.jsonl")
    logging.getLogger().handlers.clear()


def test_tenant_is_replaced_by_its_keyed_hash(keyed_log: Path) -> None:
    guild_id = 700000000000000001
    with timed("config.get", tenant=guild_id):
        pass
    with bind_context(tenant=guild_id):
        structlog.get_logger().info("ordinary line")

    expected = (
        "t-"
        + hmac.new(KEY.encode(), str(guild_id).encode(), hashlib.sha256).hexdigest()[
            :20
        ]
    )
    lines = _lines(keyed_log)
    assert [line["tenant"] for line in lines] == [expected, expected]
    assert str(guild_id) not in keyed_log.read_text()


def test_no_tenant_stays_null(keyed_log: Path) -> None:
    with timed("verification.start"):
        pass

    assert _lines(keyed_log)[0]["tenant"] is None


def test_short_key_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="too short"):
        configure(service="s", output=tmp_path / "x.jsonl", tenant_key="short")


def test_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATADROP_SLO_TENANT_KEY", KEY)
    path = tmp_path / "env.jsonl"
    configure(service="s", output=path)
    try:
        with timed("config.get", tenant="42"):
            pass
    finally:
        monkeypatch.delenv("DATADROP_SLO_TENANT_KEY")
        configure(service="s", output=tmp_path / "plain.jsonl")
        logging.getLogger().handlers.clear()

    assert str(_lines(path)[0]["tenant"]).startswith("t-")
