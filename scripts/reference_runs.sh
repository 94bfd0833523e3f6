#!/usr/bin/env bash
# The grids behind results/ (CPU, `quick` profile). Run from the repo root; every step is
# resumable: rerun the script (or one step) after an interruption and finished cells are skipped.
#   scripts/reference_runs.sh [digit-core|digit-prior|digit-finetune|digit-removal|digit-paper|digit-adaptive|digit-claims|mini-grid|digit-transfer|traffic-transfer|traffic]
set -euo pipefail
DATA=${WMBENCH_DATA:-../shared/datasets}
OUT=${OUT:-results/runs}
# One thread per worker process and two workers: on 2 cores this beats one 2-thread process,
# and avoids OpenMP spin-waits when the machine is shared.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
step=${1:-all}
run() { echo "+ bench $*" >&2; bench "$@" --data-dir "$DATA" --jobs 2; }
on() { [[ $step == all || $step == "$1" ]]; }

if on digit-core; then  # Li et al. Tables 3/4: null embedding vs none, pirated under the paper's protocol
  run run --task digit --scheme none,null_embedding --attack none,piracy --profile quick --seeds 1 \
      --param piracy.pirate_keys=10 --out "$OUT/digit-quick"
  # sixth session: seeds 1-2 of the null-embedded owner and its pirates
  run run --task digit --scheme null_embedding --attack none,piracy --profile quick --seeds 3 \
      --param piracy.pirate_keys=10 --out "$OUT/digit-quick"
fi
if on digit-prior; then  # Table 1: piracy against the prior schemes
  run run --task digit --scheme zhang,zhang_noise,zhang_unrelated,adi,uchida,deepsigns --attack none,piracy \
      --profile quick --seeds 1 --param piracy.pirate_keys=3 --out "$OUT/digit-quick"
  # fifth session: seed 1 for the clean model and the five prior schemes but DeepSigns
  run run --task digit --scheme none,zhang,adi,uchida,zhang_noise,zhang_unrelated --attack none,piracy \
      --profile quick --seeds 0,1 --param piracy.pirate_keys=3 --out "$OUT/digit-quick"
  # sixth session: seed 2 of the same, seeds 1-2 of DeepSigns' overwriting, pruning for every scheme
  run run --task digit --scheme none,zhang,adi,uchida,zhang_noise,zhang_unrelated --attack none,piracy \
      --profile quick --seeds 3 --param piracy.pirate_keys=3 --out "$OUT/digit-quick"
  run run --task digit --scheme deepsigns --attack piracy --profile quick --seeds 3 --param piracy.pirate_keys=2 \
      --out "$OUT/digit-quick"
  run run --task digit --scheme zhang,zhang_noise,zhang_unrelated,adi,deepsigns --attack pruning \
      --setting pruning:magnitude --profile quick --seeds 1 --out "$OUT/digit-quick"
  # eighth session: seeds 1-2 of every prior scheme's magnitude pruning
  run run --task digit --scheme zhang,zhang_noise,zhang_unrelated,adi,uchida,deepsigns --attack pruning \
      --setting pruning:magnitude --profile quick --seeds 3 --out "$OUT/digit-quick"
  run run --task digit --scheme zhang,zhang_noise,zhang_unrelated,adi,uchida,deepsigns --attack finetune \
      --setting finetune:paper_accuracy --profile quick --seeds 3 --out "$OUT/digit-quick"
  run run --task digit --scheme zhang,zhang_noise,zhang_unrelated,adi --attack neural_cleanse --profile quick --seeds 3 \
      --out "$OUT/digit-quick"
fi
if on digit-finetune; then  # Li Fig. 5 (paper_accuracy) and Adi's four modes on the null-embedded model
  run run --task digit --scheme null_embedding --attack finetune --profile quick --seeds 1 \
      --setting finetune:paper_accuracy,ftll,ftal,rtll,rtal --out "$OUT/digit-quick"
