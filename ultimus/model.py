"""The Ultimus network of the assignment: three strided convolutions, global average pooling,
four ULTIMUS attention blocks and a linear classifier (26,074 trainable parameters).

    input (N, 3, 32, 32)
    3 x ConvStage: Conv2d 3x3 stride 2 padding 1, BatchNorm2d, ReLU, Dropout  -> (N, 48, 4, 4)
    AvgPool2d over the whole map, flatten                                      -> X (N, 48)
    4 x Ultimus                                                                -> (N, 48)
    Linear 48 -> 10                                                            -> logits (N, 10)

Its state_dict keys follow these stages: features.stages.0.conv.weight,
features.stages.0.norm.running_mean, blocks.0.key.weight, classifier.weight, ...
"""
import math
import re

from minigrad import functional as F
from minigrad import nn

SCALINGS = ("inside", "after")
VARIANTS = ("assignment", "residual")
DROPOUT = 0.025  # the assignment gives no rate: chosen on a validation split (README, Results)

# Checkpoints of the parallel-lists layout keep the trunk's layers in two lists: features.convs.0.weight, ...
PARALLEL_LISTS_KEY = re.compile(r"^features\.(conv|norm)s\.(\d+)\.")


class ConvStage(nn.Module):
    """One stage of the trunk: x (N, C_in, H, W) -> (N, C_out, ceil(H/2), ceil(W/2)).

    ReLU is a function here, not a module: the assignment's layer table lists no ReLU rows. Batch norm, ReLU
    and dropout run as one fused op (F.batch_norm_relu_dropout), or one by one while a hook watches a layer.
    """

    summary_row = False  # a grouping: summary() lists its layers, not the stage itself

    def __init__(self, in_channels, out_channels, dropout=DROPOUT):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        x = self.conv(x)
        if self.norm.has_forward_hooks() or self.dropout.has_forward_hooks():
            return self.dropout(F.relu(self.norm(x)))
        return self.norm.forward_relu_dropout(x, self.dropout.p if self.dropout.training else 0.0)


class ConvNet(nn.Module):
    """The convolutional trunk: images (N, 3, image_size, image_size) -> X (N, channels[-1]).

    The pool averages the whole final map, whose side is image_size halved (rounding up) once per stage.
    """

    def __init__(self, channels=(3, 16, 32, 48), dropout=DROPOUT, image_size=32):
        super().__init__()
        pairs = list(zip(channels[:-1], channels[1:]))
        self.stages = nn.Sequential(*(ConvStage(cin, cout, dropout) for cin, cout in pairs))
        self.pool = nn.AvgPool2d(math.ceil(image_size / 2 ** len(pairs)))

    def forward(self, x):
        return F.flatten(self.pool(self.stages(x)))


class ResidualSum(nn.Module):
    """The skip connection of a residual block: x, out (N, F) -> x + out (N, F). A module only so
    that summary() lists it; backward passes the gradient to both inputs unchanged."""

    def forward(self, x, out):
        return x + out


