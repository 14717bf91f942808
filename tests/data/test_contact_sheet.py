"""The contact sheet: every clip's frames and mel images land where the layout says, enlarged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from proav_core.data.contact_sheet import GAP, LABEL_WIDTH, SheetRow, save_contact_sheet


def test_frames_and_mel_images_are_drawn_enlarged_in_order(tmp_path):
    t, h, w, scale = 3, 4, 5, 2
    video = torch.full((3, t, h, w), -1.0)
    video[0, 1] = 1.0  # frame 1 pure red
    audio = torch.full((t, h, w), 1.0)  # mel all white
    path = save_contact_sheet(tmp_path / "sheet.png", [("class a", [SheetRow("real 1", video, audio, "note")]),
                                                       ("class b", [SheetRow("generated 1", video)])], scale=scale)
    img = np.asarray(Image.open(path).convert("RGB"))
    top = None
    for y in range(img.shape[0]):  # the first row of the first clip: where frame 0 (black) starts
        if tuple(img[y, LABEL_WIDTH]) == (0, 0, 0):
            top = y
            break
    assert top is not None
    frame1 = img[top : top + h * scale, LABEL_WIDTH + (w * scale + GAP) : LABEL_WIDTH + (w * scale + GAP) + w * scale]
    assert frame1.shape == (h * scale, w * scale, 3) and (frame1 == [255, 0, 0]).all()
    mel_x = LABEL_WIDTH + t * (w * scale + GAP) - GAP + 4 * GAP
    assert (img[top : top + h * scale, mel_x : mel_x + w * scale] == 255).all()
    assert img.shape[1] == mel_x + t * (w * scale + GAP) - GAP + GAP  # widest row + right margin


def test_an_empty_sheet_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least one row"):
        save_contact_sheet(tmp_path / "x.png", [("a", [])])
    assert not (tmp_path / "x.png").exists()
