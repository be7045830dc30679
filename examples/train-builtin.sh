#!/usr/bin/env bash
# The built-in default model, from nothing, in one seeded command (about 21-30 minutes on 2
# CPU cores; theta_cli/builtin/default/MODEL_CARD.md has the figures):
#
#     bash examples/train-builtin.sh [WORKDIR]        # default WORKDIR: ./builtin-train
#
# Everything is written under WORKDIR (refused if it exists: theta never writes over a
# directory it did not make): raw/ (synthetic tracks; raw-filled/ with FILLED), dataset/,
# models/<run>/ and exported/, the model directory to compare with theta_cli/builtin/default (`theta bench --model
# WORKDIR/exported --no-builtin ...`, or copy it there to ship it).
#
# Seeds: synth 2026 (not the default 0, so a default `theta data synth` dataset is unseen by
# the model), training seed 0 (examples/default-model.json); with the same torch build the run
# repeats step for step. For a quick check of the script itself: AGENTS=16 and
# TRAIN_ARGS="--epochs 1 --set hidden=16 --set layers=1".
#
# FILLED=N (default 0, the shipped model) adds N smart-recorded agents (FILLED_POINTS fixes
# each, 1-8 s apart) filled to 1 s as `theta denoise` fills them; the model card's candidate E
# is AGENTS=1152 FILLED=384 (same training budget: 800 fixes filled are about 3,600 rows).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${1:-builtin-train}"
AGENTS="${AGENTS:-1536}"          # 1 Hz agents, 3,600 fixes each
FILLED="${FILLED:-0}"             # smart-recorded agents filled to 1 s (see above)
FILLED_POINTS="${FILLED_POINTS:-800}"
THETA="${THETA:-theta}"
read -r -a TRAIN_EXTRA <<< "${TRAIN_ARGS:-}"

if [ -e "$WORK" ]; then
    echo "train-builtin: $WORK already exists; give a new directory" >&2
    exit 2
fi
mkdir -p "$WORK"
cd "$WORK"

# The noise of the synth defaults, each agent's receiver varied (white and drift sigma, drift
# tau and outlier rate each scaled by a log-uniform factor in [1/2, 2]).
NOISE=(--vary-noise 1.0)
"$THETA" data synth --out raw --agents "$AGENTS" --seed 2026 "${NOISE[@]}"
RAWS=(--raw raw)
if [ "$FILLED" -gt 0 ]; then
    # Agents that record unevenly (1-8 s), as `theta denoise` hands such a track to the model:
    # each step filled to 1 s with straight-line points. New names and noise (--first-agent).
    "$THETA" data synth --out raw-filled --agents "$FILLED" --points "$FILLED_POINTS" \
        --seed 2026 --sampling filled --first-agent "$AGENTS" "${NOISE[@]}"
    RAWS+=(--raw raw-filled)
fi
"$THETA" data prepare "${RAWS[@]}" --out dataset
"$THETA" --models-dir models new --config "$HERE/default-model.json" "${TRAIN_EXTRA[@]}"
run="$(ls models)"
# The run's best checkpoint by acc_mean on its val split; one Euler step (theta bench --steps
# 1,10 measures both: one is within 1% of ten at a fifth to a tenth of the time).
"$THETA" --models-dir models export "$run" --ckpt best --best-steps 1 --out exported
echo "train-builtin: the model is in $WORK/exported (run: $WORK/models/$run)"
