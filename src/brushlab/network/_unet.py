"""The U-Net in torch (imported only for training and export) and its ONNX export."""

from __future__ import annotations

import io
import warnings
from typing import Any

import torch
from torch import nn

from brushlab.network._geometry import Architecture

__all__ = ["UNet", "Calibrated", "export_onnx", "INPUT", "OUTPUT"]

INPUT, OUTPUT = "input", "probabilities"


def _block(ndim: int, cin: int, cout: int) -> nn.Sequential:
    conv = nn.Conv2d if ndim == 2 else nn.Conv3d
    norm = nn.BatchNorm2d if ndim == 2 else nn.BatchNorm3d
    return nn.Sequential(
        conv(cin, cout, 3, padding=1, bias=False),
        norm(cout),
        nn.ReLU(inplace=True),
        conv(cout, cout, 3, padding=1, bias=False),
        norm(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """A plain U-Net (Ronneberger et al. 2015) with same-size convolutions: logits out."""

    def __init__(self, arch: Architecture) -> None:
        super().__init__()
        self.arch = arch
        nd, base = arch.ndim, arch.base_channels
        pool = nn.MaxPool2d if nd == 2 else nn.MaxPool3d
        up = nn.ConvTranspose2d if nd == 2 else nn.ConvTranspose3d
        conv = nn.Conv2d if nd == 2 else nn.Conv3d
        widths = [base * 2**level for level in range(arch.depth)]
        self.down = nn.ModuleList()
        cin = arch.in_channels
        for w in widths:
            self.down.append(_block(nd, cin, w))
            cin = w
        self.pools = nn.ModuleList(pool(p, p) for p in arch.pools)
        self.ups = nn.ModuleList(
            up(widths[i + 1], widths[i], arch.pools[i], arch.pools[i])  # type: ignore[arg-type]
            for i in range(arch.depth - 1)
        )
        self.up_blocks = nn.ModuleList(
            _block(nd, 2 * widths[i], widths[i]) for i in range(arch.depth - 1)
        )
        self.head = conv(widths[0], arch.n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.pools):
                skips.append(x)
                x = self.pools[i](x)
        for i in reversed(range(len(self.ups))):
            x = self.ups[i](x)
            x = self.up_blocks[i](torch.cat([skips[i], x], dim=1))
        return self.head(x)  # type: ignore[no-any-return]


class Calibrated(nn.Module):
    """Softmax of the logits divided by a temperature plus per-class biases."""

    def __init__(self, net: UNet, temperature: float, bias: Any) -> None:
        super().__init__()
        self.net = net
        self.temperature = float(temperature)
        b = torch.as_tensor(bias, dtype=torch.float32)
        self.register_buffer("bias", b.reshape(1, -1, *([1] * net.arch.ndim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x) / self.temperature + self.bias, dim=1)


def export_onnx(net: UNet, temperature: float, bias: Any) -> bytes:
    """ONNX bytes (opset 17) of the calibrated network; spatial sizes stay free."""
    arch = net.arch
    model = Calibrated(net, temperature, bias).eval().cpu()
    example = torch.zeros((1, arch.in_channels, *[2 * m for m in arch.multiple]))
    axes = {0: "batch", **{2 + i: "yx"[i - arch.ndim + 2] if i >= arch.ndim - 2 else "z"
                           for i in range(arch.ndim)}}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,  # type: ignore[arg-type]
            dynamo=False,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_axes={INPUT: axes, OUTPUT: axes},
            opset_version=17,
        )
    return buffer.getvalue()
