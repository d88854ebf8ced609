"""WRN-38, the paper's backbone: the "A2" wider ResNet of Wu, Shen and van den Hengel ("Wider or
deeper: revisiting the ResNet model for visual recognition") as a DeepLabv3+ encoder.

Pre-activation identity blocks (BN-ReLU before every conv); a 3x3 stem conv with 64 channels, then
six modules ``mod2`` .. ``mod7`` of 3, 3, 6, 3, 1, 1 blocks. The first four modules use two 3x3
convs per block, the last two 1x1-3x3-1x1 bottlenecks with Dropout2d 0.3 and 0.5 before their last
conv. Max-pooling halves the resolution before ``mod2`` and ``mod3``; strided first blocks do it
after that; a final BN-ReLU (``bn_out``) closes the network.

Output stride (``STRIDE_DILATION``): at 16, the first blocks of ``mod4`` and ``mod5`` have stride
2 and ``mod6``, ``mod7`` dilation 2; at 8 (the paper's setting, as the original's
``dilation=True``), only ``mod4`` has stride 2, ``mod5`` has dilation 2 and ``mod6``, ``mod7``
dilation 4. Each stride the ImageNet network had is replaced by a dilation of the same factor, so
the layout of the weights does not depend on the output stride.

ImageNet weights: the file ``wider_resnet38.pth.tar`` (as distributed with NVIDIA's
semantic-segmentation code, which the paper's code loads): a dict whose ``"state_dict"`` was
saved from ``torch.nn.DataParallel``. ``CHECKPOINT_RENAMES`` turns its keys into this module's;
the layout assumed after them (``N`` a block number, ``bn*`` a BN-ReLU whose batch norm is ``0``)::

    mod1.conv1.weight
    mod{2..7}.blockN.bn1.0.{weight,bias,running_mean,running_var}
    mod{2..7}.blockN.convs.conv1.weight, .convs.bn2.0.*, .convs.conv2.weight
    mod{6,7}.blockN.convs.bn3.0.*, .convs.conv3.weight              (bottlenecks)
    mod{2..7}.block1.proj_conv.weight                               (shortcut projection)
    bn_out.0.*
    classifier.fc.{weight,bias}                                     (ImageNet head, not loaded)
"""

from __future__ import annotations

import pickle
import re
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

from alseg.errors import ConfigError

#: Blocks per module ``mod2`` .. ``mod7``.
BLOCKS = (3, 3, 6, 3, 1, 1)
#: Conv widths of a block per module: two 3x3 convs, or a 1x1-3x3-1x1 bottleneck.
WIDTHS = ((128, 128), (256, 256), (512, 512), (512, 1024), (512, 1024, 2048), (1024, 2048, 4096))
#: Dropout2d before the last conv of each block, per module.
DROPOUT = (0.0, 0.0, 0.0, 0.0, 0.3, 0.5)
STEM_CHANNELS = 64
#: (stride of the first block, dilation) of ``mod2`` .. ``mod7`` per output stride.
STRIDE_DILATION = {
    16: ((1, 1), (1, 1), (2, 1), (2, 1), (1, 2), (1, 2)),
    8: ((1, 1), (1, 1), (2, 1), (1, 2), (1, 4), (1, 4)),
}
#: Published checkpoint key -> this module's key, applied in order (regex, replacement).
CHECKPOINT_RENAMES = ((r"^module\.", ""),)
#: Keys of the published checkpoint that are not part of the encoder (the ImageNet classifier).
CHECKPOINT_IGNORED = re.compile(r"^classifier\.")


