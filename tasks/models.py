"""The paper's architectures (Li et al. Tables 10-13) and ``timm:<name>`` for any task.

Every model exposes the timm-style head API the attacks rely on: ``forward_features``
(penultimate activations), ``get_classifier()`` and ``reset_classifier(num_classes)``,
so transfer learning, DeepSigns and fine-tuning need no per-architecture code.
Standardisation is a fixed first layer, so inputs (and watermark patterns) stay in pixel space.
Convolutions use 'valid' padding for Digit (so conv_2 has 5*5*32 = 800 weights per
filter, as Uchida's host layer expects) and 'same' padding for Traffic/Object.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import Tensor, nn

from harness.errors import UnknownName


class Normalize(nn.Module):
    def __init__(self, mean: list[float], std: list[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class PaperNet(nn.Module):
    """``normalize -> body (named layers) -> head``; the body ends at the penultimate activation."""

    def __init__(self, body: "OrderedDict[str, nn.Module]", feat_dim: int, num_classes: int, mean_std):
        super().__init__()
        self.normalize = Normalize(*mean_std)
        self.body = nn.Sequential(body)
        self.feat_dim = feat_dim
        self.head = nn.Linear(feat_dim, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.body(self.normalize(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))

    def get_classifier(self) -> nn.Linear:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        self.head = nn.Linear(self.feat_dim, num_classes).to(self.head.weight.device)

    @property
    def num_classes(self) -> int:
        return self.head.out_features


def _flat_dim(body: nn.Module, shape: tuple[int, int, int]) -> int:
    with torch.no_grad():
        return int(body(torch.zeros(1, *shape)).flatten(1).shape[1])


def digit_cnn(shape, num_classes, mean_std) -> PaperNet:
    """Table 10: conv32 5x5, pool, conv64 5x5, pool, fc512, fc10."""
    convs = OrderedDict(
        conv_1=nn.Conv2d(shape[0], 32, 5), relu_1=nn.ReLU(), pool_1=nn.MaxPool2d(2),
        conv_2=nn.Conv2d(32, 64, 5), relu_2=nn.ReLU(), pool_2=nn.MaxPool2d(2), flatten=nn.Flatten(),
    )
    flat = _flat_dim(nn.Sequential(convs), shape)
    body = OrderedDict(**convs, fc_1=nn.Linear(flat, 512), relu_fc1=nn.ReLU())
    return PaperNet(body, 512, num_classes, mean_std)


def vgg6_cnn(shape, num_classes, mean_std) -> PaperNet:
    """Tables 12/13 (Traffic, Object): conv 32,32,pool,64,64,pool,128,128,pool, fc512, fc512, head."""
    layers: "OrderedDict[str, nn.Module]" = OrderedDict()
    cin, i = shape[0], 1
    for block, cout in enumerate((32, 64, 128), start=1):
        for _ in range(2):
            layers[f"conv_{i}"] = nn.Conv2d(cin, cout, 3, padding=1)
            layers[f"relu_{i}"] = nn.ReLU()
            cin, i = cout, i + 1
        layers[f"pool_{block}"] = nn.MaxPool2d(2)
    layers["flatten"] = nn.Flatten()
    flat = _flat_dim(nn.Sequential(layers), shape)
    layers.update(fc_1=nn.Linear(flat, 512), relu_fc1=nn.ReLU(), fc_2=nn.Linear(512, 512), relu_fc2=nn.ReLU())
    return PaperNet(layers, 512, num_classes, mean_std)


class _DeepIDBody(nn.Module):
    """Table 11 (Face, DeepID): fc_1 on pool_3 and fc_2 on conv_4 are added, then ReLU."""

    def __init__(self, shape):
        super().__init__()
        c = shape[0]
        self.trunk = nn.Sequential(OrderedDict(
            conv_1=nn.Conv2d(c, 20, 4), relu_1=nn.ReLU(), pool_1=nn.MaxPool2d(2),
            conv_2=nn.Conv2d(20, 40, 3), relu_2=nn.ReLU(), pool_2=nn.MaxPool2d(2),
            conv_3=nn.Conv2d(40, 60, 3), relu_3=nn.ReLU(), pool_3=nn.MaxPool2d(2),
        ))
        self.conv_4 = nn.Sequential(nn.Conv2d(60, 80, 2), nn.ReLU())
        with torch.no_grad():
            p3 = self.trunk(torch.zeros(1, *shape))
            c4 = self.conv_4(p3)
        self.fc_1 = nn.Linear(p3.flatten(1).shape[1], 160)
        self.fc_2 = nn.Linear(c4.flatten(1).shape[1], 160)

    def forward(self, x: Tensor) -> Tensor:
        p3 = self.trunk(x)
        return torch.relu(self.fc_1(p3.flatten(1)) + self.fc_2(self.conv_4(p3).flatten(1)))


def deepid(shape, num_classes, mean_std) -> PaperNet:
    return PaperNet(OrderedDict(deepid=_DeepIDBody(shape)), 160, num_classes, mean_std)


class TimmNet(nn.Module):
    """Wraps ``timm.create_model`` with the same standardisation layer and head API."""

    def __init__(self, name: str, shape, num_classes: int, mean_std):
        super().__init__()
        import timm

        try:
            self.net = timm.create_model(name, pretrained=False, num_classes=num_classes, in_chans=shape[0])
        except RuntimeError as exc:  # timm: "Unknown model (...)"
            raise UnknownName("architecture", f"timm:{name}", ["digit_cnn", "vgg6_cnn", "deepid", "timm:<any timm model>"]) from exc
        self.normalize = Normalize(*mean_std)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.net.forward_head(self.net.forward_features(self.normalize(x)), pre_logits=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.normalize(x))

    def get_classifier(self) -> nn.Module:
        return self.net.get_classifier()

    def reset_classifier(self, num_classes: int) -> None:
        dev = next(self.parameters()).device
        self.net.reset_classifier(num_classes)
        self.net.to(dev)

    @property
    def num_classes(self) -> int:
        return self.net.num_classes


ARCHS = {"digit_cnn": digit_cnn, "vgg6_cnn": vgg6_cnn, "deepid": deepid}


def build_model(arch: str, shape: tuple[int, int, int], num_classes: int, mean_std=None) -> nn.Module:
    mean_std = mean_std or ([0.0] * shape[0], [1.0] * shape[0])
    if arch.startswith("timm:"):
        return TimmNet(arch[5:], shape, num_classes, mean_std)
    if arch not in ARCHS:
        raise UnknownName("architecture", arch, [*ARCHS, "timm:<name>"])
    return ARCHS[arch](shape, num_classes, mean_std)


def list_archs() -> list[str]:
    return [*ARCHS, "timm:<name>"]
