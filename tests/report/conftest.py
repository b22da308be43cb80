"""Headless Chromium for the report tests: the real browser opens the report from file:// with
no network, and the page's own hook says what it drew."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess

import pytest

from ..conftest import run_lock

INSTALL = "apt-get install -y chromium"


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> str:
    """The chromium binary, installed with apt-get when missing (after `apt-get update` when the
    package lists are empty or stale, as on a fresh machine) by one worker of the run at a time;
    fails with the command otherwise."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = None
    with run_lock(tmp_path_factory, "apt-get"):
        found = shutil.which("chromium")
        for step in ([INSTALL], ["apt-get update", INSTALL]):
            if found:
                break
            for command in step:
                done = subprocess.run(command.split(), capture_output=True, text=True, timeout=900, env=env)
            found = shutil.which("chromium")
    if not found:
        detail = done.stderr[-2000:] if done else ""
        pytest.fail(f"the report tests need Chromium; `apt-get update && {INSTALL}` failed:\n{detail}")
    return found


def browser_flags(profile) -> list[str]:
    """Headless, a private profile, every host name unresolvable (no network even if asked)."""
    return ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=10000", "--no-first-run"]


def open_report(chromium: str, path, tmp_path) -> tuple[dict, str, list[str]]:
    """Load the report; (the page's #heron-result {charts, errors}, the rendered DOM, console lines)."""
    done = subprocess.run([chromium, *browser_flags(tmp_path / "profile"), "--enable-logging=stderr", "--v=0",
                           "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="heron-result"[^>]*>(.*?)</pre>', done.stdout, re.S)
    assert match, f"the page did not render (exit {done.returncode}):\n{done.stderr[-3000:]}"
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(html.unescape(match[1])), done.stdout, console


def screenshot(chromium: str, path, out, tmp_path, size: str = "1400,3000") -> None:
    subprocess.run([chromium, *browser_flags(tmp_path / "shot-profile"), f"--screenshot={out}",
                    f"--window-size={size}", path.as_uri()], capture_output=True, timeout=120, check=True)
