"""Optimizers against update rules written out by hand, and against torch.optim when installed."""
import pickle

import numpy
import pytest

import minigrad.functional as F
from minigrad import Tensor, backend
from minigrad.optim import SGD, Adam, AdamW, lr_scheduler
from minigrad.optim.adam import adam_step_simple


def make_param(values, dtype="float64", device="cpu"):
    return Tensor(numpy.array(values, dtype=dtype), requires_grad=True, device=device)


def fixed_gradients(steps, size, scale=1.0, seed=0):
    return [scale * row for row in numpy.random.default_rng(seed).standard_normal((steps, size))]


def run_with_gradients(optimizer_class, start, gradients, **options):
    """Feed the given gradients one step at a time; return the parameter after each step."""
    param = make_param(start)
    optimizer = optimizer_class([param], **options)
    trajectory = []
    for gradient in gradients:
        param.grad = gradient.copy()
        optimizer.step()
        trajectory.append(param.data.copy())
    return trajectory


def reference_adam(start, gradients, lr, betas, eps, weight_decay=0.0, decoupled=False, amsgrad=False):
    """Adam as PyTorch documents it, one float64 line per formula. betas[0] may be a list (one per step)."""
    beta1s = betas[0] if isinstance(betas[0], list) else [betas[0]] * len(gradients)
    beta2 = betas[1]
    param = numpy.array(start, dtype="float64")
    first, second, second_max = (numpy.zeros_like(param) for _ in range(3))
    trajectory = []
    for step, (gradient, beta1) in enumerate(zip(gradients, beta1s), start=1):
        if decoupled:
            param = param - lr * weight_decay * param
        else:
            gradient = gradient + weight_decay * param
        first = beta1 * first + (1 - beta1) * gradient
        second = beta2 * second + (1 - beta2) * gradient**2
        second_max = numpy.maximum(second_max, second)
        first_hat = first / (1 - beta1**step)
        second_hat = (second_max if amsgrad else second) / (1 - beta2**step)
        param = param - lr * first_hat / (numpy.sqrt(second_hat) + eps)
        trajectory.append(param)
    return trajectory


def reference_sgd(start, gradients, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    param = numpy.array(start, dtype="float64")
    buffer = None
    trajectory = []
    for gradient in gradients:
        gradient = gradient + weight_decay * param
        if momentum:
            buffer = gradient if buffer is None else momentum * buffer + (1 - dampening) * gradient
            gradient = gradient + momentum * buffer if nesterov else buffer
        param = param - lr * gradient
        trajectory.append(param)
    return trajectory


START = [0.5, -1.0, 2.0, 0.0]


@pytest.mark.parametrize("options", [
    {},
    {"weight_decay": 0.1},
    {"amsgrad": True},
    {"betas": (0.5, 0.9), "eps": 1e-3, "weight_decay": 0.2, "amsgrad": True},
])
def test_adam_matches_the_formula(options):
    gradients = fixed_gradients(8, 4)
    options = {"lr": 0.05, "betas": (0.9, 0.999), "eps": 1e-8, **options}
    expected = reference_adam(START, gradients, **options)
    numpy.testing.assert_allclose(run_with_gradients(Adam, START, gradients, **options), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", [1.0, 1e-7])
def test_adam_equals_adam_step_simple(dtype, scale, device):
    """Adam's in-place update (one fused kernel on a GPU) follows the paper's five lines, step by step."""
    param, plain = make_param(START, dtype, device), make_param(START, dtype, device).data
    optimizer = Adam([param], lr=0.05, betas=(0.8, 0.99))
    exp_avg, exp_avg_sq = plain * 0, plain * 0
    tolerance = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-12, atol=1e-14)}[dtype]
    for step, gradient in enumerate(fixed_gradients(10, 4, scale=scale), start=1):
        param.grad = Tensor(gradient, dtype=dtype, device=device).data
        optimizer.step()
        adam_step_simple(plain, param.grad, exp_avg, exp_avg_sq, step, lr=0.05, beta1=0.8, beta2=0.99, eps=1e-8)
        numpy.testing.assert_allclose(param.numpy(), backend.to_device(plain, "cpu"), **tolerance)
    state = optimizer.state[param]
    numpy.testing.assert_allclose(backend.to_device(state["exp_avg_sq"], "cpu"), backend.to_device(exp_avg_sq, "cpu"),
                                  **tolerance)


