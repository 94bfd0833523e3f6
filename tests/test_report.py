"""bench report: paper-style tables and plots from a (synthetic) results store."""
from __future__ import annotations

import math

import numpy as np
import pytest

from _report_fixture import COMMAND, SCHEMES, fill_store, one_row_store
from harness.errors import BadInput
from harness.report import mark, verdict, write_report
from harness.store import Store


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    fill_store(root / "run").close()
    paths = write_report(root / "run", root / "out")
    return root, paths, (root / "out" / "tables.md").read_text()


def test_tables_carry_the_fixture_numbers(report):
    _, _, md = report
    # Table 4: clean 98.00, watermarked mean of 0.970 and 0.972 = 97.10 (std 0.10), cost 0.90 pt, verified.
    assert "| null_embedding | 2 | 98.00 | 97.10 ± 0.10 | 0.90 | 99.00 | ✓ |" in md
    # Tables 1/3: adi's pirate claim verifies on a working model -> forged; null embedding's model is destroyed.
    assert "| adi | paper | 2 | 96.60 / 96.00 | 100.00 / 45.00 | ✗ | 98.00 ± 2.00 | ✓ | - | forged |" in md
    assert "| null_embedding | paper | 2 | 97.10 / 15.00 | 99.00 / 5.00 | ✗ | 9.00 ± 2.00 | ✗ | - | destroyed |" in md
    # Table 5: anomaly index mean over seeds (3.10 and 3.102), flagged, and the flagged label is the target.
    assert "| adi | detect_unlearn | 3.10 | ✓ | ✓ | 95.50 | 90.00 | ✓ |" in md
    # a scheme without a backdoor target has no "flagged = WM target" to miss: "—", not ✗
    assert "| uchida | detect_unlearn | 1.10 | ✗ | — |" in md and "| none | detect_unlearn | 0.90 | ✗ | — |" in md
    assert "| null_embedding | detect_unlearn | 1.30 | ✗ | ✗ |" in md
    # Table 6: substitute NC per data size, by source.
    assert "| uchida | in_distribution | 90.10 / 10.00 ✗ | 95.10 / 10.00 ✗ |" in md
    assert "| uchida | noise |  | 30.10 / 10.00 ✗ |" in md
    # Tables 7-8: transfer modes in the paper's order.
    assert "| teacher scheme | added | all |" in md and "| null_embedding | 80.10 | 92.10 |" in md
    # Pruning: the curve keeps NC within 5 pt up to rate 0.5 (drop 3 pt), WM there 0.94.
    assert "| null_embedding | magnitude | 2 | 0.50 | 94.10 | 94.00 | ✓ |" in md
    # Matrix cell: NC after / WM after and the verdict marks.
    assert "| adi | 96.6 / 100.0 ✓ | 96.0 / 45.0 ✗ · pirate ✓ |" in md


def test_every_table_names_its_provenance(report):
    _, _, md = report
    blocks = md.split("### ")[1:]
    assert len(blocks) >= 10
    for block in blocks:
        assert f"command: `{COMMAND}`" in block
        assert "profile: smoke · seeds: 0, 1 (2) · device: cpu · code version: test-0001" in block


def test_paper_comparison_only_published_numbers(report):
    _, _, md = report
    paper = md.split("## Compare with the paper")[1]
    assert "| null_embedding | digit · smoke · cnn | Table 3 | 98.72 → 19.02 | 97.10 → 15.00 | 98.51 → 1.21 |" in paper
    assert "| 9.31 | 9.00 |" in paper  # pirate WM: paper 9.31% (Table 3, Digit), ours 9%
    assert "| digit · smoke · cnn | 98.51 | 98.00 | 98.51 | 97.10 | 97.70 | 99.00 |" in paper  # Table 4
    assert "| digit · smoke · cnn | 0.88 | 0.90 | 1.32 | 1.30 |" in paper  # Table 5
    assert "Table 6" not in paper and "Tables 7-8" not in paper  # Traffic only in the paper: no matching rows


