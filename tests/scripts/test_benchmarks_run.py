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
