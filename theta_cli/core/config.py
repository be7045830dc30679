"""Training configuration: validated once at the edge, then passed down as a typed, frozen object.

``TrainConfig`` holds every key of the spec's ``src/config.json`` (with the spec's defaults) plus
what a real run needs; it never changes during a run. ``RunState`` is the small part that does
(epoch, step, global step, the latest lr, the Huber delta, the best acc_mean). ``RunConfig`` is
the file format of a run's ``log/config.json``: the two flattened together, as the spec lays it
out. Per the spec the file's ``lr`` is the *latest* learning rate; the configured one is kept in
``lr_init``. ``RunConfig.compose`` and ``RunConfig.split`` convert between the two views.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from theta_cli.core import jsonfile
from theta_cli.core.errors import ThetaError
from theta_cli.core.layout import BYTE, DATASET_DEFAULTS, check_buckles
from theta_cli.core.textfile import read_text

#: The model types theta builds, the one list (the zoo maps each to its class; "mlp" = "nn").
MODEL_TYPES = ("hybrid", "transformer", "cnn1d", "nn", "mlp")
SPEC_CONFIG_PATH = Path("src/config.json")
#: The largest float32: a setting above it overflows in the optimizer's float32 arithmetic.
FLOAT32_MAX = 3.4028234663852886e38
#: The fix intervals a model may learn at: 100 Hz to one fix an hour. Denoising interpolates
#: tracks onto a grid at this interval, so a microsecond one would make grids of billions.
FIX_INTERVAL_MIN_S = 0.01
FIX_INTERVAL_MAX_S = 3600.0
#: Upper bounds of a model's shape, far above any useful model (the spec's is K 256, hidden 384,
#: layers 8): a typo such as hidden 1000000 is refused before torch tries to allocate it.
MAX_K = 65536
MAX_HIDDEN = 65536
MAX_LAYERS = 1024
MAX_COORD_DIM = 16

#: Fields that may change when a run is resumed: none of them can break the run's state.
#: (A different ``threads`` may change float rounding, so a bitwise-identical continuation
#: needs the same value; the run itself stays valid.)
RESUME_MUTABLE = frozenset(
    {
        "epochs",
        "save_interval",
        "log_interval",
        "early_stop_patience",
        "threads",
        "compile",
        "pin_memory",
        "dist_timeout_s",
        "tensorboard",
        "best_steps",
    }
)


def _known_model_type(value: str) -> str:
    if value not in MODEL_TYPES:
        raise ValueError(f"unknown model_type; valid choices: {', '.join(MODEL_TYPES)}")
    return value


class Architecture(BaseModel):
    """What ``build_theta`` needs: the one description of a model's shape, read from a run's
    config, a checkpoint's config or an exported ``config.json`` (other keys are ignored)."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, allow_inf_nan=False)

    model_type: str
    coord_dim: int = Field(2, ge=1, le=MAX_COORD_DIM)
    hidden: int = Field(ge=1, le=MAX_HIDDEN)
    layers: int = Field(ge=1, le=MAX_LAYERS)
    K: int = Field(gt=0, le=MAX_K)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    attn_dropout: float = Field(0.0, ge=0.0, lt=1.0)
    heads: int | None = Field(
        None, ge=1, le=MAX_HIDDEN, description="only a hand-written file sets it"
    )

    _check_type = field_validator("model_type")(_known_model_type)


#: The architecture fields a run's config shares with ``Architecture`` (a resume may not change
#: them: the checkpoint's weights have that shape).
ARCH_FIELDS = ("model_type", "hidden", "layers", "K", "dropout", "attn_dropout")


