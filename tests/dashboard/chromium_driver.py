"""Drive Debian's headless Chromium through the DevTools protocol on a pipe.

`--remote-debugging-pipe` makes Chromium read protocol messages from fd 3 and
write them to fd 4, each ending in a NUL byte, so no port is opened. The
network is cut three ways: every host name but 127.0.0.1 resolves to nothing,
every request to another host goes to a proxy on the discard port, and
background services are off.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")

NETWORK_OFF_FLAGS = (
    "--proxy-server=127.0.0.1:9",
    # Loopback stays reachable for the live-page test's own server.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
)


class ChromiumError(RuntimeError):
    """Chromium exited, timed out, or returned an error for a command."""


@dataclass
class PageLog:
    """What a page reported while loading: console errors and requests."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


class Chromium:
    """One headless Chromium process and its DevTools pipe."""

    def __init__(self, profile: Path, *, width_px: int = 1400) -> None:
        if not CHROMIUM.exists():
            msg = f"{CHROMIUM} not found: run apt-get install -y chromium"
            raise ChromiumError(msg)

        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        # Chromium expects the pipe on fds 3 and 4 exactly, so they are placed
        # there in the child before exec.
        def use_pipe_fds() -> None:
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        self.process = subprocess.Popen(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                f"--window-size={width_px},1000",
                *NETWORK_OFF_FLAGS,
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),
            preexec_fn=use_pipe_fds,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout_s: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command and return its result, keeping events on the way."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method}
        message["params"] = params or {}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")

        deadline = time.monotonic() + timeout_s
        while True:
            reply = self._read(deadline)
            if reply.get("id") != self._next_id:
                self.events.append(reply)
                continue
            if "error" in reply:
                msg = f"{method} failed: {reply['error']}"
                raise ChromiumError(msg)
            result: dict[str, Any] = reply.get("result", {})
            return result

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(remaining, 0))
            if not ready:
                msg = "Chromium did not answer within the timeout"
                raise ChromiumError(msg)
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                msg = f"Chromium exited with status {self.process.poll()}"
                raise ChromiumError(msg)
            self._buffer += chunk

        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def close(self) -> None:
        """Ask Chromium to close, then end it if it does not."""
        try:
            self.send("Browser.close", timeout_s=5)
        except ChromiumError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self._to_browser)
        os.close(self._from_browser)


class Page:
    """One tab, with console errors and network requests recorded."""

    def __init__(self, browser: Chromium) -> None:
        self.browser = browser
        target = browser.send("Target.createTarget", {"url": "about:blank"})
        attached = browser.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        self.target_id: str = target["targetId"]
        self.session: str = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable")

    def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return self.browser.send(method, params, session=self.session)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.send("Page.navigate", {"url": url})
        self.wait_for_event("Page.loadEventFired")

    def wait_for_event(self, method: str, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(self._own(method)):
            if time.monotonic() > deadline:
                msg = f"no {method} within {timeout_s} s"
                raise ChromiumError(msg)
            self.evaluate("1")

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its value as JSON data."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            msg = f"{expression!r} raised {result['exceptionDetails']}"
            raise ChromiumError(msg)
        return result["result"].get("value")

    def wait_until(self, expression: str, timeout_s: float = 60.0) -> Any:
        """Poll an expression until it is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        msg = f"{expression!r} stayed false for {timeout_s} s"
        raise ChromiumError(msg)

    def screenshot(self, path: Path, max_height_px: int = 16000) -> None:
        """Save a PNG of the whole page, up to `max_height_px` tall."""
        height = min(int(self.evaluate("document.body.scrollHeight")), max_height_px)
        width = int(self.evaluate("document.documentElement.clientWidth"))
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        shot = self.send("Page.captureScreenshot", {"format": "png"})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def log(self) -> PageLog:
        """Collect console errors, uncaught exceptions and requested URLs."""
        log = PageLog()
        for event in self._own():
            params = event.get("params", {})
            method = event.get("method")
            if method == "Runtime.exceptionThrown":
                log.errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params["type"] in (
                "error",
                "assert",
                "warning",
            ):
                log.errors.append(json.dumps(params["args"])[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] in (
                "error",
                "warning",
            ):
                log.errors.append(params["entry"]["text"][:500])
            elif method == "Network.requestWillBeSent":
                log.requests.append(params["request"]["url"])
        return log

    def _own(self, method: str | None = None) -> Iterator[dict[str, Any]]:
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            if method is None or event.get("method") == method:
                yield event

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target_id})


def chromium_available() -> bool:
    """Tell whether Debian's Chromium is installed where the tests expect it."""
    return CHROMIUM.exists() and shutil.which(str(CHROMIUM)) is not None


@contextmanager
def open_page(browser: Chromium, url: str) -> Iterator[Page]:
    """Open `url` in a new tab and close the tab afterwards."""
    page = Page(browser)
    try:
        page.open(url)
        yield page
    finally:
        page.close()
