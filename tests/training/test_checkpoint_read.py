"""peek_checkpoint: the tensors of a checkpoint are memory-mapped, not read whole; files in
torch's legacy format still load; unreadable files keep their one-line messages."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from proav_core.errors import CheckpointError
from proav_core.training.checkpoint import config_differences, peek_checkpoint


def mapped_files() -> str:
    return Path("/proc/self/maps").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_peek_maps_the_weights_of_a_zip_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    torch.save({"step": 7, "model": {"w": torch.arange(4096.0)}}, path)
    raw = peek_checkpoint(path)
    assert raw["step"] == 7
    assert str(path) in mapped_files()  # the weights stay in the file until they are read
    assert torch.equal(raw["model"]["w"], torch.arange(4096.0))
    raw["model"]["w"].add_(1)  # a private mapping: the loaded copy can change, the file does not
    assert torch.equal(peek_checkpoint(path)["model"]["w"], torch.arange(4096.0))


def test_peek_reads_a_legacy_format_checkpoint_whole(tmp_path):
    path = tmp_path / "old.ckpt"
    torch.save({"step": 3, "w": torch.ones(8)}, path, _use_new_zipfile_serialization=False)
    raw = peek_checkpoint(path)
    assert raw["step"] == 3 and torch.equal(raw["w"], torch.ones(8))


@pytest.mark.parametrize("content", [b"not a checkpoint at all", bytes(range(256)) * 4])
def test_peek_of_an_unreadable_file_says_so_in_one_line(tmp_path, content):
    path = tmp_path / "bad.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        peek_checkpoint(path)
    text = str(err.value)
    assert str(path) in text and "corrupt or not a proav checkpoint" in text
    assert "\n" not in text and "mmap" not in text and "weights_only" not in text


def test_config_differences_name_the_settings_under_the_prefix():
    saved = {"model": {"generator": {"name": "stdit", "depth": 2, "heads": 4}, "stacker": {"name": "stack6"}},
             "train": {"steps": 10}}
    current = {"model": {"generator": {"name": "stdit", "depth": 3, "heads": 4, "mlp": 2.0},
                         "stacker": {"name": "stack6"}}, "train": {"steps": 20}}
    assert config_differences(saved, current, "model") == (
        "its config differs in 2 settings: model.generator.depth (checkpoint 2, config 3), "
        "model.generator.mlp (checkpoint default, config 2.0)")
    assert config_differences(saved, current, "model.stacker") == ""
    assert config_differences(saved, saved, "model") == ""
    assert config_differences(None, current, "model") == ""  # a checkpoint without its config
    many = {"model": {f"k{i}": i for i in range(6)}}
    assert config_differences({"model": {}}, many, "model", show=2).endswith(
        "model.k1 (checkpoint default, config 1), ...")