fi
if on digit-removal; then  # Table 5, Fig. 6, Table 6
  run run --task digit --scheme none,null_embedding,uchida --attack pruning,neural_cleanse --profile quick \
      --seeds 1 --setting pruning:magnitude --out "$OUT/digit-quick"
  OMP_NUM_THREADS=2 bench run --task digit --scheme null_embedding --attack extraction --profile quick --seeds 1 \
      --setting extraction:n1000,n5000,all --out "$OUT/digit-quick" --data-dir "$DATA"
  # sixth session: the prior schemes under Neural Cleanse, fine-tuning and extraction
  run run --task digit --scheme zhang,adi,zhang_noise,zhang_unrelated,deepsigns --attack neural_cleanse --profile quick \
      --seeds 1 --out "$OUT/digit-quick"
  run run --task digit --scheme zhang,adi,uchida,deepsigns --attack finetune --setting finetune:ftal,rtal,ftll,rtll,paper_accuracy \
      --profile quick --seeds 1 --out "$OUT/digit-quick"
  run run --task digit --scheme zhang,adi,uchida,deepsigns --attack extraction --setting extraction:n1000,n5000,all \
      --profile quick --seeds 1 --out "$OUT/digit-quick"
  # seventh session: seeds 1-2 of null embedding's removal attacks (and the clean model's pruning / Neural Cleanse)
  run run --task digit --scheme none,null_embedding --attack pruning,neural_cleanse --setting pruning:magnitude \
      --profile quick --seeds 3 --out "$OUT/digit-quick"
  run run --task digit --scheme null_embedding --attack finetune --setting finetune:paper_accuracy,ftll,ftal,rtll,rtal \
      --profile quick --seeds 3 --out "$OUT/digit-quick"
  # seventh session: the same for zhang_unrelated and the clean model
  run run --task digit --scheme zhang_unrelated,none --attack finetune --setting finetune:ftal,rtal,ftll,rtll,paper_accuracy \
      --profile quick --seeds 1 --out "$OUT/digit-quick"
  # eleventh session: fine_pruning (magnitude pruning, then 1 epoch of fine-tuning at each rate) of the clean and null-embedded models
  run run --task digit --scheme none,null_embedding --attack pruning --setting pruning:fine_pruning --profile quick \
      --seeds 3 --out "$OUT/digit-quick"
  run run --task digit --scheme zhang,adi,zhang_noise,uchida,zhang_unrelated,deepsigns --attack pruning \
      --setting pruning:fine_pruning --profile quick --seeds 1 --out "$OUT/digit-quick"
  run run --task digit --scheme zhang_unrelated,none --attack extraction --setting extraction:n1000,n5000,all \
      --profile quick --seeds 1 --out "$OUT/digit-quick"
  # ninth session: 3 seeds of every scheme's fine-tuning (the attack's default settings: Adi's four modes), extraction (the attack's default
  # settings: n1000, n5000, n10000, all, ood_noise) and Neural Cleanse; two lanes of one process each
  run run --task digit --scheme zhang,zhang_noise,zhang_unrelated,none --attack finetune,extraction,neural_cleanse \
      --profile quick --seeds 3 --out "$OUT/digit-quick"
  run run --task digit --scheme adi,uchida,deepsigns,null_embedding --attack finetune,extraction,neural_cleanse \
      --profile quick --seeds 3 --out "$OUT/digit-quick"
  # tenth session: the clean model's Li fine-tuning on seeds 1-2 (its models retrained from their seeds)
  run run --task digit --scheme none --attack finetune --setting finetune:paper_accuracy --profile quick --seeds 1,2 \
      --out "$OUT/digit-quick"
