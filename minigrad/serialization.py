"""Save and load nested containers of arrays and plain values (checkpoints) as one ``.npz`` file.

Layout of the archive: every array is stored as its own ``.npy`` member, named by
the '/'-joined path of keys and list indices that leads to it
("model/features.0.weight", "optimizer/state/0/exp_avg"). Everything else is one
JSON document (member ``__minigrad_tree__``) in which each array is replaced by a
reference to its member, ``{"__minigrad_array__": path}``, and each dict with
non-string keys (an optimizer's state keyed by parameter position) by
``{"__minigrad_items__": [[key, value], ...]}`` so that its int keys come back as ints.
Nothing is pickled, so loading a file cannot run code.

    serialization.save({"model": model.state_dict(), "epoch": 3}, "checkpoint.npz")
    model.load_state_dict(serialization.load("checkpoint.npz")["model"])
"""
import json
import os
import zipfile

import numpy

from minigrad import backend
from minigrad.atomic import atomic_write
from minigrad.tensor import Tensor

_RESERVED = "__minigrad_"
_TREE = _RESERVED + "tree__"
_ARRAY = _RESERVED + "array__"
_ITEMS = _RESERVED + "items__"


def _is_array(value):
    return isinstance(value, (numpy.ndarray, Tensor)) or backend.device_of(value) == "gpu"


def _to_numpy(value, path):
    array = value.numpy() if isinstance(value, Tensor) else backend.to_device(value, "cpu")
    if array.dtype.kind == "O":
        raise TypeError(f"cannot save {path!r}: an array of Python objects would need pickle")
    return array


def _check_key(key, path):
    if not isinstance(key, (str, int)):
        raise TypeError(f"cannot save key {key!r} in {path or 'the top level'!r}: keys must be strings or ints")
    if isinstance(key, str) and (not key or "/" in key or key.startswith(_RESERVED)):
        raise ValueError(
            f"cannot save key {key!r} in {path or 'the top level'!r}: string keys must be non-empty, "
            f"without '/', and not start with {_RESERVED!r}"
        )


def _encode(value, path, arrays):
    """``value`` as JSON data; each array goes into ``arrays`` under ``path`` and is replaced by a reference."""
    if isinstance(value, dict):
        for key in value:
            _check_key(key, path)
        encoded = {key: _encode(item, f"{path}/{key}" if path else str(key), arrays) for key, item in value.items()}
        if all(isinstance(key, str) for key in encoded):
            return encoded
        return {_ITEMS: [[key, item] for key, item in encoded.items()]}
    if isinstance(value, (list, tuple)):
        return [_encode(item, f"{path}/{index}", arrays) for index, item in enumerate(value)]
    if _is_array(value):
        arrays[path] = _to_numpy(value, path)
        return {_ARRAY: path}
    if isinstance(value, numpy.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float)):
        return value
    raise TypeError(
        f"cannot save {path!r}: a {type(value).__name__} is not an array, a Tensor, or a JSON value "
        "(number, string, bool, None, list, dict)"
    )


def save(tree, path):
    """Write ``tree`` (a dict of dicts, lists, arrays, Tensors and JSON values) to ``path``, atomically.

    Arrays (NumPy or CuPy) and Tensors are stored as NumPy arrays; tuples come back as lists.
    The file is written next to ``path`` and renamed over it only when complete, so an
    interrupted save leaves any previous file intact.
    """
    if not isinstance(tree, dict):
        raise TypeError(f"save expects a dict at the top level, got {type(tree).__name__}")
    arrays = {}
    document = json.dumps(_encode(tree, "", arrays))
    with atomic_write(path) as file:
        numpy.savez(file, **arrays, **{_TREE: numpy.array(document)})  # no object arrays: see _encode


def load(path):
    """The tree written by :func:`save`, with every array as a NumPy array."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {path!r}")
    not_ours = f"{path!r} is not a file written by minigrad.serialization.save"
    try:
        archive = numpy.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"{not_ours} ({error})") from error
    if not isinstance(archive, numpy.lib.npyio.NpzFile) or _TREE not in archive.files:
        raise ValueError(f"{not_ours} (it has no {_TREE!r} member)")

    def decode(obj):  # json calls this on every object, innermost first
        if set(obj) == {_ARRAY}:
            return archive[obj[_ARRAY]]
        if set(obj) == {_ITEMS}:
            return dict(obj[_ITEMS])
        return obj

    with archive:
        return json.loads(str(archive[_TREE]), object_hook=decode)
