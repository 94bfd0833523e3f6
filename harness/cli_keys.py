"""``bench keygen`` / ``bench verify``: null-embedding ownership on the command line.

The lead attaches both with ``cli.add_command(keygen)`` and ``cli.add_command(verify)``.
Exit codes (harness/errors.py): 0 verified, 1 not verified, 2 bad input (malformed file,
wrong architecture, forged certificate), 3 data not found.
"""
from __future__ import annotations

import os
from pathlib import Path

import click

from harness.errors import BadInput, WmbenchError

PRIVATE_KEY_FILE = "private_key.pem"
CERTIFICATE_FILE = "certificate.json"


def _fail(exc: WmbenchError) -> None:
    click.echo(f"error: {exc}", err=True)
    raise click.exceptions.Exit(exc.exit_code)


@click.command("keygen")
@click.option("--owner", "owner_id", required=True, help="Owner identifier (signed into the certificate).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for private_key.pem (0600) and certificate.json.")
@click.option("--n", "n", default=6, show_default=True, type=int, help="Side of the n x n pattern square.")
@click.option("--lambda", "lam", default=2000.0, show_default=True, type=float, help="Extreme pixel value lambda.")
@click.option("--threshold", default=0.5, show_default=True, type=float, help="Verification threshold T.")
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
def keygen(owner_id: str, out_dir: Path, n: int, lam: float, threshold: float, force: bool) -> None:
    """Make an RSA-2048 owner identity and its signed null-embedding certificate."""
    from schemes.crypto import (PatternParams, check_pattern, generate_identity, make_certificate,
                                write_certificate, write_private_key)

    try:
        pattern = check_pattern({"n": n, "lambda": lam, "threshold": threshold})
        key_path, cert_path = out_dir / PRIVATE_KEY_FILE, out_dir / CERTIFICATE_FILE
        existing = [str(p) for p in (key_path, cert_path) if p.exists()]
        if existing and not force:
            raise BadInput(f"{', '.join(existing)} already exist(s); pass --force to overwrite")
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BadInput(f"{out_dir}: cannot create folder ({exc.strerror})") from None
        identity = generate_identity(owner_id)
        cert = make_certificate(identity, PatternParams(pattern.n, pattern.lam, pattern.threshold))
        write_private_key(identity, key_path)
        write_certificate(cert, cert_path)
    except WmbenchError as exc:
        _fail(exc)
    click.echo(f"owner:       {cert.owner_id}\ntimestamp:   {cert.timestamp}\n"
               f"private key: {key_path} (keep secret; mode {oct(os.stat(key_path).st_mode & 0o777)})\n"
               f"certificate: {cert_path} (give to the verifier)")


def load_model_file(path: Path, task, arch: str | None):
    """A safetensors state dict loaded strictly into ``task.model(arch)`` (shapes, NaN/inf and pickles checked)."""
    from harness.modelio import load_into

    return load_into(task.model(arch), path).eval()


@click.command("verify")
@click.option("--task", "task_name", required=True, help="Task the model solves (e.g. digit, digit-mini).")
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Model weights (.safetensors).")
@click.option("--certificate", "cert_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The owner's certificate.json.")
@click.option("--data-dir", default=None, help="Data root (default: WMBENCH_DATA).")
@click.option("--profile", default="quick", show_default=True, help="Profile whose held-out test set is used.")
@click.option("--arch", default=None, help="Architecture if not the task default (e.g. timm:resnet18).")
def verify(task_name: str, model_path: Path, cert_path: Path, data_dir: str | None, profile: str, arch: str | None) -> None:
    """Algorithm 3: check the certificate's signature, then the null and true embedding accuracies."""
    from harness.types import Key
    from schemes.crypto import load_certificate, verify_signature
    from schemes.null_embedding import NullEmbedding
    from tasks import get_task

    try:
        cert = load_certificate(cert_path)
        if not verify_signature(cert):  # checked before any model is loaded or queried
            raise BadInput(f"{cert_path}: signature does not verify with the certificate's public key "
                           "(forged or altered certificate)")
        task = get_task(task_name, data_dir=data_dir, profile=profile)
        model = load_model_file(model_path, task, arch)
        result = NullEmbedding().verify(model, Key(NullEmbedding.name, cert.as_dict()), task, task.data("test"))
    except WmbenchError as exc:
        _fail(exc)
    d = result.details
    verdict = "VERIFIED" if result.verified else "NOT VERIFIED"
    click.echo("\n".join([
        f"owner:            {cert.owner_id}  (signed {cert.timestamp})",
        f"signature valid:  {'yes' if d.get('signature_valid') else 'no'}",
        f"null accuracy:    {d['null_acc']:.4f}  on {d['n_null']} test inputs   f(x+P) == y",
        f"true accuracy:    {d['true_acc']:.4f}  on {d['n_true']} test inputs   f(x+P~) == y_W",
        f"threshold T:      {result.threshold}",
        f"p-value:          {result.p_value:.3g}  (binomial vs chance, larger of the two)",
        f"verdict:          {verdict}",
    ]))
    raise click.exceptions.Exit(0 if result.verified else 1)
