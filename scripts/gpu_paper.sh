#!/usr/bin/env bash
# The `paper`-profile Digit owners of one 15-minute GPU loan (issue 10): Li et al. Table 14 (SGD 0.001,
# batch 128, 300 epochs, clip 5), one process per owner sharing the GPU, each followed by its attacks.
#   OUT=<folder brought back> DATA=<data root> DEADLINE=<s> [OWNERS="scheme:seed ..."] bash scripts/gpu_paper.sh
# What comes back under OUT: store/ (every cell), models.tar, one log per owner.
# OWNERS defaults to the seventh session's pair (the clean and the null-embedded owner, seed 0). The clean
# owner gets no attack; null embedding gets piracy / pruning / Neural Cleanse; every other scheme piracy.
# Everything lands in one store; owner trainings checkpoint every CKPT s, so a run cut by the
# deadline leaves a resumable partial model beside the finished ones (all come back in models.tar).
# ATTACKS="--attack ... [--setting ...]" replaces the per-scheme attack list for every owner (twenty-third session:
# `--attack none,extraction --setting extraction:all`, the 300-epoch extraction of a `paper` owner, resumed
# across calls from its checkpoint in STORE/models, which a warm machine keeps).
# CLEAN_FROM=<run folder> (e.g. results/cuda-paper/store): a watermarked owner reads its clean accuracy
# from that folder's clean cell instead of training the clean model of its seed too (the thirteenth
# session's Uchida owner spent the end of its loan on a clean seed-0 model already stored there). It may name
# several folders, space-separated (the clean seed 0 and seeds 1-2 sit in different stores): each becomes one
# --clean-from, and the first that holds a seed's clean cell gives it (the row names that folder).
set -u
OUT=${OUT:-/tmp/gpu-out}; DATA=${DATA:-../shared/datasets}; DEADLINE=${DEADLINE:-540}
STORE=${STORE:-results/runs/digit-paper-cuda}; KEYS=${KEYS:-3}
OWNERS=${OWNERS:-"none:0 null_embedding:0"}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 WMBENCH_CHECKPOINT_EVERY=${CKPT:-30}
mkdir -p "$OUT" "$STORE"
run() { timeout -k 5 "$DEADLINE" bench run --task "${TASK:-digit}" --profile "${PROFILE:-paper}" --data-dir "$DATA" --out "$STORE" "$@"; }
for owner in $OWNERS; do
  scheme=${owner%%:*}; seed=${owner##*:}
  if [[ -n ${ATTACKS:-} ]]; then read -ra attacks <<< "$ATTACKS"; else
  case $scheme in
    none) attacks=(--attack none) ;;
    null_embedding) attacks=(--attack none,piracy,pruning,neural_cleanse --param piracy.pirate_keys="$KEYS") ;;
    *) attacks=(--attack none,piracy --param piracy.pirate_keys="$KEYS") ;;
  esac; fi
  if [[ $scheme != none ]]; then for folder in ${CLEAN_FROM:-}; do attacks+=(--clean-from "$folder"); done; fi
  # "--seeds 1," is the one seed 1 ("--seeds 1" would be a count)
  run --scheme "$scheme" --seeds "$seed," "${attacks[@]}" > "$OUT/$scheme-$seed.log" 2>&1 &
done
wait
# `bench merge`, not cp: it reads the store through SQLite, rows in results.sqlite-wal included (a cp of
# the main file alone brought back two empty stores in the eighth session).
bench merge "$STORE" --out "$OUT/store" > /dev/null
tar -C "$STORE" -cf "$OUT/models.tar" models 2>/dev/null
for owner in $OWNERS; do tail -n 3 "$OUT/${owner%%:*}-${owner##*:}.log"; done
