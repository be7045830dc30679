"""The error metrics of a denoised track against its clean truth, declared once.

Every place that holds or shows them takes them from ``ERROR_METRICS``: the fields of
``eval.trajectory.ErrorSummary``, of a ``theta bench`` row (``eval.bench_types.MethodRow``) and
of a bench.csv row (``core.csvlog.BenchRow``) through :func:`with_metric_fields`, and the bench
table's columns through the labels. Each is in metres, over the per-point errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

#: (field name, column label) of each metric, in table order. gsdc is (median + p95) / 2, the
#: Google Smartphone Decimeter Challenge score.
ERROR_METRICS: tuple[tuple[str, str], ...] = (
    ("mean", "mean"),
    ("median", "median"),
    ("p95", "p95"),
    ("rmse", "RMSE"),
    ("max", "max"),
    ("gsdc", "GSDC"),
)
METRIC_NAMES: tuple[str, ...] = tuple(name for name, _ in ERROR_METRICS)

T = TypeVar("T")


def with_metric_fields(after: str) -> Callable[[type[T]], type[T]]:
    """Class decorator, placed under ``@dataclass``: gives the class one ``float`` field per
    metric, in ``METRIC_NAMES`` order, right after its own field ``after``."""

    def add(cls: type[T]) -> type[T]:
        own: dict[str, object] = dict(cls.__dict__.get("__annotations__", {}))
        if after not in own:
            raise TypeError(f"{cls.__name__}: no field {after!r} to put the metrics after")
        fields: dict[str, object] = {}
        for name, kind in own.items():
            fields[name] = kind
            if name == after:
                fields.update(dict.fromkeys(METRIC_NAMES, "float"))
        cls.__annotations__ = fields
        return cls

    return add
