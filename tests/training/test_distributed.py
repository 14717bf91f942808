"""Data-parallel training on CPU: `fabric run` with 2 processes (gloo) on the shipped script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from proav_core.training.checkpoint import peek_checkpoint

from .conftest import toy_config, write_latents

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def expose_toy_plugin(site: Path) -> None:
    """An installed distribution whose entry point names tests/training/toy_generation.py."""
    info = site / "proav_toy_generation-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: proav-toy-generation\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[proav]\ntoygen = toy_generation\n")


def two_process_run(tmp_path, steps, *extra):
    """`fabric run` of the toy generator on 2 CPU processes in tmp_path, `steps` steps: last.ckpt
    and the finished job (its stdout and stderr)."""
    site = tmp_path / "site"
    if not site.exists():
        expose_toy_plugin(site)
    config = toy_config(tmp_path, steps=steps)
    if not (tmp_path / "runs" / "toy" / "latents").exists():
        write_latents(tmp_path / "runs" / "toy" / "latents")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LT_", "PROAV_DISABLE"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(HERE)])
    fabric = Path(sys.executable).parent / "fabric"
    cmd = [str(fabric), "run", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
           str(ROOT / "scripts" / "train.py"), "generator", str(config), *extra]
    result = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return tmp_path / "runs" / "toy" / "generator" / "last.ckpt", result


def test_fabric_run_two_cpu_processes_keep_identical_weights(tmp_path):
    ckpt, result = two_process_run(tmp_path, 4)
    assert "weights identical on 2 ranks" in result.stdout
    assert "deprecated" not in result.stderr  # the replica check's gather warned on every rank before
    assert result.stdout.count("generator checkpoint: ") == 1  # said by the first process alone
    ckpt = peek_checkpoint(ckpt)
    assert ckpt["step"] == 4 and ckpt["components"]["model.generator"] == "mlp_test"


def test_two_processes_resume_on_the_trajectory_they_left(tmp_path):
    """Interrupted data-parallel training resumes bit for bit: the batches and the per-step
    seeds depend on (seed, step, rank) only."""
    straight = peek_checkpoint(two_process_run(tmp_path / "a", 4)[0])
    two_process_run(tmp_path / "b", 2)
    ckpt, result = two_process_run(tmp_path / "b", 4, "--resume")
    assert "resuming at step 2 of 4" in result.stdout  # not trained again from step 0
    resumed = peek_checkpoint(ckpt)
    assert straight["step"] == resumed["step"] == 4
    for key in ("model", "ema"):
        for name, value in straight[key].items():
            assert torch.equal(value, resumed[key][name]), f"{key}.{name} differs after a 2-process resume"


def test_fabric_run_processes_share_the_cpu_threads(monkeypatch):
    """Each of `fabric run`'s processes on one machine is capped at its share of the threads
    (each taking them all ran 8x slower); a lower setting is kept."""
    from proav_core.training import hardware
    from proav_core.training.hardware import share_cpu_threads

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", str(before))  # recorded, so the test's own setting is undone after it
    monkeypatch.setattr(hardware, "usable_cores", lambda: 8)
    try:
        torch.set_num_threads(8)
        assert share_cpu_threads(1) is None and torch.get_num_threads() == 8
        assert share_cpu_threads(2) == 4 and torch.get_num_threads() == 4 and os.environ["OMP_NUM_THREADS"] == "4"
        torch.set_num_threads(1)  # e.g. OMP_NUM_THREADS=1 given by the user: kept
        assert share_cpu_threads(2) is None and torch.get_num_threads() == 1
        torch.set_num_threads(8)
        assert share_cpu_threads(16) == 1
    finally:
        torch.set_num_threads(before)


def test_usable_cores_are_the_affinity_mask_where_there_is_one(monkeypatch):
    """A process pinned to 3 cores of a 64-core machine shares 3, not 64."""
    from proav_core.training.hardware import usable_cores

    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert usable_cores() == 3
    monkeypatch.delattr(os, "sched_getaffinity")
    assert usable_cores() == 64


class _TwoRanks:
    """A Fabric stand-in for rank 0 of two: all_reduce averages with the other rank's values."""

    world_size, device = 2, torch.device("cpu")

    def __init__(self, other: list[float]):
        self.other, self.calls = other, []

    def all_reduce(self, data, reduce_op="mean"):
        self.calls.append(reduce_op)
        return (data + torch.tensor(self.other, dtype=data.dtype)) / 2


def test_logged_figures_are_the_mean_over_the_processes():
    from proav_core.training.common import mean_over_ranks

    # keys reduce in sorted order ("d_loss", "loss", "video/psnr") on every rank, whatever the dict's order
    fabric = _TwoRanks(other=[0.25, 3.0, 21.0])
    mean = mean_over_ranks(fabric, {"loss": 1.0, "video/psnr": 19.0, "d_loss": 0.75})
    assert mean == {"d_loss": 0.5, "loss": 2.0, "video/psnr": 20.0} and fabric.calls == ["mean"]
    one = type("One", (), {"world_size": 1})()
    figures = {"loss": 1.5}
    assert mean_over_ranks(one, figures) is figures  # one process: no collective, the figures as they are


def test_the_progress_bar_shows_the_mean_over_processes_at_logged_steps_only():
    from proav_core.training.common import bar_figures

    figures, keys = {"loss": 2.0, "lr": 1e-3, "video/psnr": 20.0}, ["loss", "video/psnr"]
    assert bar_figures(figures, keys, logged=False, world_size=1) == {"loss": 2.0, "video/psnr": 20.0}
    assert bar_figures(figures, keys, logged=True, world_size=1) == {"loss": 2.0, "video/psnr": 20.0}
    # several processes: a step between logged ones shows nothing new (the bar keeps the last mean) ...
    assert bar_figures(figures, keys, logged=False, world_size=2) == {}
    # ... and a logged step's figures, already the mean over the processes, replace it
    assert bar_figures(figures, keys, logged=True, world_size=2) == {"loss": 2.0, "video/psnr": 20.0}