def test_adam_adds_eps_to_the_bias_corrected_root_for_tiny_gradients():
    """With gradients of 1e-7 the place of eps changes the step by a large factor."""
    gradients = fixed_gradients(5, 4, scale=1e-7)
    options = {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8}
    ours = run_with_gradients(Adam, START, gradients, **options)
    numpy.testing.assert_allclose(ours, reference_adam(START, gradients, **options), rtol=1e-12)
    first = 0.1 * gradients[0]
    eps_before_correction = START - 0.01 * (first / 0.1) / ((numpy.sqrt(0.001 * gradients[0] ** 2) + 1e-8) / numpy.sqrt(0.001))
    assert not numpy.allclose(ours[0], eps_before_correction, rtol=1e-3)


def test_adam_reads_beta1_from_the_group_at_every_step():
    gradients = fixed_gradients(6, 4)
    beta1s = [0.95, 0.9, 0.85, 0.8, 0.9, 0.7]
    param = make_param(START)
    optimizer = Adam([param], lr=0.05)
    trajectory = []
    for gradient, beta1 in zip(gradients, beta1s):
        optimizer.param_groups[0]["betas"] = (beta1, 0.999)
        param.grad = gradient
        optimizer.step()
        trajectory.append(param.data.copy())
    expected = reference_adam(START, gradients, lr=0.05, betas=(beta1s, 0.999), eps=1e-8)
    numpy.testing.assert_allclose(trajectory, expected, rtol=1e-12)


@pytest.mark.parametrize("weight_decay", [1e-2, 0.3])
def test_adamw_decays_the_weights_apart_from_the_gradient(weight_decay):
    gradients = fixed_gradients(8, 4)
    options = {"lr": 0.05, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": weight_decay}
    expected = reference_adam(START, gradients, decoupled=True, **options)
    numpy.testing.assert_allclose(run_with_gradients(AdamW, START, gradients, **options), expected, rtol=1e-12)


def test_adamw_default_weight_decay_is_one_hundredth():
    assert AdamW([make_param(START)]).param_groups[0]["weight_decay"] == 1e-2


@pytest.mark.parametrize("options", [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "dampening": 0.5},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.8, "nesterov": True, "weight_decay": 0.1},
    {"weight_decay": 0.5},
])
def test_sgd_matches_the_formula(options):
    gradients = fixed_gradients(8, 4)
    expected = reference_sgd(START, gradients, lr=0.1, **options)
    numpy.testing.assert_allclose(run_with_gradients(SGD, START, gradients, lr=0.1, **options), expected, rtol=1e-12)


