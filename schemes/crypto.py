"""Owner identity for null embedding (Li et al. section 6.1): RSA-2048 keys, signed verifier strings, certificates.

The owner signs ``v = f"{owner_id}|{utc_timestamp}"`` with RSA PKCS#1 v1.5 + SHA-256; the
watermark pattern is a hash of the signature bytes, so nobody without the private key can
produce a pattern that links to the owner.

What is signed. The paper signs ``v`` only. Our certificate also carries the pattern
parameters (n, lambda, threshold) that verification uses, and those must not be editable
(a smaller lambda or threshold would weaken or fake a claim). So the signed message is
``v + "\\n" + canonical JSON of the pattern parameters`` (sorted keys, no spaces, ints/floats
normalised). Changing any of owner id, timestamp, n, lambda or threshold breaks the
signature, and the public key is bound by the signature check itself.

Two ways to make a key pair: ``generate_identity`` (cryptography's secure generator; what
``bench keygen`` uses) and ``seeded_identity`` (a valid RSA-2048 key derived from a seed with
seeded prime generation). Seeded keys exist only so benchmark grids are reproducible from
the run's seed: anyone who knows the seed knows the private key. Never use them to claim a
real model.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import math
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from harness.errors import BadInput

CERT_FORMAT = "wmbench-null-embedding-certificate/1"
KEY_BITS = 2048
PUBLIC_EXPONENT = 65537
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class PatternParams:
    """Watermark pattern parameters carried (and signed) in the certificate."""

    n: int = 6  # side of the n x n square
    lam: float = 2000.0  # extreme value lambda (pixel space, inputs in [0, 1])
    threshold: float = 0.5  # T of Algorithm 3

    def as_dict(self) -> dict[str, Any]:
        return {"n": int(self.n), "lambda": float(self.lam), "threshold": float(self.threshold)}

    def canonical(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Identity:
    """An owner's key pair plus the verifier string it signs. Holds the private key: never publish."""

    owner_id: str
    timestamp: str
    private_key: rsa.RSAPrivateKey

    @property
    def verifier(self) -> str:
        return f"{self.owner_id}|{self.timestamp}"

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())


@dataclass(frozen=True)
class Certificate:
    """The public claim: owner id, timestamp, signature, public key, pattern parameters."""

    owner_id: str
    timestamp: str
    signature: bytes
    public_key: rsa.RSAPublicKey
    public_pem: str
    pattern: PatternParams

    @property
    def verifier(self) -> str:
        return f"{self.owner_id}|{self.timestamp}"

    def signed_message(self) -> bytes:
        return signed_message(self.owner_id, self.timestamp, self.pattern)

    def as_dict(self) -> dict[str, Any]:
        return {"format": CERT_FORMAT, "owner_id": self.owner_id, "timestamp": self.timestamp,
                "signature": base64.b64encode(self.signature).decode("ascii"),
                "public_key": self.public_pem, "pattern": self.pattern.as_dict()}


def signed_message(owner_id: str, timestamp: str, pattern: PatternParams) -> bytes:
    return f"{owner_id}|{timestamp}\n{pattern.canonical()}".encode("utf-8")


def _check_owner(owner_id: Any) -> str:
    if not isinstance(owner_id, str) or not owner_id or len(owner_id) > 256:
        raise BadInput("owner id must be a non-empty string of at most 256 characters")
    if "|" in owner_id or any(ord(c) < 32 for c in owner_id):
        raise BadInput(f"owner id {owner_id!r} may not contain '|' or control characters")
    return owner_id


def _check_timestamp(ts: Any) -> str:
    try:
        ok = isinstance(ts, str) and dt.datetime.strptime(ts, TIME_FORMAT).strftime(TIME_FORMAT) == ts
    except ValueError:
        ok = False
    if not ok:
        raise BadInput(f"timestamp {ts!r} is not a UTC time like 2026-01-31T12:00:00Z")
    return ts


def check_pattern(obj: Any) -> PatternParams:
    """Strict parse of the certificate's pattern block (exact keys and types)."""
    if not isinstance(obj, dict) or set(obj) != {"n", "lambda", "threshold"}:
        raise BadInput("pattern must be an object with exactly the keys n, lambda, threshold")
    n, lam, thr = obj["n"], obj["lambda"], obj["threshold"]
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 16:  # n*n bits come from SHA-256
        raise BadInput(f"pattern.n must be an integer in 1..16, got {n!r}")
    for name, val in (("lambda", lam), ("threshold", thr)):
        if not isinstance(val, (int, float)) or isinstance(val, bool) or not math.isfinite(val):
            raise BadInput(f"pattern.{name} must be a finite number, got {val!r}")
    if lam <= 1.0:
        raise BadInput(f"pattern.lambda must be > 1 (an extreme value on [0, 1] inputs), got {lam!r}")
    if not 0.0 < thr <= 1.0:
        raise BadInput(f"pattern.threshold must be in (0, 1], got {thr!r}")
    return PatternParams(int(n), float(lam), float(thr))


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime(TIME_FORMAT)


def generate_identity(owner_id: str, timestamp: str | None = None) -> Identity:
    """A fresh RSA-2048 identity from the OS's secure generator (``bench keygen``)."""
    key = rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)
    return Identity(_check_owner(owner_id), _check_timestamp(timestamp or utc_now()), key)


# --- seeded RSA (benchmarking only) ------------------------------------------------------