class TrainConfig(BaseModel):
    """Every training setting. Unknown keys, wrong types and out-of-range values are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    # --- the spec's keys and defaults -------------------------------------------------------
    K: int = Field(256, gt=0, le=MAX_K, description="chunk length in points; a multiple of 8")
    Q1: int = Field(1, ge=0, description="head buckle length in bytes")
    Q2: int = Field(0, ge=0, description="tail buckle length in bytes")
    batch_size: int = Field(32, ge=1)
    cpu: bool = False
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    attn_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="dropout on attention weights (off: slow on CPU)"
    )
    epochs: int = Field(10, ge=1)
    hidden: int = Field(384, ge=1, le=MAX_HIDDEN)
    huber_delta_path: str = DATASET_DEFAULTS.huber_delta_path
    layers: int = Field(8, ge=1, le=MAX_LAYERS)
    log_interval: int = Field(100, ge=1)
    lr: float = Field(1e-4, gt=0.0)
    model_type: str = "hybrid"
    num_workers: int = Field(
        4, ge=0, description="accepted (a field of the spec's config.json) but has no effect: "
        "each epoch reads one pre-chunked file into memory, so DataLoader worker processes would "
        "add only their start-up cost",
    )
    save_interval: int = Field(1000, ge=1)
    train_dir: str = DATASET_DEFAULTS.train_dir
    val_dir: str = DATASET_DEFAULTS.val_dir
    weight_decay: float = Field(0.01, ge=0.0)
    # --- what a real run needs ----------------------------------------------------------------
    seed: int = Field(0, ge=0)
    warmup_steps: int = Field(1000, ge=0)
    min_lr: float = Field(1e-6, ge=0.0)
    grad_clip: float = Field(1.0, ge=0.0, description="max grad norm; 0 disables clipping")
    delta_fallback: float = Field(38.13, gt=0.0)
    quick_val_path: str = DATASET_DEFAULTS.quick_val_path
    epoch_limit: int = Field(DATASET_DEFAULTS.epoch_limit, ge=1)
    early_stop_patience: int = Field(0, ge=0, description="0 = never stop early")
    threads: int | None = Field(
        None, ge=1, description="torch CPU threads; null = torch's default (one per core)"
    )
    # --- speed switches (GPU mostly; each is shown by `theta info`) -------------------------
    bf16: bool = Field(False, description="bf16 autocast of the forward pass (CUDA only)")
    compile: bool = Field(False, description="torch.compile the model")
    pin_memory: bool = Field(True, description="pinned host memory, non-blocking copies (CUDA)")
    ema_decay: float = Field(
        0.0, ge=0.0, lt=1.0, description="EMA of the weights for eval and export; 0 = off"
    )
    t_weight: float = Field(
        0.0, ge=0.0, le=8.0, description="weight each sample's loss by (p+1)*t^p, p = this: "
        "more weight near t = 1, the raw end the first Euler step starts from; 0 = uniform",
    )
    dist_timeout_s: float = Field(
        300.0, gt=0.0, description="torchrun: seconds a collective may wait for the other ranks"
    )
    fix_interval_s: float | None = Field(
        None,
        ge=FIX_INTERVAL_MIN_S,
        le=FIX_INTERVAL_MAX_S,
        description="seconds between fixes the model learns; null = the dataset's (prepare.json)",
    )
    best_steps: int | None = Field(
        None, ge=1, le=1000, description="Euler steps `theta denoise` uses for this model when "
        "--steps is not given (bench the model at several to choose); null = the default, 10",
    )
    # --- watching ---------------------------------------------------------------------------
    tensorboard: bool = Field(
        False, description="write TensorBoard event files under <run>/tb/ while training "
        "(needs the extra: pip install 'theta-cli[tb]')",
    )

    _check_type = field_validator("model_type")(_known_model_type)

    def architecture(self) -> Architecture:
        return Architecture.model_validate({k: getattr(self, k) for k in ARCH_FIELDS})

    @model_validator(mode="after")
    def _check_relations(self) -> TrainConfig:
        if self.K % BYTE:
            raise ValueError(f"K={self.K} must be a multiple of {BYTE}")
        check_buckles(self.K, self.Q1, self.Q2)
        for name in ("lr", "min_lr", "weight_decay", "grad_clip", "delta_fallback"):
            if getattr(self, name) > FLOAT32_MAX:
                raise ValueError(
                    f"{name}={getattr(self, name)!r} must be at most {FLOAT32_MAX:.4g}: the "
                    "optimizer and the loss compute in float32"
                )
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr={self.min_lr} must not exceed lr={self.lr}")
        return self


class RunState(BaseModel):
    """What changes as a run trains; saved with every checkpoint and restored on resume."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    epoch: int = Field(0, ge=0)
    step: int = Field(0, ge=0, description="optimizer steps into the epoch")
    global_step: int = Field(0, ge=0)
    lr: float = Field(ge=0.0, description="the latest learning rate")
    delta_curr: float = Field(gt=0.0, description="the Huber delta in use")
    best_acc_mean: float | None = Field(None, description="lowest acc_mean so far (m)")


