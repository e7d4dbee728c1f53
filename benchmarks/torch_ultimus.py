"""The Ultimus network in PyTorch, stage for stage and key for key the same as ultimus.model.

Used only by the benchmarks, as the reference we measure speed and accuracy against.
"""
import math

import torch
from torch import nn

from ultimus.model import DROPOUT


class TorchConvStage(nn.Module):
    def __init__(self, in_channels, out_channels, dropout=DROPOUT):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1)
        self.norm = nn.BatchNorm2d(out_channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(torch.relu(self.norm(self.conv(x))))


class TorchConvNet(nn.Module):
    def __init__(self, channels=(3, 16, 32, 48), dropout=DROPOUT):
        super().__init__()
        pairs = list(zip(channels[:-1], channels[1:]))
        self.stages = nn.Sequential(*(TorchConvStage(cin, cout, dropout) for cin, cout in pairs))

    def forward(self, x):
        return self.stages(x).mean(dim=(2, 3))


class TorchUltimusBlock(nn.Module):
    def __init__(self, features=48, attention_size=8):
        super().__init__()
        self.key = nn.Linear(features, attention_size)
        self.query = nn.Linear(features, attention_size)
        self.value = nn.Linear(features, attention_size)
        self.out = nn.Linear(attention_size, features)
        self.scale = 1 / math.sqrt(attention_size)

    def forward(self, x):
        key, query, value = self.key(x), self.query(x), self.value(x)
        attention = torch.softmax(query[:, :, None] * key[:, None, :] * self.scale, dim=1)
        return self.out((value[:, None, :] @ attention)[:, 0])


class TorchUltimusNet(nn.Module):
    def __init__(self, num_classes=10, dropout=DROPOUT):
        super().__init__()
        self.features = TorchConvNet(dropout=dropout)
        self.blocks = nn.Sequential(*(TorchUltimusBlock() for _ in range(4)))
        self.classifier = nn.Linear(48, num_classes)

    def forward(self, x):
        return self.classifier(self.blocks(self.features(x)))
