"""benchmarks/stand_in_text_embeddings.py: fixed word vectors in the layout text_embeddings reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import proav_core
from proav_core.errors import UsageError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stand_in(benchmark_script):
    return benchmark_script("stand_in_text_embeddings")


def test_words_split_at_spaces_hyphens_and_underscores(stand_in):
    assert stand_in.words("A video of circle-drum_0 ") == ["a", "video", "of", "circle", "drum", "0"]


def test_a_word_is_one_unit_vector_in_every_prompt_and_the_seed_changes_it(stand_in):
    data = stand_in.stand_in_embeddings(["a video of drum", "drum"], width=16, seed=0)
    emb, mask = data["embeddings"], data["mask"]
    assert emb.shape == (2, 4, 16) and mask.tolist() == [[True] * 4, [True, False, False, False]]
    assert torch.equal(emb[0, 3], emb[1, 0])  # "drum" alike in both prompts
    assert torch.allclose(emb[mask].norm(dim=-1), torch.ones(5)) and not emb[1, 1:].any()  # padding is zero
    assert not torch.allclose(emb[0, 0], emb[0, 3])  # different words, different vectors
    other = stand_in.stand_in_embeddings(["drum"], width=16, seed=1)["embeddings"]
    assert not torch.allclose(other[0, 0], emb[1, 0])
    assert data["encoder"] == "stand-in word vectors (width 16, seed 0)"
    with pytest.raises(UsageError, match="prompt ' - ' has no words"):
        stand_in.stand_in_embeddings(["drum", " - "])


def test_the_file_holds_every_class_prompt_and_the_conditioner_reads_it(stand_in, tmp_path):
    out = tmp_path / "prompts.pt"
    assert stand_in.main(["--config", str(ROOT / "configs" / "demo.toml"), "--prompt", "a drum", "--width", "8",
                          "--out", str(out)]) == 0
    data = torch.load(out, weights_only=True)
    classes = ["circle-drum-0", "square-wood-1", "triangle-bell-2", "diamond-pluck-3"]  # syncshapes, 4 classes
    assert data["prompts"] == [f"a video of {c}" for c in classes] + ["a drum"]
    cond = proav_core.build("conditioner", "text_embeddings", classes=classes, embeddings_path=str(out), dim=4)
    assert cond.from_labels(torch.arange(4)).shape == (4, 6, 4)
    assert cond.from_prompts(["a drum"]).shape == (1, 6, 4)
