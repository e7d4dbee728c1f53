"""Write the names that real CuPy has, the only ones the stand-in offers (cupy_names.txt beside this file).

Importing CuPy needs no GPU, so this runs anywhere CuPy installs; for example, in a throwaway environment:

    python -m venv --system-site-packages /tmp/cupy-names && /tmp/cupy-names/bin/pip install "cupy-cuda12x==14.*"
    /tmp/cupy-names/bin/python tests/standin_cupy/list_cupy_names.py > tests/standin_cupy/cupy_names.txt

One dotted name a line: the public names of each namespace below, and for a class also its special
methods (``cupy.ndarray.__iter__``), since those decide what Python may do with an array.
"""
import importlib
import inspect

# Every namespace the stand-in serves; the last two are reached through an array or a ufunc.
NAMESPACES = ("cupy", "cupy.ndarray", "cupy.ufunc", "cupy.random", "cupy.random.Generator", "cupy.lib",
              "cupy.lib.stride_tricks", "cupy.linalg", "cupy.cuda", "cupy.cuda.runtime", "cupy.cuda.Device", "cupy.ElementwiseKernel")
FLAGS = ("cupy.ndarray.flags", "cupy._core.flags.Flags")  # the type of ndarray.flags, under the name code uses


def resolve(dotted):
    """The object a dotted name denotes: its longest importable prefix, then attributes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for part in parts[split:]:
            found = getattr(found, part)
        return found
    raise ImportError(dotted)


def names(namespace):
    """Public names of a module; public names and special methods of a class."""
    listed = dir(namespace)
    if inspect.isclass(namespace):
        return [name for name in listed if not name.startswith("_") or (name.startswith("__") and name.endswith("__"))]
    return [name for name in listed if not name.startswith("_")]


def main():
    cupy = importlib.import_module("cupy")
    print(f"# The names of CuPy {cupy.__version__}, written by tests/standin_cupy/list_cupy_names.py: do not edit.")
    listed = [(prefix, resolve(prefix)) for prefix in NAMESPACES] + [(FLAGS[0], resolve(FLAGS[1]))]
    for prefix, namespace in listed:
        for name in names(namespace):
            print(f"{prefix}.{name}")


if __name__ == "__main__":
    main()
