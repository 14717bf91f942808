"""Fixtures for `proav bench`: tiny configs (16 x 16 clips, T = 4), one thread, one timed call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proav_core.cli import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TINY = ("--set", "clip.height=16", "--set", "clip.width=16", "--set", "clip.frames=4")
FAST = ("--accelerator", "cpu", "--threads", "1", "--warmup", "0", "--repeats", "1")


def bench(out: Path, config: str, *args: str) -> tuple[int, dict | None]:
    """Run `proav bench configs/<config> <tiny overrides> <fast settings> ARGS --out out`."""
    code = main(["bench", str(CONFIGS / config), *TINY, *FAST, *args, "--out", str(out)])
    return code, json.loads(out.read_text()) if out.is_file() else None


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory) -> dict:
    """generator_tiny: every row, 2 sampler steps."""
    code, report = bench(tmp_path_factory.mktemp("bench") / "tiny.json", "generator_tiny.toml", "--steps", "2")
    assert code == 0
    return report


@pytest.fixture(scope="module")
def tiny_report_4_steps(tmp_path_factory) -> dict:
    """generator_tiny: the sample rows only, 4 sampler steps."""
    code, report = bench(tmp_path_factory.mktemp("bench") / "tiny4.json", "generator_tiny.toml", "--steps", "4",
                         "--skip", "autoencoder", "--skip", "generator")
    assert code == 0
    return report


def rows(report: dict) -> dict[str, dict]:
    return {row["key"]: row for row in report["rows"]}
