"""See the recorded graph: list its ops in forward order, or draw it with Graphviz or matplotlib.

Every op that ran on a tensor requiring grad left a Function behind
(``tensor.grad_fn``), linked to its input tensors (``function.inputs``).
:func:`to_dot` turns that graph into Graphviz's DOT text: one box per tensor
(its name where it is a parameter, its shape and dtype), one ellipse per op, and
arrows from each op's inputs into it and out of it to its output::

    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    text = to_dot(model(x), params=model)
    render(text, "graph.svg")   # graph.dot, and graph.svg when Graphviz's dot is installed
    figure(model(x), params=model)   # a matplotlib figure, shown inline in a notebook
"""
import os
import shutil
import subprocess
import sys

from minigrad.atomic import atomic_write

RENDERED_FORMATS = (".svg", ".png", ".pdf")


def ops_in_forward_order(tensor):
    """The Functions recorded behind ``tensor``, each after the ops that made its inputs.

    Depth-first over ``function.inputs`` in input order, so the order (and every
    id that :func:`to_dot` derives from it) is the same on every run.
    Iterative, so that a long chain needs no deep recursion.
    """
    if tensor.grad_fn is None:
        return []
    order, visited = [], {id(tensor.grad_fn)}
    stack = [(tensor.grad_fn, iter(tensor.grad_fn.inputs))]
    while stack:
        function, inputs = stack[-1]
        producer = next((t.grad_fn for t in inputs if t.grad_fn is not None and id(t.grad_fn) not in visited), None)
        if producer is None:  # every input is made: the op itself comes next
            order.append(function)
            stack.pop()
        else:
            visited.add(id(producer))
            stack.append((producer, iter(producer.inputs)))
    return order


