"""`theta data ...`: make, prepare and check datasets."""

from __future__ import annotations

from theta_cli.app_base import ThetaTyper

app = ThetaTyper(help="Make, prepare and check datasets (synth, prepare, check).")
