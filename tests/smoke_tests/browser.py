"""The smoke report loaded in a real headless Chromium (Debian's package), as a person would open it."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# Flags from MACHINE-NOTES: no sandbox (root in a container), nothing fetched, a fresh profile.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@dataclass(frozen=True)
class PageLoad:
    console_errors: list[str]
    broken_images: list[str]
    chips: dict[str, str]  # summary strip: area -> state
    text: str
    screenshot: Path


def require_chromium() -> None:
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CNAI_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} missing: `apt-get install chromium`")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")


def load_report(report_dir: Path) -> PageLoad:
    """Open report.html, collect console errors and images that did not load, keep a full-page
    screenshot next to the report (report.png)."""
    from playwright.sync_api import sync_playwright

    require_chromium()
    screenshot = report_dir / "report.png"
    with tempfile.TemporaryDirectory(prefix="cnai-chromium-") as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=FLAGS, viewport={"width": 1280, "height": 900}
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto((report_dir / "report.html").as_uri(), wait_until="load")
        broken = page.eval_on_selector_all("img", "imgs => imgs.filter(i => !i.naturalWidth).map(i => i.src)")
        chips = dict(chip.split(": ", 1) for chip in page.locator(".chip").all_inner_texts())
        text = page.inner_text("body")
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return PageLoad(errors, broken, chips, text, screenshot)
