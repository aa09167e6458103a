"""The report as a PDF, printed by headless Chromium (Debian's `chromium` package; nothing downloaded).

Whether the report and the brief are printed is the setting `report_pdf` (none, the default, or chromium),
never whether a browser happens to be installed: the same command then plans the same jobs on every machine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from analysis.errors import PlanError
from analysis.io import atomic_path

# Looked up on PATH in this order.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
INSTALL_HINT = (
    "No Chromium browser found on PATH (looked for: " + ", ".join(CHROMIUM_NAMES) + "). "
    "Install it with: apt-get install chromium (Debian/Ubuntu, as root), or run `make browser`."
)
# The values of the setting report_pdf: no PDF, or the report and the brief printed by Chromium.
NO_PDF, CHROMIUM = "none", "chromium"
# Seconds Chromium may take to print one page before it is killed.
DEFAULT_TIMEOUT = 120.0
# Chromium stamps each PDF with the time it printed it; these are rewritten (same length, so the PDF's
# byte offsets stay valid) to SOURCE_DATE_EPOCH, the reproducible-builds convention, default 1970-01-01.
PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \((D:\d{14}[^)]*)\)")
# Chromium names each element of a tagged PDF's structure tree after its DOM node, "(node00000123)": the count
# of nodes created before it, which can move by one between two prints of the same page on a loaded machine.
STRUCTURE_ID = re.compile(rb"\(node(\d{8})\)")
# How much of Chromium's stderr to quote when it fails.
STDERR_TAIL_LINES = 20


class ChromiumError(RuntimeError):
    """Chromium is missing, failed, timed out, or wrote no PDF."""


class ChromiumNotFoundError(ChromiumError):
    """No Chromium on PATH; the message says how to install it."""

    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)


def find_chromium() -> str | None:
    """Path of the first Chromium executable on PATH, or None when there is none."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """Path of Chromium; raises ChromiumNotFoundError (with the install command) when there is none."""
    path = find_chromium()
    if path is None:
        raise ChromiumNotFoundError()
    return path


def check_pdf_renderer(report_pdf: str) -> None:
    """Refuse (PlanError, in words) a run that chose to print PDFs (report_pdf: chromium) where no Chromium is
    found: what is missing, how to install it and how to run without the PDF. Called before any job runs."""
    if report_pdf == CHROMIUM and find_chromium() is None:
        raise PlanError(
            f"This run is set to print the report and the brief to PDF (report_pdf: {CHROMIUM}), but no "
            f"Chromium browser was found on PATH (looked for: {', '.join(CHROMIUM_NAMES)}). Either install "
            "it: apt-get install chromium (Debian/Ubuntu, as root), or `make browser`; or run without the "
            f"PDF (the HTML report needs no browser): set report_pdf: {NO_PDF} in config/config.yaml or your "
            f"plan file, or leave PDF= out of `make run`, or pass --config report_pdf={NO_PDF}."
        )


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(kept) if kept else "(no output on stderr)"


def _kill_group(process: subprocess.Popen) -> None:
    """Kill Chromium and every helper process it started (they share its new session)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def fixed_dates(pdf: bytes) -> bytes:
    """The PDF with its creation and modification dates set to SOURCE_DATE_EPOCH (default 0), so that the
    same HTML gives the same bytes. A date written in an unexpected length is left as it is."""
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    stamp = time.strftime("D:%Y%m%d%H%M%S", time.gmtime(epoch)).encode()

    def replace(match: re.Match) -> bytes:
        date = match.group(2)
        fixed = stamp + (b"+00'00'" if date[16:17] in (b"+", b"-") else b"Z")
        if len(fixed) != len(date):
            return match.group(0)
        return match.group(0).replace(date, fixed)

    return PDF_DATE.sub(replace, pdf)


def numbered_structure_ids(pdf: bytes) -> bytes:
    """The PDF with Chromium's structure-element IDs renumbered 1, 2, ... in the order of their numbers, so
    that the same HTML gives the same bytes whatever node count a print started from. The order is kept (the
    ID tree must stay sorted) and so is every ID's length (the cross-reference table holds byte offsets)."""
    numbers = sorted(set(STRUCTURE_ID.findall(pdf)), key=int)
    rank = {number: b"%08d" % place for place, number in enumerate(numbers, start=1)}
    return STRUCTURE_ID.sub(lambda match: b"(node" + rank[match.group(1)] + b")", pdf)


def html_to_pdf(html_path: str | Path, pdf_path: str | Path, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """Print `html_path` to `pdf_path` with headless Chromium and return `pdf_path`.

    Chromium writes to a hidden partial file beside `pdf_path` (analysis.io.atomic_path), renamed into place
    only once it holds a PDF, so `pdf_path` is either the complete new PDF or untouched.
    Raises FileNotFoundError for a missing HTML file, ChromiumNotFoundError when Chromium is missing,
    and ChromiumError (quoting the end of Chromium's stderr) when printing fails or times out.
    """
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    if not html_path.is_file():
        # Chromium would happily print its own "file not found" page instead.
        raise FileNotFoundError(f"HTML file to print does not exist: {html_path}")
    chromium = require_chromium()
    with atomic_path(pdf_path) as partial, tempfile.TemporaryDirectory(
            prefix="chromium-pdf-", ignore_cleanup_errors=True) as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-pdf-header-footer",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--print-to-pdf={partial}",
            html_path.as_uri(),
        ]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            _, stderr = process.communicate()
            raise ChromiumError(
                f"Chromium did not print {html_path} within {timeout:g} s; stderr ends:\n{_tail(stderr)}"
            ) from None
        finally:
            # Helpers outliving the browser would hold the profile directory open.
            _kill_group(process)
        if process.returncode != 0:
            raise ChromiumError(
                f"Chromium exited with status {process.returncode} printing {html_path}; "
                f"stderr ends:\n{_tail(stderr)}"
            )
        data = partial.read_bytes() if partial.exists() else b""
        if not data.startswith(b"%PDF-"):
            raise ChromiumError(f"Chromium wrote no PDF for {html_path}; stderr ends:\n{_tail(stderr)}")
        partial.write_bytes(numbered_structure_ids(fixed_dates(data)))
    return pdf_path
