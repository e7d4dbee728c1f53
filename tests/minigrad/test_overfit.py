"""The whole stack learns: a small convolutional network overfits one fixed batch."""
import numpy

import minigrad
from minigrad import Tensor, nn
from minigrad import functional as F
from minigrad.optim import Adam


def test_small_network_overfits_one_batch_to_near_zero_loss():
    minigrad.manual_seed(0)
    rng = numpy.random.default_rng(0)
    images = Tensor(rng.standard_normal((16, 3, 8, 8)).astype(numpy.float32))
    labels = rng.integers(0, 4, 16)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AvgPool2d(4), nn.Flatten(), nn.Linear(8, 4),
    )
    optimizer = Adam(model.parameters(), lr=0.03)
    first_loss = None
    for _ in range(300):
        loss = F.cross_entropy(model(images), labels)
        first_loss = first_loss or loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert first_loss > 1.0
    assert loss.item() < 0.05
    model.eval()
    assert (model(images).data.argmax(axis=1) == labels).all()
