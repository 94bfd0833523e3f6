"""Neural Cleanse (positive control: a classic backdoor) and transfer learning with recovery, on digit-mini smoke."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from attacks import ATTACKS
from attacks.base import AttackContext
from attacks.neural_cleanse import PAPER, CostSchedule, NeuralCleanse, anomaly_index, trigger_asr
from attacks.transfer import Transfer, trainable_params
from harness.trainer import train
from harness.types import ExtraBatch, Key, TrainHooks
from schemes.none import NoWatermark
from tasks.classsplit import ClassSplit

TARGET = 7
PATCH = (slice(24, 27), slice(24, 27))  # a 3x3 white patch one pixel in from the bottom-right corner


def _trigger() -> tuple[torch.Tensor, torch.Tensor]:
    mask = torch.zeros(1, 28, 28)
    mask[(0, *PATCH)] = 1.0
    return mask, torch.ones(1, 28, 28)


class _Backdoor(TrainHooks):
    """BadNets-style poisoning: 10% extra inputs per batch carry the patch and label 7."""

    def extra_batch(self, x, y, gen):
        n = max(1, len(x) // 10)
        xb = x[:n].clone()
        xb[(slice(None), slice(None), *PATCH)] = 1.0
        return [ExtraBatch(xb, torch.full((n,), TARGET, dtype=torch.long, device=x.device))]


def _ctx(task, setting: str, key_params: dict | None = None, **params) -> AttackContext:
    return AttackContext(task=task, scheme=NoWatermark(), owner_key=Key("none", key_params or {}), recipe=task.recipe,
                         attacker=task.data("attacker"), test=task.data("test"), seed=0, setting=setting,
                         device=torch.device("cpu"), params=params, train_size=len(task.data("train")))


@pytest.fixture(scope="module")
def backdoored(mini_smoke, mini_clean):
    # Fine-tune the clean model with poisoned batches; small batches make the backdoor take fast
    # (measured: attack success 0.997 after 2 epochs at batch 32; at batch 128 it needs ~4 epochs).
    model = copy.deepcopy(mini_clean)
    train(model, mini_smoke.data("train"), mini_smoke.recipe.replace(epochs=2, batch_size=32), hooks=[_Backdoor()], seed=1)
    return model


@pytest.fixture(scope="module")
def nc_backdoor(mini_smoke, backdoored):
    mask, pattern = _trigger()
    asr_before = trigger_asr(backdoored, mini_smoke.data("test"), mask, pattern, TARGET)
    result = NeuralCleanse().run(copy.deepcopy(backdoored), _ctx(mini_smoke, "detect_unlearn", {"target_label": TARGET}))
    return result, asr_before, trigger_asr(result.model, mini_smoke.data("test"), mask, pattern, TARGET)


@pytest.fixture(scope="module")
def nc_clean(mini_smoke, mini_clean):
    # Only the detection is compared here; skipping the unlearning epoch saves time.
    return NeuralCleanse().run(copy.deepcopy(mini_clean), _ctx(mini_smoke, "detect_unlearn", unlearn_epochs=0))


def test_registered():
    assert {"neural_cleanse", "transfer"} <= set(ATTACKS.names())


def test_anomaly_index_is_mad_score_of_min():
    l1 = [10.0, 50.0, 52.0, 48.0, 55.0, 45.0]
    median = np.median(l1)
    mad = 1.4826 * np.median(np.abs(np.array(l1) - median))
    assert anomaly_index(l1) == pytest.approx((median - 10.0) / mad)
    assert anomaly_index([5.0] * 4) == 0.0


def test_cost_schedule_follows_original():
    s = CostSchedule(2, PAPER)
    on = np.array([True, True])
    for _ in range(4):  # successes while the cost is 0: not yet started
        s.update(on, np.array([1.0, 0.0]), np.array([10.0, 10.0]))
    assert list(s.cost) == [0.0, 0.0]
    s.update(on, np.array([1.0, 0.0]), np.array([9.0, 9.0]))  # 5th success in a row: cost starts at 1e-3
    assert s.cost[0] == pytest.approx(1e-3) and s.cost[1] == 0.0 and s.reg_best[0] == 9.0 and np.isinf(s.reg_best[1])
    for _ in range(5):
        s.update(on, np.array([1.0, 0.0]), np.array([8.0, 8.0]))
    assert s.cost[0] == pytest.approx(2e-3) and s.up_flag[0] and not s.down_flag[0]
    for _ in range(5):
        s.update(on, np.array([0.5, 0.0]), np.array([8.0, 8.0]))
    assert s.cost[0] == pytest.approx(2e-3 / 2 ** 1.5) and s.down_flag[0]
    # Moved both ways and no smaller successful mask: stops after early_stop_patience more steps.
    for _ in range(PAPER["early_stop_patience"]):
        s.update(~s.done, np.array([0.5, 0.0]), np.array([8.0, 8.0]))
    assert s.done[0] and not s.done[1]


def test_nc_flags_backdoor_not_clean(nc_backdoor, nc_clean):
    bd, clean = nc_backdoor[0].metrics, nc_clean.metrics
    print("anomaly index backdoor", bd["anomaly_index"], bd["l1_norms"], "clean", clean["anomaly_index"], clean["l1_norms"])
    assert bd["flagged"] and bd["flagged_label"] == TARGET and bd["flagged_correct"] is True
    assert bd["anomaly_index"] > 2.0
    assert bd["anomaly_index"] > clean["anomaly_index"]
    assert clean["target_label"] is None and clean["flagged_correct"] is None and clean["unlearn_epochs"] == 0
    # The reversed trigger of the backdoor label is far smaller than every other label's.
    l1 = bd["l1_norms"]
    assert len(l1) == 10 and l1[TARGET] < 0.5 * min(v for i, v in enumerate(l1) if i != TARGET)


def test_unlearning_lowers_backdoor_success(nc_backdoor):
    result, before, after = nc_backdoor
    assert before > 0.95
    assert after < 0.5 and after < before - 0.4
    assert result.metrics["reversed_asr_after"] < result.metrics["reversed_asr_before"]
    assert result.curve[-1]["nc_acc"] > 0.8  # mitigation keeps the task
    assert result.cost.epochs == 1


@pytest.fixture(scope="module")
def split_target(mini_smoke):
    return ClassSplit(mini_smoke, range(5, 10))  # the student learns digits 5-9 (relabelled 0-4)


def _body(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    head = {id(p) for p in model.get_classifier().parameters()}
    return {n: p.detach().cpu().clone() for n, p in model.named_parameters() if id(p) not in head}


def test_transfer_added_keeps_body_and_recovers_teacher_head(mini_smoke, mini_clean, split_target):
    teacher_body = _body(mini_clean)
    ctx = _ctx(mini_smoke, "added", target_task=split_target, student_epochs=1, recovery_epochs=1)
    result = Transfer().run(copy.deepcopy(mini_clean), ctx)
    m = result.metrics
    assert m["mode"] == "added" and m["target_classes"] == 5
    assert m["student_acc"] > 0.8  # chance is 0.2
    rec = result.model
    assert rec.get_classifier().out_features == m["teacher_classes"] == 10
    assert all(torch.equal(teacher_body[n], p) for n, p in _body(rec).items())
    assert result.nc_acc == m["recovered_nc_acc"] and result.nc_acc > 0.7
    assert [r["phase"] for r in result.curve] == ["student", "recovery"]


def test_transfer_all_changes_body(mini_smoke, mini_clean, split_target):
    teacher_body = _body(mini_clean)
    ctx = _ctx(mini_smoke, "all", target_task=split_target, student_epochs=1, recovery_epochs=1)
    result = Transfer().run(copy.deepcopy(mini_clean), ctx)
    changed = [n for n, p in _body(result.model).items() if not torch.equal(teacher_body[n], p)]
    assert "body.conv_1.weight" in changed and "body.fc_1.weight" in changed
    assert result.metrics["student_acc"] > 0.8


def test_transfer_mode_params(mini_smoke):
    model = mini_smoke.model()
    names = {id(p): n for n, p in model.named_parameters()}
    pick = {mode: sorted(names[id(p)] for p in trainable_params(model, mode)) for mode in ("added", "last_two", "dense")}
    assert pick["added"] == ["head.bias", "head.weight"]
    assert pick["last_two"] == pick["dense"] == ["body.fc_1.bias", "body.fc_1.weight", "head.bias", "head.weight"]
    with pytest.raises(Exception, match="unknown transfer mode"):
        trainable_params(model, "middle")


def test_an_interrupted_search_resumes_bit_identically(mini_smoke, backdoored, tmp_path, monkeypatch):
    """A search killed at step 12 continues from its last saved step (saved every step here) and ends with
    the uninterrupted search's triggers, steps and verdict; the resumed part is named for the row."""
    import attacks.neural_cleanse as nc
    from harness import resume

    monkeypatch.setenv("WMBENCH_CHECKPOINT_EVERY", "0")
    params = {"unlearn_epochs": 0, "steps": 30}

    def ctx(stem):
        c = _ctx(mini_smoke, "detect_unlearn", {"target_label": TARGET}, **params)
        c.checkpoints = stem
        return c
    reference = NeuralCleanse().run(copy.deepcopy(backdoored), ctx(None))
    stem = tmp_path / "cell.attack"
    update, calls = CostSchedule.update, []

    def killing(self, *args):
        calls.append(1)
        if len(calls) == 12:
            raise KeyboardInterrupt
        return update(self, *args)
    monkeypatch.setattr(nc.CostSchedule, "update", killing)
    with pytest.raises(KeyboardInterrupt):
        NeuralCleanse().run(copy.deepcopy(backdoored), ctx(stem))
    saved = ctx(stem).checkpoint("search0")
    assert saved.is_file()
    monkeypatch.setattr(nc.CostSchedule, "update", update)
    resume.RESUMED.clear()
    resumed = NeuralCleanse().run(copy.deepcopy(backdoored), ctx(stem))
    assert not saved.exists()
    for name in ("l1_norms", "anomaly_index", "flagged", "flagged_label", "triggers_found", "nc_steps"):
        assert resumed.metrics[name] == reference.metrics[name], name
    segments = resume.take_resumed(stem)["search0"]
    assert [s["epochs"] for s in segments] == [[0, 11], [11, reference.metrics["nc_steps"]]]