class Ultimus(nn.Module):
    """The ULTIMUS block: self-attention across the 8 features of one vector: X (N, 48) -> (N, 48).

    K = X Wk + bk, Q = X Wq + bq, V = X Wv + bv                     (N, 8) each
    AM_ij = softmax over i of Q_i K_j / sqrt(8)                      (N, 8, 8)
    Z_j = sum_i V_i AM_ij                                            (N, 8)
    out = Z Wo + bo                                                  (N, 48)

    scaling="inside" divides the scores by sqrt(8) before the softmax (standard
    scaled dot-product attention, the default); scaling="after" is the assignment's
    literal "AM = SoftMax(Q^T K) / sqrt(8)", dividing the softmax's output.

    residual=True returns X + out instead of out: the block learns a correction to its
    input, and the gradient reaches X through the identity as well as through the attention,
    whose softmax and 8-wide bottleneck shrink it (backward: dL/dX = g + d<g, out>/dX).
    The sum is a :class:`ResidualSum` module, so summary() shows it (a row with no parameters).
    """

    def __init__(self, features=48, attention_size=8, scaling="inside", residual=False):
        super().__init__()
        if scaling not in SCALINGS:
            raise ValueError(f"Ultimus: scaling must be one of {SCALINGS}, got {scaling!r}")
        self.key = nn.Linear(features, attention_size)
        self.query = nn.Linear(features, attention_size)
        self.value = nn.Linear(features, attention_size)
        self.out = nn.Linear(attention_size, features)
        self.scaling = scaling
        self.scale = 1 / math.sqrt(attention_size)
        self.residual = residual
        if residual:
            self.skip = ResidualSum()

    def attention(self, query, key):
        """AM (N, 8, 8) from query, key (N, 8): AM_ij = softmax over i of Q_i K_j / sqrt(8), so each
        column j sums to 1 (times 1/sqrt(8) for scaling="after")."""
        batch, size = query.shape
        scores = query.reshape(batch, size, 1) * key.reshape(batch, 1, size)
        if self.scaling == "inside":
            return F.softmax(F.scale(scores, self.scale), axis=1)
        return F.scale(F.softmax(scores, axis=1), self.scale)

    def forward(self, x):
        out = self.out(self.attend(x))
        return self.skip(x, out) if self.residual else out

    def attend(self, x):
        """Z (N, 8) from X (N, 48): Z_j = sum_i V_i AM_ij, computed as one op (F.projected_attention, with
        K's layer as the attention's query, as in :meth:`mix`), or from the three linear layers one by one
        while a hook watches one of them."""
        projections = (self.key, self.query, self.value)
        if any(layer.has_forward_hooks() for layer in projections):
            key, query, value = (layer(x) for layer in projections)
            return self.mix(query, key, value)
        mixed = F.projected_attention(x, self.key.weight, self.key.bias, self.query.weight, self.query.bias,
                                      self.value.weight, self.value.bias, items=self.key.weight.shape[0],
                                      scale=self.softmax_scale)
        return self.scaled_after(mixed.reshape(mixed.shape[:-1]))

    def mix(self, query, key, value):
        """Z (N, 8) from query, key, value (N, 8): Z_j = sum_i V_i AM_ij, computed as one op.

        It is scaled dot-product attention over 8 items of one feature each, in which K_j asks
        (the attention's query) and Q_i answers (its key), as AM's softmax runs over i: its weights are
        AM transposed. Tested equal to V @ AM with AM from :meth:`attention`.
        """
        batch, size = value.shape
        items = [tensor.reshape(batch, size, 1) for tensor in (key, query, value)]
        mixed = F.scaled_dot_product_attention(*items, scale=self.softmax_scale)
        return self.scaled_after(mixed.reshape(batch, size))

    @property
    def softmax_scale(self):
        """What the scores are multiplied by inside the softmax: 1 / sqrt(8) for scaling="inside", else 1."""
        return self.scale if self.scaling == "inside" else 1.0

    def scaled_after(self, mixed):
        """Z, times 1 / sqrt(8) for scaling="after" (the softmax's output divided: Z is linear in it)."""
        return mixed if self.scaling == "inside" else F.scale(mixed, self.scale)

    def extra_repr(self):
        return f"scaling={self.scaling!r}, residual={self.residual}"


class UltimusNet(nn.Module):
    """C > C > C > GAP > U > U > U > U > FC: images (N, 3, image_size, image_size) -> logits (N, num_classes).

    variant="assignment" is the assignment's network; variant="residual" makes every block
    return X + Ultimus(X) (see Ultimus): same parameters, same initial values for a seed.
    """

    def __init__(self, num_classes=10, blocks=4, dropout=DROPOUT, scaling="inside", channels=(3, 16, 32, 48),
                 image_size=32, variant="assignment"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"UltimusNet: variant must be one of {VARIANTS}, got {variant!r}")
        features = channels[-1]
        self.features = ConvNet(channels, dropout=dropout, image_size=image_size)
        residual = variant == "residual"
        self.blocks = nn.Sequential(*(Ultimus(features, scaling=scaling, residual=residual) for _ in range(blocks)))
        self.classifier = nn.Linear(features, num_classes)

    @classmethod
    def for_run(cls, config, num_classes):
        """The network of a run whose settings are ``config`` (a TrainConfig)."""
        return cls(num_classes=num_classes, dropout=config.dropout, scaling=config.scaling, variant=config.variant)

    def forward(self, x):
        return self.classifier(self.blocks(self.features(x)))

    def load_state_dict(self, state, strict=True):
        """Module.load_state_dict, also accepting the parallel-lists layout: features.convs.1.weight is read
        as features.stages.1.conv.weight, features.norms.1.bias as features.stages.1.norm.bias."""
        return super().load_state_dict({PARALLEL_LISTS_KEY.sub(r"features.stages.\2.\1.", key): value
                                        for key, value in state.items()}, strict)