fi
if [[ $step == digit-paper ]]; then  # (not in `all`) Table 14's recipe (300 SGD epochs): owners on a GPU (scripts/gpu_paper.sh), attacks anywhere
  # seventh session, NVIDIA H200: `OUT=... DATA=... DEADLINE=525 bash scripts/gpu_paper.sh` (cut at epoch 271 of
  # the null-embedded owner by its deadline), the same again (resumed from the epoch-263 checkpoint), then
  run run --task digit --profile paper --seeds 1 --out "$OUT/digit-paper-cuda" --scheme null_embedding \
      --attack piracy,finetune --param piracy.pirate_keys=2 --setting piracy:paper,adam,clip,low_lr,data_all,epochs_x4 \
      --setting finetune:ftll,ftal,rtll,rtal
  # then on the CPU, with the two H200 owner models copied into "$OUT/digit-paper-cpu/models/" (same cache keys)
  run run --task digit --profile paper --seeds 1 --out "$OUT/digit-paper-cpu" --scheme null_embedding --attack piracy \
      --setting piracy:paper --param piracy.pirate_keys=10
  run run --task digit --profile paper --seeds 1 --out "$OUT/digit-paper-cpu" --scheme null_embedding --attack finetune \
      --setting finetune:paper_accuracy
  run run --task digit --profile paper --seeds 1 --out "$OUT/digit-paper-cpu" --scheme none --attack neural_cleanse
  run run --task digit --profile paper --seeds 1 --out "$OUT/digit-paper-cpu" --scheme null_embedding --attack extraction \
      --setting extraction:n1000,n5000,n10000
  run run --task digit --profile paper --seeds 1 --out "$OUT/digit-paper-cpu" --scheme null_embedding --attack piracy \
      --setting piracy:adam,clip --param piracy.pirate_keys=10
  # eighth session, NVIDIA H100: four owners side by side (their stores came back empty; fixed since),
  #   OUT=... DATA=... DEADLINE=505 OWNERS="zhang:0 adi:0 null_embedding:1 none:1" bash scripts/gpu_paper.sh
  # thirteenth session, NVIDIA H200: four owners side by side, then the two cut ones resumed,
  #   OUT=... DATA=... DEADLINE=505 OWNERS="null_embedding:2 none:2 deepsigns:0 uchida:0" bash scripts/gpu_paper.sh
  #   OUT=... DATA=... DEADLINE=285 OWNERS="null_embedding:2 deepsigns:0" bash scripts/gpu_paper.sh
  # sixteenth session, NVIDIA H200: five owners side by side, then the cut Uchida owner finished (Zhang's and Adi's
  # seed 2 started there; Zhang's finished on the CPU from its epoch-158 checkpoint, Adi's is still partial),
  #   OUT=... DATA=... DEADLINE=515 CLEAN_FROM="results/cuda-paper/store results/cuda-paper/cpu-attacks/store" \
  #     OWNERS="zhang_noise:0 zhang_unrelated:0 zhang:1 adi:1 uchida:1" bash scripts/gpu_paper.sh
  #   OUT=... DATA=... DEADLINE=235 CLEAN_FROM=(the same) OWNERS="uchida:1 zhang:2 adi:2" bash scripts/gpu_paper.sh
  # nineteenth session, NVIDIA H200: seven owners side by side, then Uchida's (cut at epoch 299) and DeepSigns' two
  # (cut at 94-95) continued; DeepSigns' finished on the CPU from their epoch-163 / 171 checkpoints
  #   OUT=... DATA=... DEADLINE=515 CLEAN_FROM=(the same) \
  #     OWNERS="zhang_noise:1 zhang_noise:2 zhang_unrelated:1 zhang_unrelated:2 uchida:2 deepsigns:1 deepsigns:2" bash scripts/gpu_paper.sh
  #   OUT=... DATA=... DEADLINE=250 CLEAN_FROM=(the same) OWNERS="uchida:2 deepsigns:1 deepsigns:2" bash scripts/gpu_paper.sh
  # twentieth session, NVIDIA H200: a fourth clean and null-embedded owner (seed 3) side by side; the null-embedded
  # process also ran its paper-protocol pirate (3 keys) and pruning on the GPU (into runs/digit-paper-s20)
  #   OUT=... DATA=... DEADLINE=540 OWNERS="none:3 null_embedding:3" bash scripts/gpu_paper.sh
  # then every attack on the CPU, the owner models copied into "$OUT/digit-paper-cpu/models/" (DeepSigns' as
  # its epoch-271 checkpoint, finished there). Seed 1 ran in the eighth session, seed 2 in the thirteenth
  # (into a folder of its own, runs/digit-paper-s13).
  run run --task digit --profile paper --seeds 1 --out "$OUT/digit-paper-cpu" --scheme zhang,adi --attack none,piracy \
      --param piracy.pirate_keys=3
  run run --task digit --profile paper --seeds 1,2 --out "$OUT/digit-paper-cpu" --scheme null_embedding --attack none,piracy \
      --setting piracy:paper,adam,clip --param piracy.pirate_keys=10
  run run --task digit --profile paper --seeds 1,2 --out "$OUT/digit-paper-cpu" --scheme none,null_embedding \
      --attack none,neural_cleanse,pruning
  run run --task digit --profile paper --seeds 1,2 --out "$OUT/digit-paper-cpu" --scheme null_embedding --attack finetune,extraction \
      --setting finetune:paper_accuracy,ftll,ftal,rtll,rtal --setting extraction:n1000,n5000,n10000
  run run --task digit --profile paper --seeds 1 --out "$OUT/digit-paper-cpu" --scheme zhang,adi --attack pruning,finetune \
      --setting finetune:paper_accuracy
  run run --task digit --profile paper --seeds 1 --out "$OUT/digit-paper-cpu" --scheme adi --attack piracy \
      --setting piracy:adam,clip --param piracy.pirate_keys=3
  # Uchida's, DeepSigns' and (sixteenth session) zhang_noise's and zhang_unrelated's clean reference: the seventh
  # session's H200 clean seed-0 cell (no clean model retrained); Uchida's and DeepSigns' `adam` / `clip` overwriting
  # pirates ran in the fourteenth session, the rest in the thirteenth
  run run --task digit --profile paper --seeds 1 --out "$OUT/digit-paper-cpu" --scheme deepsigns,uchida,zhang_noise,zhang_unrelated \
      --attack none,piracy,pruning,finetune --setting piracy:paper,adam,clip --setting finetune:paper_accuracy \
      --param piracy.pirate_keys=3 --clean-from results/cuda-paper/store
  # sixteenth session: the seed-1 owners of Zhang, Adi and Uchida and the seed-2 Zhang owner, against the clean
  # seeds 1 and 2 stored in cpu-attacks/ (the H100 and H200 clean owners); seventeenth: the seed-2 Adi owner
  # (resumed on the CPU from its H200 checkpoint) and Neural Cleanse on the backdoor owners
  for seed_schemes in 1:zhang,adi,uchida 2:zhang,adi; do
    run run --task digit --profile paper --seeds "${seed_schemes%%:*}," --out "$OUT/digit-paper-cpu" --scheme "${seed_schemes#*:}" \
        --attack none,piracy,pruning,finetune --setting piracy:paper,adam,clip --setting finetune:paper_accuracy \
        --param piracy.pirate_keys=3 --clean-from results/cuda-paper/cpu-attacks/store
  done
  run run --task digit --profile paper --seeds 1,2 --out "$OUT/digit-paper-cpu" --scheme zhang,adi --attack neural_cleanse \
      --clean-from results/cuda-paper/cpu-attacks/store
  run run --task digit --profile paper --seeds 0, --out "$OUT/digit-paper-cpu" --scheme zhang_noise,zhang_unrelated --attack neural_cleanse \
      --clean-from results/cuda-paper/store
  # eighteenth session: Neural Cleanse on the white-box owners (Uchida seeds 0-1, DeepSigns seed 0)
  run run --task digit --profile paper --seeds 0, --out "$OUT/digit-paper-cpu" --scheme uchida,deepsigns --attack neural_cleanse \
      --clean-from results/cuda-paper/store
  run run --task digit --profile paper --seeds 1, --out "$OUT/digit-paper-cpu" --scheme uchida --attack neural_cleanse \
      --clean-from results/cuda-paper/cpu-attacks/store
  # nineteenth session (into runs/digit-paper-s19): DeepSigns' seeds 1-2 finished and attacked, zhang_noise seed 1 and Uchida seed 2 pruned
  for seed in 1 2; do
    run run --task digit --profile paper --seeds "$seed," --out "$OUT/digit-paper-cpu" --scheme deepsigns --attack none,piracy,pruning,finetune \
        --setting finetune:paper_accuracy --param piracy.pirate_keys=3 --clean-from results/cuda-paper/cpu-attacks/store
  done
  run run --task digit --profile paper --seeds 1, --out "$OUT/digit-paper-cpu" --scheme zhang_noise --attack pruning,finetune \
      --setting finetune:paper_accuracy --clean-from results/cuda-paper/cpu-attacks/store
  run run --task digit --profile paper --seeds 2, --out "$OUT/digit-paper-cpu" --scheme uchida --attack pruning \
      --clean-from results/cuda-paper/cpu-attacks/store
  # twentieth session (into runs/digit-paper-s19): the rest of the nineteenth session's owners' attacks
  for seed in 1 2; do
    run run --task digit --profile paper --seeds "$seed," --out "$OUT/digit-paper-cpu" --scheme zhang_noise,zhang_unrelated,deepsigns \
        --attack piracy,neural_cleanse --setting piracy:adam,clip --param piracy.pirate_keys=3 --clean-from results/cuda-paper/cpu-attacks/store
  done
  run run --task digit --profile paper --seeds 2, --out "$OUT/digit-paper-cpu" --scheme zhang_noise,zhang_unrelated --attack pruning,finetune \
      --setting finetune:paper_accuracy --clean-from results/cuda-paper/cpu-attacks/store
  run run --task digit --profile paper --seeds 1, --out "$OUT/digit-paper-cpu" --scheme zhang_unrelated --attack pruning,finetune \
      --setting finetune:paper_accuracy --clean-from results/cuda-paper/cpu-attacks/store
  run run --task digit --profile paper --seeds 2, --out "$OUT/digit-paper-cpu" --scheme uchida --attack piracy,finetune,neural_cleanse \
      --setting piracy:adam,clip --setting finetune:paper_accuracy --param piracy.pirate_keys=3 --clean-from results/cuda-paper/cpu-attacks/store
  # twentieth session (into runs/digit-paper-s20): the seed-3 null-embedded owner's CPU attacks (its clean seed 3 is cached beside it)
  run run --task digit --profile paper --seeds 3, --out "$OUT/digit-paper-cpu" --scheme null_embedding \
      --attack neural_cleanse,piracy,finetune --setting piracy:adam,clip,low_lr,adam_lr1e-4,data20k \
      --setting finetune:paper_accuracy,ftll,ftal,rtll,rtal --param piracy.pirate_keys=3
  # twenty-first session (same folder): epochs_x4 (3 keys, 25 minutes on one thread) and extraction; its data_all
  # pirate had 1 key; the twenty-second session ran it with 3 keys (into runs/digit-paper-s22, with copies of the
  # two seed-3 models) and that cell replaced the 1-key one
  run run --task digit --profile paper --seeds 3, --out "$OUT/digit-paper-cpu" --scheme null_embedding --attack piracy \
      --setting piracy:epochs_x4 --param piracy.pirate_keys=3
  run run --task digit --profile paper --seeds 3, --out "$OUT/digit-paper-cpu" --scheme null_embedding --attack piracy \
      --setting piracy:data_all --param piracy.pirate_keys=3
  run run --task digit --profile paper --seeds 3, --out "$OUT/digit-paper-cpu" --scheme null_embedding --attack extraction \
      --setting extraction:n1000,n5000,n10000
  # twenty-third session: all 60,000 queries (300 epochs; epochs 1-218 ran on an H200 loan, the rest here from its
  # checkpoint, see results/README.md; on the CPU alone about an hour on two AVX-512 threads, four on one AVX2 thread)
  run run --task digit --profile paper --seeds 3, --out "$OUT/digit-paper-cpu" --scheme null_embedding --attack extraction \
      --setting extraction:all
  # CPU pirates on seed 2: four in the fourteenth session, data20k in the fifteenth
  run run --task digit --profile paper --seeds 2, --out "$OUT/digit-paper-cpu" --scheme null_embedding --attack piracy \
      --setting piracy:low_lr,epochs_x4,data_all,adam_lr1e-4,data20k --param piracy.pirate_keys=3
