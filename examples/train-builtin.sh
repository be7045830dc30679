#!/usr/bin/env bash
# The built-in default model, from nothing, in one seeded command (about 21-30 minutes on 2
# CPU cores; theta_cli/builtin/default/MODEL_CARD.md has the figures):
#
#     bash examples/train-builtin.sh [WORKDIR]        # default WORKDIR: ./builtin-train
#
# Everything is written under WORKDIR (refused if it exists: theta never writes over a
# directory it did not make): raw/ (synthetic tracks), dataset/, models/<run>/ and exported/,
# the model directory to compare with theta_cli/builtin/default (`theta bench --model
# WORKDIR/exported --no-builtin ...`, or copy it there to ship it).
#
# Seeds: synth 2026 (not the default 0, so a default `theta data synth` dataset is unseen by
# the model), training seed 0 (examples/default-model.json); with the same torch build the run
# repeats step for step. For a quick check of the script itself: AGENTS=16 and
# TRAIN_ARGS="--epochs 1 --set hidden=16 --set layers=1".
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="${1:-builtin-train}"
AGENTS="${AGENTS:-1536}"
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
"$THETA" data synth --out raw --agents "$AGENTS" --seed 2026 --vary-noise 1.0
"$THETA" data prepare --raw raw --out dataset
"$THETA" --models-dir models new --config "$HERE/default-model.json" "${TRAIN_EXTRA[@]}"
run="$(ls models)"
# The run's best checkpoint by acc_mean on its val split; one Euler step (theta bench --steps
# 1,10 measures both: one is within 1% of ten at a fifth to a tenth of the time).
"$THETA" --models-dir models export "$run" --ckpt best --best-steps 1 --out exported
echo "train-builtin: the model is in $WORK/exported (run: $WORK/models/$run)"
