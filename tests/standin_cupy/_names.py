"""The names real CuPy has (cupy_names.txt, written by list_cupy_names.py): the stand-in offers no other."""
import functools
import os

NAMES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cupy_names.txt")


@functools.cache
def cupy_names():
    """(the CuPy version the list was taken from, the set of dotted names such as 'cupy.ndarray.get')."""
    with open(NAMES_FILE) as file:
        header, *names = file.read().split("\n")
    version = header.split()[5].rstrip(",")  # "# The names of CuPy 14.2.0, written by ..."
    return version, frozenset(name for name in names if name)


def check_name(namespace, name):
    """Raise AttributeError, as CuPy would, unless CuPy has ``namespace.name``."""
    version, names = cupy_names()
    if f"{namespace}.{name}" not in names:
        raise AttributeError(f"{namespace} has no attribute {name!r} (in CuPy {version}; the stand-in offers only "
                             "names that CuPy has)")
