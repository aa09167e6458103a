"""analysis.pdf: the report printed to PDF by headless Chromium, written atomically.

The first test needs Chromium (CI installs it with `make browser`); the failure-path tests stand in a
fake browser script, so they run anywhere."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from analysis import pdf
from analysis.errors import PlanError

PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Report</title></head>'
    "<body><h1>Children's centres</h1><p>A small page to print.</p></body></html>"
)


@pytest.fixture
def html(tmp_path) -> Path:
    path = tmp_path / "report.html"
    path.write_text(PAGE)
    return path


def fake_chromium(monkeypatch, directory: Path, script: str) -> None:
    """Make html_to_pdf run `script` (POSIX sh, with $out the --print-to-pdf target) in place of Chromium."""
    path = directory / "fake-chromium"
    find_out = 'for arg; do case "$arg" in --print-to-pdf=*) out="${arg#--print-to-pdf=}";; esac; done\n'
    path.write_text("#!/bin/sh\n" + find_out + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(pdf, "find_chromium", lambda: str(path))


def test_prints_a_pdf_and_leaves_no_temporary_file(html, tmp_path):
    out_dir = tmp_path / "out"
    target = out_dir / "report.pdf"

    assert pdf.html_to_pdf(html, target) == target.resolve()

    data = target.read_bytes()
    assert data.startswith(b"%PDF-")
    assert data.rstrip().endswith(b"%%EOF")
    assert sorted(p.name for p in out_dir.iterdir()) == ["report.pdf"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any other output


def test_the_same_html_prints_to_the_same_bytes(html, tmp_path):
    first = pdf.html_to_pdf(html, tmp_path / "first.pdf").read_bytes()
    time.sleep(1.1)  # Chromium's own date stamp has one-second resolution
    second = pdf.html_to_pdf(html, tmp_path / "second.pdf").read_bytes()
    assert first == second
    assert b"/CreationDate (D:19700101000000" in first


def test_pdf_dates_follow_source_date_epoch_and_keep_their_length(monkeypatch):
    original = b"<</CreationDate (D:20261128024627+00'00')\n/ModDate (D:20261128024627+00'00')>>"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14 22:13:20 UTC
    fixed = pdf.fixed_dates(original)
    assert fixed == original.replace(b"20261128024627", b"20231114221320")
    odd = b"/CreationDate (D:20261128024627)"  # no zone: a length the rewrite would change, kept as is
    assert pdf.fixed_dates(odd) == odd


def test_structure_ids_are_renumbered_in_order_and_keep_their_length():
    """Two prints of one page whose DOM node counts differ by one from the third element on (seen on a loaded
    machine) give the same bytes; the order of the IDs, their length and anything else are kept."""
    def tagged(numbers):
        elements = b"".join(b"<</S /TH /ID (node%08d)>>\n" % n for n in numbers)
        names = b"".join(b"(node%08d) 9 0 R " % n for n in numbers)
        return elements + b"<</IDTree <</Names [" + names + b"]>>>>\n(node123) (nodes00000001)"

    first, second = tagged([40, 57, 123, 124]), tagged([40, 57, 124, 125])
    assert first != second
    fixed = pdf.numbered_structure_ids(first)
    assert fixed == pdf.numbered_structure_ids(second) and len(fixed) == len(first)
    assert fixed == tagged([1, 2, 3, 4])
    assert fixed.endswith(b"(node123) (nodes00000001)")  # not an 8-digit node ID: left as it is
    assert pdf.numbered_structure_ids(b"%PDF-1.4 no tags") == b"%PDF-1.4 no tags"


def test_missing_html_raises_and_writes_nothing(tmp_path):
    target = tmp_path / "report.pdf"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pdf.html_to_pdf(tmp_path / "no-such-report.html", target)
    assert list(tmp_path.iterdir()) == []


def test_missing_chromium_says_how_to_install(html, tmp_path, monkeypatch):
    monkeypatch.setattr(pdf, "find_chromium", lambda: None)
    with pytest.raises(pdf.ChromiumNotFoundError, match="apt-get install chromium"):
        pdf.html_to_pdf(html, tmp_path / "report.pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_chromium_failure_quotes_stderr_and_keeps_the_old_pdf(html, tmp_path, monkeypatch):
    fake_chromium(monkeypatch, tmp_path, 'echo "partial" > "$out"\necho "GPU on fire" >&2\nexit 3\n')
    target = tmp_path / "report.pdf"
    target.write_bytes(b"%PDF-old")

    with pytest.raises(pdf.ChromiumError, match=r"(?s)status 3.*GPU on fire"):
        pdf.html_to_pdf(html, target)

    assert target.read_bytes() == b"%PDF-old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-chromium", "report.html", "report.pdf"]


def test_output_that_is_not_a_pdf_is_rejected(html, tmp_path, monkeypatch):
    fake_chromium(monkeypatch, tmp_path, 'echo "<html>error page</html>" > "$out"\n')
    with pytest.raises(pdf.ChromiumError, match="wrote no PDF"):
        pdf.html_to_pdf(html, tmp_path / "report.pdf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-chromium", "report.html"]


def test_timeout_kills_chromium_and_leaves_nothing(html, tmp_path, monkeypatch):
    fake_chromium(monkeypatch, tmp_path, "echo starting >&2\nsleep 30\n")
    with pytest.raises(pdf.ChromiumError, match=r"(?s)within 0.5 s.*starting"):
        pdf.html_to_pdf(html, tmp_path / "report.pdf", timeout=0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-chromium", "report.html"]


def test_the_pdf_chosen_without_chromium_is_refused_saying_what_is_missing_and_both_ways_out(monkeypatch,
                                                                                           tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # find_chromium looks on PATH: nothing there
    with pytest.raises(PlanError) as refused:
        pdf.check_pdf_renderer("chromium")
    message = str(refused.value)
    for words in ("report_pdf: chromium", "no Chromium browser was found on PATH", "chromium-browser",
                  "apt-get install chromium", "make browser", "report_pdf: none", "--config report_pdf=none"):
        assert words in message, words


def test_no_pdf_needs_no_browser_and_a_found_chromium_passes(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    pdf.check_pdf_renderer("none")  # nothing to print, nothing to find
    browser = tmp_path / "chromium-browser"  # any of the names looked for
    browser.write_text("#!/bin/sh\nexit 0\n")
    browser.chmod(0o755)
    assert pdf.find_chromium() == str(browser)
    pdf.check_pdf_renderer("chromium")
