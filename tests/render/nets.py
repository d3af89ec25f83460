"""Models for the render tests: the committed dynamo export, and a transformer block."""

from __future__ import annotations

import os

#: TinyNet exported by torch.onnx (dynamo, optimised: each BatchNorm folded into its Conv);
#: regenerate with tests/render/data/make_tinynet.py
TINYNET = os.path.join(os.path.dirname(__file__), "data", "tinynet_dynamo.onnx")
#: TinyNet at 1x3x32x32: conv1 3->8 (3x3, stride 2) to 16x16, then two 8->8 3x3 convs, fc 8->10
TINYNET_CONV1_MACS = 8 * 16 * 16 * 3 * 9                  # 55,296
TINYNET_BLOCK_CONV_MACS = 8 * 16 * 16 * 8 * 9             # 147,456
TINYNET_FC_MACS = 8 * 10                                  # 80


def transformer_block(dim: int = 64, heads: int = 4, hidden: int = 256):
    """A pre-norm transformer block (attention through F.scaled_dot_product_attention, then
    an MLP), as GPT-style models write it."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, c = x.shape
            q, k, v = self.qkv(x).split(c, dim=2)
            q, k, v = (y.view(b, t, heads, c // heads).transpose(1, 2) for y in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            return self.proj(y.transpose(1, 2).reshape(b, t, c))

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(dim, hidden)
            self.act = nn.GELU()
            self.out = nn.Linear(hidden, dim)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.act(self.fc(x)))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(dim)
            self.attn = Attention()
            self.ln2 = nn.LayerNorm(dim)
            self.mlp = MLP()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    return Block()
