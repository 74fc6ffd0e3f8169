"""Spatial (channel) dropout for convolutional feature maps, as ``nn.Dropout2d``.

One Bernoulli(k) draw per (example, channel), broadcast over the channel's
whole H×W map: a feature map is either kept (and scaled by 1/k) or zeroed
entirely. Inference is the identity, as for inverted dropout.

When ``record`` is on, ``last_mask`` is the **bool (N, C) channel mask**
(True = channel kept), not a mask shaped like the input: it is what a page
shows, and ``last_mask[:, :, None, None]`` broadcasts it back onto the maps.
``last_input`` is the (N, C, H, W) input, as for the other variants.
"""

from __future__ import annotations

import torch

from explorer.dropout.base import DropoutLayer, Variant, register


class SpatialDropout(DropoutLayer):
    """Zeroes whole channels of an (N, C, H, W) input; survivors are scaled by 1/k.

    Any input with a batch and a channel dimension first works, (N, C, L) too:
    the draw is per (example, channel) and broadcast over every trailing axis.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f"spatial dropout needs (N, C, H, W) feature maps, got shape {tuple(x.shape)}")
        if self.training and self.p == 0.0:
            # the base class would record an all-True mask shaped like x; ours is (N, C)
            if self.record:
                self.last_input = x.detach()
            self.remember(torch.ones(x.shape[:2], dtype=torch.bool, device=x.device), torch.ones(x.shape[:2]))
            return x
        return super().forward(x)

    def channel_keep(self, x: torch.Tensor) -> torch.Tensor:
        """A fresh {0, 1} mask of shape (N, C, 1, …, 1): one draw per example and channel."""
        shape = (*x.shape[:2], *([1] * (x.dim() - 2)))
        return x.new_empty(shape).bernoulli_(self.keep, generator=self.generator)

    def train_forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = self.channel_keep(x)
        if self.keep > 0.0:
            noise.div_(self.keep)  # same order of operations as nn.Dropout2d: bernoulli_(k), then /k
        self.remember(noise.reshape(x.shape[:2]) > 0, noise.reshape(x.shape[:2]))
        return x * noise


register(
    Variant(
        key="spatial",
        name="Spatial (channels)",
        layer=SpatialDropout,
        train_rule=(
            r"\tilde h_{n,c,:,:} = \frac{m_{n,c}}{k}\, h_{n,c,:,:},\quad "
            r"m_{n,c} \sim \mathrm{Bernoulli}(k),\ k = 1 - q"
        ),
        infer_rule=r"\tilde h = h",
        explanation=(
            "In a convolutional layer, neighbouring pixels of a feature map are strongly "
            "correlated, so zeroing single activations barely regularises it: the dropped value "
            "is almost recoverable from its neighbours, and the next layer still sees the "
            "feature. Spatial dropout drops whole channels instead: for each example, every "
            "feature map is kept with probability k (and divided by k) or zeroed everywhere, so "
            "the network cannot rely on any one feature detector being present. Inference runs "
            "the full network unchanged. This is torch's nn.Dropout2d (Tompson et al. 2015)."
        ),
        reference=(
            "Tompson, Goroshin, Jain, LeCun, Bregler (2015), Efficient Object Localization "
            "Using Convolutional Networks, CVPR"
        ),
        survivors="kept channels scaled by 1/k",
        models=("cnn",),
        placement="maps",
    )
)
