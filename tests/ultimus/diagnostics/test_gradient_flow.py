"""ultimus.diagnostics.gradient_flow: what the recorder keeps at which steps, its values, and the figure."""
import json

import numpy
import pytest
from helpers import tiny_model
from PIL import Image

from minigrad import Tensor
from minigrad import functional as F
from minigrad.optim import Adam
from ultimus.diagnostics.gradient_flow import GradientFlow, moments, save_gradient_flow


def train(model, flow, steps, inspect=None):
    """``steps`` Adam steps on a fixed random batch with the recorder around each optimizer step.

    inspect(step, before, after): called at every step with copies of the parameters and gradients.
    """
    rng = numpy.random.default_rng(0)
    images = rng.standard_normal((6, 3, 8, 8)).astype(numpy.float32)
    labels = rng.integers(0, 3, 6)
    optimizer = Adam(model.parameters(), lr=0.01)
    for step in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(Tensor(images)), labels).backward()
        before = [(parameter.data.copy(), parameter.grad.copy()) for parameter in model.parameters()]
        flow.before_step(step)
        optimizer.step()
        flow.after_step(step)
        if inspect:
            inspect(step, before, [parameter.data.copy() for parameter in model.parameters()])


def test_one_series_per_parameter_in_network_order_at_multiples_of_every_only():
    model = tiny_model()
    flow = GradientFlow(model, every=3)
    train(model, flow, 8)
    records = json.loads(json.dumps(flow.records()))
    assert records["parameters"] == [name for name, _ in model.named_parameters()]
    assert records["steps"] == [0, 3, 6]
    for key in ("grad_norm", "update_ratio"):
        assert [len(row) for row in records[key]] == [len(records["parameters"])] * 3


def test_values_match_norms_computed_from_the_parameters_at_a_recorded_step():
    model = tiny_model()
    flow = GradientFlow(model, every=2)
    seen = {}
    train(model, flow, 5, inspect=lambda step, before, after: seen.setdefault(step, (before, after)))
    records = flow.records()
    row = records["steps"].index(4)
    before, after = seen[4]
    expected_norms = [numpy.sqrt((grad.astype(numpy.float64) ** 2).sum()) for _, grad in before]
    expected_ratios = [numpy.linalg.norm(new - old) / numpy.linalg.norm(old) if numpy.any(old) else None
                       for (old, _), new in zip(before, after)]
    numpy.testing.assert_allclose(records["grad_norm"][row], expected_norms, rtol=1e-5)
    for name, value, expected in zip(records["parameters"], records["update_ratio"][row], expected_ratios):
        assert (value is None) == (expected is None), name
        if expected is not None:
            numpy.testing.assert_allclose(value, expected, rtol=1e-5, err_msg=name)


def test_a_weight_of_zero_norm_has_no_ratio():
    model = tiny_model()
    flow = GradientFlow(model, every=1)
    train(model, flow, 1)
    ratios = dict(zip(flow.records()["parameters"], flow.records()["update_ratio"][0]))
    assert ratios["features.stages.0.norm.bias"] is None  # BatchNorm's shift starts at zero
    assert ratios["features.stages.0.norm.weight"] > 0


def test_moments_are_the_first_quarter_half_and_last_recorded_steps():
    assert moments(list(range(0, 900, 100))) == [0, 2, 4, 8]
    assert moments([0]) == [0]


def test_the_figure_is_written_as_a_png(tmp_path):
    model = tiny_model()
    flow = GradientFlow(model, every=1)
    train(model, flow, 4)
    save_gradient_flow(json.loads(json.dumps(flow.records())), tmp_path / "gradient_flow.png")
    with Image.open(tmp_path / "gradient_flow.png") as image:
        assert image.format == "PNG"


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="GradientFlow: every must be a positive integer, got 0"):
        GradientFlow(tiny_model(), every=0)
    with pytest.raises(RuntimeError, match=r"after_step\(0\) without before_step\(0\)"):
        GradientFlow(tiny_model()).after_step(0)
    with pytest.raises(ValueError, match="no recorded step"):
        save_gradient_flow(GradientFlow(tiny_model()).records(), "unused.png")
