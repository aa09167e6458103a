"""The headless-Chromium harness (tests/browser.py) notices each kind of fault a reader would meet.

Without Chromium these tests fail, with the install command: CI installs it (`make browser`)."""

from __future__ import annotations

import struct
import zlib
from base64 import b64encode
from pathlib import Path

import pytest

from analysis import pdf
from tests.browser import INSTALL_HINT, find_chromium, load_page

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tiny_png(width: int = 6, height: int = 4) -> bytes:
    """A valid solid-red RGB PNG, built by hand (no imaging library)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def write_page(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{name}</title></head>\n'
        f"<body>{body}</body></html>\n"
    )
    return path


def test_chromium_is_installed():
    assert find_chromium() is not None, INSTALL_HINT


def test_missing_chromium_is_reported_with_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() is None
    page = write_page(tmp_path, "page.html", "<p>hello</p>")
    with pytest.raises(pdf.ChromiumNotFoundError, match="apt-get install chromium"):
        load_page(page, tmp_path / "shot.png")


def test_good_page_passes(tmp_path):
    data_uri = "data:image/png;base64," + b64encode(tiny_png(width=6, height=4)).decode()
    page = write_page(
        tmp_path,
        "good.html",
        f'<h1>A clean report</h1><p>Some text.</p><img alt="Figure 1" src="{data_uri}" width="300">',
    )
    shot = tmp_path / "shots" / "good.png"

    check = load_page(page, shot)

    assert check.problems() == [] and check.ok
    assert check.title == "good.html"
    assert "A clean report" in check.body_text and "Some text." in check.body_text
    assert [(image.alt, image.complete, image.natural_width) for image in check.images] == [
        ("Figure 1", True, 6)
    ]
    png = shot.read_bytes()
    assert png.startswith(PNG_SIGNATURE)
    assert len(png) > 1000
    width, height = struct.unpack(">II", png[16:24])
    assert width > 100 and height > 100


def test_broken_image_is_detected(tmp_path):
    page = write_page(tmp_path, "broken.html", '<p>Text</p><img alt="Figure 2" src="no-such-figure.png">')

    check = load_page(page, tmp_path / "broken.png")

    assert [(image.alt, image.natural_width) for image in check.broken_images] == [("Figure 2", 0)]
    assert any("no-such-figure.png" in request for request in check.failed_requests)
    assert not check.ok
    assert (tmp_path / "broken.png").read_bytes().startswith(PNG_SIGNATURE)


def test_console_error_is_detected(tmp_path):
    page = write_page(tmp_path, "console.html", '<p>Text</p><script>console.error("x")</script>')

    check = load_page(page, tmp_path / "console.png")

    assert len(check.console_errors) == 1 and check.console_errors[0].startswith("x")
    assert check.page_errors == [] and check.failed_requests == []
    assert not check.ok


def test_uncaught_exception_is_detected(tmp_path):
    page = write_page(
        tmp_path, "throws.html", '<p>Text</p><script>throw new Error("figure script broke")</script>'
    )

    check = load_page(page, tmp_path / "throws.png")

    assert len(check.page_errors) == 1 and "figure script broke" in check.page_errors[0]
    assert not check.ok
    assert any("uncaught exception" in problem for problem in check.problems())
