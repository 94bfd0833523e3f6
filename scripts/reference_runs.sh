#!/usr/bin/env bash
# The grids behind results/: run from the repo root with the data folder beside it.
# Each step is resumable (rerun the script after an interruption). CPU, `quick` profile.
set -euo pipefail
DATA=${WMBENCH_DATA:-../shared/datasets}
OUT=${OUT:-results/runs}
export WMBENCH_PROGRESS=${WMBENCH_PROGRESS:-0}
step=${1:-all}
run() { echo "+ bench $*" >&2; bench "$@" --data-dir "$DATA"; }

if [[ $step == all || $step == digit-core ]]; then
  # Li et al. Tables 1/3/4: every scheme, embedded and pirated under the paper's protocol.
  run run --task digit --scheme all --attack none,piracy --profile quick --seeds 1 \
      --param piracy.pirate_keys=10 --out "$OUT/digit-quick" --jobs 2
fi
if [[ $step == all || $step == digit-removal ]]; then
  run run --task digit --scheme all --attack pruning,finetune,neural_cleanse --profile quick --seeds 1 \
      --setting finetune:ftal,rtal --out "$OUT/digit-quick" --jobs 2
  run run --task digit --scheme none,null_embedding --attack extraction --profile quick --seeds 1 \
      --setting extraction:n1000,n5000,n10000,all --out "$OUT/digit-quick" --jobs 2
fi
if [[ $step == all || $step == digit-adaptive ]]; then
  # Issue 11: piracy-resistance against attackers who adapt, and the corruption attack.
  run run --task digit --scheme null_embedding,zhang,adi,uchida,deepsigns --attack piracy --profile quick --seeds 1 \
      --setting piracy:adam,clip,low_lr,data20k --param piracy.pirate_keys=3 --out "$OUT/digit-quick" --jobs 2
  run run --task digit --scheme null_embedding,zhang,adi --attack corruption --profile quick --seeds 1 \
      --out "$OUT/digit-quick" --jobs 2
fi
if [[ $step == all || $step == digit-seeds ]]; then
  run run --task digit --scheme none,null_embedding --attack none,piracy --profile quick --seeds 3 \
      --param piracy.pirate_keys=10 --out "$OUT/digit-quick" --jobs 2
fi
if [[ $step == all || $step == digit-claims ]]; then
  run run --task digit --scheme null_embedding --attack none --profile quick --seeds 1 --calibrate --claim-keys 1000 \
      --out "$OUT/digit-quick"
fi
if [[ $step == all || $step == traffic ]]; then
  run run --task traffic --scheme none,null_embedding --attack none,piracy --profile quick --seeds 1 \
      --param piracy.pirate_keys=3 --out "$OUT/traffic-quick" --jobs 2
  run run --task traffic@a --scheme none,null_embedding --attack transfer --profile quick --seeds 1 \
      --out "$OUT/traffic-quick" --jobs 2
fi
