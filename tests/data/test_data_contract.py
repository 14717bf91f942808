"""Contract of the data kinds (proav_core.testing), parametrised over every registered
`dataset` and `audio_repr`."""

from __future__ import annotations

import pytest

import proav_core
from proav_core import ParameterError, load_config
from proav_core.data.prepare import prepare
from proav_core.testing import check_component

from .helpers import FOLDER_CLIP

DATASETS = [s.name for s in proav_core.list_components("dataset")]
AUDIO_REPRS = [s.name for s in proav_core.list_components("audio_repr")]


@pytest.fixture(scope="module")
def prepared_root(synth_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("prepared")
    (folder / "cfg.toml").write_text(f'name = "c"\n[clip]\nframes = 8\nfps = 8.0\nheight = 16\nwidth = 16\n'
                                     f'[dataset]\nname = "video_folder"\nroot = "{synth_root}"\n')
    prepare(load_config(folder / "cfg.toml"), folder / "cache", show_progress=False)
    return folder / "cache"


@pytest.mark.parametrize("name", AUDIO_REPRS)
def test_audio_repr_contract(name):
    check_component("audio_repr", name)


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_contract(name, synth_root, prepared_root):
    """proav_core.testing's dataset contract on the synthesised folder (and its prepared
    shards); a dataset with required parameters the test does not know must refuse to build
    without them, naming the first."""
    known = {"video_folder": {"root": str(synth_root)}, "prepared": {"root": str(prepared_root)}}
    check_component("dataset", name, clip=FOLDER_CLIP, **known.get(name, {}))


def test_dataset_without_its_required_root_names_it():
    with pytest.raises(ParameterError, match="root"):
        proav_core.build("dataset", "video_folder", clip=FOLDER_CLIP, split="train")
