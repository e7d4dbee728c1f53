"""Do minigrad and PyTorch take the same training steps? Copy one Ultimus network's initial weights
into the PyTorch version, turn dropout off, feed both the same batches, and print the losses and the
largest difference of the first convolution's weights as Adam and One Cycle run.

    python benchmarks/compare_torch_steps.py [--steps 50]

On random data the gradients reaching the convolutions are tiny, so after some tens of steps float32
rounding differences grow (Adam divides by sqrt(v)); the first steps must agree to rounding.
"""
import argparse

import numpy
import torch
from torch_ultimus import TorchUltimusNet  # this script's folder is on sys.path when it is run

import minigrad
from minigrad import Tensor
from minigrad import functional as F
from minigrad.optim import Adam
from minigrad.optim.lr_scheduler import OneCycleLR
from ultimus.model import UltimusNet


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    minigrad.manual_seed(0)
    ours, theirs = UltimusNet(dropout=0.0), TorchUltimusNet(dropout=0.0)
    theirs.load_state_dict({key: torch.from_numpy(numpy.array(value)) for key, value in ours.state_dict().items()})
    schedule = dict(max_lr=0.01, total_steps=args.steps, pct_start=0.2, div_factor=10, anneal_strategy="linear")
    our_optimizer = Adam(ours.parameters(), lr=0.001)
    our_scheduler = OneCycleLR(our_optimizer, **schedule)
    their_optimizer = torch.optim.Adam(theirs.parameters(), lr=0.001)
    their_scheduler = torch.optim.lr_scheduler.OneCycleLR(their_optimizer, **schedule)
    our_conv, their_conv = ours.features.stages[0].conv, theirs.features.stages[0].conv
    rng = numpy.random.default_rng(0)
    for step in range(args.steps):
        images = rng.standard_normal((128, 3, 32, 32)).astype(numpy.float32)
        labels = rng.integers(0, 10, 128)
        our_loss = F.cross_entropy(ours(Tensor(images)), labels)
        our_optimizer.zero_grad()
        our_loss.backward()
        our_optimizer.step()
        our_scheduler.step()
        their_loss = torch.nn.functional.cross_entropy(theirs(torch.from_numpy(images)), torch.from_numpy(labels))
        their_optimizer.zero_grad()
        their_loss.backward()
        their_optimizer.step()
        their_scheduler.step()
        if step % 5 == 0 or step == args.steps - 1:
            weight_gap = numpy.abs(our_conv.weight.data - their_conv.weight.detach().numpy()).max()
            print(f"step {step:3d}  loss minigrad {our_loss.item():.7f}  PyTorch {their_loss.item():.7f}  "
                  f"max |conv1 weight difference| {weight_gap:.2e}")


if __name__ == "__main__":
    main()
