"""Test helper: open an HTML file in headless Chromium (the system's, never a downloaded one) and report
what a reader would meet: console errors, uncaught exceptions, failed requests, images that did not load,
plus the title, the visible text and a full-page screenshot."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import sync_playwright

from analysis.pdf import INSTALL_HINT, ChromiumNotFoundError, find_chromium, require_chromium

__all__ = [
    "INSTALL_HINT",
    "ChromiumNotFoundError",
    "ImageCheck",
    "PageCheck",
    "find_chromium",
    "load_page",
    "require_chromium",
]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu"]
# Milliseconds allowed for launching Chromium, loading the page and taking its screenshot.
TIMEOUT_MS = 60_000

_IMAGES_JS = """() => Array.from(document.images, img => ({
    alt: img.alt,
    src: img.getAttribute("src") || "",
    complete: img.complete,
    naturalWidth: img.naturalWidth,
}))"""


@dataclass(frozen=True)
class ImageCheck:
    alt: str
    src: str  # as written in the page, cut to 80 characters (data: URIs are long)
    complete: bool
    natural_width: int

    @property
    def loaded(self) -> bool:
        return self.complete and self.natural_width > 0


@dataclass
class PageCheck:
    url: str
    title: str
    body_text: str
    screenshot: Path
    images: list[ImageCheck] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    @property
    def broken_images(self) -> list[ImageCheck]:
        return [image for image in self.images if not image.loaded]

    def problems(self) -> list[str]:
        """Every fault found, one line each; empty for a page that rendered cleanly."""
        return (
            [f"console error: {message}" for message in self.console_errors]
            + [f"uncaught exception: {message}" for message in self.page_errors]
            + [f"request failed: {request}" for request in self.failed_requests]
            + [
                f"image not loaded: alt={image.alt!r} src={image.src!r} complete={image.complete} "
                f"naturalWidth={image.natural_width}"
                for image in self.broken_images
            ]
        )

    @property
    def ok(self) -> bool:
        return not self.problems()


def load_page(html_path: str | Path, screenshot_path: str | Path, full_page: bool = True) -> PageCheck:
    """Open `html_path` as a file:// URL in headless system Chromium, wait for the load event, and
    write a PNG screenshot to `screenshot_path`: of the whole page, or with `full_page=False` of the
    first screen only (a long page's full screenshot can take minutes on a loaded machine).

    Raises ChromiumNotFoundError (saying how to install Chromium) when there is no Chromium on PATH.
    """
    html_path, screenshot_path = Path(html_path).resolve(), Path(screenshot_path)
    if not html_path.is_file():
        raise FileNotFoundError(f"HTML file to load does not exist: {html_path}")
    executable = require_chromium()
    url = html_path.as_uri()
    console_errors: list[str] = []
    page_errors: list[str] = []
    failed_requests: list[str] = []

    def on_console(message) -> None:
        if message.type == "error":
            where = message.location.get("url", "") if message.location else ""
            console_errors.append(f"{message.text} ({where})" if where else message.text)

    def on_request_failed(request) -> None:
        shown = request.url if len(request.url) <= 120 else request.url[:117] + "..."
        failed_requests.append(f"{shown}: {request.failure}")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        try:
            page = browser.new_page()
            page.on("console", on_console)
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            page.on("requestfailed", on_request_failed)
            page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
            images = [
                ImageCheck(
                    alt=image["alt"],
                    src=image["src"][:80],
                    complete=bool(image["complete"]),
                    natural_width=int(image["naturalWidth"]),
                )
                for image in page.evaluate(_IMAGES_JS)
            ]
            screenshot_path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot_path), full_page=full_page, timeout=TIMEOUT_MS)
            title = page.title()
            body_text = page.inner_text("body")
        finally:
            browser.close()
    return PageCheck(
        url=url,
        title=title,
        body_text=body_text,
        screenshot=screenshot_path,
        images=images,
        console_errors=console_errors,
        page_errors=page_errors,
        failed_requests=failed_requests,
    )
