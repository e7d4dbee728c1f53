"""The run machinery: a training run of the recipe, from its settings to the files it leaves.

    train.py           train(config): prepare, train epoch by epoch, finish; run_epoch
    config.py          TrainConfig and its checks, made before any work
    run_directory.py   claiming a run directory (atomically), the outputs a run writes
    checkpoints.py     save, load and resume; history.py: the per-epoch records
    run_outputs.py     every figure a run leaves and report.md (report.py)
    interrupts.py      Ctrl-C between steps; command_line.py: the commands' error contract
"""
