"""Deliver notifications: stdout, a JSON lines alert log, a webhook, Discord.

Webhook URLs are secrets (a Discord webhook URL contains its token). They are
read from the environment variable each sink names, and never printed or
logged: a failed delivery is described by the sink's name and the HTTP status
or the error class only. HTTP calls have a timeout and at most
`MAX_ATTEMPTS` attempts; Discord's 429 `retry_after` is honoured up to
`MAX_RETRY_AFTER_S`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

import httpx
import orjson

from aggregator.errors import ConfigError
from aggregator.notifications import FIRING, REMINDER, RESOLVED, Notification
from aggregator.slo_config import SinkConfig

MAX_ATTEMPTS = 3

MAX_RETRY_AFTER_S = 10.0

ALERT_LOG_MODE = 0o600

# Discord's documented embed limits.
_TITLE_CHARS = 256
_DESCRIPTION_CHARS = 4096
_FIELD_VALUE_CHARS = 1024
_EMBED_TOTAL_CHARS = 6000

_COLOURS = {FIRING: 0xD83C3E, REMINDER: 0xE8912D, RESOLVED: 0x2D9C5A}


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """A sink that could not deliver one notification, without secrets."""

    sink: str
    reason: str


class _DeliveryError(Exception):
    """A delivery attempt that failed; `reason` holds no URL or secret."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _RetryableError(_DeliveryError):
    """A delivery attempt that may succeed if tried again after `wait_s`."""

    def __init__(self, reason: str, wait_s: float | None = None) -> None:
        super().__init__(reason)
        self.wait_s = wait_s


class Sinks:
    """The configured sinks, with their URLs read from the environment."""

    def __init__(
        self,
        configs: tuple[SinkConfig, ...],
        *,
        environ: Mapping[str, str] | None = None,
        stream: TextIO,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.configs = {config.name: config for config in configs}
        self.environ = os.environ if environ is None else environ
        self.stream = stream
        self.sleep = sleep
        self._urls: dict[str, str] = {}

    def check_urls(self) -> None:
        """Read every webhook URL from the environment.

        Raises:
            ConfigError: a sink's environment variable is unset or empty.
        """
        for config in self.configs.values():
            if config.url_env is None:
                continue
            url = self.environ.get(config.url_env, "").strip()
            if not url:
                msg = (
                    f"sink {config.name!r} reads its URL from ${config.url_env}, "
                    "which is unset or empty: export it (cron needs it in its "
                    "environment file)"
                )
                raise ConfigError(msg)
            if not _is_http_url(url):
                msg = (
                    f"sink {config.name!r}: ${config.url_env} does not hold a valid "
                    "http or https URL; check the environment file (the value is "
                    "not shown because it is a secret)"
                )
                raise ConfigError(msg)
            self._urls[config.name] = url

    def routes(self, notification: Notification) -> list[str]:
        """Return the sinks that take this notification's severity."""
        return [
            name
            for name, config in self.configs.items()
            if notification.severity in config.severities
        ]

    def deliver(self, sink: str, notification: Notification) -> DeliveryFailure | None:
        """Send one notification to one sink; never raises for delivery errors."""
        config = self.configs.get(sink)
        if config is None:
            return DeliveryFailure(sink, "sink no longer configured; dropped")

        try:
            if config.type == "stdout":
                self.stream.write(notification.line + "\n")
                self.stream.flush()
            elif config.type == "jsonl":
                assert config.path is not None
                _append_line(config.path, orjson.dumps(notification.to_dict()))
            else:
                self._post_with_retries(config, notification)
        except _DeliveryError as error:
            return DeliveryFailure(sink, error.reason)
        except OSError as error:
            return DeliveryFailure(sink, f"write failed: {error.strerror or error}")
        except Exception as error:  # noqa: BLE001 - one sink must not stop the others
            # The message may quote the URL, so only the error class is shown.
            return DeliveryFailure(sink, f"failed ({type(error).__name__})")
        return None

    def _post_with_retries(
        self, config: SinkConfig, notification: Notification
    ) -> None:
        payload = (
            discord_payload(notification)
            if config.type == "discord"
            else webhook_payload(notification)
        )
        url = self._urls[config.name]
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                _post(url, payload, config.timeout_s)
                return
            except _RetryableError as error:
                if attempt == MAX_ATTEMPTS:
                    error.reason += f" after {MAX_ATTEMPTS} attempts"
                    raise
                wait_s = error.wait_s if error.wait_s is not None else 0.5 * 2**attempt
                if wait_s > MAX_RETRY_AFTER_S:
                    error.reason += f" (asked to wait {wait_s:g} s)"
                    raise
                self.sleep(wait_s)


def _post(url: str, payload: dict[str, Any], timeout_s: float) -> None:
    try:
        response = httpx.post(url, json=payload, timeout=timeout_s)
    except httpx.TimeoutException:
        raise _RetryableError("timed out") from None
    except httpx.InvalidURL:
        raise _DeliveryError("invalid URL") from None
    except httpx.HTTPError as error:
        raise _RetryableError(f"request failed ({type(error).__name__})") from None

    if response.is_success:
        return
    if response.status_code == 429:
        raise _RetryableError("HTTP 429 rate limited", _retry_after_s(response))
    if response.status_code >= 500:
        raise _RetryableError(f"HTTP {response.status_code}")
    raise _DeliveryError(f"HTTP {response.status_code}")


def _is_http_url(text: str) -> bool:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError):
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _retry_after_s(response: httpx.Response) -> float | None:
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("retry_after"), (int, float)):
            return float(body["retry_after"])
    except ValueError:
        pass
    header = response.headers.get("retry-after")
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def _append_line(path: os.PathLike[str], line: bytes) -> None:
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
    descriptor = os.open(path, flags, ALERT_LOG_MODE)
    try:
        os.write(descriptor, line + b"\n")
    finally:
        os.close(descriptor)


