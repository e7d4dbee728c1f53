"""The DOT export and the matplotlib drawing show exactly the recorded graph: its ops, its tensors, their names, and nothing else."""
import os
import re
import shutil

import numpy
import pytest
from helpers import leaf

import minigrad.functional as F
from minigrad import Tensor, nn, no_grad
from minigrad.graph import figure, ops_in_forward_order, render, to_dot

NODE = re.compile(r'^  (\w+) \[label="([^"]*)"')
EDGE = re.compile(r"^  (\w+) -> (\w+)$")


def nodes_and_edges(dot_text):
    """{node id: label} and the list of (source, target) edges of to_dot's output."""
    lines = dot_text.splitlines()
    nodes = dict(match.groups() for match in map(NODE.match, lines) if match)
    edges = [match.groups() for match in map(EDGE.match, lines) if match]
    return nodes, edges


def test_a_small_graph_has_exactly_its_ops_tensors_and_edges():
    x = Tensor(numpy.ones((2, 3)), dtype="float64")
    w = leaf(numpy.ones((3, 4)))
    nodes, edges = nodes_and_edges(to_dot(F.relu(x @ w).sum(), params={"w": w}))
    assert nodes == {
        "t0": "(2, 3) float64",
        "t1": "w\\n(3, 4) float64",
        "op0": "MatMul",
        "t2": "(2, 4) float64",
        "op1": "ReLU",
        "t3": "(2, 4) float64",
        "op2": "Sum",
        "t4": "() float64",
    }
    assert edges == [("t0", "op0"), ("t1", "op0"), ("op0", "t2"), ("t2", "op1"), ("op1", "t3"), ("t3", "op2"), ("op2", "t4")]


def test_parameters_are_named_by_their_module_path():
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    labels = set(nodes_and_edges(to_dot(model(Tensor(numpy.ones((5, 3)))), params=model))[0].values())
    assert {"0.weight\\n(2, 3) float32", "0.bias\\n(2,) float32", "2.weight\\n(1, 2) float32", "2.bias\\n(1,) float32"} <= labels


def test_the_same_parameters_as_a_dict_give_the_same_text():
    model = nn.Sequential(nn.Linear(3, 2))
    y = model(Tensor(numpy.ones((1, 3))))
    assert to_dot(y, params=model) == to_dot(y, params=dict(model.named_parameters()))


def test_a_tensor_used_twice_is_one_node_with_two_edges():
    x = leaf(numpy.ones(3))
    nodes, edges = nodes_and_edges(to_dot(x * x, params={"x": x}))
    assert [node for node, label in nodes.items() if label.startswith("x\\n")] == ["t0"]
    assert edges == [("t0", "op0"), ("t0", "op0"), ("op0", "t1")]
    nodes, edges = nodes_and_edges(to_dot(F.exp(x) + x, params={"x": x}))
    assert (nodes["op0"], nodes["op1"]) == ("Exp", "Add")
    assert edges == [("t0", "op0"), ("op0", "t1"), ("t1", "op1"), ("t0", "op1"), ("op1", "t2")]


def test_tensors_computed_under_no_grad_are_inputs_not_ops():
    x = leaf(numpy.ones(3))
    with no_grad():
        constant = F.exp(x) * 2
    nodes, edges = nodes_and_edges(to_dot(constant * x))
    assert nodes == {"t0": "(3,) float64", "t1": "(3,) float64", "op0": "Mul", "t2": "(3,) float64"}
    assert edges == [("t0", "op0"), ("t1", "op0"), ("op0", "t2")]


def test_a_leaf_is_drawn_alone():
    nodes, edges = nodes_and_edges(to_dot(leaf(numpy.ones(2))))
    assert (nodes, edges) == ({"t0": "(2,) float64"}, [])


def test_forward_order_puts_every_op_after_the_ops_that_made_its_inputs():
    x = leaf(numpy.ones(2))
    a = F.exp(x)
    b = F.tanh(x)
    y = (a * b) + a
    assert [type(op).__name__ for op in ops_in_forward_order(y)] == ["Exp", "Tanh", "Mul", "Add"]


def test_forward_order_of_a_long_chain_needs_no_deep_recursion():
    y = leaf(numpy.ones(1))
    for _ in range(5000):
        y = y * 1.0
    assert len(ops_in_forward_order(y)) == 5000


def test_params_of_the_wrong_type_are_refused():
    with pytest.raises(TypeError, match="params must be a Module or a dict of name -> Tensor, got list"):
        to_dot(leaf(numpy.ones(1)), params=[leaf(numpy.ones(1))])


def test_render_writes_the_dot_file(tmp_path):
    text = to_dot(F.exp(leaf(numpy.ones(2))))
    assert render(text, str(tmp_path / "graph.dot")) == [str(tmp_path / "graph.dot")]
    assert (tmp_path / "graph.dot").read_text() == text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_render_draws_a_png_with_graphviz(tmp_path):
    written = render(to_dot(F.exp(leaf(numpy.ones(2)))), str(tmp_path / "graph.png"))
    assert written == [str(tmp_path / "graph.dot"), str(tmp_path / "graph.png")]
    assert (tmp_path / "graph.png").read_bytes().startswith(b"\x89PNG")


def test_render_without_graphviz_writes_the_dot_file_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    written = render(to_dot(F.exp(leaf(numpy.ones(2)))), str(tmp_path / "graph.svg"))
    assert written == [str(tmp_path / "graph.dot")]
    assert os.listdir(tmp_path) == ["graph.dot"]
    assert "Graphviz's 'dot' is not on PATH, so only" in capsys.readouterr().err


def test_render_refuses_an_unknown_suffix_before_writing(tmp_path):
    with pytest.raises(ValueError, match=r"graph.jpg' should end in .dot, .svg, .png, .pdf"):
        render("digraph {}", str(tmp_path / "graph.jpg"))
    assert os.listdir(tmp_path) == []


def test_the_matplotlib_drawing_shows_the_dot_graph_with_every_node_below_its_sources():
    import matplotlib.pyplot as plt
    from matplotlib.text import Annotation

    open_before = plt.get_fignums()
    x = Tensor(numpy.ones((2, 3)), dtype="float64")
    w = leaf(numpy.ones((3, 4)))
    y = F.relu(x @ w).sum()
    nodes, edges = nodes_and_edges(to_dot(y, params={"w": w}))
    drawing = figure(y, params={"w": w})
    texts = drawing.axes[0].texts
    boxes = [text for text in texts if not isinstance(text, Annotation)]
    assert [box.get_text() for box in boxes] == [label.replace("\\n", "\n") for label in nodes.values()]
    where = {name: box.get_position() for name, box in zip(nodes, boxes)}
    arrows = {(arrow.xyann, arrow.xy) for arrow in texts if isinstance(arrow, Annotation)}
    assert arrows == {(where[source], where[target]) for source, target in edges}
    assert all(where[target][1] < where[source][1] for source, target in edges)
    assert plt.get_fignums() == open_before  # nothing left open for a notebook to show twice
