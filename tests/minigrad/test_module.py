"""Module, Parameter and Sequential: registration, traversal, modes, devices, state_dict, hooks, repr."""
import copy

import numpy
import pytest

import minigrad
from minigrad import backend, nn
from minigrad.tensor import Tensor


class Scale(nn.Module):
    """y = x * factor, with one parameter and one buffer: enough to exercise registration without conv ops."""

    def __init__(self, size):
        super().__init__()
        self.factor = nn.Parameter(numpy.arange(1, size + 1, dtype=numpy.float32))
        self.register_buffer("calls", Tensor(numpy.array(0, dtype=numpy.int64)))
        self.note = "plain attribute"

    def forward(self, x):
        self.calls.data += 1
        return x * self.factor


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(Scale(3), nn.ReLU(), Scale(3))
        self.head = Scale(3)
        self.temperature = nn.Parameter(numpy.ones(1, dtype=numpy.float32))

    def forward(self, x):
        return self.head(self.features(x)) * self.temperature


def test_parameter_requires_grad_and_is_a_tensor():
    parameter = nn.Parameter(numpy.zeros(2, dtype=numpy.float32))
    assert isinstance(parameter, Tensor) and parameter.requires_grad and parameter.is_leaf


def test_attributes_are_sorted_into_parameters_buffers_modules_and_plain_attributes():
    scale = Scale(3)
    assert list(scale._parameters) == ["factor"]
    assert list(scale._buffers) == ["calls"]
    assert scale._modules == {} and scale.note == "plain attribute"
    assert "factor" not in scale.__dict__ and scale.factor is scale._parameters["factor"]


def test_nested_names_are_dotted_paths():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == [
        "temperature", "features.0.factor", "features.2.factor", "head.factor"]
    assert [name for name, _ in net.named_buffers()] == ["features.0.calls", "features.2.calls", "head.calls"]
    assert [name for name, _ in net.named_children()] == ["features", "head"]
    assert [name for name, _ in net.named_modules()] == ["", "features", "features.0", "features.1", "features.2", "head"]
    assert list(net.children()) == [net.features, net.head]
    assert list(net.modules())[2] is net.features[0]
    assert all(parameter.requires_grad for parameter in net.parameters())
    assert not any(buffer.requires_grad for buffer in net.buffers())


def test_reassigning_an_attribute_moves_it_between_kinds():
    scale = Scale(2)
    scale.factor = 3.0  # no longer a parameter
    assert list(scale.named_parameters()) == [] and scale.factor == 3.0
    scale.calls = Tensor(numpy.array(5))  # a buffer stays a buffer when given a new Tensor
    assert scale._buffers["calls"].item() == 5
    del scale.calls
    assert list(scale.named_buffers()) == []


def test_a_shared_parameter_or_module_is_listed_once():
    net = Net()
    net.head.factor = net.features[0].factor
    assert len(list(net.parameters())) == 3
    net.head = net.features[0]
    assert [name for name, _ in net.named_modules()] == ["", "features", "features.0", "features.1", "features.2"]


def test_train_and_eval_propagate_to_every_descendant():
    net = Net()
    assert all(module.training for module in net.modules())
    assert net.eval() is net
    assert not any(module.training for module in net.modules())
    net.train()
    assert all(module.training for module in net.modules())


def test_zero_grad_sets_every_gradient_to_none():
    net = Net()
    net(Tensor(numpy.ones((2, 3), dtype=numpy.float32))).sum().backward()
    assert all(parameter.grad is not None for parameter in net.parameters())
    net.zero_grad()
    assert all(parameter.grad is None for parameter in net.parameters())


def test_forgetting_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.weight = nn.Parameter(numpy.zeros(1, dtype=numpy.float32))

    with pytest.raises(AttributeError, match=r"call Module.__init__\(\) in Broken.__init__ before assigning 'weight'"):
        Broken()


def test_register_buffer_rejects_non_tensors():
    with pytest.raises(TypeError, match=r"buffer 'stats' must be a Tensor \(not a Parameter\) or None, got ndarray"):
        nn.Module().register_buffer("stats", numpy.zeros(2))
    with pytest.raises(TypeError, match="got Parameter"):
        nn.Module().register_buffer("stats", nn.Parameter(numpy.zeros(2)))


def test_to_unknown_device_names_it():
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        Net().to("tpu")


