"""minigrad: a small tensor library with reverse-mode autograd on NumPy (CPU) and CuPy (GPU)."""
from minigrad import data, functional, nn, optim, serialization
from minigrad.backend import gpu_available, manual_seed
from minigrad.gradcheck import GradcheckError, gradcheck
from minigrad.graph import render, to_dot
from minigrad.layout import describe_layout
from minigrad.tensor import Function, Tensor, is_grad_enabled, no_grad

__version__ = "0.1.0"

__all__ = [
    "data",
    "describe_layout",
    "Function",
    "functional",
    "gpu_available",
    "gradcheck",
    "GradcheckError",
    "is_grad_enabled",
    "manual_seed",
    "nn",
    "no_grad",
    "optim",
    "render",
    "serialization",
    "Tensor",
    "to_dot",
]
