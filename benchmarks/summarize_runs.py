"""Last-epoch accuracies of runs, grouped by configuration: every seed, their mean and spread, and
how many epochs the runs have done (a run still going shows fewer).

    python benchmarks/summarize_runs.py docs/validation/dropout*     # one group per folder of seed<N>/ runs
    python benchmarks/summarize_runs.py docs/cpu                      # the test-set runs of the README
"""
import argparse
import json
import pathlib
import statistics

from ultimus.plots import evaluation_split


def final_result(run):
    """(split, accuracy after the last epoch, epochs done, median epoch seconds) of the run folder ``run``."""
    history = json.loads((run / "history.json").read_text())
    split = evaluation_split(history)
    return split, history[f"{split}_accuracy"][-1], len(history["epoch"]), statistics.median(history["seconds"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="+", type=pathlib.Path, help="folders holding seed<N>/history.json")
    for group in parser.parse_args().groups:
        runs = sorted(group.glob("seed*/history.json"), key=lambda path: int(path.parent.name[len("seed"):]))
        results = [(run.parent.name, *final_result(run.parent)) for run in runs]
        if not results:
            print(f"{group}: no run")
            continue
        names, splits, accuracies, epochs, seconds = zip(*results)
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else float("nan")
        seeds = " ".join(f"{name}={accuracy:.4f}" for name, accuracy in zip(names, accuracies))
        print(f"{group}: {splits[0]} accuracy mean {statistics.mean(accuracies):.4f} std {spread:.4f} over "
              f"{len(results)} runs of {'/'.join(map(str, sorted(set(epochs))))} epochs ({seeds}); "
              f"median epoch {statistics.median(seconds):.1f} s")


if __name__ == "__main__":
    main()