fi
if on digit-adaptive; then  # issue 11: attackers who adapt (DESIGN.md section 9); one owner model -> 2 threads
  export OMP_NUM_THREADS=2
  bench run --task digit --scheme null_embedding --attack piracy --profile quick --seeds 1 --data-dir "$DATA" \
      --setting piracy:adam,adam_lr1e-4,clip,low_lr,data20k,epochs_x4 --param piracy.pirate_keys=2 --out "$OUT/digit-quick"
  OMP_NUM_THREADS=1 run run --task digit --scheme null_embedding,zhang --attack corruption --profile quick --seeds 1 \
      --out "$OUT/digit-quick"
  # DeepSigns (its third-session H200 cells failed on a CUDA bug; the twentieth session reran them on an H200 with
  #   SCHEMES=deepsigns CLEAN_FROM=results/cuda/store bash scripts/gpu_runs.sh env seeds adaptive corruption):
  # 3 seeds, every piracy setting, corruption.
  # The fifth session reran these for scheme version 2 except data_all and epochs_x4 (run in the eighth).
  OMP_NUM_THREADS=1 bench run --task digit --scheme deepsigns --attack none --profile quick --seeds 3 --data-dir "$DATA" \
      --out "$OUT/digit-quick"
  OMP_NUM_THREADS=1 bench run --task digit --scheme deepsigns --attack piracy --profile quick --seeds 1 --data-dir "$DATA" \
      --param piracy.pirate_keys=2 --setting piracy:paper,adam,adam_lr1e-4,clip,low_lr,data20k,data_all,epochs_x4 \
      --out "$OUT/digit-quick"
  OMP_NUM_THREADS=1 bench run --task digit --scheme deepsigns --attack corruption --profile quick --seeds 1 --data-dir "$DATA" \
      --setting corruption:last_lr,adam --out "$OUT/digit-quick"
  # seeds 1-2 of six adaptive pirates (tenth session: the first four; eleventh: data20k, epochs_x4), and of corruption
  OMP_NUM_THREADS=1 bench run --task digit --scheme null_embedding --attack piracy --profile quick --seeds 1,2 \
      --setting piracy:adam,clip,low_lr,adam_lr1e-4,data20k,epochs_x4 --param piracy.pirate_keys=2 --data-dir "$DATA" \
      --out "$OUT/digit-quick"
  OMP_NUM_THREADS=1 bench run --task digit --scheme null_embedding,zhang --attack corruption --profile quick --seeds 1,2 \
      --setting corruption:last_lr,adam --data-dir "$DATA" --out "$OUT/digit-quick"
  # fourteenth session: seeds 1-2 of the other schemes' corruption and fine-pruning
  run run --task digit --scheme zhang,zhang_noise,zhang_unrelated,adi,uchida,deepsigns --attack pruning,corruption \
      --setting pruning:fine_pruning --setting corruption:last_lr,adam --profile quick --seeds 1,2 --out "$OUT/digit-quick"
  # fifteenth session: the data_all pirate (all 60,000 images, 10 epochs) on seeds 0-2, 2 keys each
  OMP_NUM_THREADS=1 bench run --task digit --scheme null_embedding --attack piracy --profile quick --seeds 3 \
      --setting piracy:data_all --param piracy.pirate_keys=2 --data-dir "$DATA" --out "$OUT/digit-quick"