def test_deepcopy_gives_an_independent_module():
    net = Net()
    clone = copy.deepcopy(net)
    clone.head.factor.data[:] = 0
    assert net.head.factor.data.min() == 1
    assert [name for name, _ in clone.named_parameters()] == [name for name, _ in net.named_parameters()]


def test_to_cpu_returns_the_module_itself():
    net = Net()
    assert net.to("cpu") is net


# state_dict: the expected keys are PyTorch's, written out by hand.
def test_state_dict_keys_of_linear_conv_and_batchnorm_are_pytorchs():
    assert list(nn.Linear(4, 3).state_dict()) == ["weight", "bias"]
    assert list(nn.Linear(4, 3, bias=False).state_dict()) == ["weight"]
    assert list(nn.Conv2d(3, 8, 3).state_dict()) == ["weight", "bias"]
    assert list(nn.BatchNorm2d(8).state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    assert list(model.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        "4.weight", "4.bias"]


def test_state_dict_shapes_and_dtypes():
    state = nn.Sequential(nn.Conv2d(3, 8, (3, 5)), nn.BatchNorm2d(8), nn.Linear(6, 2)).state_dict()
    shapes = {name: array.shape for name, array in state.items()}
    assert shapes == {
        "0.weight": (8, 3, 3, 5), "0.bias": (8,), "1.weight": (8,), "1.bias": (8,), "1.running_mean": (8,),
        "1.running_var": (8,), "1.num_batches_tracked": (), "2.weight": (2, 6), "2.bias": (2,)}
    assert state["1.num_batches_tracked"].dtype == numpy.int64
    assert state["0.weight"].dtype == numpy.float32


def test_state_dict_matches_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.Sequential(nn.Linear(8, 4)))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8),
                                 torch.nn.Sequential(torch.nn.Linear(8, 4)))
    assert {name: array.shape for name, array in ours.state_dict().items()} == {
        name: tuple(tensor.shape) for name, tensor in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(theirs.state_dict())


def _seeded_net(seed):
    minigrad.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Linear(3, 2))


def test_load_state_dict_round_trip_copies_into_the_existing_arrays():
    source, target = _seeded_net(0), _seeded_net(1)
    source[1].running_mean.data[:] = [1, 2, 3]
    source[1].num_batches_tracked.data[...] = 7
    arrays_before = [tensor.data for tensor in [*target.parameters(), *target.buffers()]]
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    for name, array in source.state_dict().items():
        numpy.testing.assert_array_equal(target.state_dict()[name], array)
    assert all(tensor.data is array for tensor, array in zip([*target.parameters(), *target.buffers()], arrays_before))
    assert target[1].num_batches_tracked.item() == 7


def test_load_state_dict_casts_to_the_parameters_dtype_and_accepts_tensors():
    layer = nn.Linear(2, 2)
    layer.load_state_dict({"weight": numpy.eye(2, dtype=numpy.float64), "bias": Tensor([1.0, 2.0])})
    assert layer.weight.dtype == numpy.float32
    numpy.testing.assert_array_equal(layer.weight.data, numpy.eye(2))
    numpy.testing.assert_array_equal(layer.bias.data, [1, 2])


def test_load_state_dict_strict_lists_missing_and_unexpected_keys():
    state = _seeded_net(0).state_dict()
    del state["2.bias"], state["1.running_var"]
    state["3.weight"] = numpy.zeros(1)
    with pytest.raises(RuntimeError, match=r"missing keys: 1.running_var, 2.bias; unexpected keys: 3.weight"):
        _seeded_net(1).load_state_dict(state)


