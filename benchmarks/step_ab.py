"""A/B of the CPU training step: the code of an earlier commit against the working tree, in one process.

    python benchmarks/step_ab.py REVISION [--steps 30] [--rounds 5] [--batch-size 512 128]

Both versions of minigrad and ultimus are imported into this process (the earlier one from a
`git archive` of REVISION in a temporary folder, under the same package names: each step keeps
the modules it was built with), and their steps take turns, one round of --steps steps each,
--rounds times, so that a machine that drifts slows both alike. Prints the median ms per step
of each and the ratio new / old (below 1: the working tree is faster).
"""
import argparse
import importlib
import io
import pathlib
import subprocess
import sys
import tarfile
import tempfile

import numpy
from step_time import interleaved_medians  # this script's folder is on sys.path when it is run

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("minigrad", "ultimus")


def extract(revision, folder):
    """The tree of ``revision`` unpacked into ``folder``."""
    archive = subprocess.run(["git", "-C", str(REPOSITORY), "archive", revision, *PACKAGES], capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")


def forget_packages():
    for name in [name for name in sys.modules if name.split(".")[0] in PACKAGES]:
        del sys.modules[name]


def step_from(root, images, labels):
    """A training step built with the minigrad and ultimus found under ``root``; the modules are then forgotten,
    so that the next import loads the other version."""
    forget_packages()
    sys.path.insert(0, str(root))
    try:
        minigrad = importlib.import_module("minigrad")
        functional = importlib.import_module("minigrad.functional")
        model = importlib.import_module("ultimus.model").UltimusNet()
        optimizer = importlib.import_module("minigrad.optim").Adam(model.parameters(), lr=1e-3)
        minigrad.backend.keep_freed_cpu_memory()
    finally:
        sys.path.remove(str(root))
        forget_packages()

    def step():
        loss = functional.cross_entropy(model(minigrad.Tensor(images)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("revision")
    parser.add_argument("--steps", type=int, default=30, help="steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[512, 128])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        extract(args.revision, folder)
        for batch_size in args.batch_size:
            rng = numpy.random.default_rng(0)
            images = rng.standard_normal((batch_size, 3, 32, 32)).astype(numpy.float32)
            labels = rng.integers(0, 10, batch_size)
            contenders = {name: (step_from(root, images, labels), lambda: None)
                          for name, root in ((args.revision, folder), ("working tree", REPOSITORY))}
            old, new = interleaved_medians(contenders, args.steps, args.rounds).values()
            print(f"batch {batch_size}: {args.revision} {old * 1000:.2f} ms, working tree {new * 1000:.2f} ms, "
                  f"new / old {new / old:.3f}  (median of {args.rounds} rounds x {args.steps} steps each)")


if __name__ == "__main__":
    main()
