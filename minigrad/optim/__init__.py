"""Optimizers that update parameters from their gradients, and learning-rate schedules for them."""
from minigrad.optim import lr_scheduler
from minigrad.optim.adam import Adam, AdamW
from minigrad.optim.optimizer import Optimizer
from minigrad.optim.sgd import SGD

__all__ = [
    "Adam",
    "AdamW",
    "lr_scheduler",
    "Optimizer",
    "SGD",
]
