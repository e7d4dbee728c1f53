"""serialization.save/load: round trips of nested trees, atomic writes, and clear errors."""
import os
import zipfile

import numpy
import pytest

from minigrad import backend, nn, serialization
from minigrad.tensor import Tensor


def _assert_same_tree(loaded, expected):
    """Equal structure and values; arrays compared by value, dtype and shape; tuples expected as lists."""
    if isinstance(expected, dict):
        assert isinstance(loaded, dict) and list(loaded) == list(expected)
        for key in expected:
            _assert_same_tree(loaded[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert isinstance(loaded, list) and len(loaded) == len(expected)
        for loaded_item, expected_item in zip(loaded, expected):
            _assert_same_tree(loaded_item, expected_item)
    elif isinstance(expected, (numpy.ndarray, Tensor)):
        expected = expected.numpy() if isinstance(expected, Tensor) else expected
        assert isinstance(loaded, numpy.ndarray) and loaded.dtype == expected.dtype
        numpy.testing.assert_array_equal(loaded, expected)
    else:
        assert type(loaded) is type(expected) and loaded == expected


def test_round_trip_of_a_nested_tree(tmp_path):
    generator = numpy.random.default_rng(3)
    generator.random(5)
    tree = {
        "model": {"0.weight": numpy.arange(6, dtype=numpy.float32).reshape(2, 3),
                  "1.num_batches_tracked": numpy.array(12, dtype=numpy.int64)},
        "optimizer": {"state": {0: {"step": 4, "exp_avg": numpy.ones(3)}, 1: {"step": 4, "exp_avg": numpy.zeros(2)}},
                      "param_groups": [{"lr": 0.01, "betas": [0.9, 0.999], "params": [0, 1]}]},
        "rng": generator.bit_generator.state,  # 128-bit Python ints
        "big": 2**300,
        "negative": -(2**70),
        "name": "ultimus \u00e9t\u00e9",
        "flags": [True, False, None, 1.5, "x", [numpy.array([1, 2], dtype=numpy.uint8)]],
        "empty": {},
        "tensor": Tensor(numpy.full((2, 2), 0.5, dtype=numpy.float32)),
    }
    path = tmp_path / "checkpoint.npz"
    serialization.save(tree, path)
    loaded = serialization.load(path)
    _assert_same_tree(loaded, tree)
    restored = numpy.random.default_rng()
    restored.bit_generator.state = loaded["rng"]
    numpy.testing.assert_array_equal(restored.random(4), generator.random(4))


def test_arrays_are_stored_under_their_key_paths_without_pickle(tmp_path):
    path = tmp_path / "checkpoint.npz"
    serialization.save({"model": {"fc.weight": numpy.ones(2)}, "state": {0: {"m": numpy.zeros(1)}}}, path)
    with numpy.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == {"model/fc.weight", "state/0/m", "__minigrad_tree__"}


def test_numpy_scalars_are_saved_as_python_numbers(tmp_path):
    path = tmp_path / "scalars.npz"
    serialization.save({"accuracy": numpy.float32(0.5), "epoch": numpy.int64(3)}, path)
    assert serialization.load(path) == {"accuracy": 0.5, "epoch": 3}


def test_save_writes_exactly_the_given_path(tmp_path):
    path = tmp_path / "model.ckpt"  # numpy.savez on a name would append .npz
    serialization.save({"a": 1}, path)
    assert os.listdir(tmp_path) == ["model.ckpt"]


def test_model_state_dict_round_trip(tmp_path):
    source = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Linear(3, 2))
    source[1].num_batches_tracked.data[...] = 5
    serialization.save(source.state_dict(), tmp_path / "model.npz")
    target = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Linear(3, 2))
    target.load_state_dict(serialization.load(tmp_path / "model.npz"))
    for name, array in source.state_dict().items():
        numpy.testing.assert_array_equal(target.state_dict()[name], array)


def test_an_interrupted_save_leaves_the_old_file_intact_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.npz"
    serialization.save({"version": 1, "weights": numpy.ones(3)}, path)
    old_bytes = path.read_bytes()

    def write_half_then_fail(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(numpy, "savez", write_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        serialization.save({"version": 2, "weights": numpy.zeros(3)}, path)
    assert os.listdir(tmp_path) == ["checkpoint.npz"]
    assert path.read_bytes() == old_bytes
    monkeypatch.undo()
    assert serialization.load(path)["version"] == 1


def test_load_of_a_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file at .*nowhere.npz"):
        serialization.load(tmp_path / "nowhere.npz")


@pytest.mark.parametrize("write", [
    lambda path: path.write_bytes(b"plain text, not an archive"),
    lambda path: numpy.save(path, numpy.ones(3)),  # a .npy array, not an archive
    lambda path: numpy.savez(path, weights=numpy.ones(3)),  # an archive that is not ours
    lambda path: zipfile.ZipFile(path, "w").close(),  # an empty zip
], ids=["text", "npy", "foreign-npz", "empty-zip"])
def test_load_of_a_file_that_is_not_ours_says_so(tmp_path, write):
    path = tmp_path / "other.bin"
    write(path)
    if not path.exists():  # numpy.save/savez add their own suffix
        path = next(tmp_path.iterdir())
    with pytest.raises(ValueError, match="is not a file written by minigrad.serialization.save"):
        serialization.load(path)


def test_save_rejects_values_json_cannot_hold(tmp_path):
    with pytest.raises(TypeError, match="cannot save 'config/when': a set is not an array"):
        serialization.save({"config": {"when": {1, 2}}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="cannot save 'objects': an array of Python objects would need pickle"):
        serialization.save({"objects": numpy.array([{}, []], dtype=object)}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_save_rejects_keys_it_cannot_store(tmp_path):
    with pytest.raises(ValueError, match="cannot save key 'a/b' in 'model'"):
        serialization.save({"model": {"a/b": numpy.ones(1)}}, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="cannot save key '__minigrad_tree__' in 'the top level'"):
        serialization.save({"__minigrad_tree__": numpy.ones(1)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match=r"cannot save key \(1, 2\) in 'the top level': keys must be strings or ints"):
        serialization.save({(1, 2): 0}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="save expects a dict at the top level, got list"):
        serialization.save([numpy.ones(1)], tmp_path / "x.npz")


@pytest.mark.gpu
def test_cupy_arrays_and_gpu_tensors_are_saved_as_numpy(tmp_path):
    cupy = backend.array_module("gpu")

    tree = {"array": cupy.arange(4, dtype=cupy.float32), "tensor": Tensor(cupy.ones((2, 2)))}
    serialization.save(tree, tmp_path / "gpu.npz")
    loaded = serialization.load(tmp_path / "gpu.npz")
    assert isinstance(loaded["array"], numpy.ndarray) and isinstance(loaded["tensor"], numpy.ndarray)
    numpy.testing.assert_array_equal(loaded["array"], numpy.arange(4))
    numpy.testing.assert_array_equal(loaded["tensor"], numpy.ones((2, 2)))
