"""The notebooks run top to bottom (on the CPU, ULTIMUS_NOTEBOOK_QUICK=1, on a tiny image folder),
are committed clean, and a Ctrl-C in the training cell leaves the kernel alive and a run that resumes."""
import json
import pathlib
import time

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook extra is not installed: pip install -e .[notebook]")
nbclient = pytest.importorskip("nbclient", reason="the notebook extra is not installed: pip install -e .[notebook]")
from helpers import make_tiny_cifar  # noqa: E402  (after the skips: without the extra nothing is needed)
from jupyter_client.manager import start_new_kernel  # noqa: E402  (nbclient's own dependency)

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
COMMITTED_SIZE_LIMIT = 300_000  # bytes: docs' rule for small files holds for notebooks too


@pytest.fixture
def quick_notebook_environment(tmp_path, monkeypatch):
    """The variables the notebooks read, a tiny data set, and a working folder for their run directories."""
    monkeypatch.setenv("ULTIMUS_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("ULTIMUS_DATA", str(make_tiny_cifar(tmp_path / "images")))
    monkeypatch.setenv("ULTIMUS_CACHE", str(tmp_path / "cache"))
    return tmp_path


def read(path):
    return nbformat.read(str(path), as_version=4)


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_there_are_notebooks_to_check():
    assert {path.name for path in NOTEBOOKS} >= {"tour.ipynb", "assignment.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_a_committed_notebook_has_no_error_output_and_its_cells_ran_in_order(path):
    notebook = read(path)
    assert path.stat().st_size < COMMITTED_SIZE_LIMIT
    errors = [output for cell in code_cells(notebook) for output in cell.outputs if output.output_type == "error"]
    assert errors == [], f"{path.name} is committed with an error output"
    counts = [cell.execution_count for cell in code_cells(notebook) if cell.execution_count is not None]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: cells were run out of order ({counts})"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_a_notebook_runs_top_to_bottom(path, quick_notebook_environment):
    """nbclient raises CellExecutionError, naming the cell, at the first cell that fails."""
    notebook = read(path)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(quick_notebook_environment)}}).execute()
    assert all(cell.execution_count for cell in code_cells(notebook))


def training_cell_index(notebook):
    (index,) = [index for index, cell in enumerate(notebook.cells) if "training" in cell.metadata.get("tags", [])]
    return index


@pytest.mark.slow
def test_ctrl_c_in_the_training_cell_keeps_the_kernel_and_a_checkpoint_that_resumes(quick_notebook_environment):
    """The tour's cells up to its training cell run in a kernel; the training cell runs for 5 epochs into
    a known folder; SIGINT reaches the kernel once an epoch is saved. The cell ends in KeyboardInterrupt,
    the kernel lives on, and resuming in it finishes the run."""
    notebook = read(NOTEBOOKS[[path.name for path in NOTEBOOKS].index("tour.ipynb")])
    stop = training_cell_index(notebook)
    out = quick_notebook_environment / "interrupted"
    anchor = "config = TrainConfig("
    assert anchor in notebook.cells[stop].source
    training = notebook.cells[stop].source.replace(anchor, f"settings['epochs'] = 5\n{anchor}out={str(out)!r}, ")
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(quick_notebook_environment))
    try:
        for cell in code_cells(nbformat.v4.new_notebook(cells=notebook.cells[:stop])):
            assert run(client, cell.source)["status"] == "ok"
        message = client.execute(training)
        wait_for(lambda: (out / "history.json").exists())
        manager.interrupt_kernel()
        reply = client.get_shell_msg(timeout=120)
        assert reply["parent_header"]["msg_id"] == message
        assert (reply["content"]["status"], reply["content"].get("ename")) == ("error", "KeyboardInterrupt")
        assert 1 <= len(json.loads((out / "history.json").read_text())["records"]) < 5
        assert run(client, f"result = train(TrainConfig(resume={str(out)!r}, progress=False))")["status"] == "ok"
        assert len(json.loads((out / "history.json").read_text())["records"]) == 5
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def run(client, code, timeout=120):
    """Execute ``code`` in the kernel and return the content of its reply."""
    return client.execute_interactive(code, timeout=timeout)["content"]


def wait_for(condition, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
