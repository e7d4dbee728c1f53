"""Helpers shared by the test files (on the path through ``pythonpath = tests`` in setup.cfg)."""
from minigrad import Tensor


def leaf(array, device="cpu"):
    """A float64 leaf that requires grad, as gradcheck wants."""
    return Tensor(array, requires_grad=True, dtype="float64", device=device)