def test_parameter_groups_use_their_own_options():
    first, second = make_param(START), make_param(START)
    optimizer = SGD([{"params": [first]}, {"params": second, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    gradients = fixed_gradients(3, 4)
    for gradient in gradients:
        first.grad, second.grad = gradient, gradient
        optimizer.step()
    numpy.testing.assert_allclose(first.data, reference_sgd(START, gradients, lr=0.1)[-1], rtol=1e-12)
    numpy.testing.assert_allclose(second.data, reference_sgd(START, gradients, lr=0.5, momentum=0.9)[-1], rtol=1e-12)
    assert optimizer.param_groups[0]["momentum"] == 0


def test_step_skips_parameters_without_gradient_and_zero_grad_clears_gradients():
    with_grad, without_grad = make_param(START), make_param(START)
    optimizer = Adam([with_grad, without_grad], lr=0.1)
    with_grad.grad = numpy.ones(4)
    optimizer.step()
    assert not numpy.array_equal(with_grad.data, START)
    numpy.testing.assert_array_equal(without_grad.data, START)
    assert without_grad not in optimizer.state and optimizer.state[with_grad]["step"] == 1
    optimizer.zero_grad()
    assert with_grad.grad is None and without_grad.grad is None


def test_step_returns_the_loss_of_the_closure():
    param = make_param([2.0])

    def closure():
        loss = (param * param).sum()
        loss.backward()
        return loss

    optimizer = SGD([param], lr=0.25)
    assert optimizer.step(closure).item() == 4.0
    numpy.testing.assert_allclose(param.data, [1.0])  # 2 - 0.25 * 4


@pytest.mark.parametrize("optimizer_class, options", [
    (Adam, {"weight_decay": 0.1, "amsgrad": True}),
    (AdamW, {}),
    (SGD, {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
])
def test_float32_parameters_keep_float32_arithmetic(optimizer_class, options):
    param = make_param(START, dtype="float32")
    optimizer = optimizer_class([param], **options)
    for gradient in fixed_gradients(3, 4):
        param.grad = gradient.astype("float32")
        optimizer.step()
    assert param.data.dtype == numpy.float32
    arrays = [value for value in optimizer.state[param].values() if hasattr(value, "dtype")]
    assert arrays and all(array.dtype == numpy.float32 for array in arrays)


def test_bad_arguments_raise_clear_errors():
    param = make_param(START)
    with pytest.raises(ValueError, match="learning rate must be >= 0"):
        Adam([param], lr=-0.1)
    with pytest.raises(ValueError, match="learning rate must be >= 0.*group 1"):
        SGD([{"params": [param]}, {"params": [make_param(START)], "lr": -1.0}], lr=0.1)
    with pytest.raises(ValueError, match=r"betas must be two numbers in \[0, 1\)"):
        Adam([param], betas=(1.0, 0.999))
    with pytest.raises(ValueError, match=r"betas must be two numbers in \[0, 1\)"):
        AdamW([param], betas=(0.9, -0.1))
    with pytest.raises(ValueError, match="eps must be >= 0"):
        Adam([param], eps=-1e-8)
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(ValueError, match="parameter 1 of group 0 does not require grad"):
        Adam([param, Tensor(numpy.zeros(3))])
    with pytest.raises(ValueError, match="not a leaf"):
        Adam([param * 2])
    with pytest.raises(TypeError, match="single Tensor"):
        Adam(param)
    with pytest.raises(TypeError, match="parameter 0 of group 0 is a ndarray"):
        Adam([numpy.zeros(3)])
    with pytest.raises(ValueError, match="appears more than once"):
        Adam([param, param])
    with pytest.raises(ValueError, match="nesterov momentum needs momentum > 0 and dampening 0"):
        SGD([param], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="nesterov momentum needs momentum > 0 and dampening 0"):
        SGD([param], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum must be >= 0"):
        SGD([param], lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="weight_decay must be >= 0"):
        SGD([param], lr=0.1, weight_decay=-0.5)


def quadratic_gradient(data, target):
    """The gradient of sum((p - target)^2 * (1 + p^2)) / 2, so a trajectory depends on every earlier step."""
    return (data - target) * (1 + data**2) + (data - target) ** 2 * data


def train_steps(optimizer, params, target, steps, scheduler=None):
    for _ in range(steps):
        for param in params:
            param.grad = quadratic_gradient(param.data, target)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()


@pytest.mark.parametrize("make_optimizer", [
    lambda params: Adam(params, lr=0.05, weight_decay=0.01, amsgrad=True),
    lambda params: AdamW(params, lr=0.05),
    lambda params: SGD([{"params": params[:1]}, {"params": params[1:], "lr": 0.02}], lr=0.05, momentum=0.9),
])
def test_state_dict_round_trip_resumes_training_exactly(make_optimizer):
    target = numpy.float32(0.25)
    params = [make_param(numpy.linspace(-1, 1, 6).reshape(2, 3), "float32"), make_param([0.3, -0.7], "float32")]
    optimizer = make_optimizer(params)
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=0.1, total_steps=6)
    train_steps(optimizer, params, target, 3, scheduler)
    saved_optimizer = pickle.loads(pickle.dumps(optimizer.state_dict()))
    saved_scheduler = pickle.loads(pickle.dumps(scheduler.state_dict()))
    saved_params = [param.data.copy() for param in params]
    train_steps(optimizer, params, target, 3, scheduler)

    fresh_params = [make_param(data, "float32") for data in saved_params]
    fresh_optimizer = make_optimizer(fresh_params)
    fresh_scheduler = lr_scheduler.OneCycleLR(fresh_optimizer, max_lr=0.1, total_steps=6)
    fresh_optimizer.load_state_dict(saved_optimizer)
    fresh_scheduler.load_state_dict(saved_scheduler)
    train_steps(fresh_optimizer, fresh_params, target, 3, fresh_scheduler)

    for param, fresh in zip(params, fresh_params):
        numpy.testing.assert_array_equal(fresh.data, param.data)
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    assert fresh_scheduler.last_epoch == scheduler.last_epoch == 6
    assert [group["lr"] for group in fresh_optimizer.param_groups] == [group["lr"] for group in optimizer.param_groups]


def test_state_dict_keys_state_by_position_and_copies_arrays():
    params = [make_param(START), make_param(START), make_param(START)]
    optimizer = Adam([{"params": params[:2]}, {"params": params[2:], "lr": 0.5}])
    params[0].grad = params[2].grad = numpy.ones(4)
    optimizer.step()
    saved = optimizer.state_dict()
    assert sorted(saved["state"]) == [0, 2]
    assert [group["params"] for group in saved["param_groups"]] == [[0, 1], [2]]
    assert saved["param_groups"][1]["lr"] == 0.5
    before = saved["state"][0]["exp_avg"].copy()
    optimizer.step()
    numpy.testing.assert_array_equal(saved["state"][0]["exp_avg"], before)


def test_load_state_dict_rejects_a_different_layout():
    saved = Adam([make_param(START), make_param(START)]).state_dict()
    with pytest.raises(ValueError, match="group 0 of the loaded state_dict has 2 parameters, this optimizer's has 1"):
        Adam([make_param(START)]).load_state_dict(saved)
    with pytest.raises(ValueError, match="loaded state_dict has 1 parameter groups, this optimizer has 2"):
        Adam([{"params": [make_param(START)]}, {"params": [make_param(START)]}]).load_state_dict(saved)


def test_load_state_dict_casts_floating_state_to_the_parameter_dtype():
    source = make_param(START, "float64")
    optimizer = Adam([source])
    source.grad = numpy.ones(4)
    optimizer.step()
    target = make_param(START, "float32")
    restored = Adam([target])
    restored.load_state_dict(optimizer.state_dict())
    assert restored.state[target]["exp_avg"].dtype == numpy.float32
    assert restored.state[target]["step"] == 1


def test_a_linear_classifier_overfits_one_batch_with_adam():
    random = numpy.random.default_rng(0)
    inputs = Tensor(random.standard_normal((8, 10)).astype("float32"))
    labels = numpy.array([0, 1, 2, 0, 1, 2, 0, 1])
    weight = Tensor(0.01 * random.standard_normal((10, 3)).astype("float32"), requires_grad=True)
    bias = Tensor(numpy.zeros(3, dtype="float32"), requires_grad=True)
    optimizer = Adam([weight, bias], lr=0.05)
    initial_loss = None
    for _ in range(300):
        loss = F.cross_entropy(F.add(F.matmul(inputs, weight), bias), labels)
        initial_loss = initial_loss or loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert initial_loss == pytest.approx(numpy.log(3), rel=0.05)
    assert loss.item() < 0.01


def test_matches_torch_optim_trajectories():
    torch = pytest.importorskip("torch")
    configurations = [
        (Adam, torch.optim.Adam, {"lr": 0.05}),
        (Adam, torch.optim.Adam, {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1, "amsgrad": True}),
        (AdamW, torch.optim.AdamW, {"lr": 0.05, "weight_decay": 0.1}),
        (SGD, torch.optim.SGD, {"lr": 0.05}),
        (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}),
        (SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ]
    start = numpy.linspace(-1.5, 1.5, 7).astype("float32")
    for ours_class, torch_class, options in configurations:
        ours = make_param(start, "float32")
        theirs = torch.tensor(start, requires_grad=True)
        our_optimizer, their_optimizer = ours_class([ours], **options), torch_class([theirs], **options)
        for step in range(25):
            ours.grad = quadratic_gradient(ours.data, numpy.float32(0.25))
            theirs.grad = torch.from_numpy(quadratic_gradient(theirs.detach().numpy(), numpy.float32(0.25)))
            our_optimizer.step()
            their_optimizer.step()
            numpy.testing.assert_allclose(
                ours.data, theirs.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=f"{ours_class.__name__} {options} step {step}"
            )


def test_adam_with_one_cycle_matches_torch_for_gradients_as_small_as_eps():
    torch = pytest.importorskip("torch")
    start = numpy.linspace(-1.0, 1.0, 5).astype("float32")
    gradients = [gradient.astype("float32") for gradient in fixed_gradients(20, 5, scale=1e-7)]
    ours, theirs = make_param(start, "float32"), torch.tensor(start, requires_grad=True)
    our_optimizer, their_optimizer = Adam([ours], lr=0.001), torch.optim.Adam([theirs], lr=0.001)
    our_scheduler = lr_scheduler.OneCycleLR(our_optimizer, max_lr=0.01, total_steps=20)
    their_scheduler = torch.optim.lr_scheduler.OneCycleLR(their_optimizer, max_lr=0.01, total_steps=20)
    for gradient in gradients:
        ours.grad, theirs.grad = gradient.copy(), torch.from_numpy(gradient.copy())
        our_optimizer.step()
        their_optimizer.step()
        our_scheduler.step()
        their_scheduler.step()
        numpy.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.gpu
@pytest.mark.parametrize("optimizer_class, options", [
    (Adam, {"weight_decay": 0.1}),
    (AdamW, {"weight_decay": 0.1}),
    (Adam, {"amsgrad": True}),
])
@pytest.mark.parametrize("scale", [1.0, 1e-7])
def test_gpu_adam_matches_the_cpu(optimizer_class, options, scale):
    """The GPU runs Adam as one fused kernel (amsgrad excepted): it must follow the CPU's arrays."""
    cpu_param, gpu_param = make_param(START, "float32"), make_param(START, "float32", device="gpu")
    cpu_optimizer = optimizer_class([cpu_param], lr=0.05, **options)
    gpu_optimizer = optimizer_class([gpu_param], lr=0.05, **options)
    for gradient in fixed_gradients(20, 4, scale=scale):
        cpu_param.grad = gradient.astype("float32")
        gpu_param.grad = backend.to_device(cpu_param.grad, "gpu")
        cpu_optimizer.step()
        gpu_optimizer.step()
        numpy.testing.assert_allclose(gpu_param.numpy(), cpu_param.data, rtol=1e-5, atol=1e-6)
    for key, value in cpu_optimizer.state[cpu_param].items():
        if hasattr(value, "dtype"):
            assert backend.device_of(gpu_optimizer.state[gpu_param][key]) == "gpu"
            on_gpu = backend.to_device(gpu_optimizer.state[gpu_param][key], "cpu")
            numpy.testing.assert_allclose(on_gpu, value, rtol=1e-5, atol=1e-5 * numpy.abs(value).max())


@pytest.mark.gpu
def test_load_state_dict_moves_state_to_the_gpu():
    cpu_param = make_param(START, "float32")
    cpu_optimizer = Adam([cpu_param], lr=0.05)
    for gradient in fixed_gradients(3, 4):
        cpu_param.grad = gradient.astype("float32")
        cpu_optimizer.step()
    resumed = make_param(cpu_param.data, "float32", device="gpu")
    resumed_optimizer = Adam([resumed], lr=0.05)
    resumed_optimizer.load_state_dict(cpu_optimizer.state_dict())
    assert backend.device_of(resumed_optimizer.state[resumed]["exp_avg"]) == "gpu"
    cpu_param.grad, resumed.grad = numpy.ones(4, "float32"), backend.to_device(numpy.ones(4, "float32"), "gpu")
    cpu_optimizer.step()
    resumed_optimizer.step()
    numpy.testing.assert_allclose(resumed.numpy(), cpu_param.data, rtol=1e-5, atol=1e-7)


def test_repr_shows_each_group_s_options_and_counts_its_parameters_without_printing_them():
    weights = Tensor(numpy.full((3, 4), 7.0), requires_grad=True)
    bias = Tensor(numpy.zeros(4), requires_grad=True)
    text = repr(Adam([{"params": [weights]}, {"params": [bias], "lr": 0.5}], lr=0.01))
    lines = text.splitlines()
    assert lines[0] == "Adam (" and lines[-1] == ")"
    assert lines[1:3] == ["Parameter Group 0", "    params: 1 tensors, 12 values"]
    assert "    lr: 0.01" in lines[:lines.index("Parameter Group 1")]
    assert lines[lines.index("Parameter Group 1") + 1] == "    params: 1 tensors, 4 values"
    assert "    lr: 0.5" in lines[lines.index("Parameter Group 1"):]
    assert "7." not in text  # no parameter values


@pytest.mark.parametrize("make_optimizer", [
    lambda params, foreach: Adam(params, lr=0.05, weight_decay=0.01, foreach=foreach),
    lambda params, foreach: Adam(params, lr=0.05, amsgrad=True, foreach=foreach),
    lambda params, foreach: AdamW([{"params": params[:1]}, {"params": params[1:], "lr": 0.02}], foreach=foreach),
])
def test_adam_on_all_parameters_at_once_equals_adam_one_parameter_at_a_time(make_optimizer, device):
    """foreach's flat update against the per-parameter one, exactly: through a step with a float64 gradient and one
    where a parameter has no gradient (both then one at a time), and a state_dict loaded and a parameter's data
    replaced midway (new arrays, which the flat update must take in)."""
    shapes = [(2, 3), (4,), (3, 1, 2)]
    starts = [numpy.linspace(-1, 1, numpy.prod(shape), dtype="float32").reshape(shape) for shape in shapes]
    runs = {}
    for foreach in (True, False):
        params = [make_param(start, "float32", device) for start in starts]
        optimizer = make_optimizer(params, foreach)
        for step in range(6):
            for index, param in enumerate(params):
                skipped = step == 4 and index == 1
                param.grad = None if skipped else quadratic_gradient(param.data, numpy.float32(0.25))
                if step == 1 and index == 0:
                    param.grad = param.grad.astype("float64")
            optimizer.step()
            if step == 2:
                optimizer.load_state_dict(optimizer.state_dict())
            if step == 3:
                params[0].data = params[0].data * 1  # a new array, as loading a model's state_dict may give
        runs[foreach] = [param.numpy() for param in params], optimizer.state_dict()["state"]
    for at_once, one_at_a_time in zip(runs[True][0], runs[False][0]):
        numpy.testing.assert_array_equal(at_once, one_at_a_time)
    for position, state in runs[False][1].items():
        for key, value in state.items():
            numpy.testing.assert_array_equal(backend.to_device(runs[True][1][position][key], "cpu"),
                                             backend.to_device(value, "cpu"))


def test_adam_on_all_parameters_at_once_on_the_device_is_one_concatenation_and_one_kernel(standin):
    from standin_cupy import _ledger as ledger

    params = [make_param(numpy.ones(shape), "float32", "gpu") for shape in [(2, 3), (4,), (5,)] * 4]
    optimizer = Adam(params, lr=0.1)
    for _ in range(2):
        for param in params:
            param.grad = param.data * 2
        with ledger.recording() as events:
            optimizer.step()
    assert events.count("launch") == 2, events.sites("launch")
