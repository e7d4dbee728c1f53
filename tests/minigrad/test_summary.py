"""summary(): the torchsummary-style layer table, checked line by line against tables derived by hand."""
import numpy
import pytest

import minigrad
from minigrad import functional as F
from minigrad import nn

SEPARATOR, DOUBLE = "-" * 64, "=" * 64
HEADER = "        Layer (type)               Output Shape         Param #"


def _row(name, shape, count):
    """The row layout: name right-aligned in 20, two spaces, shape in 25, a space, count in 15."""
    return " " * (20 - len(name)) + name + "  " + " " * (25 - len(shape)) + shape + " " + " " * (15 - len(count)) + count


class Inner(nn.Module):
    """Owns one parameter itself (gate) besides its child's: only the gate counts on its row."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(10, 5)
        self.gate = nn.Parameter(numpy.ones(5, dtype=numpy.float32))

    def forward(self, x):
        return self.proj(x) * self.gate


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.AvgPool2d(2))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16, 10)
        self.inner = Inner()

    def forward(self, x):
        return self.inner(self.fc(self.flatten(self.features(x))))


def test_rows_of_a_small_model():
    model = Tiny()
    model.inner.gate.requires_grad = False
    printed = []
    table = nn.summary(model, (3, 8, 8), print_fn=printed.append)
    # 8x8 -> conv stride 2 pad 1 -> 4x4 -> pool 2 -> 2x2; conv 3*4*9 + 4 = 112, batch norm 4 + 4,
    # fc 16*10 + 10 = 170, proj 10*5 + 5 = 55, Inner's own gate 5 (frozen); Sequential and Tiny get no row.
    assert table.split("\n") == [
        SEPARATOR,
        HEADER,
        DOUBLE,
        _row("Conv2d-1", "[-1, 4, 4, 4]", "112"),
        _row("BatchNorm2d-2", "[-1, 4, 4, 4]", "8"),
        _row("ReLU-3", "[-1, 4, 4, 4]", "0"),
        _row("Dropout-4", "[-1, 4, 4, 4]", "0"),
        _row("AvgPool2d-5", "[-1, 4, 2, 2]", "0"),
        _row("Flatten-6", "[-1, 16]", "0"),
        _row("Linear-7", "[-1, 10]", "170"),
        _row("Linear-8", "[-1, 5]", "55"),
        _row("Inner-9", "[-1, 5]", "5"),
        DOUBLE,
        "Total params: 350",
        "Trainable params: 345",
        "Non-trainable params: 5",
        SEPARATOR,
        "Input size (MB): 0.00",
        "Forward/backward pass size (MB): 0.00",
        "Params size (MB): 0.00",
        "Estimated Total Size (MB): 0.00",
        SEPARATOR,
    ]
    assert printed == [table]


def test_sizes_follow_torchsummarys_formulas_and_scale_with_batch_size():
    model = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU())
    table = nn.summary(model, (3, 64, 64), print_fn=lambda text: None).split("\n")
    # input 3*64*64*4 B = 0.046875 MB; outputs 2 rows * 64*64*64 values * 4 B * 2 (forward and backward) = 4 MB;
    # params (64*27 + 64) * 4 B = 0.0068 MB; total 4.0537 MB
    assert table[3] == _row("Conv2d-1", "[-1, 64, 64, 64]", "1,792")
    assert table[-5:-1] == ["Input size (MB): 0.05", "Forward/backward pass size (MB): 4.00",
                            "Params size (MB): 0.01", "Estimated Total Size (MB): 4.05"]
    table = nn.summary(model, (3, 64, 64), batch_size=10, print_fn=lambda text: None).split("\n")
    assert table[3] == _row("Conv2d-1", "[10, 64, 64, 64]", "1,792")
    assert table[-5:-1] == ["Input size (MB): 0.47", "Forward/backward pass size (MB): 40.00",
                            "Params size (MB): 0.01", "Estimated Total Size (MB): 40.48"]


class Stage(nn.Module):
    """A grouping of two layers that asks for no row of its own."""

    summary_row = False

    def __init__(self, cin, cout):
        super().__init__()
        self.conv, self.norm = nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.stages = nn.Sequential(Stage(3, 4), nn.Sequential(Stage(4, 2)))

    def forward(self, x):
        return F.flatten(self.stages(x))


def test_groupings_get_no_row_but_their_layers_do():
    model = nn.Sequential(Trunk(), nn.Linear(2 * 4 * 4, 3))
    table = nn.summary(model, (3, 4, 4), print_fn=lambda text: None).split("\n")
    # Stage and every Sequential (nested ones too, and the model itself) are groupings; Trunk is listed after its
    # layers. conv 3*4*9 + 4 = 112, norm 4 + 4, conv 4*2*9 + 2 = 74, norm 2 + 2, linear 32*3 + 3 = 99
    assert table[3:10] == [
        _row("Conv2d-1", "[-1, 4, 4, 4]", "112"),
        _row("BatchNorm2d-2", "[-1, 4, 4, 4]", "8"),
        _row("Conv2d-3", "[-1, 2, 4, 4]", "74"),
        _row("BatchNorm2d-4", "[-1, 2, 4, 4]", "4"),
        _row("Trunk-5", "[-1, 32]", "0"),
        _row("Linear-6", "[-1, 3]", "99"),
        DOUBLE,
    ]


def test_summary_runs_in_eval_without_grad_and_restores_each_modules_mode():
    model = Tiny()
    model.fc.eval()  # a mixed state must come back as it was
    seen = []
    model.features[1].register_forward_hook(lambda module, inputs, output: seen.append((module.training, output.requires_grad)))
    nn.summary(model, (3, 8, 8), print_fn=lambda text: None)
    assert seen == [(False, False)]
    assert model.training and model.features[1].training and not model.fc.training
    assert model.features[1].num_batches_tracked.item() == 0
    assert len(model.features[1]._forward_hooks) == 1  # summary removed its own hooks
    assert all(parameter.grad is None for parameter in model.parameters())


def test_summary_restores_modes_even_when_the_forward_fails():
    model = Tiny()
    with pytest.raises(ValueError, match="conv2d: x has 5 channels but weight .* expects 3 input channels"):
        nn.summary(model, (5, 8, 8), print_fn=lambda text: None)
    assert all(module.training for module in model.modules())
    assert all(not module._forward_hooks for module in model.modules())


@pytest.mark.gpu
def test_summary_on_gpu_gives_the_same_table():
    minigrad.manual_seed(0)
    model = Tiny()
    cpu_table = nn.summary(model, (3, 8, 8), print_fn=lambda text: None)
    gpu_table = nn.summary(model.to("gpu"), (3, 8, 8), device="gpu", print_fn=lambda text: None)
    assert gpu_table == cpu_table
