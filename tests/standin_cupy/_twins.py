"""The NumPy twin of every fused kernel minigrad defines, by the kernel's name.

Each kernel is made by ``minigrad.backend.fused_kernel`` on its twin, which does the kernel's arithmetic
with array operations: it takes the kernel's arguments in the kernel's order and writes its outputs in
place. The stand-in runs the twin in the kernel's place, as one launch; the GPU tests check kernel and
twin equal on a real device.
"""
from minigrad.backend import FUSED_KERNELS


def twin_of(kernel_name):
    """The twin of the kernel ``kernel_name``, or an error saying that a fused kernel needs one."""
    if kernel_name not in FUSED_KERNELS:
        raise NotImplementedError(
            f"the stand-in has no NumPy twin for the kernel {kernel_name!r}: make the kernel with "
            "minigrad.backend.fused_kernel on a function that does its arithmetic as array operations")
    return FUSED_KERNELS[kernel_name].twin
