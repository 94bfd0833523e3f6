"""Turn benchmarks/perf_results.json (written by `pytest benchmarks/ --benchmark-only`) into results/PERF.md.

    python -m pytest benchmarks/ --benchmark-only
    python scripts/perf_report.py [--json benchmarks/perf_results.json] [--out results/PERF.md]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _f(v, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


def _table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def render(records: dict[str, dict], notes: str = "") -> str:
    by_kind: dict[str, list[dict]] = {}
    for name, r in sorted(records.items()):
        by_kind.setdefault(r.get("kind", "other"), []).append({"name": name, **r})
    any_rec = next(iter(records.values()))
    dev = any_rec["device"]
    loads = sorted(r["device"].get("loadavg_1min") or 0 for r in records.values())
    lines = [
        "# Performance: the suite against plain PyTorch loops",
        "",
        "Every figure pairs a suite code path with a minimal hand-written PyTorch loop doing the same",
        "work, timed alternately in the same process (order flipped each repeat); a ratio is the median",
        "of the per-repeat ratios, so load from other processes hits both sides alike. Ratio > 1: the",
        "suite is faster.",
        "",
        f"Device: {dev['cpu']}, {dev['cores']} cores, {dev['torch_threads']} torch threads, torch {dev['torch']}, "
        f"Python {dev['python']}; GPU: {dev['gpu'] or 'none available in this session (CPU only)'}.",
        f"1-minute load average during the runs: {loads[0]:.1f}-{loads[-1]:.1f} on {dev['cores']} cores (shared machine), "
        "so absolute figures are pessimistic and noisy; the paired ratios are the robust numbers.",
        "",
    ]
    if notes:
        lines += [notes.strip(), ""]
    if "trainer" in by_kind:
        lines += ["## Trainer throughput (harness/trainer.py `train`) vs a plain loop", "",
                  _table(["model", "grad clip", "images x repeats", "suite img/s", "plain img/s", "ratio suite/plain"],
                         [[r["model"], _f(r["clip"]), f"{r['images']} x {r['repeats']}", _f(r["suite_images_per_s"], 1),
                           _f(r["plain_images_per_s"], 1), _f(r["ratio_suite_vs_plain"])] for r in by_kind["trainer"]]),
                  "", "Same model initialisation, batch 128, SGD lr 0.02 momentum 0.9, one epoch per call. The plain",
                  "loop holds float tensors; the trainer holds uint8 and converts them once per `train()` call.", ""]
    if "evaluate" in by_kind:
        lines += ["## Evaluation (harness/evaluate.py `accuracy`) vs a plain no_grad loop", "",
                  _table(["model", "images x repeats", "suite img/s", "plain img/s", "ratio suite/plain"],
                         [[r["model"], f"{r['images']} x {r['repeats']}", _f(r["suite_images_per_s"], 1),
                           _f(r["plain_images_per_s"], 1), _f(r["ratio_suite_vs_plain"])] for r in by_kind["evaluate"]]), ""]
    if "scheme_overhead" in by_kind:
        lines += ["## Watermark embedding overhead per scheme (Digit model, smoke recipe)", "",
                  "Trainer time with the scheme's hooks divided by the same training without them, interleaved;",
                  "`expected` is 1 + the extra samples the hooks add per training image (null embedding at",
                  "inject ratio 0.5 adds 2 x 0.5 = 1.0, so about 2x is expected). `wall` times the whole",
                  "`train()` call including the hooks' one-time setup (trigger sets, pattern, key checks);",
                  "`loop` only the training loop (`TrainLog.seconds`), which is what a long training pays.", "",
                  _table(["scheme", "slowdown vs none (loop)", "slowdown vs none (wall)", "expected from extra samples",
                          "img/s with scheme", "img/s none"],
                         [[r["scheme"], _f(r.get("loop_slowdown_vs_none")), _f(r["slowdown_vs_none"]),
                           _f(r["expected_slowdown_from_samples"]), _f(r["images_per_s"], 1), _f(r["none_images_per_s"], 1)]
                          for r in by_kind["scheme_overhead"]]), ""]
    if "neural_cleanse" in by_kind:
        r = by_kind["neural_cleanse"][0]
        lines += ["## Neural Cleanse trigger reverse-engineering (attacks/neural_cleanse.py)", "",
                  _table(["labels", "steps x images (batch)", "suite s/label", "plain s/label", "ratio suite/plain"],
                         [[str(r["labels"]), f"{r['steps']} x {r['nb_sample']} ({r['batch_size']})", _f(r["suite_s_per_label"], 3),
                           _f(r["plain_s_per_label"], 3), _f(r["ratio_suite_vs_plain"])]]),
                  "", "The suite optimises all labels in one batched loop; the plain loop is the original code's",
                  "one-label-at-a-time structure, on the same images, steps and batch size (the smoke profile's",
                  "search budget, early stop disabled so both do the same number of steps).", ""]
    if "gtsrb_load" in by_kind:
        lines += ["## GTSRB: first load (decode ppm, ROI crop, resize 48x48) vs cached load", "",
                  _table(["split", "images", "first s", "cached s", "speed-up"],
                         [[r["split"], str(r["images"]), _f(r["first_s"]), _f(r["cached_s"]), _f(r["speedup_cached"], 1)]
                          for r in by_kind["gtsrb_load"]]), ""]
    if "smoke_grid" in by_kind:
        r = by_kind["smoke_grid"][0]
        lines += ["## A whole smoke grid", "",
                  _table(["command", "cells", "wall s", "plain training of the same models s", "harness/plain"],
                         [[f"`{r['command']}`", str(r["cells"]), _f(r["grid_wall_s"], 1), _f(r["plain_training_s"], 1),
                           _f(r["harness_overhead_ratio"])]]),
                  "", "The grid's extra time over plain training is keygen (seeded RSA-2048 for null embedding),",
                  "evaluation and verification, the model cache and the results store.", ""]
    lines += ["## How to rerun", "", "```",
              "python -m pytest benchmarks/ --benchmark-only        # writes benchmarks/perf_results.json",
              "python scripts/perf_report.py --notes benchmarks/PERF_NOTES.md   # writes results/PERF.md",
              "# knobs: WMBENCH_BENCH_REPEATS (default 5), WMBENCH_BENCH_IMAGES (default 2048),",
              "#        WMBENCH_BENCH_THREADS (default 2), WMBENCH_DATA (GTSRB; skipped when absent)",
              "```", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "perf_results.json"))
    ap.add_argument("--out", default=str(REPO / "results" / "PERF.md"))
    ap.add_argument("--notes", default="", help="Markdown file whose text goes under the header (findings).")
    args = ap.parse_args()
    records = json.loads(Path(args.json).read_text())
    notes = Path(args.notes).read_text() if args.notes else ""
    Path(args.out).write_text(render(records, notes))
    print(args.out)


if __name__ == "__main__":
    main()
