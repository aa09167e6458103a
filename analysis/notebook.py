"""The executed report notebook made reproducible: the same inputs give the same notebook, and so the same
HTML report."""

from __future__ import annotations

# Keys papermill records per run and per cell that change on every run.
TIMINGS = ("start_time", "end_time", "duration")

# The id given to the cell papermill adds for the injected parameters (papermill gives it a random one).
INJECTED_CELL_ID = "injected-parameters"


def make_reproducible(notebook, output: str) -> None:
    """Remove execution times and random cell ids from an executed notebook (an nbformat node, changed in
    place); its recorded output path becomes `output`, not the partial file it was written to."""
    run = notebook.metadata.get("papermill", {})
    for key in TIMINGS:
        run.pop(key, None)
    run["output_path"] = output
    for cell in notebook.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = INJECTED_CELL_ID
        cell.metadata.pop("execution", None)
        for key in TIMINGS:
            cell.metadata.get("papermill", {}).pop(key, None)
