"""The NumPy twin of every fused kernel minigrad defines, by the kernel's name.

A twin does the kernel's arithmetic with array operations: it takes the kernel's arguments in the
kernel's order and writes its outputs in place. The stand-in runs it in the kernel's place, as one
launch; the GPU tests check kernel and twin equal on a real device.
"""
from minigrad.functional.attention import scaled_exp, scaled_softmax_grad
from minigrad.functional.fused import batch_norm_relu_dropout_output, relu_dropout_grad
from minigrad.functional.loss import cross_entropy_grad
from minigrad.functional.normalization import (
    batch_norm_grad_factors,
    batch_norm_grad_x,
    batch_norm_scale,
    running_statistics_update,
)
from minigrad.optim.adam import adam_update

TWINS = {"minigrad_fused_adam": adam_update, "minigrad_running_statistics": running_statistics_update,
         "minigrad_batch_norm_grad_x": batch_norm_grad_x, "minigrad_batch_norm_scale": batch_norm_scale,
         "minigrad_batch_norm_grad_factors": batch_norm_grad_factors,
         "minigrad_batch_norm_relu_dropout_output": batch_norm_relu_dropout_output,
         "minigrad_relu_dropout_grad": relu_dropout_grad, "minigrad_scaled_exp": scaled_exp,
         "minigrad_scaled_softmax_grad": scaled_softmax_grad, "minigrad_cross_entropy_grad": cross_entropy_grad}


def twin_of(kernel_name):
    """The twin of the kernel ``kernel_name``, or an error saying that a fused kernel needs one."""
    if kernel_name not in TWINS:
        raise NotImplementedError(
            f"the stand-in has no NumPy twin for the kernel {kernel_name!r}: write its arithmetic as array operations "
            "beside the kernel and name it in tests/standin_cupy/_twins.py")
    return TWINS[kernel_name]
