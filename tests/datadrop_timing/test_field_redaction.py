"""Secrets in field values: nested keys, objects, sets, bytes and credentials.

Each secret below is a value of `PLANTED_SECRETS`, so a leak also fails the
session through the scan in `tests/conftest.py`.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import time
import types
from typing import Any

import pytest
import structlog
from helpers import EmittedLog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import URL, Headers, QueryParams

from datadrop_timing.redaction import scrub_rendered_text

SECRET = "planted-secret-1"
BEARER = "planted-bearer-value"
BOT_TOKEN = "mfa.planted-token-value"
WEBHOOK = "https://discord.com/api/webhooks/123/planted-webhook-secret"

PLANTED = (SECRET, BEARER, BOT_TOKEN, "planted-webhook-secret")


@dataclasses.dataclass
class BotSettings:
    token: str
    alert_webhook_url: str
    prefix: str = "!"


@dataclasses.dataclass(frozen=True)
class Credential:
    name: str
    password: str


@dataclasses.dataclass
class Box:
    item: Any


class Target(enum.Enum):
    ALERTS = WEBHOOK


class Delivery:
    """An object whose repr names a webhook URL and a credential."""

    def __repr__(self) -> str:
        return f"<Delivery to {WEBHOOK} with Bearer {BEARER}>"


class Request:
    """An object whose repr contains a dict with an authorization header."""

    def __repr__(self) -> str:
        return f"<Request headers={{'authorization': '{SECRET}', 'accept': 'json'}}>"


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"token": SECRET}
    for _ in range(depth):
        value = {"inner": value}
    return value


FIELD_CASES = {
    "list_of_dicts": {"members": [{"user_id": 1, "token": SECRET}]},
    "tuple_of_dicts": {"attempts": ({"password": SECRET},)},
    "dataclass": {"settings": BotSettings(SECRET, WEBHOOK)},
    "object_repr": {"delivery": Delivery()},
    "set_of_urls": {"targets": {WEBHOOK}},
    "starlette_headers": {"headers": Headers({"authorization": f"Basic {SECRET}"})},
    "mapping_proxy": {"options": types.MappingProxyType({"password": SECRET})},
    "bytes_key": {"form": {b"password": SECRET}},
    "deep_nesting": {"payload": _nested(17)},
    "lowercase_bearer": {"header": f"bearer {BEARER}"},
    "tab_after_bot": {"header": f"Bot\t{BOT_TOKEN}"},
    "starlette_url": {"url": URL(f"https://api.example/cb?token={SECRET}")},
    "query_params": {"query": QueryParams(f"token={SECRET}&page=2")},
    "url_password": {"dsn": f"postgres://app:{SECRET}@db.example/app"},
    "frozen_dataclass_in_set": {"logins": {Credential("ci", SECRET)}},
    "enum_value": {"target": Target.ALERTS},
    "dict_repr": {"request": Request()},
}


def _assert_no_planted_secret(text: str) -> None:
    for planted in PLANTED:
        assert planted not in text


@pytest.mark.parametrize("fields", FIELD_CASES.values(), ids=FIELD_CASES.keys())
def test_structlog_field_secret_removed(
    emitted: EmittedLog, fields: dict[str, Any]
) -> None:
    structlog.get_logger().info("delivery queued", **fields)

    _assert_no_planted_secret(emitted.text())


@pytest.mark.parametrize("fields", FIELD_CASES.values(), ids=FIELD_CASES.keys())
def test_stdlib_extra_secret_removed(
    emitted: EmittedLog, fields: dict[str, Any]
) -> None:
    logging.getLogger("app").info("delivery queued", extra=fields)

    _assert_no_planted_secret(emitted.text())


def _logged(emitted: EmittedLog, **fields: Any) -> dict[str, object]:
    """Log `fields` through structlog and return the line written."""
    structlog.get_logger().info("delivery queued", **fields)
    (line,) = emitted.lines()
    return line


class TestNestedKeys:
    def test_dicts_in_list_lose_keys(self, emitted: EmittedLog) -> None:
        members = [{"user_id": 1, "token": SECRET, "role": "mod"}, {"role": "dev"}]

        line = _logged(emitted, members=members)

        assert line["members"] == [{"role": "mod"}, {"role": "dev"}]
        assert line["redacted_keys"] == ["members[].token", "members[].user_id"]

    def test_one_path_per_key_in_list(self, emitted: EmittedLog) -> None:
        """A key dropped from every item is named once."""
        line = _logged(emitted, attempts=({"password": SECRET}, {"password": SECRET}))

        assert line["attempts"] == [{}, {}]
        assert line["redacted_keys"] == ["attempts[].password"]

    def test_dataclass_becomes_redacted_dict(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, settings=BotSettings(SECRET, WEBHOOK))

        assert line["settings"] == {"prefix": "!"}
        assert line["redacted_keys"] == [
            "settings.alert_webhook_url",
            "settings.token",
        ]

    def test_mapping_proxy_loses_keys(self, emitted: EmittedLog) -> None:
        options = types.MappingProxyType({"password": SECRET, "retries": 3})

        line = _logged(emitted, options=options)

        assert line["options"] == {"retries": 3}
        assert line["redacted_keys"] == ["options.password"]

    def test_starlette_headers_lose_keys(self, emitted: EmittedLog) -> None:
        headers = Headers({"authorization": f"Bearer {BEARER}", "accept": "json"})

        line = _logged(emitted, headers=headers)

        assert line["headers"] == {"accept": "json"}
        assert line["redacted_keys"] == ["headers.authorization"]

    def test_query_params_lose_keys(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, query=QueryParams(f"token={SECRET}&page=2"))

        assert line["query"] == {"page": "2"}
        assert line["redacted_keys"] == ["query.token"]

    def test_bytes_key_checked_as_text(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, form={b"password": SECRET, b"page": 2})

        assert line["form"] == {"b'page'": 2}
        assert line["redacted_keys"] == ["form.password"]

    def test_too_deep_becomes_placeholder(self, emitted: EmittedLog) -> None:
        """Sixteen levels are kept, and the container below them is not written."""
        line = _logged(emitted, payload=_nested(17))

        value = line["payload"]
        for _ in range(15):
            assert isinstance(value, dict)
            value = value["inner"]
        assert value == {"inner": "<nested too deep>"}

    def test_caller_dict_unchanged(self, emitted: EmittedLog) -> None:
        headers = {"authorization": f"Bearer {BEARER}", "accept": "json"}
        members = [{"token": SECRET}]

        _logged(emitted, headers=headers, members=members)

        assert headers == {"authorization": f"Bearer {BEARER}", "accept": "json"}
        assert members == [{"token": SECRET}]

    def test_credential_key_scrubbed(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, seen={f"Bearer {BEARER}": 3})

        assert line["seen"] == {"Bearer [redacted]": 3}

    def test_dropped_key_name_scrubbed(self, emitted: EmittedLog) -> None:
        """A webhook URL as a key is dropped, and named without its secret."""
        line = _logged(emitted, targets={WEBHOOK: 3})

        assert line["targets"] == {}
        assert line["redacted_keys"] == ["targets.[redacted webhook URL]"]


class TestValues:
    def test_set_of_urls_scrubbed(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, targets=frozenset({WEBHOOK, "plain"}))

        assert line["targets"] == ["[redacted webhook URL]", "plain"]

    def test_dataclass_in_set_redacted(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, logins={Credential("ci", SECRET)})

        assert line["logins"] == [{"name": "ci"}]
        assert line["redacted_keys"] == ["logins[].password"]

    def test_enum_value_scrubbed(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, target=Target.ALERTS)

        assert line["target"] == "[redacted webhook URL]"

    def test_object_repr_scrubbed(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, delivery=Delivery())

        expected = "<Delivery to [redacted webhook URL] with Bearer [redacted]>"
        assert line["delivery"] == expected

    def test_dict_in_repr_scrubbed(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, request=Request())

        expected = "<Request headers={'authorization': '[redacted]', 'accept': 'json'}>"
        assert line["request"] == expected

    def test_url_query_token_scrubbed(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, url=URL(f"https://api.example/cb?token={SECRET}&x=1"))

        assert line["url"] == "URL('https://api.example/cb?token=[redacted]&x=1')"

    def test_url_userinfo_scrubbed(self, emitted: EmittedLog) -> None:
        line = _logged(
            emitted,
            url=URL(f"https://bot:{SECRET}@db.example/x"),
            dsn=f"postgres://app:{SECRET}@db.example/app",
        )

        assert line["url"] == "URL('https://[redacted]@db.example/x')"
        assert line["dsn"] == "postgres://[redacted]@db.example/app"


class TestCredentialText:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (f"bearer {BEARER}", "bearer [redacted]"),
            (f"BEARER  {BEARER}", "BEARER [redacted]"),
            (f"Bot\t{BOT_TOKEN}", "Bot [redacted]"),
            (f"bot\n{BOT_TOKEN} ok", "bot [redacted] ok"),
            (f"Bot\u00a0{BOT_TOKEN}", "Bot [redacted]"),
            (f"authorization=Bearer {BEARER}", "authorization=[redacted] [redacted]"),
            (
                f"GET /cb?access_token={SECRET}&page=2",
                "GET /cb?access_token=[redacted]&page=2",
            ),
            (f"key={SECRET}", "key=[redacted]"),
        ],
    )
    def test_credential_replaced(
        self, emitted: EmittedLog, text: str, expected: str
    ) -> None:
        line = _logged(emitted, header=text)

        assert line["header"] == expected

    @pytest.mark.parametrize(
        "text",
        [
            "bot reconnected after the gateway closed",
            "Bot restarted successfully",
            "datadrop-bot",
            "retry count=3",
            "mail alice@example.org",
        ],
    )
    def test_prose_kept(self, emitted: EmittedLog, text: str) -> None:
        line = _logged(emitted, note=text)

        assert line["note"] == text


class TestBytes:
    def test_webhook_url_not_hex_encoded(self, emitted: EmittedLog) -> None:
        """Bytes are written as hex, which hides nothing: the URL must go first."""
        line = _logged(emitted, payload=WEBHOOK.encode())

        written = bytes.fromhex(str(line["payload"])).decode()
        assert written == "[redacted webhook URL]"

    def test_json_body_secret_scrubbed(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, body=f'{{"token": "{SECRET}", "page": 2}}'.encode())

        written = bytes.fromhex(str(line["body"])).decode()
        assert written == '{"token": "[redacted]", "page": 2}'

    def test_undecodable_bytes_kept(self, emitted: EmittedLog) -> None:
        line = _logged(emitted, payload=b"\xff\x00 " + WEBHOOK.encode())

        written = bytes.fromhex(str(line["payload"]))
        assert written == b"\xff\x00 [redacted webhook URL]"


def _best_scrub_s(text: str) -> float:
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        scrub_rendered_text(text)
        timings.append(time.perf_counter() - started)
    return min(timings)


class TestScrubCost:
    @pytest.mark.parametrize(
        ("prefix", "unit", "suffix", "count"),
        [
            ("/@ ", "a.", "", 15_000),
            ("", "x='\\'", "\\", 6_000),
            ("", "'k': [", "", 5_000),
            ("bot ", "a", "", 30_000),
        ],
        ids=["url_scheme_run", "escaped_quotes", "open_lists", "bot_letters"],
    )
    def test_scrub_time_grows_linearly(
        self, prefix: str, unit: str, suffix: str, count: int
    ) -> None:
        """Text that patterns try at many starts costs time linear in its length.

        Four times the text takes about four times as long when scrubbing is
        linear, and sixteen times when it is quadratic, as a backtracking
        pattern was (7 s for 60 KB). The bound of 8 leaves room for noise.
        """
        short_s = _best_scrub_s(prefix + unit * count + suffix)
        long_s = _best_scrub_s(prefix + unit * (4 * count) + suffix)

        assert long_s / max(short_s, 1e-6) < 8


# Field names the emit side must drop, in the spellings callers use.
_SECRET_KEYS = st.sampled_from(
    ["token", "password", "api_key", "webhookUrl", "Authorization", b"password"]
)

# Strings that carry a planted secret in a form that `scrub_text` replaces.
_SECRET_TEXTS = st.builds(
    "{} {} {}".format,
    st.text(max_size=8),
    st.sampled_from(
        [
            WEBHOOK,
            f"Bearer {BEARER}",
            f"bearer\t{BEARER}",
            f"Bot {BOT_TOKEN}",
            f"https://app:{SECRET}@db.example/x",
            f"https://api.example/cb?token={SECRET}",
        ]
    ),
    st.text(max_size=8),
)

_PLAIN = st.one_of(st.none(), st.integers(), st.text(max_size=8))

_DICT_KEYS = st.one_of(st.text(max_size=5), _SECRET_TEXTS)


def _with_secret_key(
    inner: st.SearchStrategy[Any],
) -> st.SearchStrategy[dict[Any, Any]]:
    """Dicts with ordinary items and one secret key whose value may nest more."""
    return st.builds(
        lambda items, key, value: {**items, key: value},
        st.dictionaries(_DICT_KEYS, inner, max_size=3),
        _SECRET_KEYS,
        st.one_of(st.sampled_from(PLANTED), inner),
    )


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    secret_dicts = _with_secret_key(inner)
    return st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        secret_dicts,
        secret_dicts.map(types.MappingProxyType),
        st.builds(BotSettings, st.sampled_from(PLANTED), _SECRET_TEXTS, inner),
        st.builds(Box, inner),
        st.frozensets(
            st.one_of(
                _SECRET_TEXTS, st.builds(Credential, _SECRET_TEXTS, _SECRET_TEXTS)
            ),
            max_size=3,
        ),
    )


_NESTED = st.recursive(st.one_of(_PLAIN, _SECRET_TEXTS), _containers, max_leaves=10)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.text(min_size=1, max_size=8), _NESTED, max_size=4))
def test_nested_secrets_never_written(
    emitted: EmittedLog, fields: dict[str, Any]
) -> None:
    """Planted secrets under secret keys or in strings, at any nesting, stay out."""
    keywords = {key: value for key, value in fields.items() if key != "event"}

    structlog.get_logger().info("nested", **keywords)
    logging.getLogger("app").info("nested", extra=keywords)

    _assert_no_planted_secret(emitted.text())
