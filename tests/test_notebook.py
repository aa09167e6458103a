"""The executed report notebook made reproducible: run times and random ids removed, nothing else changed."""

from __future__ import annotations

import nbformat

from analysis.notebook import INJECTED_CELL_ID, make_reproducible


def executed_notebook() -> nbformat.NotebookNode:
    """A notebook as papermill leaves it: run times on the notebook and each cell, a random id on the cell
    it injected, and the partial file as its output path."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["papermill"] = {"start_time": "2026-01-01T10:00:00", "end_time": "2026-01-01T10:01:00",
                                      "duration": 60.0, "output_path": ".report.partial.ipynb",
                                      "parameters": {"tables": "results/tables"}}
    injected = nbformat.v4.new_code_cell("tables = 'results/tables'")
    injected.id = "a1b2c3d4"
    injected.metadata["tags"] = ["injected-parameters"]
    plain = nbformat.v4.new_code_cell("print(1)")
    plain.id = "kept-id"
    for cell in (injected, plain):
        cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T10:00:01"}
        cell.metadata["papermill"] = {"start_time": "t0", "end_time": "t1", "duration": 0.5,
                                      "status": "completed"}
    notebook.cells = [injected, plain]
    return notebook


def test_run_times_and_random_ids_are_removed_and_the_rest_kept():
    notebook = executed_notebook()
    make_reproducible(notebook, "results/report/report.ipynb")
    run = notebook.metadata["papermill"]
    assert run == {"output_path": "results/report/report.ipynb", "parameters": {"tables": "results/tables"}}
    assert [cell.id for cell in notebook.cells] == [INJECTED_CELL_ID, "kept-id"]
    for cell in notebook.cells:
        assert "execution" not in cell.metadata
        assert cell.metadata["papermill"] == {"status": "completed"}
    nbformat.validate(notebook)  # still a valid notebook


def test_two_runs_give_the_same_notebook():
    first, second = executed_notebook(), executed_notebook()
    second.metadata["papermill"]["duration"] = 75.0
    second.cells[0].id = "zz99"
    for notebook in (first, second):
        make_reproducible(notebook, "out.ipynb")
    assert nbformat.writes(first) == nbformat.writes(second)
