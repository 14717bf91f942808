"""The loss-curve PNG: one panel per group of curves, each on its own axis."""

from __future__ import annotations

from PIL import Image, ImageColor

from proav_core.training.run_log import PALETTE, plot_curves


def colour_rows(image: Image.Image, colour: str) -> set[int]:
    rgb = ImageColor.getrgb(colour)
    px = image.load()
    return {y for y in range(image.height) for x in range(image.width) if px[x, y] == rgb}


def test_each_panel_draws_its_curves_in_its_own_band(tmp_path):
    steps = list(range(1, 11))
    loss = {"loss": (steps, [1.0 / s for s in steps]), "d_loss": (steps, [0.5] * 10)}
    psnr = {"video/psnr": (steps, [10.0 + s for s in steps])}
    image = Image.open(plot_curves(tmp_path / "loss.png", [loss, psnr], "train")).convert("RGB")
    assert image.size == (720, 30 + 2 * 300)
    band_1, band_2 = range(30, 330), range(330, 630)
    colour_0, colour_1 = colour_rows(image, PALETTE[0]), colour_rows(image, PALETTE[1])
    # colour 0 is "loss" in panel 1 and "video/psnr" in panel 2; colour 1 is "d_loss", panel 1 only
    assert any(y in band_1 for y in colour_0) and any(y in band_2 for y in colour_0)
    assert colour_1 and all(y in band_1 for y in colour_1)


def test_empty_panel_says_so(tmp_path):
    image = Image.open(plot_curves(tmp_path / "loss.png", [{"d_loss": ([], [])}], "train"))
    assert image.size == (720, 330)