fi
if on digit-claims; then  # non-trivial ownership: 1,000 random keys per scheme, on clean and watermarked models
  OMP_NUM_THREADS=2 run run --task digit --scheme all --attack none --profile quick --seeds 1 --calibrate --claim-keys 1000 \
      --out "$OUT/digit-quick"
  # thirty-fifth session: null embedding's claims again, now with each half's pass count (part_passes_*)
  run run --task digit --scheme null_embedding --attack none --profile quick --seeds 1 --calibrate --claim-keys 1000 \
      --out "$OUT/digit-claims-s35"
  run run --task digit --scheme null_embedding --attack none,extraction,finetune \
      --setting extraction:n1000,n5000,all,ood_noise --setting finetune:paper_accuracy --profile quick --seeds 1 \
      --out "$OUT/digit-trace-s35"
fi
if on mini-grid; then  # every scheme x every attack on the shipped subset (smoke)
  run run --task digit-mini --scheme all --attack all --profile smoke --seeds 1 --out "$OUT/digit-mini-smoke"
fi
if on digit-transfer; then  # seventh session: Li Tables 7-8 on an MNIST class split (teacher 0-4, student 5-9)
  run run --task digit@a --scheme none,null_embedding --attack none,transfer --profile quick --seeds 3 \
      --out "$OUT/digit-split-quick"
  # the prior schemes' teachers, 3 seeds (tenth session: Zhang, Adi, seeds 0-1 of Uchida and DeepSigns; eleventh: the rest)
  run run --task digit@a --scheme zhang,adi,uchida,deepsigns,zhang_noise,zhang_unrelated --attack none,transfer --profile quick \
      --seeds 3 --out "$OUT/digit-split-quick"
  # thirty-fifth session: where each half of the check goes after `all` (null_top_*, true_top_*)
  OMP_NUM_THREADS=2 run run --task digit@a --scheme null_embedding --attack none,transfer --setting transfer:all,added \
      --profile quick --seeds 1 --out "$OUT/digit-split-trace-s35"
