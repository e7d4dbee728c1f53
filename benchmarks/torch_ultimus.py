"""The Ultimus network in PyTorch, parameter for parameter the same as ultimus.model.

Used only by the benchmarks, as the reference we measure speed and accuracy against.
"""
import math

import torch
from torch import nn

from ultimus.model import DROPOUT


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
        channels = (3, 16, 32, 48)
        pairs = list(zip(channels[:-1], channels[1:]))
        self.convs = nn.ModuleList(nn.Conv2d(cin, cout, 3, stride=2, padding=1) for cin, cout in pairs)
        self.norms = nn.ModuleList(nn.BatchNorm2d(cout) for _, cout in pairs)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*(TorchUltimusBlock() for _ in range(4)))
        self.classifier = nn.Linear(48, num_classes)

    def forward(self, x):
        for conv, norm in zip(self.convs, self.norms):
            x = self.dropout(torch.relu(norm(conv(x))))
        return self.classifier(self.blocks(x.mean(dim=(2, 3))))
