"""Piracy: the attacker re-embeds its own key with the scheme's own hooks (attacks/piracy.py)."""
from __future__ import annotations

import pytest
import torch

from attacks.base import AttackContext
from attacks.piracy import Piracy, pirate_seed
from harness.device import pick_device
from harness.errors import BadInput
from schemes.null_embedding import NullEmbedding


def _ctx(task, scheme, setting="paper", **params):
    return AttackContext(task=task, scheme=scheme, owner_key=scheme.keygen(task, seed=0), recipe=task.recipe,
                         attacker=task.data("attacker"), test=task.data("test"), seed=0, setting=setting,
                         device=pick_device(), params=params, train_size=len(task.data("train")))


def test_piracy_embeds_a_pirate_key_and_changes_weights(mini_smoke, mini_clean):
    """The stolen model here is the shared clean model: one epoch of pirate embedding must move it."""
    scheme = NullEmbedding()
    ctx = _ctx(mini_smoke, scheme, pirate_keys=1, epochs=1)
    before = {k: v.clone() for k, v in mini_clean.state_dict().items()}
    res = Piracy().run(mini_clean, ctx)
    assert all(torch.equal(before[k], v) for k, v in mini_clean.state_dict().items())  # victim untouched
    assert any(not torch.equal(before[k], v) for k, v in res.model.state_dict().items())
    m = res.metrics
    assert m["pirate_keys"] == 1 and m["attacker_rows"] == len(ctx.attacker)
    # the paper protocol: the owner's optimiser at its last learning rate, constant
    assert m["pirate_optimizer"] == mini_smoke.recipe.optimizer and m["pirate_lr"] == pytest.approx(mini_smoke.recipe.final_lr(3000))
    # the pirate's true embedding (a backdoor) takes hold within one epoch; before it did not exist
    assert m["pirate_true_acc_mean"] > 0.9 > m["pirate_wm_acc_before_mean"]
    assert 0.0 <= m["pirate_verified"] <= 1.0 and 0.0 <= m["nc_acc_after_mean"] <= 1.0
    assert m["owner_verified_share"] == 0.0  # the clean victim never carried the owner key
    steps = -(-len(ctx.attacker) // mini_smoke.recipe.batch_size)
    assert res.cost.steps == steps and res.cost.epochs == 1 and res.cost.seconds > 0
    assert [r["epoch"] for r in res.curve] == [0, 1]
    assert {"nc_acc", "owner_wm_acc", "pirate_wm_acc"} <= set(res.curve[-1])
    assert res.curve[-1]["pirate_wm_acc"] == pytest.approx(m["pirate_wm_acc"])  # curve ends at the final model


def test_pirate_keys_differ_from_owner_and_each_other(mini_smoke):
    seeds = {pirate_seed(0, i) for i in range(10)} | {pirate_seed(1, i) for i in range(10)}
    assert len(seeds) == 20 and 0 not in seeds


def test_settings_build_the_documented_recipes(mini_smoke):
    scheme, attack = NullEmbedding(), Piracy()
    assert attack.setting_names("quick") == ["paper"]
    last = mini_smoke.recipe.final_lr(3000)
    data = mini_smoke.data("attacker")
    paper = attack._recipe(_ctx(mini_smoke, scheme), attack.settings["paper"], len(data))
    assert paper.schedule == "constant" and paper.lr == pytest.approx(last) and paper.epochs == 10
    assert paper.grad_clip == mini_smoke.recipe.grad_clip and paper.momentum == mini_smoke.recipe.momentum
    low = attack._recipe(_ctx(mini_smoke, scheme), attack.settings["low_lr"], len(data))
    assert low.lr == pytest.approx(last / 10)
    clip = attack._recipe(_ctx(mini_smoke, scheme), attack.settings["clip"], len(data))
    assert (clip.optimizer, clip.lr, clip.momentum, clip.grad_clip) == ("sgd", 0.01, 0.9, 1.0)
    assert attack._recipe(_ctx(mini_smoke, scheme), attack.settings["epochs_x4"], len(data)).epochs == 40
    ctx = _ctx(mini_smoke, scheme, setting="data_all")
    with pytest.raises(BadInput, match="training split"):
        attack._data(ctx, attack.settings["data_all"])
    ctx.extra["train"] = mini_smoke.data("train")
    assert len(attack._data(ctx, attack.settings["data_all"])) == 3000
    ctx.setting = "cost_curve_1pct"
    assert len(attack._data(ctx, attack.settings["cost_curve_1pct"])) == 30


@pytest.mark.parametrize("setting", ["paper", "adam", "clip", "low_lr", "data_all"])
def test_adaptive_settings_change_the_training_they_name(mini_smoke, mini_clean, monkeypatch, setting):
    """Spy on the optimiser the trainer really builds: its class, its learning rate, the gradient norm it steps with."""
    import harness.trainer as trainer

    seen: dict = {"opt": None, "lrs": set(), "norms": []}
    real = trainer.make_optimizer

    def spy(params, recipe):
        opt = real(params, recipe)
        seen["opt"] = type(opt).__name__
        step = opt.step

        def step_and_record(*args, **kwargs):
            grads = [p.grad.flatten() for g in opt.param_groups for p in g["params"] if p.grad is not None]
            seen["norms"].append(float(torch.linalg.vector_norm(torch.cat(grads))))
            seen["lrs"].add(opt.param_groups[0]["lr"])
            return step(*args, **kwargs)

        opt.step = step_and_record
        return opt

    monkeypatch.setattr(trainer, "make_optimizer", spy)
    ctx = _ctx(mini_smoke, NullEmbedding(), setting=setting, pirate_keys=1, epochs=1)
    ctx.extra["train"] = mini_smoke.data("train")
    m = Piracy().run(mini_clean, ctx).metrics
    last = mini_smoke.recipe.final_lr(3000)
    owner_opt = {"adam": "Adam", "sgd": "SGD"}[mini_smoke.recipe.optimizer]
    assert len(seen["lrs"]) == 1 and seen["lrs"].pop() == pytest.approx(m["pirate_lr"])  # constant, as logged
    rows = m["attacker_rows"]
    assert len(seen["norms"]) == -(-rows // mini_smoke.recipe.batch_size)  # one step per batch of the data it names
    if setting == "paper":
        assert seen["opt"] == owner_opt and m["pirate_lr"] == pytest.approx(last) and rows == len(ctx.attacker)
    elif setting == "adam":
        assert seen["opt"] == "Adam" and m["pirate_lr"] == pytest.approx(1e-3)
    elif setting == "clip":
        # clipping bounds every applied step at 1.0 although the raw gradients were larger
        assert seen["opt"] == "SGD" and max(seen["norms"]) <= 1.0 + 1e-4 < m["pirate_max_grad_norm"]
    elif setting == "low_lr":
        assert seen["opt"] == owner_opt and m["pirate_lr"] == pytest.approx(last / 10)
    elif setting == "data_all":
        assert rows == len(ctx.extra["train"]) > len(ctx.attacker)
