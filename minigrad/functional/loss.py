"""Softmax cross-entropy on integer class labels: fused into one op for stability and speed
(:func:`cross_entropy`), and composed of the plain ops (:func:`cross_entropy_simple`)."""

import numpy

from minigrad.backend import fused_kernel, get_array_module
from minigrad.functional.activation import log_softmax_array
from minigrad.tensor import Function, Tensor

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(Function):
    """loss_n = -sum_c q_nc log softmax(logits_n)_c, with q the (smoothed) one-hot target.

    q = (1 - s) onehot(target) + s / C for label smoothing s. The gradient with
    respect to the logits is softmax(logits) - q (divided by N for the mean).
    """

    def __init__(self, label_smoothing, reduction):
        self.label_smoothing, self.reduction = label_smoothing, reduction

    def forward(self, logits, target):
        xp = get_array_module(logits)
        log_probabilities = log_softmax_array(logits, axis=1)
        picked = xp.take_along_axis(log_probabilities, target[:, None], axis=1)[:, 0]  # log p of each true class
        losses = -(1 - self.label_smoothing) * picked
        if self.label_smoothing:
            losses -= self.label_smoothing * log_probabilities.mean(axis=1)
        self.save_for_backward(log_probabilities, target)
        if self.reduction == "none":
            return losses
        return losses.mean() if self.reduction == "mean" else losses.sum()

    def backward(self, grad_output):
        log_probabilities, target = self.saved
        xp, (count, classes) = get_array_module(log_probabilities), log_probabilities.shape
        if self.reduction == "none":
            scale = grad_output[:, None]
        else:
            scale = grad_output / count if self.reduction == "mean" else grad_output
        grad_logits = xp.empty_like(log_probabilities)
        cross_entropy_grad(log_probabilities, target, classes, self.label_smoothing / classes, 1 - self.label_smoothing,
                           scale, grad_logits)
        return grad_logits, None


@fused_kernel(
    "T log_probabilities, raw I target, int32 classes, T smoothing_share, T target_share, T scale",
    "T grad_logits",
    """
    T picked = target[i / classes] == i % classes ? target_share : (T)0;
    grad_logits = (exp(log_probabilities) - smoothing_share - picked) * scale;
    """,
)
def cross_entropy_grad(log_probabilities, target, classes, smoothing_share, target_share, scale, grad_logits):
    """grad_logits = (softmax - q) scale, q = smoothing_share everywhere plus target_share at each row's label.

    log_probabilities, grad_logits: (N, C); target: (N,) labels; scale: the upstream gradient over the
    rows, a 0-d array or a column (N, 1). The CPU's pass, and the NumPy twin of the kernel above, in which
    element i of the (N, C) gradient is row i / C and class i % C.
    """
    numpy.exp(log_probabilities, out=grad_logits)
    grad_logits -= smoothing_share
    grad_logits[numpy.arange(len(grad_logits)), target] -= target_share
    grad_logits *= scale


def check_cross_entropy_arguments(name, logits, target, label_smoothing, reduction):
    """The one check of cross_entropy's arguments; returns target as an integer array on logits' device.

    Labels out of range raise on the CPU only: reading a GPU result back would stall the GPU every batch
    (PyTorch's asynchronous CUDA does not check them either).
    """
    xp = get_array_module(logits.data)
    target = xp.asarray(target.data if isinstance(target, Tensor) else target)
    if logits.ndim != 2:
        raise ValueError(f"{name} expects logits of shape (N, C), got {logits.shape}")
    if target.shape != (logits.shape[0],):
        raise ValueError(f"{name}: target shape {target.shape} does not match logits {logits.shape}; expected ({logits.shape[0]},)")
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold integer class indices, got dtype {target.dtype}")
    if xp is numpy and target.size and (target.min() < 0 or target.max() >= logits.shape[1]):
        raise ValueError(f"{name}: target values must lie in [0, {logits.shape[1]}), got min {int(target.min())}, max {int(target.max())}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return target


def cross_entropy(logits, target, label_smoothing=0.0, reduction="mean"):
    """Cross-entropy of logits (N, C) against integer labels target (N,) in [0, C).

    Same meaning as PyTorch's ``F.cross_entropy`` for class-index targets.
    """
    target = check_cross_entropy_arguments("cross_entropy", logits, target, label_smoothing, reduction)
    return CrossEntropy(label_smoothing, reduction)(logits, target)


def cross_entropy_simple(logits, target, label_smoothing=0.0, reduction="mean"):
    """cross_entropy composed of log_softmax, indexing and means, whose backwards autograd chains:
    for reading, and for testing the fused :func:`cross_entropy` against."""
    target = check_cross_entropy_arguments("cross_entropy_simple", logits, target, label_smoothing, reduction)
    log_probabilities = logits.log_softmax(axis=1)
    picked = log_probabilities[logits.xp.arange(len(target)), target]  # log p of each true class
    losses = -(1 - label_smoothing) * picked - label_smoothing * log_probabilities.mean(axis=1)
    if reduction == "none":
        return losses
    return losses.mean() if reduction == "mean" else losses.sum()
