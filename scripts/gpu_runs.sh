#!/usr/bin/env bash
# The GPU session's checks and grids, as one resumable script (the device tool runs it from the repo root).
#   OUT=<folder for logs/stores to bring back> DATA=<data root> scripts/gpu_runs.sh [stage...]
# Stages: env, tests, bench, adaptive, corruption, curves, seeds. Each stage is bounded by its own
# timeout and appends to a resumable store, so a rerun continues where the last one stopped.
# TASK / PROFILE / JOBS / KEYS / SEEDS override the defaults (a CPU dry run uses digit-mini smoke).
# SCHEMES (default all) narrows the grids to some schemes; CLEAN_FROM="<store> ..." gives each run the clean
# cells of an earlier store (one --clean-from each), so a scheme added later (DeepSigns, twentieth session)
# is compared with the clean models already stored instead of retraining new clean instances.
set -u
OUT=${OUT:-/tmp/gpu-out}; DATA=${DATA:-../shared/datasets}
TASK=${TASK:-digit}; PROFILE=${PROFILE:-quick}; JOBS=${JOBS:-6}; KEYS=${KEYS:-2}; SEEDS=${SEEDS:-3}
STORE=${STORE:-results/runs/digit-quick-cuda}; SCHEMES=${SCHEMES:-all}
clean_args=(); for folder in ${CLEAN_FROM:-}; do clean_args+=(--clean-from "$folder"); done
export PYTHONUNBUFFERED=1 WMBENCH_PROGRESS=0 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
mkdir -p "$OUT"
stages=${*:-env tests adaptive bench corruption curves seeds}
t0=$(date +%s); DEADLINE=${DEADLINE:-100000}  # seconds after start; no stage runs past it
left() { local l=$(( DEADLINE - ($(date +%s) - t0) )); (( l < $1 )) && echo "$l" || echo "$1"; }
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$OUT/stages.log"; }
bench_() { timeout -k 5 "$(left "$1")" bench "${@:2}" "${clean_args[@]}" --task "$TASK" --profile "$PROFILE" --data-dir "$DATA" --jobs "$JOBS" --out "$STORE"; }
# `bench merge`, not cp: rows of a process cut by a timeout may still be in results.sqlite-wal
save() { [ -f "$STORE/results.sqlite" ] && bench merge "$STORE" --out "$OUT/store" > /dev/null; }
trap save EXIT
for s in $stages; do
  (( $(left 10) < 10 )) && { stamp "deadline: skip $s"; continue; }
  stamp "start $s"
  case $s in
    env)
      nvidia-smi -L; python3 -c "import torch; print(torch.__version__, torch.cuda.is_available())"
      if ! python3 -c "import cryptography" 2>/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile .gpu/whl/*.whl  # into the venv: subprocesses see it
      fi
      python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>&1 | tail -2
      bench tasks --data-dir "$DATA" > "$OUT/tasks.txt" 2>&1 || { cat "$OUT/tasks.txt"; stamp "env failed"; exit 1; } ;;
    tests)  # the whole suite with CUDA present: every default-device path runs on the GPU
      timeout -k 5 "$(left ${TEST_CAP:-120})" python3 -m pytest -q -rfE -p no:cacheprovider -n 8 ${TESTS:-tests} > "$OUT/pytest.log" 2>&1
      tail -5 "$OUT/pytest.log" ;;
    bench)
      WMBENCH_PERF_JSON=$OUT/perf_cuda.json timeout -k 5 "$(left 60)" python3 -m pytest -q -p no:cacheprovider \
        benchmarks/test_perf_trainer.py --benchmark-only 2>&1 | tail -5 ;;
    adaptive)  # issue 11: every scheme x every piracy setting
      bench_ ${ADAPTIVE_CAP:-200} run --scheme "$SCHEMES" --attack none,piracy --seeds 1 --param piracy.pirate_keys="$KEYS" \
        --setting piracy:paper,adam,adam_lr1e-4,clip,low_lr,data20k,data_all,epochs_x4 2>&1 | tail -3 ;;
    corruption)
      bench_ 60 run --scheme "$SCHEMES" --attack corruption --seeds 1 --setting corruption:last_lr,adam 2>&1 | tail -3 ;;
    curves)
      bench_ 60 run --scheme null_embedding,zhang,uchida --attack piracy --seeds 1 \
        --setting piracy:cost_curve_all,cost_curve_1pct 2>&1 | tail -3 ;;
    seeds)  # issue 10: three seeds of every scheme under the paper protocol and the removal attacks
      bench_ 300 run --scheme "$SCHEMES" --attack none,piracy,pruning,finetune,neural_cleanse --seeds "$SEEDS" \
        --param piracy.pirate_keys=3 2>&1 | tail -3 ;;
  esac
  pkill -f multiprocessing.spawn 2>/dev/null  # orphaned workers of a timed-out stage (the device runs nothing else; do not use on a shared machine)
  save
  stamp "done $s"
done
