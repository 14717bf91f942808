"""Suite-wide fixtures."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# Rich tables wrap at the terminal width; keep test output on one line per row.
os.environ.setdefault("COLUMNS", "200")


@pytest.fixture(scope="session", autouse=True)
def _one_intra_op_thread():
    """The suite runs tiny models whose ops are too small to gain from intra-op threads; on a
    shared 2-core machine the thread hand-offs cost more than the maths (measured: a tiny MDSA
    step takes 0.2 s with one thread, 1-10 s with two under load). One thread for the whole
    session also keeps results bit-comparable between fixtures of any scope and their tests."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


@pytest.fixture
def fresh_plugins():
    """A clean global plugin host for the test, and a clean one after it."""
    import proav_core

    proav_core.reset_plugins()
    yield
    proav_core.reset_plugins()


def load_script(path: Path) -> ModuleType:
    """A Python file as a fresh module (benchmark scripts are files, not an installed package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def benchmark_script() -> Callable[[str], ModuleType]:
    """`benchmark_script("bench_tasks")`: benchmarks/bench_tasks.py as a fresh module."""
    return lambda name: load_script(BENCHMARKS / f"{name}.py")
