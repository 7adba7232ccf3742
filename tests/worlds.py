"""Synthetic world files from `../shared/worldgen.py`, for tests that need a world of a given size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

WORLDGEN = Path(__file__).resolve().parents[2] / "shared" / "worldgen.py"


def generate(**options: int) -> dict:
    """A world document; options are worldgen's flags (`compounds=2, per_floor=4, seed=3`)."""
    args = [sys.executable, str(WORLDGEN)]
    for name, value in options.items():
        args += [f"--{name.replace('_', '-')}", str(value)]
    return json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
