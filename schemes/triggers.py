"""Trigger-set helpers shared by the black-box schemes (zhang, adi): procedural image sets,
the content mark, a batch-mixing hook and trigger-set verification.

The original trigger images (Adi's 100 abstract JPEGs, Zhang's "unrelated" data sets) are
not available offline, so both are generated procedurally from the key's seed: the same
seed always gives the same pixels, and the key stays a few bytes of JSON.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.errors import BadInput
from harness.evaluate import predict
from harness.types import ExtraBatch, TrainHooks, Verification
from schemes.stats import binomial_p_value
from tasks.base import Data


def _grid(h: int, w: int) -> tuple[Tensor, Tensor]:
    ys = torch.linspace(0.0, 1.0, h).view(h, 1).expand(h, w)
    xs = torch.linspace(0.0, 1.0, w).view(1, w).expand(h, w)
    return ys, xs


def _u(g: torch.Generator, *shape: int) -> Tensor:
    return torch.rand(*shape, generator=g)


def _smooth_field(g: torch.Generator, c: int, h: int, w: int, cells: int) -> Tensor:
    """Low-resolution noise upsampled bicubically: large soft colour blobs (Perlin-like)."""
    low = _u(g, 1, c, cells, cells)
    return F.interpolate(low, size=(h, w), mode="bicubic", align_corners=True)[0].clamp(0, 1)


def abstract_images(n: int, shape: tuple[int, int, int], seed: int) -> Tensor:
    """Adi-style abstract images: soft colour blobs with random rectangles and thick lines.

    A stand-in for Adi et al.'s 100 abstract photos (not available offline); each image is
    drawn independently from ``seed``, so labels assigned at random carry no visual cue.
    """
    c, h, w = shape
    g = torch.Generator().manual_seed(seed)
    ys, xs = _grid(h, w)
    out = torch.empty(n, c, h, w)
    for i in range(n):
        img = _smooth_field(g, c, h, w, cells=int(torch.randint(3, 8, (1,), generator=g)))
        for _ in range(int(torch.randint(2, 6, (1,), generator=g))):  # rectangles
            y0, x0, dy, dx = _u(g, 4).tolist()
            m = (ys >= y0) & (ys <= y0 + 0.5 * dy) & (xs >= x0) & (xs <= x0 + 0.5 * dx)
            img[:, m] = _u(g, c, 1)
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):  # thick lines
            y0, x0, ang, th = _u(g, 4).tolist()
            a = ang * math.pi
            dist = ((ys - y0) * math.cos(a) - (xs - x0) * math.sin(a)).abs()
            img[:, dist < 0.02 + 0.05 * th] = _u(g, c, 1)
        out[i] = img
    return out


def shape_images(n: int, shape: tuple[int, int, int], seed: int) -> Tensor:
    """Zhang's "unrelated" trigger stand-in: filled ellipses/triangles on striped or checked textures.

    Zhang et al. use images of another data set; offline we generate a visually distinct
    family (textured backgrounds, solid geometric shapes) that no Digit/Traffic/Object class resembles.
    """
    c, h, w = shape
    g = torch.Generator().manual_seed(seed)
    ys, xs = _grid(h, w)
    out = torch.empty(n, c, h, w)
    for i in range(n):
        freq = 3 + 6 * float(_u(g, 1))
        if float(_u(g, 1)) < 0.5:  # stripes at a random angle
            a = math.pi * float(_u(g, 1))
            tex = (torch.sin(2 * math.pi * freq * (ys * math.cos(a) + xs * math.sin(a))) > 0).float()
        else:  # checkerboard
            tex = ((torch.floor(ys * freq) + torch.floor(xs * freq)) % 2).float()
        lo, hi = _u(g, c, 1, 1) * 0.5, 0.5 + _u(g, c, 1, 1) * 0.5
        img = lo + (hi - lo) * tex
        for _ in range(int(torch.randint(1, 4, (1,), generator=g))):
            cy, cx, ry, rx = _u(g, 4).tolist()
            ry, rx = 0.12 + 0.25 * ry, 0.12 + 0.25 * rx
            if float(_u(g, 1)) < 0.5:
                m = ((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1
            else:  # upward triangle with apex at (cy - ry, cx)
                m = (ys <= cy + ry) & ((xs - cx).abs() <= rx * (ys - (cy - ry)) / (2 * ry))
            img[:, m] = _u(g, c, 1)
        out[i] = img
    return out


_FONT = {  # 3x5 pixel glyphs
    "T": ["111", "010", "010", "010", "010"],
    "E": ["111", "100", "111", "100", "111"],
    "S": ["111", "100", "111", "001", "111"],
}


def text_mask(text: str, hw: tuple[int, int]) -> Tensor:
    """A (H, W) bool mask with ``text`` in a 3x5 pixel font at the bottom-left, scaled with resolution."""
    h, w = hw
    s = max(1, round(min(h, w) / 28))
    if not text or any(ch not in _FONT for ch in text):
        raise BadInput(f"mark {text!r}: the trigger font has the letters {''.join(sorted(_FONT))} only")
    rows = ["0".join(_FONT[ch][r] for ch in text) for r in range(5)]
    glyph = torch.tensor([[c == "1" for c in row] for row in rows])
    glyph = glyph.repeat_interleave(s, 0).repeat_interleave(s, 1)
    gh, gw = glyph.shape
    if gh + 2 > h or gw + 2 > w:
        raise BadInput(f"mark {text!r} does not fit a {h}x{w} image; use a shorter text")
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[h - s - gh:h - s, s:s + gw] = glyph
    return mask


def class_indices(data: Data, cls: int, n: int | None, seed: int) -> list[int]:
    """Seeded choice of ``n`` row indices of class ``cls`` (all of them if n is None), sorted."""
    idx = torch.nonzero(data.y.cpu() == cls).flatten()
    g = torch.Generator().manual_seed(seed)
    idx = idx[torch.randperm(len(idx), generator=g)]
    if n is not None:
        idx = idx[:n]
    return sorted(int(i) for i in idx)


class MixInHooks(TrainHooks):
    """Adds ``round(ratio * batch)`` rows drawn (with replacement) from a fixed trigger pool to every batch."""

    def __init__(self, x: Tensor, y: Tensor, ratio: float):
        self.x, self.y, self.ratio = x.float(), y.long(), ratio

    def extra_batch(self, x: Tensor, y: Tensor, gen: torch.Generator) -> list[ExtraBatch]:
        k = max(1, round(self.ratio * len(y)))
        if self.x.device != x.device:
            self.x, self.y = self.x.to(x.device), self.y.to(x.device)
        pick = torch.randint(len(self.y), (k,), generator=gen, device=gen.device).to(x.device)
        return [ExtraBatch(self.x[pick], self.y[pick])]


def trigger_verification(model: nn.Module, x: Tensor, y: Tensor, chance: float, threshold: float,
                         **details) -> Verification:
    """wm_acc = share of trigger inputs classified as their trigger label; p-value vs ``chance``."""
    pred = predict(model, Data(x, y))
    correct, total = int((pred == y.cpu()).sum()), len(y)
    wm_acc = correct / total if total else float("nan")
    return Verification(wm_acc=wm_acc, verified=bool(total and wm_acc >= threshold),
                        p_value=binomial_p_value(correct, total, chance), threshold=threshold,
                        details={"correct": correct, "total": total, "chance": chance, **details})