class RunConfig(TrainConfig):
    """A run's ``log/config.json``: the TrainConfig plus the run state, flattened (the spec)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    lr_init: float = Field(gt=0.0, description="the configured learning rate")
    delta_curr: float = Field(gt=0.0, description="the Huber delta in use")
    epoch: int = Field(0, ge=0)
    step: int = Field(0, ge=0)
    global_step: int = Field(0, ge=0)
    best_acc_mean: float | None = None

    # The run's lr is the latest lr: it may be 0 during warm-up and below min_lr never,
    # but it must not trip the TrainConfig relation checks meant for the configured value.
    lr: float = Field(1e-4, ge=0.0)

    @model_validator(mode="after")
    def _check_relations(self) -> RunConfig:
        TrainConfig.model_validate(self.train_dict())
        return self

    @classmethod
    def compose(cls, cfg: TrainConfig, state: RunState) -> RunConfig:
        """The config.json of a run with settings ``cfg`` in ``state``."""
        return cls(**{**cfg.model_dump(), "lr_init": cfg.lr, **state.model_dump()})

    @classmethod
    def start(cls, cfg: TrainConfig, delta: float) -> RunConfig:
        return cls.compose(cfg, RunState(lr=cfg.lr, delta_curr=delta))

    def state(self) -> RunState:
        return RunState(**{k: getattr(self, k) for k in RunState.model_fields})

    def train_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.model_dump().items() if k in TrainConfig.model_fields}
        d["lr"] = self.lr_init
        return d

    def train_config(self) -> TrainConfig:
        """The configured TrainConfig (with the original lr)."""
        return TrainConfig(**self.train_dict())


def format_validation_error(err: ValidationError, source: str) -> str:
    """One line naming the field, the value and the rule, for the first few problems."""
    parts = []
    for e in err.errors()[:3]:
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        if not loc:  # a relation between fields: the message names them
            parts.append(msg)
        elif e["type"] == "extra_forbidden":
            parts.append(f"unknown field {loc!r}")
        elif e["type"] == "missing":
            parts.append(f"missing field {loc!r}")
        else:
            parts.append(f"{loc}={e.get('input')!r}: {msg}")
    more = len(err.errors()) - len(parts)
    tail = f" (and {more} more)" if more > 0 else ""
    return f"{source}: " + "; ".join(parts) + tail


def read_json_object(path: Path, what: str = "config file") -> dict[str, Any]:
    """A JSON object from a user-editable file; every problem is one line naming the file."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise ThetaError(f"{path}: {what} not found") from None
    if not text.strip():
        raise ThetaError(f"{path}: {what} is empty")
    data = jsonfile.loads(text, path)
    if not isinstance(data, dict):
        raise ThetaError(f"{path}: expected a JSON object of config fields")
    return data


def validate_train(data: dict[str, Any], source: str) -> TrainConfig:
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as e:
        raise ThetaError(format_validation_error(e, source)) from None


def load_train_config(path: Path | None = None) -> tuple[TrainConfig, str]:
    """Base config by precedence: ``path``, then ./src/config.json, then packaged defaults.

    Returns the config and a description of where it came from.
    """
    if path is not None:
        return validate_train(read_json_object(Path(path)), str(path)), str(path)
    if SPEC_CONFIG_PATH.is_file():
        return validate_train(read_json_object(SPEC_CONFIG_PATH), str(SPEC_CONFIG_PATH)), str(
            SPEC_CONFIG_PATH
        )
    return TrainConfig(), "built-in defaults"


def load_run_config(path: Path) -> RunConfig:
    """Read and validate a run's log/config.json."""
    if not Path(path).is_file():
        raise ThetaError(f"{path}: run has no config.json")
    try:
        return RunConfig.model_validate(read_json_object(Path(path)))
    except ValidationError as e:
        raise ThetaError(format_validation_error(e, str(path))) from None


def parse_set_value(raw: str) -> Any:
    """Value of a ``--set key=value``: JSON when it parses (numbers, true/false), else a string."""
    try:
        return jsonfile.loads(raw, f"--set value {raw[:12]!r}...")
    except jsonfile.TooDeep:
        raise
    except ThetaError:  # not JSON: a plain string
        return raw


def apply_overrides(base: TrainConfig, overrides: dict[str, Any], source: str) -> TrainConfig:
    """Return a new validated config with ``overrides`` applied (None values are ignored)."""
    data = base.model_dump()
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in TrainConfig.model_fields:
            raise ThetaError(
                f"{source}: unknown field {key!r} (fields: {', '.join(TrainConfig.model_fields)})"
            )
        field_type = TrainConfig.model_fields[key].annotation
        if field_type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        data[key] = value
    return validate_train(data, source)


def parse_set_options(items: list[str] | None) -> dict[str, Any]:
    """``["lr=3e-4", "seed=1"]`` -> ``{"lr": 0.0003, "seed": 1}``; malformed items are refused."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ThetaError(f"--set {item!r}: expected key=value")
        out[key.strip()] = parse_set_value(raw.strip())
    return out
