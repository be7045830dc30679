"""Defaults of `theta data synth` and `theta data prepare`, defined once.

Plain constants, no imports: the CLI (``theta_cli.commands.data``) uses them as option defaults
without loading numpy or pydantic, and the engine's models (``SynthConfig``, ``NoiseModel``,
``PrepareOptions``) use them as field defaults, so the two cannot drift apart.
"""

from __future__ import annotations

from theta_cli.core.layout import QUICK_VAL_SIZE  # a constant module: no heavy imports

#: Where synth writes raw pairs and prepare reads them; the dataset root prepare fills.
RAW_DIR = "dataset/raw"
DATASET_DIR = "dataset"

# --- synth: the tracks (SynthConfig) -----------------------------------------------------------
#: 512 agents x 3600 fixes (1.8 M fixes, ~14 chunks of 256 per agent): enough for the quickstart
#: (examples/cpu-small.json) to train ~900 steps on four train files.
AGENTS = 512
POINTS = 3600  # fixes per agent: one hour at 1 Hz
FILES = 8
SEED = 0  # synth and prepare
FORMAT = "parquet"
CENTER_LAT = 48.137  # Munich
CENTER_LON = 11.575
RADIUS_M = 5000.0
JITTER_S = 0.05
MISSING_RATE = 0.01
#: Motion models of data.motion: curvy legs (the default) or the older near-straight legs.
MOTIONS = ("curvy", "legs")
MOTION = MOTIONS[0]

# --- synth: the noise (NoiseModel) -------------------------------------------------------------
WHITE_SIGMA_M = 4.0
DRIFT_SIGMA_M = 3.0
DRIFT_TAU_S = 30.0
OUTLIER_RATE = 0.002
OUTLIER_MIN_M = 20.0
OUTLIER_MAX_M = 60.0
OUTLIER_MAX_FIXES = 3

# --- prepare (PrepareOptions) ------------------------------------------------------------------
K = 256
OVERLAP = 8
REPEATS = 5
SPLIT = (0.8, 0.1, 0.1)
QUICK_VAL = QUICK_VAL_SIZE
FILES_PER_SPLIT = 4
MIN_FILE_SAMPLES = 512
