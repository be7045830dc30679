"""Training metrics (DOMAIN.md, "Metrics"): the per-point error and quick_val acc.

    per-point error  e[b, k] = || v_hat[b, k] - V[b, k] ||_2          metres
    sample error     s[b]    = mean_k e[b, k]
    acc_mean, acc_median, acc_std = mean, median, population std of s over quick_val samples

"acc" is an error: lower is better.

quick_val source, in order (the first that exists wins, so a run's metric never changes source
mid-run):
    1. ``<run>/log/quick_val.pt``  a sample this run drew itself earlier
    2. ``quick_val_path``          the dataset's sample (``theta data prepare --quick-val``)
    3. otherwise draw ``QUICK_VAL_SIZE`` de-duplicated samples from ``val_dir`` (seeded), and
       cache them as ``<run>/log/quick_val.pt`` (the dataset directory is never written).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from theta_cli.core.layout import QUICK_VAL_SIZE
from theta_cli.data import epochfile
from theta_cli.flow import per_point_error

if TYPE_CHECKING:
    import torch

    from theta_cli.core.layout import RunLayout



@dataclass(frozen=True)
class Acc:
    mean: float
    median: float
    std: float


def summarize(sample_err: torch.Tensor) -> Acc:
    """Mean, median (midpoint of the two middles for even n) and population std."""
    import torch

    s = sample_err.detach().to("cpu", torch.float64).flatten()
    return Acc(
        float(s.mean()),
        float(torch.quantile(s, 0.5)),
        float(s.std(correction=0)),
    )


def quick_val_acc(
    model: torch.nn.Module,
    data: dict[str, torch.Tensor],
    batch_size: int,
    device: torch.device | str,
) -> Acc:
    """One forward pass over every quick_val sample at its own t; the model's mode is kept."""
    import torch

    was_training = model.training
    model.eval()
    errs = []
    try:
        with torch.inference_mode():
            for xb, vb, tb in epochfile.iter_batches(data, batch_size):
                xb, vb = xb.to(device, non_blocking=True), vb.to(device, non_blocking=True)
                tb = tb.reshape(-1).to(device, non_blocking=True)
                errs.append(per_point_error(model(xb, tb).float(), vb).mean(dim=1))
    finally:
        model.train(was_training)
    return summarize(torch.cat(errs))


def sample_quick_val(
    val_dir: str | Path, k: int, seed: int, size: int = QUICK_VAL_SIZE
) -> dict[str, torch.Tensor]:
    """Draw up to ``size`` samples from the val split, one per distinct clean chunk.

    Each chunk appears several times in a split (each with its own t); keeping one sample per
    chunk stops the sample from weighting some chunks twice. The key is V = X1 - X0, which is
    bit-identical in every repeat of a chunk whatever its t (X_t is not: it depends on t).
    """
    import torch

    parts = [epochfile.load(p, expect_k=k)[0] for p in epochfile.list_files(val_dir)]
    x = torch.cat([p["X_t"] for p in parts])
    v = torch.cat([p["V"] for p in parts])
    t = torch.cat([p["t"] for p in parts])
    del parts
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(x.shape[0], generator=gen)
    seen: set[bytes] = set()
    keep: list[int] = []
    for i in order.tolist():
        key = v[i].numpy().tobytes()
        if key in seen:
            continue
        seen.add(key)
        keep.append(i)
        if len(keep) == size:
            break
    idx = torch.tensor(keep, dtype=torch.long)
    return {"X_t": x[idx].contiguous(), "V": v[idx].contiguous(), "t": t[idx].contiguous()}


def quick_val_file(run: RunLayout, quick_val_path: str | Path) -> Path | None:
    """The existing file the run's acc is measured on (sources 1 and 2 above), if any."""
    for candidate in (run.quick_val_path, Path(quick_val_path)):
        if candidate.is_file():
            return candidate
    return None


def load_quick_val(
    run: RunLayout, quick_val_path: str | Path, val_dir: str | Path, k: int, seed: int
) -> tuple[dict[str, torch.Tensor], str]:
    """The run's quick_val set and a description of where it came from (module docstring)."""
    existing = quick_val_file(run, quick_val_path)
    if existing is not None:
        return epochfile.load(existing, expect_k=k)[0], str(existing)
    cached = run.quick_val_path
    data = sample_quick_val(val_dir, k, seed)
    epochfile.save(cached, data)
    return data, f"{val_dir} (drawn once, cached in {cached})"