def test_plots_are_pngs(report):
    root, paths, _ = report
    pngs = sorted(p.name for p in paths if p.suffix == ".png")
    assert pngs == sorted(f"digit_smoke_cnn_{k}.png" for k in
                          ("pruning", "finetune", "piracy", "piracy_cost", "extraction"))
    for p in paths[1:]:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_plots_skipped_without_curves(tmp_path):
    one_row_store(tmp_path / "run", "bench run")
    paths = write_report(tmp_path / "run", tmp_path / "out")
    assert [p.name for p in paths] == ["tables.md"]
    md = paths[0].read_text()
    assert "| none | 1 | 98.00 | 98.00 | 0.00 | 10.00 | ✗ |" in md  # no clean NC stored: the none model is it
    assert "No row of this store matches a published row." in md


@pytest.mark.parametrize("share, seeds, text", [
    (1.0, 3, "✓"), (0.0, 3, "✗"), (2 / 3, 3, "✓ 2/3"), (1 / 3, 3, "✗ 1/3"), (0.5, 2, "✓ 1/2"),
    (2 / 3, None, "✓ 67%"), (float("nan"), 3, "—"), (7 / 9, 3, "✓ 78%"), (0.4, 1, "✗ 40%"),
    (2 / 3, np.int64(3), "✓ 2/3"),  # the seed count as pandas hands it over
])
def test_mark_shows_the_count_where_seeds_split(share, seeds, text):
    # A majority must not read as unanimous: 2 of 3 seeds verified prints "✓ 2/3", not a bare ✓; a share
    # that is not whole seeds (pirate keys: 7 of 9 over 3 seeds) prints as a percentage, never a wrong k/n.
    assert mark(share, seeds) == text


def test_missing_store_is_bad_input(tmp_path):
    with pytest.raises(BadInput, match="no results store"):
        write_report(tmp_path / "nothing", tmp_path / "out")
    assert not (tmp_path / "nothing").exists()


@pytest.mark.parametrize("row, word", [
    ({"attack": "none", "verified_before": 1.0}, "verified"),
    ({"attack": "finetune", "verified_before": 0.0, "verified_after": 1.0}, "unverified"),
    ({"attack": "finetune", "verified_before": 1, "nc_acc_before": 0.98, "nc_acc_after": 0.97, "verified_after": 1}, "robust"),
    ({"attack": "finetune", "verified_before": 1, "nc_acc_before": 0.98, "nc_acc_after": 0.94, "verified_after": 0}, "removed"),
    ({"attack": "pruning", "verified_before": 1, "nc_acc_before": 0.98, "nc_acc_after": 0.92, "verified_after": 0}, "destroyed"),
    ({"attack": "transfer", "verified_before": 1, "nc_acc_before": 0.98, "nc_acc_after": 0.50, "verified_after": 1}, "robust"),
    ({"attack": "piracy", "verified_before": 1, "nc_acc_before": 0.98, "nc_acc_after": 0.97, "verified_after": 1,
      "pirate_verified": 1.0}, "forged"),
    ({"attack": "piracy", "verified_before": 1, "nc_acc_before": 0.98, "nc_acc_after": 0.10, "verified_after": 0,
      "pirate_verified": 1.0}, "destroyed"),
    ({"attack": "finetune", "verified_before": 1, "verified_after": math.nan}, "n/a"),
])
def test_verdict(row, word):
    assert verdict(row) == word


def test_paper_transfer_rows_match_by_mode(tmp_path):
    from _report_fixture import SCHEMES

    from harness.paper_numbers import paper_tables
    from harness.report import prepare

    store = fill_store(tmp_path / "run", task="traffic", schemes={k: SCHEMES[k] for k in ("none", "null_embedding")})
    tables = {t.title.split(" (")[0]: t for t in paper_tables(prepare(store.results()))}
    t78 = tables["Paper vs ours: transfer learning"]
    # mode, free-teacher student paper / ours, watermarked-teacher student paper / ours, recovered null/true, ours WM
    assert t78.rows == [["traffic · smoke · cnn", "added", "82.35", "80.10", "74.12", "80.10", "96.31 / 100.00", "99.00"],
                        ["traffic · smoke · cnn", "all", "91.47", "92.10", "92.65", "92.10", "94.17 / 100.00", "99.00"]]
    assert tables["Paper vs ours: cost of null embedding"].rows[0][1:3] == ["96.84", "98.00"]
    assert "Paper vs ours: extraction substitute NC" not in tables  # paper sizes are 50k+, ours 1k-5k


