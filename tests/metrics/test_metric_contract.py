"""Contract checks for every registered metric and feature extractor (proav_core.testing,
parametrised over the registry), and how the built-in extractors name missing weights."""

from __future__ import annotations

import re

import pytest

import proav_core
from proav_core.errors import MissingWeightsError
from proav_core.interfaces import ClipSpec
from proav_core.testing import check_component

CLIP = ClipSpec(frames=8, fps=8, height=32, width=32, sample_rate=16000)
METRICS = proav_core.list_components("metric")
EXTRACTORS = proav_core.list_components("extractor")
REQUIRED = {"torchscript": {"input": "video", "filename": "features.pt"}}  # params without defaults


@pytest.fixture
def no_weights_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PROAV_WEIGHTS_DIR", str(tmp_path / "empty"))


@pytest.mark.parametrize("spec", METRICS, ids=[s.name for s in METRICS])
def test_metric_builds_and_reports_empty_input_as_unavailable(spec, no_weights_dir):
    check_component("metric", spec.name)


@pytest.mark.parametrize("spec", EXTRACTORS, ids=[s.name for s in EXTRACTORS])
def test_extractor_embeds_or_names_missing_weights(spec, no_weights_dir):
    check_component("extractor", spec.name, **REQUIRED.get(spec.name, {}))


@pytest.mark.parametrize("spec", EXTRACTORS, ids=[s.name for s in EXTRACTORS])
def test_builtin_extractor_without_weights_says_where_to_put_them(spec, no_weights_dir):
    try:
        proav_core.build("extractor", spec.name, clip=CLIP, **REQUIRED.get(spec.name, {}))
    except MissingWeightsError as err:
        assert "PROAV_WEIGHTS_DIR" in str(err) and "weights_path" in str(err)
        assert re.search(r"'[\w.-]+\.(pt|pth|ckpt)'", str(err)), str(err)