class BNReLU(nn.Sequential):
    """Batch norm then ReLU: the pre-activation."""

    def __init__(self, channels: int) -> None:
        super().__init__(nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


def _conv(inputs: int, outputs: int, size: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    padding = dilation * (size // 2)
    return nn.Conv2d(inputs, outputs, size, stride, padding, dilation, bias=False)


class IdentityResidualBlock(nn.Module):
    """Pre-activation residual block; the shortcut is projected by a strided 1x1 conv where the
    width or resolution changes."""

    def __init__(
        self,
        in_channels: int,
        widths: tuple[int, ...],
        stride: int = 1,
        dilation: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.bn1 = BNReLU(in_channels)
        if len(widths) == 2:
            layers = [
                ("conv1", _conv(in_channels, widths[0], 3, stride, dilation)),
                ("bn2", BNReLU(widths[0])),
                ("conv2", _conv(widths[0], widths[1], 3, dilation=dilation)),
            ]
        else:
            layers = [
                ("conv1", _conv(in_channels, widths[0], 1, stride)),
                ("bn2", BNReLU(widths[0])),
                ("conv2", _conv(widths[0], widths[1], 3, dilation=dilation)),
                ("bn3", BNReLU(widths[1])),
                ("conv3", _conv(widths[1], widths[2], 1)),
            ]
        if dropout > 0:
            layers.insert(len(layers) - 1, ("dropout", nn.Dropout2d(dropout)))
        self.convs = nn.Sequential(OrderedDict(layers))
        needs_projection = stride != 1 or in_channels != widths[-1]
        self.proj_conv = _conv(in_channels, widths[-1], 1, stride) if needs_projection else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        activated = self.bn1(x)
        shortcut = x if self.proj_conv is None else self.proj_conv(activated)
        return self.convs(activated) + shortcut


class WRN38Encoder(nn.Module):
    """WRN-38 as a segmentation-models-pytorch encoder: ``forward`` returns the input and the
    features at strides 2, 4, 8, 16 and the output stride (the last one after ``bn_out``)."""

    def __init__(self, depth: int = 5, output_stride: int = 16) -> None:
        super().__init__()
        if depth != 5:
            raise ValueError(f"wrn38 encoder depth must be 5, got {depth}")
        if output_stride not in STRIDE_DILATION:
            raise ValueError(f"wrn38 output stride {output_stride} not supported; allowed: 8, 16")
        self._output_stride = output_stride
        self.mod1 = nn.Sequential(OrderedDict([("conv1", _conv(3, STEM_CHANNELS, 3))]))
        self.pool2 = nn.MaxPool2d(3, stride=2, padding=1)
        self.pool3 = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = STEM_CHANNELS
        layout = zip(BLOCKS, WIDTHS, DROPOUT, STRIDE_DILATION[output_stride], strict=True)
        for number, (blocks, widths, dropout, (stride, dilation)) in enumerate(layout, start=2):
            module = OrderedDict()
            for block in range(blocks):
                first = block == 0
                module[f"block{block + 1}"] = IdentityResidualBlock(
                    in_channels if first else widths[-1],
                    widths,
                    stride if first else 1,
                    dilation,
                    dropout,
                )
            self.add_module(f"mod{number}", nn.Sequential(module))
            in_channels = widths[-1]
        self.bn_out = BNReLU(in_channels)

    @property
    def out_channels(self) -> list[int]:
        return [3, WIDTHS[0][-1], WIDTHS[1][-1], WIDTHS[2][-1], WIDTHS[3][-1], WIDTHS[-1][-1]]

    @property
    def output_stride(self) -> int:
        return self._output_stride

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stride2 = self.mod2(self.pool2(self.mod1(x)))
        stride4 = self.mod3(self.pool3(stride2))
        stride8 = self.mod4(stride4)
        stride16 = self.mod5(stride8)
        return [x, stride2, stride4, stride8, stride16, self.bn_out(self.mod7(self.mod6(stride16)))]

    def set_in_channels(self, in_channels: int, pretrained: bool = True) -> None:
        """smp's hook for other input channels: RGB only."""
        if in_channels != 3:
            raise ValueError(f"wrn38 takes 3 input channels, got {in_channels}")

    def make_dilated(self, output_stride: int) -> None:
        """smp's hook; the encoder is built for its output stride already."""
        if output_stride != self._output_stride:
            raise ValueError(
                f"wrn38 encoder was built for output stride {self._output_stride}, "
                f"not {output_stride}"
            )


def encoder_state_from_checkpoint(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The encoder's tensors from a published checkpoint (a state dict, or a dict holding one
    under ``"state_dict"``), renamed by ``CHECKPOINT_RENAMES`` without the ImageNet head."""
    state = checkpoint.get("state_dict", checkpoint)
    renamed = {}
    for key, tensor in state.items():
        for pattern, replacement in CHECKPOINT_RENAMES:
            key = re.sub(pattern, replacement, key)
        if not CHECKPOINT_IGNORED.match(key):
            renamed[key] = tensor
    return renamed


def load_wrn38_weights(encoder: WRN38Encoder, path: str | Path) -> None:
    """Fill every tensor of ``encoder`` from the checkpoint at ``path`` (strict: none may stay
    random, none may be left over; the batch-norm counters may be absent)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"wrn38 weights file {path} not found (model.weights_path)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        raise ConfigError(f"cannot read wrn38 weights file {path}: {error}") from None
    if not isinstance(checkpoint, dict):
        raise ConfigError(f"wrn38 weights file {path} holds no state dict")
    state = encoder_state_from_checkpoint(checkpoint)
    target = encoder.state_dict()
    missing = [k for k in target if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in target]
    mismatched = [k for k in target if k in state and state[k].shape != target[k].shape]
    problems = [
        f"{label} {len(keys)} (e.g. {', '.join(keys[:3])})"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", mismatched),
        )
        if keys
    ]
    if problems:
        raise ConfigError(
            f"wrn38 weights file {path} does not match the WRN-38 layout: {'; '.join(problems)}"
        )
    encoder.load_state_dict(state, strict=True)
