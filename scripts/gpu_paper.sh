#!/usr/bin/env bash
# The `paper`-profile Digit run of one 15-minute GPU loan (issue 10): the clean and the null-embedded
# owner of Li et al. Table 14 (SGD 0.001, batch 128, 300 epochs, clip 5) trained side by side in two
# processes sharing the GPU, then the null-embedded model's piracy / pruning / Neural Cleanse cells.
#   OUT=<folder brought back> DATA=<data root> DEADLINE=<s> bash scripts/gpu_paper.sh
# Everything lands in one store; owner trainings checkpoint every CKPT s, so a run cut by the
# deadline leaves a resumable partial model beside the finished ones (both come back in models.tar).
set -u
OUT=${OUT:-/tmp/gpu-out}; DATA=${DATA:-../shared/datasets}; DEADLINE=${DEADLINE:-540}
STORE=${STORE:-results/runs/digit-paper-cuda}; KEYS=${KEYS:-3}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 WMBENCH_CHECKPOINT_EVERY=${CKPT:-30}
mkdir -p "$OUT" "$STORE"
run() { timeout -k 5 "$DEADLINE" bench run --task "${TASK:-digit}" --profile "${PROFILE:-paper}" --data-dir "$DATA" --seeds 1 --out "$STORE" "$@"; }
# The clean owner first in its own process; the null-embedded job asks for it only after its own
# 300 epochs (1.2x the work), by which time it is in the cache.
run --scheme none --attack none > "$OUT/none.log" 2>&1 &
run --scheme null_embedding --attack none,piracy,pruning,neural_cleanse --param piracy.pirate_keys="$KEYS" \
    > "$OUT/null.log" 2>&1 &
wait
cp "$STORE/results.sqlite" "$OUT/" 2>/dev/null
tar -C "$STORE" -cf "$OUT/models.tar" models 2>/dev/null
tail -n 3 "$OUT/none.log" "$OUT/null.log"
