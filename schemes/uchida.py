"""``uchida``: a T-bit string in one conv layer's weights (Uchida et al., ICMR 2017).

w = mean of the layer's kernel over its output filters, flattened (Digit conv_2: 5*5*32 = 800);
the embedding regulariser lambda * sum_bits BCE(sigmoid(X w), b) joins the task loss; the
owner extracts b^ = [X w >= 0]. The original code embeds all-ones b, a degenerate key that
any model pushed towards positive projections would "carry"; we draw b at random.
The key matrix X (T x M) is regenerated from its seed instead of being stored, but the key
records everything that defines it (seed, shape, type, layer, bits).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.errors import BadInput
from harness.types import Key, TrainHooks, Verification
from schemes.base import Param, Scheme
from schemes.stats import bit_agreement_p_value
from tasks.base import Data, Task

KEY_TYPES = ("random", "direct", "diff")


def conv_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def host_layer(model: nn.Module, name: str | None) -> tuple[str, nn.Conv2d]:
    """The named conv layer, or by default the second conv layer of the model (the first if only one)."""
    convs = conv_layers(model)
    if not convs:
        raise BadInput("uchida needs a model with at least one Conv2d layer")
    if name is None:
        return convs[1] if len(convs) > 1 else convs[0]
    for n, m in convs:
        if n == name:
            return n, m
    raise BadInput(f"uchida: no conv layer {name!r}; conv layers: {', '.join(n for n, _ in convs)}")


def mean_weight(conv: nn.Module) -> Tensor:
    """Kernel (L, D, S, S) averaged over the L output filters and flattened: length M = D*S*S."""
    return conv.weight.float().mean(0).flatten()


def key_matrix(key_type: str, t: int, m: int, seed: int) -> Tensor:
    """X (T x M): random N(0,1); direct: one 1 per row; diff: one +1 and one -1 per row."""
    g = torch.Generator().manual_seed(seed)
    if key_type == "random":
        return torch.randn(t, m, generator=g)
    x = torch.zeros(t, m)
    rows = torch.arange(t)
    if key_type == "direct":
        x[rows, torch.randint(m, (t,), generator=g)] = 1.0
        return x
    if key_type == "diff":
        pairs = torch.stack([torch.randperm(m, generator=g)[:2] for _ in range(t)])
        x[rows, pairs[:, 0]] = 1.0
        x[rows, pairs[:, 1]] = -1.0
        return x
    raise BadInput(f"uchida: unknown key_type {key_type!r}; valid: {', '.join(KEY_TYPES)}")


def _matrix_of(key: Key) -> Tensor:
    p = key.params
    t, m = p["shape"]
    return key_matrix(p["key_type"], t, m, p["x_seed"])


class UchidaHooks(TrainHooks):
    """Adds the embedding regulariser on the host layer's mean kernel at every step."""

    def __init__(self, key: Key):
        self.key = key
        self.x = _matrix_of(key)
        self.b = torch.tensor(key.params["bits"], dtype=torch.float32)
        self.scale = float(key.params["scale"])
        self.conv: nn.Module | None = None

    def setup(self, model: nn.Module) -> list[nn.Parameter]:
        _, self.conv = host_layer(model, self.key.params["layer"])
        dev = self.conv.weight.device
        self.x, self.b = self.x.to(dev), self.b.to(dev)
        return []

    def extra_loss(self, model: nn.Module, x: Tensor, y: Tensor, logits: Tensor) -> Tensor:
        # Full precision even under autocast: a bf16 projection would blur the small margins.
        with torch.autocast(device_type=self.b.device.type, enabled=False):
            proj = self.x @ mean_weight(self.conv)
            return self.scale * F.binary_cross_entropy_with_logits(proj, self.b, reduction="sum")


class Uchida(Scheme):
    name = "uchida"
    kind = "bits"
    summary = "white-box bit string in one conv layer's mean kernel (Uchida et al. 2017)"
    parameters = {"bits": Param("int", 256, 1), "key_type": Param("str", "random"), "layer": Param("str | None", None),
                  "scale": Param("float", 0.01, 0), "threshold": Param("float", 0.0, 0, 1)}

    def keygen(self, task: Task, seed: int) -> Key:
        bits = int(self.param("bits"))
        key_type = self.param("key_type")
        if key_type not in KEY_TYPES:
            raise BadInput(f"uchida: unknown key_type {key_type!r}; valid: {', '.join(KEY_TYPES)}")
        layer, conv = host_layer(task.model(self.params.get("arch")), self.param("layer"))
        m = conv.weight[0].numel()
        g = torch.Generator().manual_seed(seed)
        b = torch.randint(2, (bits,), generator=g).tolist()
        x_seed = int(torch.randint(2**31 - 1, (1,), generator=g))
        return Key(self.name, {"seed": seed, "bits": b, "key_type": key_type, "x_seed": x_seed,
                               "shape": [bits, m], "layer": layer, "scale": float(self.param("scale"))})

    def hooks(self, key: Key, task: Task) -> list[TrainHooks]:
        return [UchidaHooks(self._check(key))]

    def verify(self, model: nn.Module, key: Key, task: Task, test: Data) -> Verification:
        key = self._check(key)
        threshold = float(self.param("threshold"))
        name, conv = host_layer(model, key.params["layer"])
        w = mean_weight(conv).detach().cpu()
        if w.numel() != key.params["shape"][1]:
            raise BadInput(f"uchida: layer {name} has {w.numel()} mean weights, the key expects {key.params['shape'][1]}")
        proj = _matrix_of(key) @ w
        b_hat = (proj >= 0).long()
        b = torch.tensor(key.params["bits"])
        agree = int((b_hat == b).sum())
        ber = 1.0 - agree / len(b)
        return Verification(wm_acc=1.0 - ber, verified=ber <= threshold, ber=ber,
                            p_value=bit_agreement_p_value(agree, len(b)), threshold=threshold,
                            details={"layer": name, "bits": len(b), "errors": len(b) - agree,
                                     "mean_abs_proj": float(proj.abs().mean())})

    def _check(self, key: Key) -> Key:
        need = ("bits", "key_type", "x_seed", "shape", "layer", "scale")
        if key.scheme != self.name or any(k not in key.params for k in need):
            raise BadInput(f"not a {self.name} key (scheme {key.scheme!r}, params {sorted(key.params)})")
        if len(key.params["bits"]) != key.params["shape"][0]:
            raise BadInput("uchida key: number of bits disagrees with the key matrix shape")
        return key
