"""FSDP (proav_core.training.sharding): the strategy `--strategy fsdp` builds, its block-wise
auto-wrap policy, and a 2-process CPU run (gloo) under `fabric run` whose full-state checkpoint
loads in a single process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import proav_core
from proav_core.config import load_config
from proav_core.sampling import SamplingPipeline
from proav_core.training.checkpoint import peek_checkpoint
from proav_core.training.generator_loop import check_resumable_sharded
from proav_core.training.hardware import Hardware, _strategy, launch_fabric
from proav_core.training.sharding import BlockShardedFSDP, clean_name

ROOT = Path(__file__).resolve().parents[2]


def test_fsdp_names_become_the_block_wise_strategy_with_full_checkpoints():
    strategy = _strategy("fsdp")
    assert isinstance(strategy, BlockShardedFSDP) and strategy._state_dict_type == "full"
    assert not strategy.cpu_offload.offload_params
    assert _strategy("fsdp_cpu_offload").cpu_offload.offload_params
    assert _strategy("ddp") == "ddp" and _strategy("auto") == "auto"


def test_fabric_run_with_fsdp_gets_the_block_wise_strategy(monkeypatch):
    """Under `fabric run` the LT_* variables set the hardware; LT_STRATEGY=fsdp still becomes
    BlockShardedFSDP (and LT_STRATEGY is left as it was)."""
    for key, value in {"LT_CLI_USED": "1", "LT_STRATEGY": "fsdp", "LT_ACCELERATOR": "cpu", "LT_DEVICES": "1",
                       "LT_NUM_NODES": "1", "LT_PRECISION": "32-true"}.items():
        monkeypatch.setenv(key, value)
    fabric = launch_fabric(Hardware())
    assert isinstance(fabric.strategy, BlockShardedFSDP) and os.environ["LT_STRATEGY"] == "fsdp"


def test_wrapped_parameter_names_are_cleaned():
    assert clean_name("_fsdp_wrapped_module.generator.blocks.0._fsdp_wrapped_module.attn_s.to_qkv.weight") == (
        "generator.blocks.0.attn_s.to_qkv.weight")
    assert clean_name("blocks.1._orig_mod.mlp.fc1.bias") == "blocks.1.mlp.fc1.bias"


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is needed for a 2-process CPU run")
def test_fabric_run_fsdp_on_two_cpu_processes_writes_a_checkpoint_one_process_loads(trained, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(trained.parent / "runs" / "tiny", runs / "tiny", ignore=shutil.ignore_patterns("generator"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LT_")}
    env["OMP_NUM_THREADS"] = "1"
    fabric = Path(sys.executable).parent / "fabric"
    cmd = [str(fabric), "run", "--accelerator", "cpu", "--devices", "2", "--strategy", "fsdp",
           str(ROOT / "scripts" / "train.py"), "generator", str(trained), "--set", f'output_dir="{runs}"']
    result = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "FSDP on 2 processes, one shard unit per block (STDiTBlock)" in result.stdout
    ckpt = runs / "tiny" / "generator" / "last.ckpt"
    raw = peek_checkpoint(ckpt)
    eager = peek_checkpoint(trained.parent / "runs" / "tiny" / "generator" / "last.ckpt")
    for part in ("model", "ema"):  # full tensors under the eager names, nothing sharded or prefixed
        assert {k: tuple(v.shape) for k, v in raw[part].items()} == {k: tuple(v.shape) for k, v in eager[part].items()}
    assert raw["step"] == eager["step"]
    pipe = SamplingPipeline.from_checkpoint(load_config(trained), ckpt)  # one process, strict load
    check_resumable_sharded(ckpt)  # FSDP resumes its own checkpoints (optimiser state by parameter name)
    with pytest.raises(proav_core.UsageError, match="was written without FSDP: its optimiser state cannot resume"):
        check_resumable_sharded(trained.parent / "runs" / "tiny" / "generator" / "last.ckpt")
    out = pipe.sample(["circle-drum-0"], seed=0)
    assert out.video is not None and torch.isfinite(out.video).all()
