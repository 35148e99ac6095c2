"""The web console for the compat tests: a `kbroker console` (or `kbroker serve --console`) process,
stopped by PID, and headless Chromium (Debian's package) driven by Playwright.

Screenshots go to compat-tests/artifacts/console/ (git-ignored), one per page a test looked at.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

from kbroker.testing.runners import free_port, spawn, stop_process

ARTIFACTS = Path(__file__).parent / "artifacts" / "console"
_URL = re.compile(r"console\s.*?(http://\S+/)")
HTTP_TIMEOUT = 10


class ConsoleProcess:
    """A console (or broker with one) whose output goes to `log_path`; `url` once started."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.argv = [sys.executable, "-m", "kbroker", *args]
        self.log_path = log_path
        self.url = ""
        self.proc = None

    @classmethod
    def for_broker(cls, bootstrap: str, workdir: Path, *options: str) -> ConsoleProcess:
        workdir.mkdir(parents=True, exist_ok=True)
        return cls(["console", "--bootstrap-server", bootstrap, "--listen", f"127.0.0.1:{free_port()}", *options],
                   workdir / "console.log")

    def start(self, timeout: float = 30) -> ConsoleProcess:
        with open(self.log_path, "wb") as log:
            self.proc = spawn(self.argv, log)
        deadline = time.monotonic() + timeout
        while not self.url:
            found = _URL.search(self.log_path.read_text(errors="replace"))
            if found:
                self.url = found[1]
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"console did not start: {self.log_path.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 10)

    def post(self, path: str, fields: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, str]:
        """A form POST as a script would send it: (status, body)."""
        request = urllib.request.Request(self.url.rstrip("/") + path, data=urllib.parse.urlencode(fields).encode(),
                                         headers=headers or {}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url.rstrip("/") + path, timeout=HTTP_TIMEOUT) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def chromium() -> Iterator:
    """A headless Debian chromium under Playwright (which downloads no browser of its own here)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    if executable is None:
        raise RuntimeError("the console tests need Debian's chromium package (.ci/run installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])  # root in CI
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^a-zA-Z0-9._-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
