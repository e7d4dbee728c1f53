"""Argument checks shared across minigrad (and by programs built on it): each returns the
value it accepts, or raises a ValueError that names the argument and what is wrong with it."""
import numbers


def positive_integer(value, name):
    """``value`` as an int: an integer >= 1 (NumPy integers count, bools do not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def probability(value, name):
    """``value`` unchanged: a real number in [0, 1] (bools do not count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return value
