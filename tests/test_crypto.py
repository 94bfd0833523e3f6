"""Owner identities, certificates and ``bench keygen`` (schemes/crypto.py, harness/cli_keys.py)."""
from __future__ import annotations

import base64
import json
import stat

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from harness.cli_keys import keygen
from harness.errors import BadInput
from schemes import crypto
from schemes.crypto import (PatternParams, load_certificate, make_certificate, parse_certificate, seeded_identity,
                            verify_signature, write_certificate)
from schemes.stats import binomial_p_value, bit_agreement_p_value, combine_max, trigger_p_value


def test_seeded_identity_is_deterministic_valid_rsa2048():
    seeded_identity.cache_clear()
    a = seeded_identity("alice", 3)
    seeded_identity.cache_clear()
    b = seeded_identity("alice", 3)
    c = seeded_identity("alice", 4)
    assert a.private_key.key_size == 2048
    na, nb = a.private_key.private_numbers(), b.private_key.private_numbers()
    assert (na.p, na.q, na.d) == (nb.p, nb.q, nb.d) and a.timestamp == b.timestamp
    assert c.private_key.private_numbers().p != na.p
    assert na.public_numbers.n.bit_length() == 2048 and na.public_numbers.e == 65537
    msg = b"wmbench"
    sig = a.private_key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    a.private_key.public_key().verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())  # raises if invalid
    # two identical certificates: PKCS#1 v1.5 is deterministic, so seeded patterns are reproducible
    assert make_certificate(a).signature == make_certificate(b).signature


def _cert_dict(seed: int = 1) -> dict:
    return make_certificate(seeded_identity(f"owner-{seed}", seed), PatternParams(6, 2000.0, 0.5)).as_dict()


def test_certificate_round_trip_and_every_field_is_bound(tmp_path):
    d = _cert_dict()
    assert d["format"] == crypto.CERT_FORMAT and "PRIVATE" not in json.dumps(d)
    assert verify_signature(parse_certificate(d))
    path = tmp_path / "cert.json"
    write_certificate(parse_certificate(d), path)
    assert load_certificate(path).as_dict() == d

    def flipped_sig(s: str) -> str:
        raw = bytearray(base64.b64decode(s))
        raw[17] ^= 0x01
        return base64.b64encode(bytes(raw)).decode()

    tampered = {
        "signature": ("signature", flipped_sig(d["signature"])),
        "owner": ("owner_id", "owner-2"),
        "timestamp": ("timestamp", "2021-01-01T00:00:00Z"),
        "key": ("public_key", _cert_dict(2)["public_key"]),
        "n": ("pattern", {**d["pattern"], "n": 5}),
        "lambda": ("pattern", {**d["pattern"], "lambda": 1000.0}),
        "threshold": ("pattern", {**d["pattern"], "threshold": 0.1}),
    }
    for what, (field, value) in tampered.items():
        bad = {**d, field: value}
        assert not verify_signature(bad), what
        assert not verify_signature(parse_certificate(bad)), what


@pytest.mark.parametrize("change, needle", [
    (lambda d: d.pop("pattern"), "keys must be exactly"),
    (lambda d: d.update(format="other/1"), "format"),
    (lambda d: d.update(signature="!!!not base64"), "base64"),
    (lambda d: d.update(signature=base64.b64encode(b"short").decode()), "bytes"),
    (lambda d: d.update(public_key="-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), "PEM"),
    (lambda d: d.update(owner_id="a|b"), "owner id"),
    (lambda d: d.update(timestamp="yesterday"), "timestamp"),
    (lambda d: d.update(pattern={"n": "6", "lambda": 2000.0, "threshold": 0.5}), "pattern.n"),
    (lambda d: d.update(pattern={"n": 6, "lambda": float("nan"), "threshold": 0.5}), "pattern.lambda"),
    (lambda d: d.update(pattern={"n": 6, "lambda": 2000.0, "threshold": 1.5}), "pattern.threshold"),
])
def test_load_certificate_rejects_malformed_files_with_one_line(tmp_path, change, needle):
    d = _cert_dict()
    change(d)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(d))
    with pytest.raises(BadInput) as err:
        load_certificate(path)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg and str(path) in msg


def test_load_certificate_rejects_non_json(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b"\x89PNG\r\n")
    with pytest.raises(BadInput, match="not valid JSON|cannot read"):
        load_certificate(path)


def test_keygen_cli_writes_private_key_0600_and_refuses_overwrite(tmp_path):
    out = tmp_path / "keys"
    runner = CliRunner()
    res = runner.invoke(keygen, ["--owner", "acme-lab", "--out", str(out), "--lambda", "1000"])
    assert res.exit_code == 0, res.output
    key_file, cert_file = out / "private_key.pem", out / "certificate.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key_file.read_bytes()
    cert = load_certificate(cert_file)
    assert cert.owner_id == "acme-lab" and cert.pattern.lam == 1000.0 and verify_signature(cert)
    assert "PRIVATE" not in cert_file.read_text()
    before = cert_file.read_text()
    res = runner.invoke(keygen, ["--owner", "acme-lab", "--out", str(out)])
    assert res.exit_code == 2 and "--force" in res.output and cert_file.read_text() == before
    res = runner.invoke(keygen, ["--owner", "acme-lab", "--out", str(out), "--force"])
    assert res.exit_code == 0 and cert_file.read_text() != before
    res = runner.invoke(keygen, ["--owner", "x", "--out", str(tmp_path / "k2"), "--n", "0"])
    assert res.exit_code == 2 and "pattern.n" in res.output and not (tmp_path / "k2").exists()


def test_stats_helpers():
    assert binomial_p_value(10, 10, 0.1) == pytest.approx(1e-10)
    assert binomial_p_value(0, 10, 0.1) == pytest.approx(1.0)
    assert binomial_p_value(0, 0, 0.5) == 1.0
    assert 0.4 < bit_agreement_p_value(128, 256) < 0.6
    assert bit_agreement_p_value(256, 256) < 1e-70
    assert trigger_p_value(0.1, 1000, 10) > 0.3 and trigger_p_value(0.9, 1000, 10) < 1e-100
    assert combine_max(1e-9, 0.2) == 0.2
