"""Final accuracies of training runs, grouped by study: every seed, their mean and spread, the median
epoch time, the wall time and peak memory where recorded, and how many epochs each run has done (a run
still going shows fewer). With --csv, one row per run instead, for docs/results/.

A group is one of
  - a folder of seed<N>/ runs written by examples/train_cifar.py (their history.json, and the time.txt
    of GNU time that scripts/cpu_runs.sh writes beside it);
  - a folder of seed<N>.log files, the printed output of examples/train_cifar.py (docs/gpu/run1);
  - a log of benchmarks/reference_torch.py (docs/reference_torch/*.log).

    python scripts/summarize_runs.py docs/validation/dropout*      # one line per group
    python scripts/summarize_runs.py --csv --commit cd3dc3d docs/cpu > docs/results/cpu.csv
    python scripts/summarize_runs.py --csv --commit 9b2ba07 --commit 2333e9a docs/gpu/run1 docs/gpu/run2
"""
import argparse
import collections
import csv
import pathlib
import re
import statistics
import sys

from ultimus.training.history import read_history

Run = collections.namedtuple("Run", "run seed split accuracy epochs epoch_seconds wall_seconds peak_mib")

# One epoch line of train_cifar.py's output and of reference_torch.py's log.
CLI_EPOCH = re.compile(r"^epoch +\d+ .* (?P<split>test|validation) loss \S+ acc (?P<accuracy>\S+) "
                       r".* (?P<seconds>[\d.]+)s$")
TORCH_EPOCH = re.compile(r"^seed (?P<seed>\d+) epoch +\d+ (?P<split>test|validation) accuracy (?P<accuracy>\S+) "
                         r"\((?P<seconds>[\d.]+)s\)$")


def seed_of(path):
    """The N of a path named seed<N> or seed<N>.log."""
    return int(re.fullmatch(r"seed(\d+)", path.stem).group(1))


def gnu_time(run):
    """(wall seconds, peak resident MiB) from the run's time.txt (`/usr/bin/time -v`); None where absent."""
    path = run / "time.txt"
    if not path.exists():
        return None, None
    text = path.read_text()
    clock = re.search(r"Elapsed \(wall clock\) time .*: (\S+)", text).group(1)
    wall = sum(float(part) * 60 ** power for power, part in enumerate(reversed(clock.split(":"))))
    peak_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return wall, peak_kib / 1024


def history_run(run):
    """The Run of a folder holding train_cifar.py's history.json (either layout, see ultimus.training.history)."""
    history = read_history(run / "history.json")
    return Run(str(run), seed_of(run), history.eval_split, history.records[-1].eval_accuracy, len(history.records),
               statistics.median(history.column("seconds")), *gnu_time(run))


def epochs_run(name, seed, epochs, wall_seconds=None):
    """The Run of a list of (split, accuracy, seconds) epoch records parsed from a log."""
    split, accuracy, _ = epochs[-1]
    return Run(name, seed, split, accuracy, len(epochs), statistics.median(s for _, _, s in epochs), wall_seconds, None)


def cli_log_run(log):
    """The Run of train_cifar.py's printed output ``log`` (seed<N>.log, with seed<N>.wall when present)."""
    matches = [CLI_EPOCH.match(line) for line in log.read_text().splitlines()]
    epochs = [(m["split"], float(m["accuracy"]), float(m["seconds"])) for m in matches if m]
    wall_file = log.with_suffix(".wall")
    wall = float(re.search(r"(\d+) s wall", wall_file.read_text()).group(1)) if wall_file.exists() else None
    return epochs_run(str(log), seed_of(log), epochs, wall)


def torch_log_runs(log):
    """One Run per seed of a reference_torch.py log, whose epoch lines name their seed."""
    epochs_by_seed = collections.defaultdict(list)
    for match in filter(None, map(TORCH_EPOCH.match, log.read_text().splitlines())):
        epochs_by_seed[int(match["seed"])].append((match["split"], float(match["accuracy"]), float(match["seconds"])))
    return [epochs_run(f"{log}#seed{seed}", seed, epochs) for seed, epochs in epochs_by_seed.items()]


def group_runs(group):
    """Every finished or running Run of ``group`` (a run folder, a folder of logs, or a log), by seed."""
    if group.is_file():
        runs = torch_log_runs(group)
    else:
        runs = [history_run(path.parent) for path in group.glob("seed*/history.json")]
        runs += [cli_log_run(path) for path in group.glob("seed*.log")]
    return sorted(runs, key=lambda run: run.seed)


def describe(group, runs):
    """One line: the group's accuracies by seed, their mean and spread, epoch and wall time, peak memory."""
    accuracies = [run.accuracy for run in runs]
    spread = statistics.stdev(accuracies) if len(runs) > 1 else float("nan")
    seeds = " ".join(f"seed{run.seed}={run.accuracy:.4f}" for run in runs)
    line = (f"{group}: {runs[0].split} accuracy mean {statistics.mean(accuracies):.4f} std {spread:.4f} over "
            f"{len(runs)} runs of {'/'.join(map(str, sorted({run.epochs for run in runs})))} epochs ({seeds}); "
            f"median epoch {statistics.median(run.epoch_seconds for run in runs):.1f} s")
    walls = [run.wall_seconds for run in runs if run.wall_seconds is not None]
    peaks = [run.peak_mib for run in runs if run.peak_mib is not None]
    if walls:
        line += f"; wall {span(walls)} s"
    if peaks:
        line += f"; peak memory {span(peaks)} MiB"
    return line


def span(values):
    """'lowest-highest' of ``values``, or the one value they all have, rounded to units."""
    low, high = f"{min(values):.0f}", f"{max(values):.0f}"
    return low if low == high else f"{low}-{high}"


def write_csv(runs_and_commits, out):
    """One row per run, numbers rounded to what was measured; empty cells where nothing was recorded."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(Run._fields + ("commit",))
    for run, commit in runs_and_commits:
        wall = "" if run.wall_seconds is None else f"{run.wall_seconds:.1f}"
        peak = "" if run.peak_mib is None else f"{run.peak_mib:.0f}"
        writer.writerow([run.run, run.seed, run.split, f"{run.accuracy:.4f}", run.epochs,
                         f"{run.epoch_seconds:.1f}", wall, peak, commit])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="+", type=pathlib.Path, help="run folders, folders of logs, or logs")
    parser.add_argument("--csv", action="store_true", help="print one CSV row per run instead of one line per group")
    parser.add_argument("--commit", action="append",
                        help="the commit whose code made the runs, for the CSV: once for all groups, or once per group")
    args = parser.parse_args()
    missing = [str(group) for group in args.groups if not group.exists()]
    if missing:
        parser.error(f"no such run folder or log: {' '.join(missing)}")
    commits = args.commit or [""]
    if len(commits) not in (1, len(args.groups)):
        parser.error(f"--commit is given once or once per group ({len(args.groups)}), not {len(commits)} times")
    commits = commits * len(args.groups) if len(commits) == 1 else commits
    runs = {group: group_runs(group) for group in args.groups}
    if args.csv:
        empty = [str(group) for group, found in runs.items() if not found]
        if empty:
            parser.error(f"no run in: {' '.join(empty)}")
        write_csv([(run, commit) for (group, found), commit in zip(runs.items(), commits) for run in found], sys.stdout)
        return
    for group, found in runs.items():
        print(describe(group, found) if found else f"{group}: no run")


if __name__ == "__main__":
    main()
