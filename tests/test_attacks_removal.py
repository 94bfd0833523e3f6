"""Removal attacks (fine-tune, pruning, extraction) on digit-mini smoke with a clean victim.

Every test asserts that the attack changed what it claims to change, so a no-op fails.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch

from attacks import ATTACKS, AttackContext, get_attack
from attacks.extraction import _SoftLabels, noise_images
from attacks.pruning import prunable, prune_global, sparsity
from harness.errors import BadInput
from harness.evaluate import accuracy, predict
from schemes import get_scheme


def make_ctx(task, setting: str, params: dict | None = None, seed: int = 0) -> AttackContext:
    """A context as the harness builds it, for the watermark-free ``none`` scheme."""
    scheme = get_scheme("none")
    return AttackContext(
        task=task, scheme=scheme, owner_key=scheme.keygen(task, seed), recipe=task.recipe,
        attacker=task.data("attacker"), test=task.data("test"), seed=seed, setting=setting,
        device=torch.device("cpu"), params=params or {}, train_size=len(task.data("train")),
        extra={"train": task.data("train")},
    )


def run(name: str, victim, ctx):
    return get_attack(name).run(copy.deepcopy(victim), ctx)


def test_registered():
    assert {"finetune", "pruning", "extraction"} <= set(ATTACKS.names())


def test_unknown_setting_is_one_line_error(mini_smoke, mini_clean):
    with pytest.raises(BadInput, match="known: ftll"):
        run("finetune", mini_clean, make_ctx(mini_smoke, "ftxx"))


# ---------------------------------------------------------------- pruning
def test_prune_global_exact_sparsity(mini_clean):
    model = copy.deepcopy(mini_clean)
    before = [w.detach().clone() for w in prunable(model)]
    masks = prune_global(model, 0.9)
    assert sparsity(model) == pytest.approx(0.9, abs=1e-4)
    assert sparsity(mini_clean) < 0.01
    # the survivors are the largest weights, untouched; biases are never pruned
    kept = torch.cat([b[m] for b, m in zip(before, masks)]).abs()
    dropped = torch.cat([b[~m] for b, m in zip(before, masks)]).abs()
    assert kept.min() >= dropped.max()
    assert all(torch.equal(a, b) for (n, a), (_, b) in zip(model.named_parameters(), mini_clean.named_parameters())
               if n.endswith("bias"))


def test_pruning_curve(mini_smoke, mini_clean):
    res = run("pruning", mini_clean, make_ctx(mini_smoke, "magnitude", {"rates": [0.0, 0.9, 0.99]}))
    rows = {r["rate"]: r for r in res.curve}
    assert [r["rate"] for r in res.curve] == [0.0, 0.9, 0.99]
    assert rows[0.0]["nc_acc"] == pytest.approx(accuracy(mini_clean, mini_smoke.data("test")))
    assert rows[0.9]["nc_acc"] <= rows[0.0]["nc_acc"]
    assert rows[0.99]["nc_acc"] < rows[0.9]["nc_acc"] - 0.05  # monotone-ish: extreme pruning breaks the model
    assert [r["sparsity"] for r in res.curve] == pytest.approx([0.0, 0.9, 0.99], abs=1e-4)
    assert math.isnan(rows[0.9]["wm_acc"]) and rows[0.9]["verified"] is False  # 'none' owner claims nothing
    assert res.metrics["max_rate_within_5pt"] == 0.9
    assert sparsity(res.model) == pytest.approx(0.9, abs=1e-4)


def test_fine_pruning_keeps_masks_and_trains(mini_smoke, mini_clean):
    ctx = make_ctx(mini_smoke, "fine_pruning", {"rates": [0.8]})
    res = run("pruning", mini_clean, ctx)
    pruned = copy.deepcopy(mini_clean)
    prune_global(pruned, 0.8)
    assert res.curve[0]["sparsity"] == pytest.approx(0.8, abs=1e-4)  # fine-tuning did not regrow weights
    assert sparsity(res.model) == pytest.approx(0.8, abs=1e-4)
    moved = sum(float((a.cpu() - b.cpu()).detach().norm()) for a, b in zip(prunable(res.model), prunable(pruned)))
    assert moved > 0
    assert res.cost.epochs == 1 and res.cost.samples == len(ctx.attacker)


# ---------------------------------------------------------------- fine-tuning
def _head_distance(model, victim) -> float:
    return float(sum((a.cpu() - b.cpu()).detach().norm() ** 2 for a, b in zip(model.get_classifier().parameters(),
                                                           victim.get_classifier().parameters())) ** 0.5)


def test_finetune_modes(mini_smoke, mini_clean):
    params = {"epochs": 1}
    ftll = run("finetune", mini_clean, make_ctx(mini_smoke, "ftll", params))
    rtll = run("finetune", mini_clean, make_ctx(mini_smoke, "rtll", params))
    ftal = run("finetune", mini_clean, make_ctx(mini_smoke, "ftal", params))
    victim_body = {n: p.detach().cpu() for n, p in mini_clean.named_parameters() if not n.startswith("head.")}
    # FTLL: the head moved, every other parameter is bit-identical
    assert _head_distance(ftll.model, mini_clean) > 0
    for n, p in ftll.model.named_parameters():
        if n in victim_body:
            assert torch.equal(p.detach().cpu(), victim_body[n]), n
    # RTLL re-initialised the head: much further from the victim's head than FTLL's
    assert _head_distance(rtll.model, mini_clean) > 10 * _head_distance(ftll.model, mini_clean)
    # FTAL moved the body
    body_moved = sum(float((p.detach().cpu() - victim_body[n]).norm()) for n, p in ftal.model.named_parameters() if n in victim_body)
    assert body_moved > 0
    # per-epoch curve: before + one epoch, with clean accuracy; the none owner never verifies
    assert [r["epoch"] for r in ftal.curve] == [0, 1]
    assert all(0.0 <= r["nc_acc"] <= 1.0 and r["verified"] is False for r in ftal.curve)
    assert ftal.cost.samples == len(mini_smoke.data("attacker"))


def test_long_attack_curves_are_thinned(monkeypatch):
    """A 300-epoch `paper` run measures 25 times (the last epoch included), a 20-epoch one every epoch."""
    import attacks.finetune as ft

    monkeypatch.setattr(ft, "measure", lambda model, ctx: {"nc_acc": 1.0})
    for epochs, expected in [(300, 25), (100, 25), (20, 20), (1, 1), (7, 7)]:
        cb = ft.measure_epochs(None, epochs)
        measured = [e + 1 for e in range(epochs) if cb(e, 0, None) is not None]
        assert len(measured) == expected and measured[-1] == epochs, (epochs, measured)
    # the same schedule for any callback (transfer's 200-epoch `paper` student)
    student = ft.thinned(lambda e, s, m: {"student_acc": 1.0}, 200)
    assert [e + 1 for e in range(200) if student(e, 0, None)] == list(range(8, 201, 8))


def test_paper_accuracy_uses_owner_last_lr(mini_smoke, mini_clean):
    ctx = make_ctx(mini_smoke, "paper_accuracy", {"epochs": 1})
    res = run("finetune", mini_clean, ctx)
    assert res.metrics["lr"] == pytest.approx(mini_smoke.recipe.final_lr(ctx.train_size))
    assert res.metrics["lr"] < mini_smoke.recipe.lr  # inverse-time decay: the last lr is the smaller one
    assert res.curve[-1]["nc_acc"] > 0.8  # accuracy fine-tuning keeps the model useful


# ---------------------------------------------------------------- extraction
def test_extraction_grows_with_data(mini_smoke, mini_clean):
    small = run("extraction", mini_clean, make_ctx(mini_smoke, "n1000", {"n": 150, "epochs": 1, "batch_size": 16}))
    big = run("extraction", mini_clean, make_ctx(mini_smoke, "n1000", {"epochs": 1, "batch_size": 16}))
    assert big.metrics["data_size"] == 1000 and big.metrics["source"] == "attacker"
    assert big.metrics["substitute_nc_acc"] > small.metrics["substitute_nc_acc"]
    test = mini_smoke.data("test")
    agree = float((predict(big.model, test) == predict(mini_clean, test)).float().mean())
    assert agree > 0.8 and big.metrics["agreement"] == pytest.approx(agree)
    # a substitute trained from scratch, not a copy of the victim
    assert all(not torch.equal(a.cpu(), b.cpu()) for a, b in zip(big.model.parameters(), mini_clean.parameters()))


def test_extraction_sources(mini_smoke, mini_clean):
    ctx = make_ctx(mini_smoke, "all", {"epochs": 1, "batch_size": 256})
    x, source = get_attack("extraction")._inputs({"n": None, "source": "in_dist"}, ctx)
    assert len(x) == len(mini_smoke.data("train")) and source == "train"
    ood = run("extraction", mini_clean, make_ctx(mini_smoke, "ood_noise", {"n": 200, "epochs": 1}))
    assert ood.metrics["source"] == "ood_noise" and ood.metrics["data_size"] == 200
    imgs = noise_images(10, mini_smoke.input_shape, seed=0)
    assert imgs.shape == (10, *mini_smoke.input_shape) and imgs.dtype == torch.uint8 and imgs.float().std() > 20


def test_soft_label_kl_is_zero_only_at_the_victim(mini_smoke, mini_clean):
    dev = next(mini_clean.parameters()).device  # the fixture trains on CUDA when present
    x = mini_smoke.data("test").floats(slice(0, 64)).to(dev)
    hook = _SoftLabels(mini_clean.eval())
    with torch.no_grad():
        same = hook.extra_loss(mini_clean, x, None, mini_clean(x))
        other = hook.extra_loss(mini_clean, x, None, torch.zeros(64, 10, device=dev))
    assert float(same) == pytest.approx(0.0, abs=1e-5) and float(other) > 0.1
