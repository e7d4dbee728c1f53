"""Tests generated from the table of ops (tests/op_table.py), on inputs that hypothesis draws: every op's values
against its slow reference, its gradients against finite differences in float64, float32 kept, the fast op equal
to its plain twin, its Tensor form equal to it, and values and gradients equal to PyTorch's; on every device."""
import inspect

import numpy
import pytest
from helpers import assert_same_outputs_and_gradients, outputs_and_gradients
from hypothesis import given
from hypothesis import strategies as st
from op_table import EXCLUDED, OPS

import minigrad.functional as F
from minigrad import Tensor, gradcheck

WITH_PLAIN = [name for name, entry in OPS.items() if entry.plain]
WITH_TENSOR_FORM = [name for name, entry in OPS.items() if entry.tensor_form]
WITH_TORCH = [name for name, entry in OPS.items() if entry.torch]


def leaves(arrays, device, dtype="float64"):
    return [None if array is None else Tensor(array, requires_grad=True, dtype=dtype, device=device) for array in arrays]


def upstream_for(shape):
    return numpy.random.default_rng(1).standard_normal(shape)


def test_every_op_of_functional_is_in_the_table():
    """Adding an op to minigrad.functional without a table entry (or a stated exclusion) fails here."""
    exported = {name for name, value in vars(F).items() if inspect.isfunction(value) and not name.startswith("_")}
    covered = set(OPS) | {f"{name}_simple" for name in WITH_PLAIN} | set(EXCLUDED)
    assert not exported - covered, f"ops missing from tests/op_table.py: {sorted(exported - covered)}"
    assert not covered - exported, f"entries or exclusions not exported by minigrad.functional: {sorted(covered - exported)}"


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_values_match_the_reference(name, device, data):
    entry = OPS[name]
    case = data.draw(entry.inputs)
    output = entry.op(*leaves(case.arrays, device), **case.params).numpy()
    expected = entry.reference(*case.arrays, **case.params)
    assert output.shape == numpy.shape(expected)
    numpy.testing.assert_allclose(output, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_gradcheck_in_float64(name, device, data):
    """The backward against finite differences under a random upstream gradient, for the op and its plain twin."""
    entry = OPS[name]
    case = data.draw(entry.inputs)
    for op in filter(None, (entry.op, entry.plain)):
        inputs = leaves(case.arrays, device)
        assert gradcheck(lambda *tensors, op=op: op(*tensors, **case.params), inputs)


@pytest.mark.parametrize("name", OPS)
@given(data=st.data())
def test_float32_stays_float32(name, device, data):
    entry = OPS[name]
    case = data.draw(entry.inputs)
    output, *gradients = outputs_and_gradients(lambda *tensors: entry.op(*tensors, **case.params), case.arrays,
                                               upstream_for(numpy.shape(entry.reference(*case.arrays, **case.params))),
                                               device, dtype="float32")
    assert output.dtype == numpy.float32 and all(gradient.dtype == numpy.float32 for gradient in gradients)
    numpy.testing.assert_allclose(output, entry.reference(*case.arrays, **case.params), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", WITH_PLAIN)
@given(data=st.data())
def test_fast_equals_plain(name, dtype, device, data):
    """The fast op's hand-written backward against autograd through its plain twin, on values and gradients."""
    entry = OPS[name]
    case = data.draw(entry.inputs)
    upstream = upstream_for(numpy.shape(entry.reference(*case.arrays, **case.params)))
    assert_same_outputs_and_gradients(lambda *tensors: entry.op(*tensors, **case.params),
                                      lambda *tensors: entry.plain(*tensors, **case.params),
                                      case.arrays, upstream, device, dtype)


@pytest.mark.parametrize("name", WITH_TENSOR_FORM)
@given(data=st.data())
def test_tensor_form_is_the_op(name, device, data):
    """The operator or method on Tensors gives the op's values and gradients."""
    entry = OPS[name]
    case = data.draw(entry.inputs)
    upstream = upstream_for(numpy.shape(entry.reference(*case.arrays, **case.params)))
    assert_same_outputs_and_gradients(lambda *tensors: entry.tensor_form(*tensors, **case.params),
                                      lambda *tensors: entry.op(*tensors, **case.params),
                                      case.arrays, upstream, device, "float64")


@pytest.mark.parametrize("name", WITH_TORCH)
@given(data=st.data())
def test_values_and_gradients_match_torch(name, data):
    torch = pytest.importorskip("torch")
    entry = OPS[name]
    case = data.draw(entry.inputs)
    results = outputs_and_gradients(lambda *tensors: entry.op(*tensors, **case.params), case.arrays,
                                     upstream := upstream_for(numpy.shape(entry.reference(*case.arrays, **case.params))))
    inputs = [None if array is None else torch.tensor(array, requires_grad=True) for array in case.arrays]
    output = entry.torch(torch, *inputs, **case.params)
    output.backward(torch.tensor(upstream))
    expected = [output.detach().numpy()] + [tensor.grad.numpy() for tensor in inputs if tensor is not None]
    assert len(results) == len(expected)
    labels = ["output"] + [f"grad {index}" for index in range(len(results) - 1)]
    for label, result, reference in zip(labels, results, expected):
        numpy.testing.assert_allclose(result, reference, rtol=1e-9, atol=1e-12, err_msg=label)
