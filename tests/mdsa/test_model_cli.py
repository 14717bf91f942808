"""`proav model summary`: parameter counts per component (meta device), plane and latent
shapes, and any component's describe() figures."""

from __future__ import annotations

import json
from pathlib import Path


import proav_core
from proav_core.cli import main
from proav_core.cli.model_cmd import model_summary
from proav_plugins.mdsa.encoder import Timesformer3dEncoder, TimesformerParams

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_summary_of_the_paper_config(capsys, tmp_path):
    out_json = tmp_path / "summary.json"
    assert main(["model", "summary", str(CONFIGS / "mdsa_paper.toml"), "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    for needle in ("encoders.video", "projectors.audio_th", "attention.cross_hw", "decoders.audio",
                   "training_step.discriminators.video", "(4, 32, 32)", "(4, 16, 32)", "latent box: [-3, 3]",
                   "latent elements / sample"):
        assert needle in text, needle
    data = json.loads(out_json.read_text())
    rows = {r["component"]: r for r in data["components"]}
    ae = rows["autoencoder"]["parameters"]
    children = sum(r["parameters"] for k, r in rows.items() if k.startswith("autoencoder.") and
                   not k.startswith("autoencoder.training_step"))
    assert children == ae > 50_000_000
    assert data["planes"]["video_tw"] == [4, 16, 32]


def test_summary_counts_match_a_real_build_and_apply_overrides():
    cfg = proav_core.load_config(CONFIGS / "mdsa_tiny.toml", overrides=["model.autoencoder.attention.temporal=identity"])
    s = model_summary(cfg)
    real = proav_core.build_component(cfg.model.autoencoder, clip=cfg.clip)
    rows = {r["component"]: r for r in s["components"]}
    assert rows["autoencoder"]["parameters"] == sum(p.numel() for p in real.parameters())
    assert rows["autoencoder.attention.temporal_tw"]["parameters"] == 0
    assert rows["autoencoder.training_step.discriminators.audio"]["parameters"] == sum(
        p.numel() for p in real.training_step().discriminators["audio"].parameters())
    assert s["latent_shape"] is None and s["latent_bound"] == 3.0


class DescribedEncoder(Timesformer3dEncoder):
    """A third-party encoder with extra figures."""

    def describe(self):
        return {"tokens per frame": 64, "patch": self.downsample}


def test_describe_of_any_sub_component_is_printed(fresh_plugins, capsys):
    proav_core.register_component("encoder", "described_encoder", DescribedEncoder, TimesformerParams, "toy")
    args = ["model", "summary", str(CONFIGS / "mdsa_tiny.toml"), "--set", "model.autoencoder.encoder.name=described_encoder",
            "--set", "model.autoencoder.encoder.patch_size=4", "--set", "model.autoencoder.encoder.dim=32"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "autoencoder.encoders.video: describe()" in text and "tokens per frame" in text



def test_bad_config_is_a_usage_error(capsys, tmp_path):
    assert main(["model", "summary", str(tmp_path / "missing.toml")]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_stream_decoder_from_the_config_survives_the_saved_config(tmp_path):
    section = "model.autoencoder.stream_decoders.audio"
    cfg = proav_core.load_config(CONFIGS / "mdsa_tiny.toml", overrides=[  # mdsa_tiny's audio decoder, head unset
        f"{section}.name=plane_decoder", f"{section}.depth=3", f"{section}.heads=2", f"{section}.mlp_dim=16",
        f"{section}.head=default"])
    built = proav_core.build_component(cfg.model.autoencoder, clip=cfg.clip)
    assert len(built.decoders["audio"].blocks.blocks) == 3
    assert len(built.decoders["video"].blocks.blocks) == cfg.model.autoencoder.params.decoder.params.depth != 3
    again = proav_core.config_from_dict(proav_core.config_to_dict(cfg))  # what a run's config.toml holds
    rebuilt = proav_core.build_component(again.model.autoencoder, clip=again.clip)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in built.state_dict().items()}
    rows = {r["component"]: r for r in model_summary(cfg)["components"]}
    for m in ("video", "audio"):  # the audio decoder's head is the component default, not the shared decoder's
        assert rows[f"autoencoder.decoders.{m}"]["parameters"] == sum(p.numel() for p in built.decoders[m].parameters())
    assert type(built.decoders["audio"].head).__name__ == "PatchLinearHead" != type(built.decoders["video"].head).__name__


def test_a_config_without_a_model_names_the_sections_it_lacks(capsys):
    assert main(["model", "summary", str(CONFIGS / "data_syncshapes.toml")]) == 0
    assert "the config has no [model.*], [objective] or [sampler] sections" in capsys.readouterr().out
