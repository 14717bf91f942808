"""Suite-wide fixtures."""

from __future__ import annotations

import os

import pytest
import torch

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