fi
if on traffic-transfer; then  # Li et al. Tables 7-8 offline: teacher on GTSRB classes 0-20, student on 21-42
  run run --task traffic@a --scheme null_embedding --attack none,transfer --profile quick --seeds 1 \
      --out "$OUT/traffic-split-quick-v2"
  # twenty-ninth / thirtieth sessions: every prior scheme's teacher (seed 0), and seeds 1-2 of the
  # clean and null-embedded teachers
  run run --task traffic@a --scheme zhang_unrelated,uchida,zhang,adi,deepsigns,zhang_noise,none --attack none,transfer \
      --profile quick --seeds 0, --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme none,null_embedding --attack none,transfer --profile quick --seeds 1,2 \
      --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme zhang,adi,zhang_unrelated --attack none,transfer --profile quick --seeds 1, \
      --out "$OUT/traffic-split-quick-v2"
  # thirty-first session: the other prior schemes' teachers on seed 1, every prior scheme's on seed 2
  run run --task traffic@a --scheme zhang_noise,uchida,deepsigns --attack none,transfer --profile quick --seeds 1, \
      --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme zhang,adi,zhang_unrelated,zhang_noise,uchida,deepsigns --attack none,transfer \
      --profile quick --seeds 2, --out "$OUT/traffic-split-quick-v2"
  # thirty-first session, two profile variants on seed 1, whose null-embedded teacher stays on the loss
  # plateau under `quick` (rows under the profiles `quick+warmup_steps=211` and
  # `quick+lr_decay=2e-05+momentum=0.0`, apart from the stock rows): the learning rate warmed up over one
  # epoch of the split (211 steps), and Table 14's optimiser (no momentum, decay 2e-5) at quick's 6 epochs.
  # The null teacher's transfer cells were not run: it did not leave the plateau under either.
  run run --task traffic@a --scheme none --attack none,transfer --profile quick --recipe warmup_steps=211 \
      --seeds 1, --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme null_embedding --attack none --profile quick --recipe warmup_steps=211 \
      --seeds 1, --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme none,null_embedding --attack none --profile quick --recipe momentum=0 \
      --recipe lr_decay=2e-5 --seeds 1, --out "$OUT/traffic-split-quick-v2"
  # thirty-second session: learning rate 0.01 / 0.005 and a gradient-norm clip of 1 on seed 1 (the null
  # teacher stays on the plateau under each), then null embedding with the public ports' loss weights
  # (a scheme variant, rows under its own scheme name) on seeds 0-2 at quick's 6 epochs, and 12 epochs
  # (a profile variant) for the clean, the stock and the weighted null teacher
  run run --task traffic@a --scheme null_embedding,none --attack none --profile quick --recipe lr=0.01 \
      --seeds 1, --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme null_embedding --attack none --profile quick --recipe lr=0.005 \
      --seeds 1, --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme null_embedding,none --attack none --profile quick --recipe grad_clip=1.0 \
      --seeds 1, --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme null_embedding+null_weight=0.25+true_weight=0.25 --attack none,transfer \
      --profile quick --seeds 3 --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme none,null_embedding+null_weight=0.25+true_weight=0.25 \
      --attack none --profile quick --recipe epochs=12 --seeds 3 --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme null_embedding --attack none --profile quick --recipe epochs=12 \
      --seeds 1, --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme null_embedding+null_weight=0.25+true_weight=0.25,null_embedding,none \
      --attack transfer --profile quick --recipe epochs=12 --seeds 1, --out "$OUT/traffic-split-quick-v2"
  # thirty-third session: the 12-epoch stock-weight, weighted and clean teachers of seeds 0 and 2
  # through transfer, and Uchida with a host layer of Uchida et al.'s size (M = 576) or with 128 bits
  run run --task traffic@a --scheme null_embedding+null_weight=0.25+true_weight=0.25,null_embedding,none \
      --attack none,transfer --profile quick --recipe epochs=12 --seeds 0,2 --out "$OUT/traffic-split-quick-v2"
  run run --task traffic@a --scheme uchida+layer=body.conv_4,uchida+bits=128 --attack none,transfer \
      --profile quick --seeds 3 --out "$OUT/traffic-split-quick-v2"
  # thirty-fifth session: the 12-epoch seed-2 teacher again, for where the true half goes (true_top_class)
  run run --task traffic@a --scheme null_embedding --attack none,transfer --setting transfer:last_two,dense,added \
      --profile quick --recipe epochs=12 --seeds 2, --out "$OUT/traffic-split-trace-s35"