def test_load_state_dict_not_strict_loads_what_matches_and_reports_the_rest():
    source, target = _seeded_net(0), _seeded_net(1)
    state = source.state_dict()
    del state["2.bias"]
    state["extra"] = numpy.zeros(1)
    result = target.load_state_dict(state, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["extra"]
    numpy.testing.assert_array_equal(target[2].weight.data, source[2].weight.data)
    assert not numpy.array_equal(target[2].bias.data, source[2].bias.data)


def test_load_state_dict_wrong_shape_names_the_key_and_both_shapes_and_changes_nothing():
    target = _seeded_net(1)
    before = {name: array.copy() for name, array in target.state_dict().items()}
    state = _seeded_net(0).state_dict()
    state["2.weight"] = numpy.zeros((3, 3), dtype=numpy.float32)
    with pytest.raises(RuntimeError, match=r"size mismatch for 2.weight: the state has shape \(3, 3\), "
                                           r"the module has shape \(2, 3\)"):
        target.load_state_dict(state, strict=False)
    for name, array in target.state_dict().items():
        numpy.testing.assert_array_equal(array, before[name])


# Hooks
def test_forward_hook_sees_module_inputs_and_output_and_can_be_removed():
    scale, seen = Scale(2), []
    handle = scale.register_forward_hook(lambda module, inputs, output: seen.append((module, inputs, output)))
    x = Tensor(numpy.ones((1, 2), dtype=numpy.float32))
    output = scale(x)
    assert len(seen) == 1 and seen[0][0] is scale and seen[0][1] == (x,) and seen[0][2] is output
    handle.remove()
    scale(x)
    assert len(seen) == 1


def test_forward_hook_returning_a_value_replaces_the_output():
    scale = Scale(2)
    scale.register_forward_hook(lambda module, inputs, output: output * 10)
    numpy.testing.assert_array_equal(scale(Tensor(numpy.ones(2, dtype=numpy.float32))).data, [10, 20])


# Sequential
def test_sequential_applies_modules_in_order_and_behaves_like_a_list():
    first, second = Scale(2), Scale(2)
    model = nn.Sequential(first, nn.ReLU(), second)
    assert len(model) == 3 and model[0] is first and model[-1] is second and list(model)[1] is model[1]
    assert isinstance(model[1:], nn.Sequential) and list(model[1:]) == [model[1], second]
    x = numpy.array([[-1.0, 2.0]], dtype=numpy.float32)
    expected = numpy.maximum(x * [1, 2], 0) * [1, 2]  # Scale(2) multiplies by [1, 2]
    numpy.testing.assert_array_equal(model(Tensor(x)).data, expected)


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="Sequential takes Modules; argument 1 is a function"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_repr_looks_like_pytorchs():
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Dropout(0.1),
        nn.Sequential(nn.AvgPool2d(4), nn.Flatten()), nn.Linear(16, 10, bias=False))
    assert repr(model) == "\n".join([
        "Sequential(",
        "  (0): Conv2d(3, 16, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))",
        "  (1): BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)",
        "  (2): ReLU()",
        "  (3): Dropout(p=0.1)",
        "  (4): Sequential(",
        "    (0): AvgPool2d(kernel_size=4, stride=4, padding=0)",
        "    (1): Flatten(start_axis=1)",
        "  )",
        "  (5): Linear(in_features=16, out_features=10, bias=False)",
        ")",
    ])


@pytest.mark.gpu
def test_to_gpu_moves_parameters_buffers_and_grads_and_state_loads_across_devices():
    cupy = backend.array_module("gpu")

    net = Net()
    net(Tensor(numpy.ones((2, 3), dtype=numpy.float32))).sum().backward()
    cpu_state = {name: array.copy() for name, array in net.state_dict().items()}
    assert net.to("gpu") is net
    assert all(isinstance(tensor.data, cupy.ndarray) for tensor in [*net.parameters(), *net.buffers()])
    assert all(isinstance(parameter.grad, cupy.ndarray) for parameter in net.parameters())
    output = net(Tensor(cupy.ones((2, 3), dtype=cupy.float32)))
    assert isinstance(output.data, cupy.ndarray)
    fresh = Net().to("gpu")
    fresh.load_state_dict(cpu_state)
    for name, array in fresh.state_dict().items():
        assert isinstance(array, cupy.ndarray)
        numpy.testing.assert_array_equal(array.get(), cpu_state[name])
    net.to("cpu")
    assert all(isinstance(tensor.data, numpy.ndarray) for tensor in [*net.parameters(), *net.buffers()])


def test_double_converts_parameters_and_floating_buffers_so_a_layer_can_be_gradchecked():
    minigrad.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3))
    assert net.double() is net
    dtypes = {name: tensor.dtype for name, tensor in net.state_dict().items()}
    assert dtypes.pop("1.num_batches_tracked") == numpy.int64  # a counter, not converted
    assert set(dtypes.values()) == {numpy.dtype("float64")}
    x = Tensor(numpy.random.default_rng(0).standard_normal((2, 2, 4, 5)), requires_grad=True)
    assert minigrad.gradcheck(lambda x, *parameters: net(x), [x, *net.parameters()])
    assert net.to("float32") is net and all(tensor.dtype == numpy.float32 for tensor in net.parameters())


def test_to_rejects_an_integer_dtype():
    with pytest.raises(ValueError, match="only floating dtypes"):
        nn.Linear(2, 3).to("int32")