def test_merge_combines_stores_once(tmp_path):
    """`bench merge`: rows of both folders, each cell once, curves and runs carried along; a rerun adds nothing."""
    from click.testing import CliRunner

    from harness.cli import cli

    a = fill_store(tmp_path / "a", schemes={k: SCHEMES[k] for k in ("none", "null_embedding")})
    b = fill_store(tmp_path / "b", schemes={k: SCHEMES[k] for k in ("null_embedding", "uchida")})
    n_a, n_b = len(a.results()), len(b.results())
    shared = len(set(a.done_cells()) & set(b.done_cells()))
    assert shared > 0
    a.close(), b.close()
    out = tmp_path / "merged"
    res = CliRunner().invoke(cli, ["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    merged = Store(out)
    assert len(merged.results()) == n_a + n_b - shared
    assert merged.results()["cell_id"].is_unique
    orphans = "SELECT count(*) FROM curves WHERE cell_id NOT IN (SELECT cell_id FROM results)"
    assert merged.conn.execute(orphans).fetchone()[0] == 0 and len(merged.curves()) > 0
    assert len(merged.runs()) >= 1
    merged.close()
    again = CliRunner().invoke(cli, ["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out)])
    assert again.exit_code == 0 and again.output.count("+0 cells") == 2, again.output


def test_merge_keeps_the_newer_scheme_version(tmp_path):
    """A cell in both folders is taken from the other folder when its scheme version is newer
    (an old store merged after a fixed scheme's rerun must not bring the stale number back)."""
    import json

    a = fill_store(tmp_path / "a", schemes={k: SCHEMES[k] for k in ("none", "null_embedding")})
    b = fill_store(tmp_path / "b", schemes={k: SCHEMES[k] for k in ("null_embedding",)})
    shared = sorted(set(a.done_cells()) & set(b.done_cells()))
    newer_in_b, newer_in_a = shared[0], shared[1]
    for store, cell, marker in ((b, newer_in_b, 0.125), (a, newer_in_a, 0.25)):
        metrics = json.loads(store.conn.execute("SELECT metrics FROM results WHERE cell_id=?", (cell,)).fetchone()[0])
        with store.transaction() as conn:
            conn.execute("UPDATE results SET metrics=?, nc_acc_after=? WHERE cell_id=?",
                         (json.dumps({**metrics, "scheme_version": "2"}), marker, cell))
    a.close(), b.close()
    for order in (("a", "b"), ("b", "a")):
        out = Store(tmp_path / f"merged-{order[0]}")
        for name in order:
            src = Store(tmp_path / name)
            out.merge_from(src)
            src.close()
        rows = out.results().set_index("cell_id")
        assert rows.loc[newer_in_b, "nc_acc_after"] == 0.125 and rows.loc[newer_in_a, "nc_acc_after"] == 0.25, order
        assert out.done_cells({"null_embedding": "2"}) >= {newer_in_a, newer_in_b}
        orphans = "SELECT count(*) FROM curves WHERE cell_id NOT IN (SELECT cell_id FROM results)"
        assert out.conn.execute(orphans).fetchone()[0] == 0
        out.close()


def test_merge_replace_takes_the_incoming_cell(tmp_path):
    """`bench merge --replace`: a cell in both folders comes from the incoming one, its curve with it
    (a rerun with more pirate keys has the same cell id); without the flag the row there is kept."""
    from click.testing import CliRunner

    from harness.cli import cli

    a = fill_store(tmp_path / "a", schemes={k: SCHEMES[k] for k in ("null_embedding",)})
    b = fill_store(tmp_path / "b", schemes={k: SCHEMES[k] for k in ("null_embedding",)})
    cell = sorted(b.done_cells())[0]
    with b.transaction() as conn:
        conn.execute("UPDATE results SET nc_acc_after=0.375 WHERE cell_id=?", (cell,))
        conn.execute("DELETE FROM curves WHERE cell_id=?", (cell,))
        conn.execute("INSERT INTO curves (cell_id, step, payload) VALUES (?, 7, '{\"step\": 7}')", (cell,))
    a.close(), b.close()
    kept = CliRunner().invoke(cli, ["merge", str(tmp_path / "b"), "--out", str(tmp_path / "a")])
    assert kept.exit_code == 0 and "+0 cells" in kept.output, kept.output
    res = CliRunner().invoke(cli, ["merge", str(tmp_path / "b"), "--out", str(tmp_path / "a"), "--replace"])
    assert res.exit_code == 0 and "new or replaced" in res.output, res.output
    merged = Store(tmp_path / "a")
    rows = merged.results().set_index("cell_id")
    assert rows.loc[cell, "nc_acc_after"] == 0.375 and rows["nc_acc_after"].ne(0.375).sum() == len(rows) - 1
    assert merged.conn.execute("SELECT step FROM curves WHERE cell_id=?", (cell,)).fetchall() == [(7,)]
    merged.close()


def test_claims_table(tmp_path):
    store = one_row_store(tmp_path / "run")
    payload = {"keys": 1000, "false_claims_clean": 0, "false_claims_marked": 2, "random_wm_acc_clean_mean": 0.05,
               "random_wm_acc_marked_mean": 0.06, "threshold_95": 0.098, "owner_wm_acc": 0.96,
               "owner_verified": True, "owner_above_calibrated": True, "owner_p_value": 0.0}
    store.write_claims("digit", "quick", "null_embedding", 0, payload)
    store.close()
    md = write_report(tmp_path / "run", tmp_path / "out")[0].read_text()
    assert "| digit | quick | null_embedding | 0 | 1000 | 0/1000 | 2/1000 | 0.050 | 0.098 | 0.960 | <1e-300 |" in md


def test_merge_bad_source_writes_nothing(tmp_path):
    from click.testing import CliRunner

    from harness.cli import cli

    fill_store(tmp_path / "a").close()
    (tmp_path / "empty").mkdir()
    out = tmp_path / "merged"
    res = CliRunner().invoke(cli, ["merge", str(tmp_path / "a"), str(tmp_path / "empty"), "--out", str(out)])
    assert res.exit_code == 2 and "no results.sqlite" in res.output, res.output
    assert not out.exists()


def test_piracy_cost_plot_reads_owner_mark_and_fresh_model_cost():
    """The piracy attack logs ``owner_wm_acc``; the cost plot marks a fresh owner model's steps (Fig. 2)."""
    import json

    import pandas as pd

    from harness.plots import fresh_owner_steps, owner_as_wm

    curve = pd.DataFrame({"step": [0, 100], "owner_wm_acc": [0.96, 0.0], "pirate_wm_acc": [0.0, 0.97]})
    assert owner_as_wm(curve)["wm_acc"].tolist() == [0.96, 0.0]
    results = pd.DataFrame([{"task": "digit", "arch": "cnn", "profile": "quick", "setting": "cost_curve_all",
                             "metrics": json.dumps({"cost": {"epochs": 5.0, "samples": 300000}}),
                             "recipe": json.dumps({"epochs": 6, "batch_size": 128})}])
    steps, label = fresh_owner_steps(results, "digit", "cnn", "quick")
    assert steps == 6 * 469 and "2814" in label  # 60,000 images / 128 per step, 6 epochs
    assert fresh_owner_steps(results, "traffic", "cnn", "quick") is None


def test_run_list_marks_runs_that_did_not_finish(tmp_path):
    store = fill_store(tmp_path / "run")
    store.start_run("bench run --killed", "cpu", "test-0002")  # started, never finished (kill -9)
    store.close()
    write_report(tmp_path / "run", tmp_path / "out")
    md = (tmp_path / "out" / "tables.md").read_text()
    assert "- `bench run --killed` on cpu (code test-0002) · did not finish" in md
    assert f"- `{COMMAND}` on cpu (code test-0001)\n" in md  # the finished run carries no mark