def webhook_payload(notification: Notification) -> dict[str, Any]:
    """Return the generic webhook body: the notification plus a `text` line."""
    return {"text": notification.line, **notification.to_dict()}


def discord_payload(notification: Notification) -> dict[str, Any]:
    """Return a Discord webhook body with one embed, within Discord's limits.

    Mentions are disabled, so an action named `@everyone` cannot ping anyone.
    """
    fields = [
        {"name": "Rule", "value": notification.rule, "inline": True},
        {"name": "Severity", "value": notification.severity, "inline": True},
    ]
    if notification.p95_ms is not None:
        fields.append(
            {"name": "p95", "value": f"{notification.p95_ms:,.1f} ms", "inline": True}
        )
    for window in notification.windows:
        burn = window.get("burn_rate")
        burn_text = "-" if burn is None else f"{burn:.1f}"
        fields.append(
            {
                "name": f"Window {window['name']}",
                "value": f"burn rate {burn_text}, {window['bad']:,}/"
                f"{window['events']:,} events bad",
                "inline": True,
            }
        )

    series = notification.action or "timing data"
    embed = {
        "title": _cut(f"[{notification.status.upper()}] {series}", _TITLE_CHARS),
        "description": _cut(notification.summary, _DESCRIPTION_CHARS),
        "color": _COLOURS.get(notification.status, 0x808080),
        "timestamp": notification.at,
        "fields": [
            {**item, "value": _cut(str(item["value"]), _FIELD_VALUE_CHARS)}
            for item in fields[:25]
        ],
    }
    _fit_total(embed)
    return {
        "username": "datadrop-slo",
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit_total(embed: dict[str, Any]) -> None:
    """Shorten the description until the embed's text is within 6000 characters."""
    used = len(embed["title"]) + sum(
        len(item["name"]) + len(item["value"]) for item in embed["fields"]
    )
    room = _EMBED_TOTAL_CHARS - used
    embed["description"] = _cut(embed["description"], max(room, 1))
