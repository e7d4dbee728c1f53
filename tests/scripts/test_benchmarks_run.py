"""The benchmarks run as plain scripts, `python benchmarks/x.py`: their shared helpers import without sys.path edits."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("tier", ["fast", "plain"])
def test_layer_times_runs_as_a_script_with_its_shared_helpers(tier):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "layer_times.py"), "--repeats", "1",
                             "--batch-size", "2", "--tier", tier], capture_output=True, text=True, env=env,
                            cwd=ROOT.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("total")


def test_gpu_launches_runs_as_a_script_on_the_standin():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_launches.py"), "--batch-size", "4"],
                            capture_output=True, text=True, env=env, cwd=ROOT.parent)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "step 1 of a run of Ultimus at batch 4, on the stand-in for CuPy"
    assert any(line.split()[:2] == ["Conv2d", "3"] for line in lines)
    assert lines[-1].startswith("per step: ") and lines[-1].endswith(", 0 host syncs, 0 host-to-device copies")


def test_step_ab_times_a_commit_against_the_working_tree_in_one_process():
    env = dict(os.environ, PYTHONPATH="")  # each side's packages come from its own tree, not from the path
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "step_ab.py"), "HEAD", "--steps", "1",
                             "--rounds", "1", "--batch-size", "4"], capture_output=True, text=True, env=env,
                            cwd=ROOT.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("batch 4: HEAD ") and "working tree" in result.stdout
