"""Null embedding (Li et al., "Piracy Resistant Watermarks for Deep Neural Networks", sections 5-6).

The owner's RSA signature is hashed into a pattern P (an n x n square of +-lambda pixels)
and a label y_W. Dual embedding during the owner's initial training teaches the model
f(x + P) = y (null embedding: the extreme square must not change the answer) and
f(x + P~) = y_W (true embedding: the flipped square forces y_W). Verification is
Algorithm 3: check the signature first, rebuild P by ``Transform``, and require both
accuracies >= T on held-out inputs.

Choices the paper leaves open (DESIGN.md sections 4, 8, 9):
- Loss weights of the null/true parts (``null_weight``/``true_weight``): default 1.0, the
  paper's plain mixing of the extra samples into the batch; public ports use 0.25.
- True accuracy leaves out test inputs whose true label is y_W (``exclude_target``): for
  them a model that ignores P~ would also answer y_W, which inflates false claims. Null
  accuracy uses every test input, as in the paper.
- p-value: each half is a binomial test against chance 1/C; the claim needs both, so
  the combined p-value is the larger one.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import torch
from torch import Tensor, nn

from harness.errors import BadInput
from harness.evaluate import predict
from harness.types import ExtraBatch, Key, TrainHooks, Verification
from schemes.base import Param, Scheme
from schemes.crypto import TIME_FORMAT, Identity, PatternParams, make_certificate, parse_certificate, seeded_identity, verify_signature
from schemes.stats import combine_max, trigger_p_value
from tasks.base import Data, Task


def _digest_int(name: str, data: bytes) -> int:
    return int.from_bytes(hashlib.new(name, data).digest(), "big")


class Transform:
    """Algorithm 2 with the public ports' hash assignment (DESIGN.md section 8).

    Digests of the raw signature bytes read as big-endian integers: y_W = SHA-224 mod C;
    bits = SHA-256 mod 2^(n*n), MSB first, row-major in the n x n square; top-left corner
    (row, col) = (SHA-384 mod (H - n), SHA-512 mod (W - n)). Patterns stay float tensors:
    clamping +-lambda to [0, 1] (e.g. by saving stamped images) would destroy them.
    """

    def __init__(self, signature: bytes, num_classes: int, input_shape: tuple[int, int, int],
                 n: int = 6, lam: float = 2000.0):
        _, h, w = input_shape
        if not (1 <= n < h and n < w):
            raise BadInput(f"pattern side n={n} does not fit inputs of size {h}x{w}")
        self.n, self.lam = n, float(lam)
        self.y_w = _digest_int("sha224", signature) % num_classes
        value = _digest_int("sha256", signature) % (1 << (n * n))
        self.bits = torch.tensor([(value >> (n * n - 1 - i)) & 1 for i in range(n * n)], dtype=torch.int64).view(n, n)
        self.row = _digest_int("sha384", signature) % (h - n)
        self.col = _digest_int("sha512", signature) % (w - n)

    def values(self, flipped: bool = False) -> Tensor:
        """The square's pixel values: bit 1 -> +lambda, bit 0 -> -lambda (signs swapped for P~)."""
        sign = self.bits.float() * 2 - 1
        return (-sign if flipped else sign) * self.lam

    def _stamp(self, x: Tensor, flipped: bool) -> Tensor:
        out = x.clone()
        r, c, n = self.row, self.col, self.n
        out[:, :, r:r + n, c:c + n] = self.values(flipped).to(device=out.device, dtype=out.dtype)  # every channel
        return out

    def null(self, x: Tensor) -> Tensor:
        """x + P: the square overwritten by the pattern (the true label must survive)."""
        return self._stamp(x, flipped=False)

    def true(self, x: Tensor) -> Tensor:
        """x + P~: the flipped pattern (the model must answer y_W)."""
        return self._stamp(x, flipped=True)

    def describe(self) -> dict[str, Any]:
        return {"y_W": self.y_w, "row": self.row, "col": self.col, "n": self.n, "lambda": self.lam,
                "bits": "".join(str(int(b)) for b in self.bits.flatten())}


