"""Seeing what a run did: the figures it leaves and the tools that look inside the network.

    figures.py         samples, curves, mistakes, confusion; metrics.py: the numbers behind them
    attention.py       the Ultimus blocks' attention maps, read with forward hooks
    gradient_flow.py   per-layer gradient statistics over a run
    lr_finder.py       the learning-rate range test
"""