def parameter_names(params):
    """{id(tensor): name} from a Module (its named_parameters) or a dict name -> Tensor; {} for None."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        params = dict(params.named_parameters())
    if not isinstance(params, dict):
        raise TypeError(f"params must be a Module or a dict of name -> Tensor, got {type(params).__name__}")
    return {id(tensor): name for name, tensor in params.items()}


class Node:
    """One box or ellipse of a drawing: ``name`` (t0.. for tensors, op0.. for ops), its label,
    its kind ('parameter', 'input', 'constant' or 'op'), and the names of the nodes it comes from."""

    def __init__(self, name, label, kind, sources=()):
        self.name, self.label, self.kind, self.sources = name, label, kind, list(sources)


def graph_nodes(tensor, params=None):
    """The graph behind ``tensor`` as a list of :class:`Node`, each after the nodes it comes from.

    params: a Module or a dict name -> Tensor (``dict(model.named_parameters())``)
    whose tensors are labelled with their names. Tensors are ``t0, t1, ...`` and
    ops ``op0, op1, ...``, numbered in forward order; ``tensor`` itself is drawn
    even when it is a leaf. A tensor computed under ``no_grad`` has no op behind
    it, so it is drawn as a plain input.
    """
    names = parameter_names(params)
    tensor_names, nodes = {}, []

    def tensor_node(value, made_by=()):
        if id(value) not in tensor_names:
            tensor_names[id(value)] = f"t{len(tensor_names)}"
            nodes.append(Node(tensor_names[id(value)], *_tensor_label(value, names.get(id(value))), made_by))
        return tensor_names[id(value)]

    ops = ops_in_forward_order(tensor)
    outputs = {id(tensor.grad_fn): tensor}  # every other op's output is an input of a later op
    for function in ops:
        for value in function.inputs:
            if value.grad_fn is not None:
                outputs[id(value.grad_fn)] = value
    for index, function in enumerate(ops):
        inputs = [tensor_node(value) for value in function.inputs]
        nodes.append(Node(f"op{index}", type(function).__name__, "op", inputs))
        tensor_node(outputs[id(function)], made_by=[f"op{index}"])
    tensor_node(tensor)
    return nodes


def _tensor_label(tensor, name):
    """(label, kind): ``name`` (if any), shape and dtype; a named tensor is a parameter, one without grad a constant."""
    shape = tuple(int(size) for size in tensor.shape)
    label = f"{name}\n{shape} {tensor.dtype}" if name else f"{shape} {tensor.dtype}"
    return label, "parameter" if name else ("input" if tensor.requires_grad else "constant")


DOT_COLOURS = {"parameter": "lightblue", "input": "white", "constant": "lightgrey"}


def to_dot(tensor, params=None):
    """The graph behind ``tensor`` (see :func:`graph_nodes`) as Graphviz DOT text."""
    lines = []
    for node in graph_nodes(tensor, params):
        lines.append(f"  {node.name} [{_dot_style(node)}]")
        lines.extend(f"  {source} -> {node.name}" for source in node.sources)
    return "digraph minigrad {\n  node [fontname=Helvetica, fontsize=11]\n" + "\n".join(lines) + "\n}\n"


def _dot_style(node):
    if node.kind == "op":
        return f'label="{node.label}", shape=ellipse'
    label = _escape(node.label).replace("\n", "\\n")
    return f'label="{label}", shape=box, style=filled, fillcolor={DOT_COLOURS[node.kind]}'


def figure(tensor, params=None):
    """The graph behind ``tensor`` drawn with matplotlib, inputs at the top: for a notebook, no Graphviz needed.

    Each node sits one row below the lowest of the nodes it comes from; a row's nodes are spread evenly.
    """
    import matplotlib.pyplot as plt  # pyplot, so that a notebook's inline backend is set up to show the result

    nodes = graph_nodes(tensor, params)
    row = {}
    for node in nodes:
        row[node.name] = 1 + max((row[source] for source in node.sources), default=-1)
    rows = [[node for node in nodes if row[node.name] == depth] for depth in range(max(row.values()) + 1)]
    width = max(len(nodes_in_row) for nodes_in_row in rows)
    where = {node.name: ((column + 0.5) * width / len(nodes_in_row), -depth)
             for depth, nodes_in_row in enumerate(rows) for column, node in enumerate(nodes_in_row)}
    drawing, axes = plt.subplots(figsize=(max(4, 2.4 * width), max(2, 1.1 * len(rows))))
    plt.close(drawing)  # returned, not left open: a notebook shows the returned figure once
    for node in nodes:
        for source in node.sources:
            axes.annotate("", where[node.name], where[source], arrowprops=dict(arrowstyle="->", shrinkA=14, shrinkB=14))
        box = "round,pad=0.4" if node.kind == "op" else "square,pad=0.3"
        colour = "khaki" if node.kind == "op" else DOT_COLOURS[node.kind]
        axes.text(*where[node.name], node.label, ha="center", va="center", fontsize=8,
                  bbox=dict(boxstyle=box, facecolor=colour, edgecolor="black"))
    axes.set_xlim(0, width)
    axes.set_ylim(-len(rows) + 0.5, 0.5)
    axes.axis("off")
    return drawing


def _escape(text):
    return text.replace("\\", "\\\\").replace('"', '\\"')


def render(dot_text, path):
    """Write ``dot_text`` to ``path`` with the suffix .dot, and draw it into ``path`` if that is .svg/.png/.pdf.

    The drawing needs Graphviz's ``dot`` program; without it only the .dot file
    is written and one line on stderr says so. Returns the paths written.
    """
    root, suffix = os.path.splitext(path)
    if suffix not in (".dot",) + RENDERED_FORMATS:
        raise ValueError(f"render: {path!r} should end in .dot, {', '.join(RENDERED_FORMATS)}")
    dot_path = root + ".dot"
    with atomic_write(dot_path, "w") as file:
        file.write(dot_text)
    if suffix == ".dot":
        return [dot_path]
    program = shutil.which("dot")
    if program is None:
        message = f"render: Graphviz's 'dot' is not on PATH, so only {dot_path} was written (install graphviz for {suffix})"
        print(message, file=sys.stderr)
        return [dot_path]
    with atomic_write(path) as file:
        result = subprocess.run([program, f"-T{suffix[1:]}", dot_path], stdout=file, stderr=subprocess.PIPE, text=False)
        if result.returncode != 0:
            raise RuntimeError(f"render: dot failed on {dot_path}: {result.stderr.decode(errors='replace').strip()}")
    return [dot_path, path]
