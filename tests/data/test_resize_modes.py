"""video_folder's `resize`: how frames of another aspect ratio fit the clip (crop, pad, stretch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import proav_core
from proav_core import ParameterError
from proav_core.data import read_clip
from proav_core.data.condition_inputs import given_tensor_clips, read_video_clips, resize_frames
from proav_core.data.decode import RESIZE_MODES
from proav_core.errors import UsageError

from .helpers import FOLDER_CLIP, write_av

RED, GREEN, BLUE = (220, 30, 30), (30, 220, 30), (30, 30, 220)


@pytest.fixture(scope="module")
def wide_root(tmp_path_factory):
    """One 2:1 file (64 x 32, 1 s): red left quarter, green middle half, blue right quarter."""
    root = tmp_path_factory.mktemp("wide")
    frame = np.empty((32, 64, 3), np.uint8)
    frame[:, :16], frame[:, 16:48], frame[:, 48:] = RED, GREEN, BLUE
    (root / "a").mkdir()
    write_av(root / "a" / "wide.mp4", np.stack([frame] * 8), 8.0, np.zeros(16000, np.float32))
    return root


def _rgb(video: torch.Tensor) -> torch.Tensor:
    """(3, T, H, W) in [-1, 1] -> the first frame as (H, W, 3) in 0..255."""
    return ((video[:, 0].permute(1, 2, 0) + 1) * 127.5).round()


def _close(pixels: torch.Tensor, colour: tuple[int, int, int], tol: float = 25) -> bool:
    return bool((pixels.reshape(-1, 3).float().mean(0) - torch.tensor(colour, dtype=torch.float32)).abs().max() < tol)


def test_crop_covers_and_cuts_the_edges(wide_root):
    rgb = _rgb(read_clip(wide_root / "a" / "wide.mp4", FOLDER_CLIP)[0])  # the default
    assert rgb.shape == (16, 16, 3)
    assert _close(rgb[:, 1:15], GREEN)  # scaled to 32 x 16, the middle 16 columns kept: red and blue lost


def test_pad_keeps_the_whole_frame_with_black_bars(wide_root):
    video = read_clip(wide_root / "a" / "wide.mp4", FOLDER_CLIP, resize="pad")[0]
    rgb = _rgb(video)
    assert (rgb[:4] == 0).all() and (rgb[12:] == 0).all()  # 16 x 8 picture centred: 4 black rows each side
    picture = rgb[4:12]
    assert _close(picture[:, :3], RED) and _close(picture[:, 5:11], GREEN) and _close(picture[:, 13:], BLUE)
    assert video.min() == -1  # black is -1 in proav's video convention


def test_stretch_keeps_the_whole_frame_at_full_height(wide_root):
    rgb = _rgb(read_clip(wide_root / "a" / "wide.mp4", FOLDER_CLIP, resize="stretch")[0])
    assert _close(rgb[:, :3], RED) and _close(rgb[:, 5:11], GREEN) and _close(rgb[:, 13:], BLUE)


def test_video_folder_takes_the_mode_as_a_validated_parameter(wide_root):
    def first_frame(**params):
        ds = proav_core.build("dataset", "video_folder", clip=FOLDER_CLIP, split="all", root=str(wide_root), **params)
        return _rgb(ds[0]["video"])

    assert torch.equal(first_frame(), _rgb(read_clip(wide_root / "a" / "wide.mp4", FOLDER_CLIP)[0]))
    padded = first_frame(resize="pad")
    assert (padded[:4] == 0).all() and _close(padded[4:12, :3], RED)
    assert _close(first_frame(resize="stretch")[:, :3], RED)
    with pytest.raises(ParameterError) as info:
        first_frame(resize="zoom")
    assert "resize" in str(info.value) and "'crop', 'pad' or 'stretch'" in str(info.value)
    assert "zoom" in str(info.value)


def test_a_frame_of_the_clips_own_aspect_is_the_same_in_every_mode(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    path = write_av(tmp_path / "square.mp4", frames, 8.0, np.zeros(16000, np.float32))
    crop, pad, stretch = (read_clip(path, FOLDER_CLIP, resize=mode)[0] for mode in ("crop", "pad", "stretch"))
    assert torch.equal(crop, pad) and torch.equal(crop, stretch)


def test_the_readme_documents_every_mode():
    from pathlib import Path

    from proav_core.data.decode import RESIZE_MODES

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = {line.split("`")[1] for line in readme.splitlines() if line.startswith("| `") and "resize" not in line}
    assert set(RESIZE_MODES) <= rows and "dataset.resize=pad" in readme


# ----------------------------------------------------------------------------- a given side (a2v / v2a)


def _wide_tensor(frames: int) -> torch.Tensor:
    """The wide file's picture as a (3, frames, 32, 64) tensor in [-1, 1]."""
    picture = torch.empty(32, 64, 3)
    picture[:, :16], picture[:, 16:48], picture[:, 48:] = (torch.tensor(c, dtype=torch.float32)
                                                           for c in (RED, GREEN, BLUE))
    return (picture / 127.5 - 1).permute(2, 0, 1)[:, None].expand(3, frames, 32, 64).contiguous()


@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_a_given_video_file_and_tensor_are_fitted_alike(wide_root, mode):
    from_file = read_video_clips(wide_root / "a" / "wide.mp4", FOLDER_CLIP, mode)  # (1, 3, 8, 16, 16)
    from_tensor = given_tensor_clips("video", _wide_tensor(8), FOLDER_CLIP, mode)
    assert from_file.shape == from_tensor.shape == (1, 3, 8, 16, 16)
    assert (from_file - from_tensor).abs().mean() < 0.06  # libswscale + H.264 against antialiased bilinear
    clips = given_tensor_clips("video", _wide_tensor(8)[None], FOLDER_CLIP, mode)  # (N, 3, T, H', W') of clips
    assert torch.equal(clips, from_tensor)


def test_resize_frames_known_answers():
    x = torch.linspace(-1, 1, 64).expand(2, 32, 64)  # a horizontal ramp, 32 x 64
    crop = resize_frames(x, 32, 32, "crop")  # no scaling needed: the middle 32 columns
    assert torch.allclose(crop, x[..., 16:48], atol=1e-6)
    pad = resize_frames(x, 32, 32, "pad")  # 16 x 32 picture, 8 black rows above and below
    assert (pad[:, :8] == -1).all() and (pad[:, 24:] == -1).all()
    assert torch.allclose(pad[:, 8:24], resize_frames(x, 16, 32, "stretch"), atol=1e-6)
    stretch = resize_frames(x, 32, 32, "stretch")
    assert stretch.shape == (2, 32, 32) and (stretch.diff(dim=-1) > 0).all()  # the whole ramp, narrower
    assert resize_frames(x, 32, 64, "crop") is x  # already the size
    with pytest.raises(UsageError, match=r"--resize: unknown mode 'padd'; closest: 'pad'.*known: crop, pad, stretch"):
        resize_frames(x, 32, 32, "padd")


def test_proav_sample_offers_every_mode():
    from proav_core.cli.sample_cmd import command

    option = next(p for p in command.params if p.name == "resize")
    assert tuple(option.type.choices) == RESIZE_MODES and option.default == "crop"
