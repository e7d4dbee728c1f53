"""The Ultimus network of the seed: three strided convolutions, global average pooling,
four ULTIMUS attention blocks and a linear classifier (26,074 trainable parameters).

    input (N, 3, 32, 32)
    3 x [Conv2d 3x3 stride 2 padding 1, BatchNorm2d, ReLU, Dropout]  -> (N, 48, 4, 4)
    AvgPool2d(4), flatten                                             -> X (N, 48)
    4 x Ultimus                                                       -> (N, 48)
    Linear 48 -> 10                                                   -> logits (N, 10)
"""
import math

from minigrad import functional as F
from minigrad import nn

SCALINGS = ("inside", "after")
DROPOUT = 0.025  # the seed gives no rate: chosen on a validation split (README, Results)


class ConvNet(nn.Module):
    """The convolutional trunk: x (N, 3, 32, 32) -> X (N, 48), each stage halving the resolution.

    ReLU is applied as a function, not a module, so that the summary lists exactly
    the seed's rows (Conv2d, BatchNorm2d, Dropout per stage, then AvgPool2d).
    """

    def __init__(self, channels=(3, 16, 32, 48), dropout=DROPOUT):
        super().__init__()
        pairs = list(zip(channels[:-1], channels[1:]))
        self.convs = nn.Sequential(*(nn.Conv2d(cin, cout, 3, stride=2, padding=1) for cin, cout in pairs))
        self.norms = nn.Sequential(*(nn.BatchNorm2d(cout) for _, cout in pairs))
        self.dropouts = nn.Sequential(*(nn.Dropout(dropout) for _ in pairs))
        self.pool = nn.AvgPool2d(4)

    def forward(self, x):
        for conv, norm, dropout in zip(self.convs, self.norms, self.dropouts):
            x = dropout(F.relu(norm(conv(x))))
        return F.flatten(self.pool(x))


class Ultimus(nn.Module):
    """The ULTIMUS block: self-attention across the 8 features of one vector: X (N, 48) -> (N, 48).

    K = X Wk + bk, Q = X Wq + bq, V = X Wv + bv                     (N, 8) each
    AM_ij = softmax over i of Q_i K_j / sqrt(8)                      (N, 8, 8)
    Z_j = sum_i V_i AM_ij                                            (N, 8)
    out = Z Wo + bo                                                  (N, 48)

    scaling="inside" divides the scores by sqrt(8) before the softmax (standard
    scaled dot-product attention, the default); scaling="after" is the seed's
    literal "AM = SoftMax(Q^T K) / sqrt(8)", dividing the softmax's output.
    """

    def __init__(self, features=48, attention_size=8, scaling="inside"):
        super().__init__()
        if scaling not in SCALINGS:
            raise ValueError(f"Ultimus: scaling must be one of {SCALINGS}, got {scaling!r}")
        self.key = nn.Linear(features, attention_size)
        self.query = nn.Linear(features, attention_size)
        self.value = nn.Linear(features, attention_size)
        self.out = nn.Linear(attention_size, features)
        self.scaling = scaling
        self.scale = 1 / math.sqrt(attention_size)

    def forward(self, x):
        key, query, value = self.key(x), self.query(x), self.value(x)
        batch, size = query.shape
        scores = query.reshape(batch, size, 1) * key.reshape(batch, 1, size)
        if self.scaling == "inside":
            attention = F.softmax(scores * self.scale, axis=1)
        else:
            attention = F.softmax(scores, axis=1) * self.scale
        mixed = F.matmul(value.reshape(batch, 1, size), attention).reshape(batch, size)
        return self.out(mixed)


# The issue tracker's name for the block. The class itself is called Ultimus, as in the seed's
# table, because summary() labels its rows with class names.
UltimusBlock = Ultimus


class UltimusNet(nn.Module):
    """C > C > C > GAP > U > U > U > U > FC: images (N, 3, 32, 32) -> logits (N, num_classes)."""

    def __init__(self, num_classes=10, blocks=4, dropout=DROPOUT, scaling="inside", channels=(3, 16, 32, 48)):
        super().__init__()
        features = channels[-1]
        self.features = ConvNet(channels, dropout=dropout)
        self.blocks = nn.Sequential(*(Ultimus(features, scaling=scaling) for _ in range(blocks)))
        self.classifier = nn.Linear(features, num_classes)

    def forward(self, x):
        return self.classifier(self.blocks(self.features(x)))
