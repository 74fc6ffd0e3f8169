"""DropBlock (Ghiasi et al. 2018): drop square blocks of convolutional feature maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer import settings
from explorer.dropout.base import DropoutLayer, Variant, register
from explorer.dropout.params import Param

EPS = 1e-6


def seed_rate(q: float, block_size: int, height: int, width: int) -> float:
    """γ: the rate of block centres that would drop a share q of the units if blocks never overlapped.

    They do, so the share dropped is less: about 0.95q at q = 0.1, 0.78q at 0.5 (3×3 blocks on 14×14
    maps). γ ≤ q, since b²(H−b+1) ≥ H for 1 ≤ b ≤ H.
    """
    b = block_size
    return q * height * width / (b * b * (height - b + 1) * (width - b + 1))


def grow_blocks(seeds: torch.Tensor, block_size: int) -> torch.Tensor:
    """Seeds (N, C, H−b+1, W−b+1) of {0, 1} → (N, C, H, W) with a b×b block of 1s for each seed."""
    half = block_size // 2
    padded = F.pad(seeds, [half] * 4)
    return F.max_pool2d(padded, kernel_size=block_size, stride=1, padding=half)


BLOCK_SIZE = Param("block_size", "Block size b", "b, the side of the square blocks dropped (odd)", default=3,
                   lo=1, hi=settings.MAX_BLOCK_SIZE, odd=True)


class DropBlock(DropoutLayer):
    """Zeroes b×b blocks of each (N, C, H, W) map, as ``torchvision.ops.drop_block2d``; rescales by the kept share.

    Neighbouring activations of a conv map are correlated, so dropping single
    ones removes little; dropping contiguous blocks removes whole parts of
    what the map saw. Block centres are drawn where a block fits entirely.
    """

    def __init__(self, p: float, generator: torch.Generator | None = None, block_size: int = BLOCK_SIZE.default) -> None:
        if block_size < 1 or block_size % 2 == 0:
            raise ValueError(f"block_size must be odd and at least 1, got {block_size}")
        super().__init__(p, generator)
        self.block_size = block_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"dropblock needs (N, C, H, W) feature maps, got shape {tuple(x.shape)}")
        return super().forward(x)

    def train_forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        b = min(self.block_size, h, w)
        b -= 1 - b % 2  # odd, so a block centres on a unit
        gamma = seed_rate(self.p, b, h, w)
        seeds = torch.empty(n, c, h - b + 1, w - b + 1, dtype=x.dtype).bernoulli_(gamma, generator=self.generator)
        keep = 1.0 - grow_blocks(seeds, b)
        noise = keep * (keep.numel() / (EPS + keep.sum()))
        self.remember(keep > 0, noise)
        return x * noise


register(
    Variant(
        key="dropblock",
        name="DropBlock (conv maps)",
        layer=DropBlock,
        train_rule=(r"\gamma = \frac{q\,HW}{b^2 (H-b+1)(W-b+1)},\ \text{centres} \sim \mathrm{Bernoulli}(\gamma),\ "
                    r"M = 1 - \operatorname{maxpool}_{b \times b}(\text{centres}),\ \tilde h = h \odot M\,\frac{\#M}{\sum M}"),
        infer_rule=r"\tilde h = h",
        explanation=(
            "On convolutional feature maps neighbouring activations carry nearly the same information, so "
            "dropping single ones barely regularises: the next layer recovers them from their neighbours. "
            "DropBlock drops contiguous b×b squares instead, so whole parts of the image disappear from a "
            "map and the network must use other evidence. Block centres are drawn at a rate γ that would "
            "drop a share q of the units if blocks never overlapped; as they do, somewhat less is dropped "
            "at high rates. The kept units are rescaled by the kept share."
        ),
        reference="Ghiasi, Lin, Le (2018), DropBlock: A regularization method for convolutional networks, NeurIPS",
        survivors="b×b blocks of each map dropped, the rest rescaled",
        models=("cnn",),
        params=(BLOCK_SIZE,),
        placement="maps",
        unit_masks=False,
    )
)
