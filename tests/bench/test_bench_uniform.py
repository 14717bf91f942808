"""`proav bench` on the shipped uniform_tiny config: parameters, tokens per sample and the
analytic FLOPs of describe() against torch's FLOP counter."""

from __future__ import annotations

from .conftest import bench, rows


def test_uniform_tiny_bench_reports_its_size_tokens_and_flops(tmp_path):
    code, report = bench(tmp_path / "uniform.json", "peers/uniform_tiny.toml", "--steps", "2",
                         "--skip", "autoencoder")
    assert code == 0
    assert report["parameters"]["generator"] == 252_464
    # clip 16 x 16 x 4 frames -> six 4x4 planes, 2x2 patches: 24 tokens
    assert report["generator_tokens"] == {"tokens_per_sample": 24, "padded_token_share": 0.0,
                                         "computed_tokens_per_sample": 24 + 1}  # + the class-label token
    check = report["checks"]["generator_forward_flops"]
    assert check["measured"] == check["analytic"]  # masked attention counted over the whole sequence
    assert {"generator_step", "sample"} <= set(rows(report))
