"""Time each op of Ultimus's convolutional trunk at batch 512, then one block's attention and the loss,
forward and backward separately: where a CPU (or GPU) training step spends its time, one op at a time.

    python benchmarks/layer_times.py [--device cpu|gpu] [--repeats 20] [--batch-size 512] [--tier fast|plain]

--tier plain times the plain versions that read like the math (conv2d_simple, then batch_norm_simple,
relu and dropout_simple one by one, avg_pool2d_simple, projected_attention_simple, cross_entropy_simple)
in place of the fast ones the model uses (conv2d, the fused batch_norm_relu_dropout, avg_pool2d,
projected_attention, cross_entropy): the gain of each trick.

Each op runs on an input in the layout it meets in the model (batch-last after a
convolution, see minigrad/functional/conv.py); the medians are in milliseconds.
"""
import argparse

import numpy
from step_time import median_step_seconds  # this script's folder is on sys.path when it is run
from timing import synchronizer

from minigrad import Tensor, backend
from minigrad import functional as F
from ultimus.model import DROPOUT

STAGES = ((3, 16), (16, 32), (32, 48))  # (C_in, C_out) of the three convolutions
TIERS = {
    "fast": {"conv2d": F.conv2d, "avg_pool2d": F.avg_pool2d, "attention": F.projected_attention,
             "cross_entropy": F.cross_entropy},
    "plain": {"conv2d": F.conv2d_simple, "avg_pool2d": F.avg_pool2d_simple, "attention": F.projected_attention_simple,
              "cross_entropy": F.cross_entropy_simple},
}
ATTENTION_SIZE = 8  # an Ultimus block's K, Q and V: 8 items of one feature each


def median_milliseconds(function, repeats, synchronize):
    return 1000 * median_step_seconds(function, repeats, warmup=1, synchronize=synchronize)


def forward_and_backward(op, inputs, repeats, synchronize):
    """(forward ms, backward ms) of op(*inputs) with a random upstream gradient in the output's layout."""
    output = op(*inputs)
    upstream = output.xp.empty_like(output.data)  # the layout (batch-last or not) of the output
    upstream[...] = backend.random_generator(output.device).standard_normal(output.shape, dtype=output.dtype)
    upstream = Tensor(upstream)

    def backward():
        for tensor in inputs:
            tensor.zero_grad()
        op(*inputs).backward(upstream)

    forward_ms = median_milliseconds(lambda: op(*inputs), repeats, synchronize)
    return forward_ms, max(median_milliseconds(backward, repeats, synchronize) - forward_ms, 0.0)


def stage_ops(in_channels, out_channels, dtype, device, tier="fast"):
    """The ops of one stage, each as (name, op): conv2d, then batch_norm_relu_dropout (fast), or
    batch_norm, relu and dropout (plain)."""
    conv2d = TIERS[tier]["conv2d"]
    parameter = parameter_maker(dtype, device)
    weight, bias = parameter(out_channels, in_channels, 3, 3), parameter(out_channels)
    scale, shift = parameter(out_channels), parameter(out_channels)
    running = [Tensor(backend.array_module(device).zeros(out_channels, dtype=dtype)) for _ in range(2)]
    convolution = ("conv2d", lambda x: conv2d(x, weight, bias, stride=2, padding=1))
    if tier == "fast":
        return [convolution, ("bn+relu+dropout",
                              lambda x: F.batch_norm_relu_dropout(x, *running, scale, shift, training=True, p=DROPOUT))]
    return [
        convolution,
        ("batch_norm", lambda x: F.batch_norm_simple(x, *running, scale, shift, training=True)),
        ("relu", F.relu),
        ("dropout", lambda x: F.dropout_simple(x, DROPOUT)),
    ]


def parameter_maker(dtype, device):
    """A function of a shape that gives a random parameter (a Tensor that requires grad) of that shape."""
    generator = backend.random_generator(device)
    return lambda *shape: Tensor(generator.standard_normal(shape, dtype=dtype), requires_grad=True)


def head_ops(features, classes, batch_size, dtype, device, tier="fast"):
    """An Ultimus block's attention on X (N, features) and the loss on logits (N, classes), each as
    (name, its input's width, op)."""
    parameter = parameter_maker(dtype, device)
    projections = [parameter(*shape) for _ in range(3) for shape in ((ATTENTION_SIZE, features), (ATTENTION_SIZE,))]
    labels = backend.array_module(device).arange(batch_size) % classes
    attention, cross_entropy = TIERS[tier]["attention"], TIERS[tier]["cross_entropy"]
    return [("block attention", features, lambda x: attention(x, *projections, items=ATTENTION_SIZE)),
            ("cross_entropy", classes, lambda logits: cross_entropy(logits, labels))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--tier", default="fast", choices=sorted(TIERS))
    args = parser.parse_args()
    backend.keep_freed_cpu_memory()
    device = backend.normalize_device(args.device)
    synchronize = synchronizer(device)
    rng = numpy.random.default_rng(0)
    x = Tensor(rng.standard_normal((args.batch_size, 3, 32, 32)).astype(numpy.float32), device=device)
    totals = [0.0, 0.0]
    print(f"{'op':<32}{'forward ms':>12}{'backward ms':>13}")
    for stage, (in_channels, out_channels) in enumerate(STAGES, start=1):
        for name, op in stage_ops(in_channels, out_channels, numpy.float32, device, args.tier):
            needs_grad = stage > 1 or name != "conv2d"  # the images themselves need no gradient
            inputs = [Tensor(x.data, requires_grad=needs_grad)]
            timings = forward_and_backward(op, inputs, args.repeats, synchronize)
            totals = [total + timing for total, timing in zip(totals, timings)]
            print(f"{f'stage {stage} {name} {tuple(x.shape)}':<32}{timings[0]:>12.2f}{timings[1]:>13.2f}")
            x = op(inputs[0]).detach()
    avg_pool2d = TIERS[args.tier]["avg_pool2d"]
    pool = lambda x: avg_pool2d(x, x.shape[2:])  # noqa: E731
    timings = forward_and_backward(pool, [Tensor(x.data, requires_grad=True)], args.repeats, synchronize)
    totals = [total + timing for total, timing in zip(totals, timings)]
    print(f"{f'avg_pool2d {tuple(x.shape)}':<32}{timings[0]:>12.2f}{timings[1]:>13.2f}")
    for name, width, op in head_ops(STAGES[-1][1], 10, args.batch_size, numpy.float32, device, args.tier):
        inputs = [Tensor(rng.standard_normal((args.batch_size, width)).astype(numpy.float32), device=device,
                         requires_grad=True)]
        timings = forward_and_backward(op, inputs, args.repeats, synchronize)
        totals = [total + timing for total, timing in zip(totals, timings)]
        print(f"{f'{name} {tuple(inputs[0].shape)}':<32}{timings[0]:>12.2f}{timings[1]:>13.2f}")
    print(f"{'total':<32}{totals[0]:>12.2f}{totals[1]:>13.2f}")


if __name__ == "__main__":
    main()