KEY_POOL = 32


def benchmark_identity(seed: int) -> Identity:
    """Owner ``owner-<seed>`` with a seed-derived timestamp, signing with one of ``KEY_POOL`` seeded RSA pairs."""
    pooled = seeded_identity("wmbench-key-pool", seed % KEY_POOL)
    offset = _digest_int("sha256", f"wmbench-timestamp|{seed}".encode()) % (10 * 365 * 86400)
    ts = (dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=offset)).strftime(TIME_FORMAT)
    return Identity(f"owner-{seed}", ts, pooled.private_key)


class NullEmbeddingHooks(TrainHooks):
    """Dual embedding: per batch, ``round(ratio * B)`` inputs with P (true labels) and as many with P~ (y_W)."""

    def __init__(self, transform: Transform, ratio: float, null_weight: float = 1.0, true_weight: float = 1.0):
        self.tr, self.ratio = transform, ratio
        self.null_weight, self.true_weight = null_weight, true_weight

    @staticmethod
    def _draw(n: int, k: int, gen: torch.Generator, device: torch.device) -> Tensor:
        if k <= n:
            idx = torch.randperm(n, generator=gen, device=gen.device)[:k]
        else:  # inject_ratio > 1: draw with replacement
            idx = torch.randint(n, (k,), generator=gen, device=gen.device)
        return idx.to(device)

    def extra_batch(self, x: Tensor, y: Tensor, gen: torch.Generator) -> list[ExtraBatch]:
        k = round(self.ratio * len(y))
        if k == 0:
            return []
        i_null = self._draw(len(y), k, gen, x.device)
        i_true = self._draw(len(y), k, gen, x.device)
        y_w = torch.full((k,), self.tr.y_w, dtype=y.dtype, device=y.device)
        return [ExtraBatch(self.tr.null(x[i_null]), y[i_null], self.null_weight),
                ExtraBatch(self.tr.true(x[i_true]), y_w, self.true_weight)]