fi
if on traffic; then
  run run --task traffic --scheme none,null_embedding --attack none --profile quick --seeds 1 --out "$OUT/traffic-quick-v2"
  # thirty-third session: Uchida with a host layer of Uchida et al.'s size (M = 576) on seed 2
  run run --task traffic --scheme uchida+layer=body.conv_4 --attack none,pruning --profile quick --seeds 2, \
      --out "$OUT/traffic-quick-v2"
  run run --task traffic --scheme uchida+layer=body.conv_4 --attack none,piracy --profile quick --seeds 3 \
      --param piracy.pirate_keys=1 --out "$OUT/traffic-quick-v2"
  run run --task traffic --scheme uchida+layer=body.conv_4 --attack finetune --setting finetune:ftal \
      --profile quick --seeds 2, --out "$OUT/traffic-quick-v2"
  # thirty-fifth session: seeds 0-1 of the same (3 seeds of pruning, fine-pruning and ftal)
  run run --task traffic --scheme uchida+layer=body.conv_4 --attack none,pruning --profile quick --seeds 0,1 \
      --out "$OUT/traffic-uchida-s35"
  run run --task traffic --scheme uchida+layer=body.conv_4 --attack finetune --setting finetune:ftal \
      --profile quick --seeds 0,1 --out "$OUT/traffic-uchida-s35"
  # thirty-sixth session: Adi's ftll / rtll / rtal on seeds 1-2 of the prior schemes (owners retrained;
  # ftal and Li's paper_accuracy had 3 seeds already; zhang_unrelated's seed 2 is in since the twenty-second)
  run run --task traffic --scheme zhang,adi,deepsigns,uchida,zhang_noise --attack finetune \
      --setting finetune:ftll,rtal,rtll --profile quick --seeds 1,2 --clean-from results/store \
      --out "$OUT/traffic-ft-s36"
  # thirty-seventh session: zhang_unrelated's seed-1 ftll / rtll / rtal, the clean model's pruning on seeds 1-2
  run run --task traffic --scheme zhang_unrelated --attack finetune --setting finetune:ftll,rtal,rtll \
      --profile quick --seeds 1, --clean-from results/store --out "$OUT/traffic-s37"
  run run --task traffic --scheme none --attack pruning --profile quick --seeds 1,2 --out "$OUT/traffic-s37"
  run run --task traffic --scheme null_embedding --attack extraction --setting extraction:ood_noise,ood_data \
      --profile quick --seeds 1,2 --clean-from results/store --out "$OUT/traffic-s37"
  # thirty-eighth session: Neural Cleanse on Zhang's and Adi's seed-1 owners (about 2 hours each on 2 threads)
  run run --task traffic --scheme zhang,adi --attack neural_cleanse --profile quick --seeds 1, \
      --clean-from results/store --out "$OUT/traffic-s38"
  # thirty-eighth session: zhang_unrelated's all-query extraction on seeds 0-1 (seed 2 is in the twenty-first's)
  run run --task traffic --scheme zhang_unrelated --attack extraction --setting extraction:all --profile quick \
      --seeds 0,1 --clean-from results/store --out "$OUT/traffic-s38"
  # thirty-ninth session: Neural Cleanse on zhang_noise's and DeepSigns' seed-1 owners (70 minutes each on 2 threads)
  run run --task traffic --scheme zhang_noise,deepsigns --attack neural_cleanse --profile quick --seeds 1, \
      --clean-from results/store --out "$OUT/traffic-s39"
  # fortieth session: Neural Cleanse on Uchida's seed-1 owner (77 minutes on 2 threads, owner included), then its
  # all-query and out-of-distribution extraction on the cached owner, and Zhang's and Adi's
  run run --task traffic --scheme uchida --attack neural_cleanse --profile quick --seeds 1, \
      --clean-from results/store --out "$OUT/traffic-s40"
  run run --task traffic --scheme uchida --attack extraction --setting extraction:all,ood_noise,ood_data \
      --profile quick --seeds 1, --clean-from results/store --out "$OUT/traffic-s40"
  run run --task traffic --scheme zhang --attack extraction --setting extraction:all,ood_noise,ood_data \
      --profile quick --seeds 1, --clean-from results/store --out "$OUT/traffic-s40z"
  run run --task traffic --scheme adi --attack extraction --setting extraction:all,ood_noise,ood_data \
      --profile quick --seeds 1, --clean-from results/store --out "$OUT/traffic-s40a"
  run run --task traffic --scheme null_embedding,zhang --attack none,piracy --profile quick --seeds 1 \
      --param piracy.pirate_keys=1 --out "$OUT/traffic-quick-v2"
  # fourth session: the other schemes' owners, Table 1 piracy on Traffic, pruning (Fig. 6), extraction (Table 6)
  run run --task traffic --scheme all --attack none,pruning --profile quick --seeds 1 --out "$OUT/traffic-quick-v2"
  run run --task traffic --scheme all --attack piracy --profile quick --seeds 1 --param piracy.pirate_keys=1 \
      --out "$OUT/traffic-quick-v2"
  run run --task traffic --scheme null_embedding --attack extraction --setting extraction:ood_noise,ood_data,n5000 \
      --profile quick --seeds 1 --out "$OUT/traffic-quick-v2"
  # fifth session: DeepSigns version 2 (owner, piracy, pruning come from the two `all` lines above),
  # fine-tuning of the null-embedded model (Li Fig. 5 and Adi's modes)
  run run --task traffic --scheme null_embedding --attack finetune --profile quick --seeds 1 \
      --setting finetune:paper_accuracy,ftll,ftal,rtll,rtal --out "$OUT/traffic-quick-v2"
  # sixth session: in-distribution extraction (Table 6's other axis), seed 1 of Tables 3-4
  run run --task traffic --scheme null_embedding --attack extraction --setting extraction:n1000,n5000,n10000,all \
      --profile quick --seeds 1 --out "$OUT/traffic-quick-v2"
  run run --task traffic --scheme none,null_embedding --attack none --profile quick --seeds 2 --out "$OUT/traffic-quick-v2"
  run run --task traffic --scheme null_embedding --attack piracy --profile quick --seeds 2 --param piracy.pirate_keys=1 \
      --out "$OUT/traffic-quick-v2"
  # ninth session: Li's fine-tuning protocol and head re-training (rtll) on every prior scheme's owner
  run run --task traffic --scheme zhang,adi,zhang_noise,zhang_unrelated,uchida,deepsigns --attack finetune \
      --setting finetune:paper_accuracy,rtll --profile quick --seeds 1 --out "$OUT/traffic-quick-v2"
  run run --task traffic --scheme zhang,adi --attack extraction --setting extraction:n10000 --profile quick --seeds 1 \
      --out "$OUT/traffic-quick-v2"
  run run --task traffic --scheme zhang,adi --attack finetune --setting finetune:ftal,rtal --profile quick --seeds 1 \
      --out "$OUT/traffic-quick-v2"
  # tenth session: 10,000-query extraction, ftal and rtal of the four other prior schemes
  run run --task traffic --scheme uchida,deepsigns,zhang_noise,zhang_unrelated --attack extraction,finetune \
      --setting extraction:n10000 --setting finetune:rtal,ftal --profile quick --seeds 1 --out "$OUT/traffic-quick-v2"
  # eleventh session: ftll (the last of Adi's four modes) for every prior scheme
  run run --task traffic --scheme uchida,deepsigns,zhang_noise,zhang_unrelated,zhang,adi --attack finetune \
      --setting finetune:ftll --profile quick --seeds 1 --out "$OUT/traffic-quick-v2"
  # twelfth session: seeds 1-2 of null embedding (seed 2's clean model and pirate; pruning, fine-pruning,
  # 10,000-query extraction, Li's fine-tuning, Adi's four modes; seed 2's ftll / ftal in the thirteenth session)
  run run --task traffic --scheme null_embedding --attack none,pruning,extraction,finetune \
      --setting extraction:n10000 --setting finetune:paper_accuracy,ftll,ftal,rtll,rtal \
      --profile quick --seeds 1, --out "$OUT/traffic-quick-v2"
  run run --task traffic --scheme null_embedding --attack none,piracy,pruning,extraction,finetune \
      --setting piracy:paper --setting extraction:n10000 --setting finetune:paper_accuracy,ftll,ftal,rtll,rtal \
      --param piracy.pirate_keys=1 --profile quick --seeds 2, --out "$OUT/traffic-quick-v2"
  # the prior schemes' seeds 1-2: owner, piracy, pruning, Li's fine-tuning, ftal; Zhang (fourteenth session) and
  # Adi (fifteenth) on seeds 1-2, Uchida (sixteenth, seventeenth) on seeds 1-2, DeepSigns (seventeenth, eighteenth)
  # on seeds 1-2, zhang_noise and zhang_unrelated (eighteenth) on seeds 1-2 ("1," is the one seed 1; the
  # eighteenth session ran zhang_unrelated's seed 2 with --attack none,piracy only; the twenty-first its pruning
  # and fine-tuning, against a retrained owner, with --clean-from results/store)
  for seeds_schemes in 1,2:zhang,adi 1,2:uchida 1,2:deepsigns 1,2:zhang_noise,zhang_unrelated; do
    run run --task traffic --scheme "${seeds_schemes#*:}" --attack none,piracy,pruning,finetune --setting finetune:paper_accuracy,ftal \
        --param piracy.pirate_keys=1 --profile quick --seeds "${seeds_schemes%%:*}" --out "$OUT/traffic-quick-v2"
  done
  # twenty-second session: zhang_unrelated seed 2's extraction sizes and Adi's other three modes (the owner
  # retrained in the twenty-first session, cached in runs/traffic-s12)
  run run --task traffic --scheme zhang_unrelated --attack extraction,finetune --setting extraction:n1000,n5000,n10000,all \
      --setting finetune:ftll,rtll,rtal --profile quick --seeds 2, --out "$OUT/traffic-quick-v2"
  # twenty-third session: Neural Cleanse on seed 0's null-embedded owner (a 50-minute search on two AVX-512 threads;
  # the clean model's was stopped unfinished there and ran in the twenty-fifth session, 73 minutes)
  run run --task traffic --scheme null_embedding,none --attack neural_cleanse --profile quick --seeds 0, --out "$OUT/traffic-quick-v2"
  # twenty-fifth session: seed 1's null-embedded owner (a 50-minute search)
  run run --task traffic --scheme null_embedding --attack neural_cleanse --profile quick --seeds 1, --out "$OUT/traffic-quick-v2"
  # twenty-sixth session: seed 2's null-embedded owner (a 55-minute search)
  run run --task traffic --scheme null_embedding --attack neural_cleanse --profile quick --seeds 2, --out "$OUT/traffic-quick-v2"
  # twenty-seventh session: seed 1's clean model (300 steps, 114 minutes)
  run run --task traffic --scheme none --attack neural_cleanse --profile quick --seeds 1, --out "$OUT/traffic-quick-v2"
  # twenty-eighth session: seed 2's clean model (212 steps, 45 minutes)
  run run --task traffic --scheme none --attack neural_cleanse --profile quick --seeds 2, --out "$OUT/traffic-quick-v2"
  # fifteenth session: null embedding's other extraction sizes on seeds 1-2
  run run --task traffic --scheme null_embedding --attack extraction --setting extraction:n1000,n5000,all \
      --profile quick --seeds 1,2 --out "$OUT/traffic-quick-v2"
  # twenty-ninth / thirtieth sessions: the prior schemes' extraction at 1,000 / 5,000 / 10,000 queries,
  # seeds 0 and 1 (owners retrained; the stored seed-0 10,000-query cells attack the earlier owners)
  run run --task traffic --scheme zhang,adi,zhang_noise,zhang_unrelated,uchida,deepsigns --attack extraction \
      --setting extraction:n1000,n5000,n10000 --profile quick --seeds 0,1 --out "$OUT/traffic-quick-v2"
  # thirty-first session: the same on seed 2 (zhang_unrelated's seed 2 is above)
  run run --task traffic --scheme zhang,adi,zhang_noise,uchida,deepsigns --attack extraction \
      --setting extraction:n1000,n5000,n10000 --profile quick --seeds 2, --out "$OUT/traffic-quick-v2"
fi
