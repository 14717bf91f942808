"""Shared fixtures of the data tests: tiny clip specs, synthesised files."""

from __future__ import annotations

import pytest

from proav_core import ClipSpec


@pytest.fixture
def tiny_clip() -> ClipSpec:
    """8 frames of 16 x 16 at 8 fps, 16 kHz: one second."""
    return ClipSpec(frames=8, fps=8.0, height=16, width=16, sample_rate=16000)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """8 syncshapes scenes of two clips each (2 s, 16 x 16) as mp4 files in 2 class folders, + events.json."""
    from proav_core.data.synth import synthesize

    from .helpers import FOLDER_CLIP

    root = tmp_path_factory.mktemp("synth")
    synthesize(root, 8, FOLDER_CLIP, {"num_classes": 2}, clips_per_file=2, show_progress=False)
    return root
