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


class SeedConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stages = nn.Sequential(*(
            nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm2d(cout), nn.Dropout(0.05))
            for cin, cout in [(3, 16), (16, 32), (32, 48)]))
        self.pool = nn.AvgPool2d(4)

    def forward(self, x):
        return F.flatten(self.pool(self.stages(x)))


class SeedUltimus(nn.Module):
    def __init__(self):
        super().__init__()
        self.k, self.q, self.v, self.out = nn.Linear(48, 8), nn.Linear(48, 8), nn.Linear(48, 8), nn.Linear(8, 48)

    def forward(self, x):
        return self.out(self.v(x) * F.softmax(self.q(x) * self.k(x), axis=1))


class SeedNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.convnet = SeedConvNet()
        self.ultimus = nn.Sequential(*(SeedUltimus() for _ in range(4)))
        self.fc = nn.Linear(48, 10)

    def forward(self, x):
        return self.fc(self.ultimus(self.convnet(x)))


def test_the_seeds_model_reproduces_the_seeds_table():
    # The seed's printed table, with ConvNet and Ultimus renamed to this test's classes.
    expected_rows = [
        "            Conv2d-1           [-1, 16, 16, 16]             448",
        "       BatchNorm2d-2           [-1, 16, 16, 16]              32",
        "           Dropout-3           [-1, 16, 16, 16]               0",
        "            Conv2d-4             [-1, 32, 8, 8]           4,640",
        "       BatchNorm2d-5             [-1, 32, 8, 8]              64",
        "           Dropout-6             [-1, 32, 8, 8]               0",
        "            Conv2d-7             [-1, 48, 4, 4]          13,872",
        "       BatchNorm2d-8             [-1, 48, 4, 4]              96",
        "           Dropout-9             [-1, 48, 4, 4]               0",
        "        AvgPool2d-10             [-1, 48, 1, 1]               0",
        "      SeedConvNet-11                   [-1, 48]               0",
        "           Linear-12                    [-1, 8]             392",
        "           Linear-13                    [-1, 8]             392",
        "           Linear-14                    [-1, 8]             392",
        "           Linear-15                   [-1, 48]             432",
        "      SeedUltimus-16                   [-1, 48]               0",
        "           Linear-17                    [-1, 8]             392",
        "           Linear-18                    [-1, 8]             392",
        "           Linear-19                    [-1, 8]             392",
        "           Linear-20                   [-1, 48]             432",
        "      SeedUltimus-21                   [-1, 48]               0",
        "           Linear-22                    [-1, 8]             392",
        "           Linear-23                    [-1, 8]             392",
        "           Linear-24                    [-1, 8]             392",
        "           Linear-25                   [-1, 48]             432",
        "      SeedUltimus-26                   [-1, 48]               0",
        "           Linear-27                    [-1, 8]             392",
        "           Linear-28                    [-1, 8]             392",
        "           Linear-29                    [-1, 8]             392",
        "           Linear-30                   [-1, 48]             432",
        "      SeedUltimus-31                   [-1, 48]               0",
        "           Linear-32                   [-1, 10]             490",
    ]
    model = SeedNet()
    table = nn.summary(model, (3, 32, 32), print_fn=lambda text: None).split("\n")
    assert table[:2] == [SEPARATOR, "        Layer (type)               Output Shape         Param #"]
    assert table[3:35] == expected_rows
    assert table[36:39] == ["Total params: 26,074", "Trainable params: 26,074", "Non-trainable params: 0"]
    assert table[40:42] == ["Input size (MB): 0.01", "Forward/backward pass size (MB): 0.16"]


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
