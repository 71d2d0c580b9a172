"""PyTorch pieces the transformer peers share, each initialised as our TypeScript models are."""

import math

import torch
from torch import nn


def sincos2d(d, rows, cols):
    """MAE / I-JEPA 2-D sin-cos positions, as lib/nn/vit.ts' sincos2d: [rows * cols, d]."""
    quarter = d // 4
    out = torch.zeros(rows * cols, d)
    for r in range(rows):
        for c in range(cols):
            for i in range(quarter):
                omega = 1 / 10000 ** (i / quarter)
                base = r * cols + c
                out[base, i] = math.sin(c * omega)
                out[base, quarter + i] = math.cos(c * omega)
                out[base, 2 * quarter + i] = math.sin(r * omega)
                out[base, 3 * quarter + i] = math.cos(r * omega)
    return out


def trunc_normal_(t, std=0.02):
    nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)
    return t


class Linear(nn.Linear):
    """As lib/nn/layers.ts' initLinear (timm / I-JEPA): truncated normal weights (std 0.02), zero
    bias."""

    def __init__(self, d_in, d_out):
        super().__init__(d_in, d_out)
        trunc_normal_(self.weight)
        nn.init.zeros_(self.bias)
