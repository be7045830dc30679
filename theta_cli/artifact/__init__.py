"""The files a trained model lives in, and their one owner: every reader and writer of a
checkpoint or an export goes through this package.

A checkpoint (``models/<run>/ckpt/ckpt_epoch<E>_step<S>.pt``) is a plain dict of tensors and
Python scalars, loaded with ``weights_only=True``: the weights (and their EMA), the optimizer
and lr-schedule state, the RNG states, the run state and the run config it was trained with
(``checkpoint.stored_config``), and its train_data.csv row. Training writes and resumes it
(engine); info, prune, eval-bytes, export, denoise and bench read it.

An export (``theta export``) is a directory: ``log/config.json`` (the checkpoint's own run
config) and ``model.safetensors`` (the weights alone). denoise, bench and ``load.model_const``
read it; the built-in default model is one.

    checkpoint  the checkpoint's keys; build, restore, save, load; stored config, state, row
    ema         the exponential moving average of the weights saved beside them
    weights     weights against an architecture: build, check shapes and dtypes, load, save
    load        a model from a checkpoint or an export: model_const, load_model
    best        the one rule for "the best checkpoint" of a run
    resolve     what a command names: a checkpoint, or a model (run, file, export, built-in)
    export      write a checkpoint's model as an export directory

This package imports only ``core``, ``flow`` and ``model``; importing it imports nothing heavy
(torch is imported by ``weights``, ``load`` and ``export``, and lazily elsewhere).
"""
