"""The paper's Table-5 MDSA ablations at one equal budget, through the quality benchmark's
reconstruction part (`run_reconstruction`).

Each ablation file in configs/ablations/ names the keys it changes on top of mdsa_base; here
those keys are applied on top of any base config (`ablation_config`), so the same rows run at
the size a machine affords (the demo's on a 2-core CPU). The paper ranks the rows by rFVD on
Landscape; `paper_order_holds` compares that ranking with held-out video PSNR here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from proav_core.config import ExperimentConfig, config_from_dict, config_to_dict
from proav_core.config.toml_files import merge
from proav_core.errors import ConfigError

# Table 5 (Landscape, generation quality), best to worst: the ablation file stem and its rFVD.
PAPER_TABLE5 = {"full": 29.5, "no_mt_selfattn": 35.1, "no_gcm_attn": 39.2, "no_bi_block_crossattn": 45.6,
                "no_kl": 60.2}


def ablation_config(base: ExperimentConfig, ablation: str | Path) -> ExperimentConfig:
    """`base` with the ablation file's own keys on top (its `extends` is ignored); the run is
    named <base name>-<ablation file stem>."""
    path = Path(ablation)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"ablation file not found: {path}; configs/ablations/ holds the paper's rows") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None
    raw.pop("extends", None)
    raw.pop("name", None)
    tree = merge(config_to_dict(base), raw)
    tree["name"] = f"{base.name}-{path.stem}"
    return config_from_dict(tree, source=f"{path} on {base.name}")


def paper_order_holds(video_psnr: dict[str, float]) -> dict[str, Any]:
    """Does the measured ranking (higher PSNR better) follow the paper's (lower rFVD better)?
    Counts the pairs of rows both rank the same way; `holds` when every pair agrees."""
    rows = [r for r in PAPER_TABLE5 if r in video_psnr]
    pairs = [(a, b) for i, a in enumerate(rows) for b in rows[i + 1:]]  # paper: a better than b
    agree = [(a, b) for a, b in pairs if video_psnr[a] > video_psnr[b]]
    return {"paper_order": rows, "measured_order": sorted(rows, key=lambda r: -video_psnr[r]),
            "agreeing_pairs": len(agree), "pairs": len(pairs), "holds": bool(pairs) and len(agree) == len(pairs)}