_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % q for q in range(2, int(p ** 0.5) + 1))]


def _miller_rabin(n: int, rng: random.Random, rounds: int) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(rounds):
        a = rng.randrange(2, n - 2)
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _seeded_prime(rng: random.Random, bits: int) -> int:
    """A random ``bits``-bit prime (top two bits set, so p*q has exactly 2 * bits bits)."""
    while True:
        cand = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        if any(cand % p == 0 for p in _SMALL_PRIMES):
            continue
        if (cand - 1) % PUBLIC_EXPONENT == 0:  # e must be invertible mod p - 1
            continue
        # 1 round filters composites; 10 more exceed FIPS 186-4 Table C.2 (5 rounds for 1024-bit primes).
        if _miller_rabin(cand, rng, 1) and _miller_rabin(cand, rng, 10):
            return cand


@functools.lru_cache(maxsize=256)
def seeded_identity(owner_id: str, seed: int) -> Identity:
    """A deterministic, valid RSA-2048 identity from ``seed``. BENCHMARKING ONLY: the seed is the key.

    The timestamp is derived from the seed too, so the whole certificate (and thus the
    watermark pattern) is a pure function of (owner_id, seed).
    """
    rng = random.Random(f"wmbench-seeded-rsa|{owner_id}|{seed}")
    half = KEY_BITS // 2
    while True:
        p, q = _seeded_prime(rng, half), _seeded_prime(rng, half)
        if abs(p - q) > 1 << (half - 100):
            break
    lam = math.lcm(p - 1, q - 1)
    d = pow(PUBLIC_EXPONENT, -1, lam)
    numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                    rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(PUBLIC_EXPONENT, p * q))
    base = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    ts = (base + dt.timedelta(seconds=rng.randrange(10 * 365 * 86400))).strftime(TIME_FORMAT)
    return Identity(_check_owner(owner_id), ts, numbers.private_key())


# --- certificates ------------------------------------------------------------------------


def make_certificate(identity: Identity, pattern: PatternParams = PatternParams()) -> Certificate:
    """Sign the verifier string and pattern parameters (see module docstring)."""
    pattern = check_pattern(pattern.as_dict())
    sig = identity.private_key.sign(signed_message(identity.owner_id, identity.timestamp, pattern),
                                    padding.PKCS1v15(), hashes.SHA256())
    pub = identity.private_key.public_key()
    pem = pub.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    return Certificate(identity.owner_id, identity.timestamp, sig, pub, pem, pattern)


def parse_certificate(obj: Any, source: str = "certificate") -> Certificate:
    """Strict validation of a certificate dict -> ``Certificate``; any defect is one ``BadInput`` line."""
    try:
        if not isinstance(obj, dict):
            raise BadInput("not a JSON object")
        want = {"format", "owner_id", "timestamp", "signature", "public_key", "pattern"}
        if set(obj) != want:
            raise BadInput(f"keys must be exactly {sorted(want)}, got {sorted(obj)}")
        if obj["format"] != CERT_FORMAT:
            raise BadInput(f"format {obj['format']!r} is not {CERT_FORMAT!r}")
        owner, ts, pattern = _check_owner(obj["owner_id"]), _check_timestamp(obj["timestamp"]), check_pattern(obj["pattern"])
        if not isinstance(obj["signature"], str):
            raise BadInput("signature must be a base64 string")
        try:
            sig = base64.b64decode(obj["signature"], validate=True)
        except (binascii.Error, ValueError):
            raise BadInput("signature is not valid base64") from None
        pem = obj["public_key"]
        if not isinstance(pem, str):
            raise BadInput("public_key must be a PEM string")
        try:
            pub = serialization.load_pem_public_key(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError, TypeError) as exc:
            raise BadInput(f"public_key is not a PEM public key ({str(exc).splitlines()[0] if str(exc) else 'unparsable'})") from None
        if not isinstance(pub, rsa.RSAPublicKey) or pub.key_size < KEY_BITS:
            raise BadInput(f"public_key must be an RSA key of at least {KEY_BITS} bits")
        if len(sig) != (pub.key_size + 7) // 8:
            raise BadInput(f"signature has {len(sig)} bytes; an RSA-{pub.key_size} signature has {(pub.key_size + 7) // 8}")
    except BadInput as exc:
        raise BadInput(f"{source}: {exc}") from None
    return Certificate(owner, ts, sig, pub, pem, pattern)


def load_certificate(path: str | os.PathLike) -> Certificate:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read certificate ({exc.__class__.__name__}: {exc})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}: not valid JSON ({exc})") from None
    return parse_certificate(obj, source=str(path))


def verify_signature(cert: Certificate | dict) -> bool:
    """True iff the signature over (verifier string, pattern parameters) checks with the public key."""
    if isinstance(cert, dict):
        try:
            cert = parse_certificate(cert)
        except BadInput:
            return False
    try:
        cert.public_key.verify(cert.signature, cert.signed_message(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# --- files -------------------------------------------------------------------------------


def atomic_write(path: str | os.PathLike, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a same-directory temp file and rename (never half-written)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_private_key(identity: Identity, path: str | os.PathLike) -> None:
    atomic_write(path, identity.private_pem(), mode=0o600)


def write_certificate(cert: Certificate, path: str | os.PathLike) -> None:
    atomic_write(path, (json.dumps(cert.as_dict(), indent=2) + "\n").encode("utf-8"))
