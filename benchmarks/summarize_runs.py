"""Final accuracies of finished runs, grouped by configuration: every seed, their mean and spread.

    python benchmarks/summarize_runs.py docs/validation/dropout*     # one group per folder of seed<N>/ runs
    python benchmarks/summarize_runs.py docs/cpu                      # the test-set runs of the README
"""
import argparse
import json
import pathlib
import statistics


def final_accuracy(run):
    """(split, accuracy) after the last epoch of the run folder ``run``."""
    history = json.loads((run / "history.json").read_text())
    split = "validation" if "validation_accuracy" in history else "test"
    return split, history[f"{split}_accuracy"][-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="+", type=pathlib.Path, help="folders holding seed<N>/history.json")
    for group in parser.parse_args().groups:
        runs = sorted(group.glob("seed*/history.json"), key=lambda path: int(path.parent.name[len("seed"):]))
        results = [(run.parent.name, *final_accuracy(run.parent)) for run in runs]
        if not results:
            print(f"{group}: no finished run")
            continue
        accuracies = [accuracy for _, _, accuracy in results]
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else float("nan")
        seeds = " ".join(f"{name}={accuracy:.4f}" for name, _, accuracy in results)
        print(f"{group}: {results[0][1]} accuracy mean {statistics.mean(accuracies):.4f} "
              f"std {spread:.4f} over {len(results)} ({seeds})")


if __name__ == "__main__":
    main()
