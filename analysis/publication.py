"""Withdrawing published outputs after a failed run, so none can be mistaken for a result of its inputs.

What may leave a secure environment (README "Releasing results") lives in a few published folders and files
under results/. A run that fails part-way can leave tables it published before failing next to an earlier
run's report made from other data. When a run fails, `withdraw` moves every published output that exists
into results/withdrawn/<UTC time>/, keeping relative paths, and writes WITHDRAWN.txt there in plain words.
results/withdrawn/ is restricted: nothing in it is cleared for release.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from analysis import io

WITHDRAWN = "withdrawn"  # under the results folder
NOTICE = "WITHDRAWN.txt"


@dataclass(frozen=True)
class Withdrawal:
    """Where a failed run's published outputs went, which ones, and any that could not be moved."""

    folder: Path
    files: tuple[str, ...]  # relative to the results folder
    stuck: tuple[str, ...] = field(default=())

    def message(self) -> str:
        lines = [f"This run failed. {len(self.files)} published output(s) were withdrawn to {self.folder}/ "
                 f"(see {NOTICE} there): they do not reflect the inputs of this run and are not cleared for "
                 "release. Fix the cause and run the pipeline again to rebuild them."]
        if self.stuck:
            lines.append(f"Could not move {len(self.stuck)} published output(s); delete them before "
                         "releasing anything: " + ", ".join(self.stuck))
        return "\n".join(lines)


def published_files(published: Iterable[str | Path], results: str | Path = "results") -> list[Path]:
    """The files among `published` that exist, and every file in the folders that hold them.

    A published folder (the folder of a published file, other than the results folder itself, e.g.
    results/tables/) is taken whole: a table an earlier plan published, a PDF printed before report_pdf was
    set to none, or a partial file is no more a result of the current inputs than the files the plan lists."""
    results = Path(results)
    files, folders = set(), set()
    for path in map(Path, published):
        if results not in path.parents:
            raise ValueError(f"{path} is not under {results}/")
        if path.parent != results:
            top = results / path.relative_to(results).parts[0]
            folders.add(top)
        if path.is_file() or path.is_symlink():
            files.add(path)
    for folder in folders:
        if folder.is_dir():
            files.update(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())
    return sorted(files)


def withdraw(published: Iterable[str | Path], reason: str, results: str | Path = "results",
             now: datetime | None = None, details: Iterable[str] = ()) -> Withdrawal | None:
    """Move every published output that exists into results/withdrawn/<UTC time>/, keeping relative paths.

    Writes WITHDRAWN.txt there (when, why, what) and removes the published folders left empty. Returns None,
    creating nothing, when there is nothing to withdraw. `reason` says in words why (e.g. "the run
    failed"); `details` are further lines for the notice (e.g. where Snakemake's log is)."""
    results = Path(results)
    files = published_files(published, results)
    if not files:
        return None
    now = now or datetime.now(UTC)
    folder = _new_folder(results / WITHDRAWN, now.strftime("%Y-%m-%dT%H-%M-%SZ"))
    moved, stuck = [], []
    for path in files:
        relative = path.relative_to(results)
        target = folder / relative
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            moved.append(str(relative))
        except OSError:
            stuck.append(str(path))
    for top in sorted({results / Path(name).parts[0] for name in moved if len(Path(name).parts) > 1}):
        _remove_empty_folders(top)
    io.write_text(notice(now, reason, moved, stuck, details), folder / NOTICE)
    return Withdrawal(folder, tuple(moved), tuple(stuck))


def notice(now: datetime, reason: str, moved: list[str], stuck: list[str],
           details: Iterable[str] = ()) -> str:
    """WITHDRAWN.txt: when, why, what, and that none of it may be released."""
    when = now.strftime("%Y-%m-%d %H:%M:%S UTC")
    paragraphs = [
        f"Withdrawn on {when}, because {reason}.",
        "The files in this folder were in the published folders of results/ (tables, figures, the report, "
        "the report archive, the manifest, the provenance record and the disclosure check) when the run "
        "failed. Some may have been written by the failed run before it stopped, others by an earlier run, "
        "possibly on other inputs or another plan. They do not reflect the inputs of the run that failed, "
        "and they are not cleared for release: do not copy them out of the secure environment.",
        "To get releasable results, fix the cause of the failure and run the pipeline again (make run); it "
        "rebuilds every published output. This folder may then be deleted.",
        *details,
    ]
    lines = ["WITHDRAWN: NOT CLEARED FOR RELEASE", ""]
    for paragraph in paragraphs:
        lines += [*textwrap.wrap(paragraph, width=100, break_long_words=False, break_on_hyphens=False), ""]
    lines += ["Withdrawn (paths relative to results/):", *(f"  {name}" for name in moved)]
    if stuck:
        lines += ["", "Could not be moved (delete them before releasing anything):",
                  *(f"  {path}" for path in stuck)]
    return "\n".join(lines) + "\n"


def _new_folder(parent: Path, stamp: str) -> Path:
    """parent/stamp, or parent/stamp-2, -3... if a failure within the same second already used it."""
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = parent / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{parent}/{stamp}: too many withdrawals in one second")


def _remove_empty_folders(top: Path) -> None:
    for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    if top.is_dir() and not any(top.iterdir()):
        top.rmdir()