class NullEmbedding(Scheme):
    name = "null_embedding"
    kind = "null"
    version = "1"
    summary = "Li et al. null + true dual embedding of a signature-derived +-lambda pattern (piracy resistant)"
    #: Bounds for the constructor's arguments (the constructor's defaults are the ones used), so
    #: ``null_embedding+threshold=2`` fails when named, as the other schemes' variants do.
    parameters = {"n": Param("int", 6, 1), "lam": Param("float", 2000.0, 0), "threshold": Param("float", 0.5, 0, 1),
                  "inject_ratio": Param("float | None", None, 0), "null_weight": Param("float", 1.0, 0),
                  "true_weight": Param("float", 1.0, 0)}

    def __init__(self, n: int = 6, lam: float = 2000.0, threshold: float = 0.5, inject_ratio: float | None = None,
                 null_weight: float = 1.0, true_weight: float = 1.0, exclude_target: bool = True):
        super().__init__(n=n, lam=lam, threshold=threshold, inject_ratio=inject_ratio,
                         null_weight=null_weight, true_weight=true_weight, exclude_target=exclude_target)
        self.pattern = PatternParams(int(n), float(lam), float(threshold))

    def keygen(self, task: Task, seed: int) -> Key:
        """A seeded (benchmark-only) identity ``owner-<seed>`` and its signed certificate.

        Grids need thousands of keys (100 pirate keys per cell, 1,000 random claimants), and
        a seeded RSA-2048 key takes about a second to generate. So the RSA key pair comes
        from a pool of ``KEY_POOL`` seeded pairs, while the owner id and timestamp, and so
        the signature and the pattern, are unique per seed: PKCS#1 v1.5 signatures of
        distinct messages hash to independent patterns, which is all a watermark uses.
        """
        cert = make_certificate(benchmark_identity(seed), self.pattern)
        Transform(cert.signature, task.num_classes, task.input_shape, cert.pattern.n, cert.pattern.lam)  # fits?
        return Key(self.name, cert.as_dict())

    def transform(self, key: Key, task: Task) -> Transform:
        cert = parse_certificate(key.params, source="null_embedding key")
        return Transform(cert.signature, task.num_classes, task.input_shape, cert.pattern.n, cert.pattern.lam)

    def hooks(self, key: Key, task: Task) -> list[TrainHooks]:
        ratio = self.params["inject_ratio"]
        ratio = task.inject_ratio if ratio is None else float(ratio)
        return [NullEmbeddingHooks(self.transform(key, task), ratio,
                                   float(self.params["null_weight"]), float(self.params["true_weight"]))]

    def backdoor_label(self, key: Key, task: Task) -> int | None:
        """y_W: the true embedding maps x + P to it, a backdoor-like behaviour."""
        return self.transform(key, task).y_w

    def verify(self, model: nn.Module, key: Key, task: Task, test: Data) -> Verification:
        """Algorithm 3. A bad or forged certificate fails before the model is queried."""
        try:
            cert = parse_certificate(key.params, source="certificate")
        except BadInput as exc:
            return _rejected(str(exc), None)
        if not verify_signature(cert):
            return _rejected("signature does not verify with the certificate's public key", cert.pattern.threshold)
        tr = Transform(cert.signature, task.num_classes, task.input_shape, cert.pattern.n, cert.pattern.lam)
        t = cert.pattern.threshold
        null_pred = predict(model, test, transform=tr.null)
        null_acc = float((null_pred == test.y.cpu()).float().mean())
        true_set = test.subset(test.y != tr.y_w) if self.params["exclude_target"] else test
        true_pred = predict(model, true_set, transform=tr.true)
        true_acc = float((true_pred == tr.y_w).float().mean())
        null_top, null_share, _ = _top(null_pred, task.num_classes)
        true_top, true_share, true_shares = _top(true_pred, task.num_classes)
        p = combine_max(trigger_p_value(null_acc, len(test), task.num_classes),
                        trigger_p_value(true_acc, len(true_set), task.num_classes))
        return Verification(
            wm_acc=min(null_acc, true_acc), verified=bool(null_acc >= t and true_acc >= t), p_value=p, threshold=t,
            details={"signature_valid": True, "owner_id": cert.owner_id, "null_acc": null_acc, "true_acc": true_acc,
                     "y_W": tr.y_w, "n_null": len(test), "n_true": len(true_set),
                     "null_top_class": null_top, "null_top_share": null_share,
                     "true_top_class": true_top, "true_top_share": true_share,
                     "true_p_key": _p_key(true_shares, true_acc, task.num_classes)})


def _top(pred: Tensor, num_classes: int) -> tuple[int | None, float, Tensor | None]:
    """The class the model gives most of these inputs, its share (a collapsed half reads 1), every share."""
    if len(pred) == 0:
        return None, float("nan"), None
    shares = torch.bincount(pred, minlength=num_classes).float() / len(pred)
    return int(shares.argmax()), float(shares.max()), shares


def _p_key(shares: Tensor | None, true_acc: float, num_classes: int) -> float:
    """What the true half is worth if the answer does not depend on x.

    At lambda = 2000 the pattern swamps the image, so the model tends to send every x + P_true to
    one class: ``true_top_share`` near 1 whether that class is y_W (embedded) or not (lost). Then
    the n_true inputs are one trial, not n_true, and the binomial p-value overstates the evidence.
    This is the chance that a y_W drawn uniformly and independently of the model (a random key)
    lands on a class the model gives at least ``true_acc`` of the inputs: at least 1/C.
    """
    return 1.0 if shares is None else float((shares >= true_acc - 1e-9).sum()) / num_classes


def _rejected(reason: str, threshold: float | None) -> Verification:
    return Verification(wm_acc=0.0, verified=False, p_value=1.0, threshold=threshold,
                        details={"signature_valid": False, "reason": reason})
