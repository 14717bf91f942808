"""A contact sheet: many clips on one PNG, so a person sees at a glance what came out.

Rows are grouped under titles (e.g. one group per class). Each row shows a clip's T frames
left to right, then its audio representation's T mel images (loud = bright, low frequencies
at the bottom), with a label on the left and an optional note under it (e.g. what a metric
saw in that clip). Pixels are enlarged by an integer `scale` with nearest-neighbour
sampling, so 32 x 32 clips stay crisp.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

from proav_core.data.writers import to_uint8_frames

GAP = 2  # pixels between frames
LABEL_WIDTH = 150
LINE = 12  # height of a line of text
BACKGROUND = (24, 24, 24)
TEXT = (230, 230, 230)
NOTE = (170, 170, 170)


@dataclass
class SheetRow:
    """One clip: video (3, T, H, W) in [-1, 1], audio representation (T, H, W) in [-1, 1] or None."""

    label: str
    video: Tensor
    audio: Tensor | None = None
    note: str = ""


def _strip(images: np.ndarray, scale: int) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (H*scale, T*(W*scale + GAP) - GAP, 3), frames side by side."""
    t, h, w, _ = images.shape
    big = images.repeat(scale, axis=1).repeat(scale, axis=2)  # (T, H*s, W*s, 3)
    out = np.full((h * scale, t * (w * scale + GAP) - GAP, 3), BACKGROUND, dtype=np.uint8)
    for i in range(t):
        x = i * (w * scale + GAP)
        out[:, x : x + w * scale] = big[i]
    return out


def _mel_frames(audio: Tensor) -> np.ndarray:
    """(T, H, W) in [-1, 1] -> (T, H, W, 3) uint8 grey."""
    grey = ((audio.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    return np.repeat(grey[..., None], 3, axis=-1)


def _row_image(row: SheetRow, scale: int) -> np.ndarray:
    parts = [_strip(to_uint8_frames(row.video), scale)]
    if row.audio is not None:
        mel = _strip(_mel_frames(row.audio), scale)
        parts += [np.full((mel.shape[0], 4 * GAP, 3), BACKGROUND, dtype=np.uint8), mel]
    height = max(p.shape[0] for p in parts)
    return np.concatenate([np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0))) for p in parts], axis=1)


def save_contact_sheet(path: str | Path, groups: list[tuple[str, list[SheetRow]]], scale: int = 2) -> Path:
    """Write groups [(title, rows)] as one PNG (atomically); returns the path."""
    if not groups or not any(rows for _, rows in groups):
        raise ValueError("a contact sheet needs at least one row")
    images = [[_row_image(r, scale) for r in rows] for _, rows in groups]
    width = LABEL_WIDTH + max(im.shape[1] for ims in images for im in ims)
    row_heights = [[max(im.shape[0], 2 * LINE) + GAP * 2 for im in ims] for ims in images]
    height = sum(LINE + GAP * 3 + sum(hs) for hs in row_heights) + GAP
    sheet = Image.new("RGB", (width + GAP, height), BACKGROUND)
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    y = GAP
    for (title, rows), ims, hs in zip(groups, images, row_heights):
        draw.text((GAP, y), title, fill=TEXT, font=font)
        y += LINE + GAP * 3
        for row, im, h in zip(rows, ims, hs):
            sheet.paste(Image.fromarray(im), (LABEL_WIDTH, y))
            draw.text((GAP, y), row.label, fill=TEXT, font=font)
            for k, line in enumerate(row.note.splitlines()):
                draw.text((GAP, y + LINE * (k + 1)), line, fill=NOTE, font=font)
            y += h
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    sheet.save(tmp, format="PNG")
    os.replace(tmp, path)
    return path
