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
