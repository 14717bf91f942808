"""`proav bench --breakdown`: operators sorted into categories by name, one profiled call split
into shares that add up, and the report's rows and table on a tiny config."""

from __future__ import annotations

import io

import pytest
import torch
from rich.console import Console

from proav_core.benchmarking.breakdown import CATEGORIES, category, op_breakdown
from proav_core.benchmarking.report import print_report

from .conftest import bench


@pytest.mark.parametrize(("name", "expected"), [
    ("aten::_scaled_dot_product_flash_attention_for_cpu", "attention"),
    ("aten::_scaled_dot_product_flash_attention_for_cpu_backward", "attention"),
    ("aten::_scaled_dot_product_efficient_attention", "attention"),
    ("aten::mm", "matmul"),
    ("aten::addmm", "matmul"),
    ("aten::bmm", "matmul"),
    ("aten::baddbmm", "matmul"),
    ("aten::mkldnn_convolution", "convolution"),
    ("aten::convolution_backward", "convolution"),
    ("aten::cudnn_convolution", "convolution"),
    ("aten::native_layer_norm_backward", "normalisation"),
    ("aten::native_group_norm", "normalisation"),
    ("## Call CompiledFxGraph fvbe4atrzw6rmiy ##", "compiled"),
    ("Torch-Compiled Region: 0/0", "compiled"),
    ("triton_poi_fused_add_mul_0", "compiled"),
    ("Optimizer.step#AdamW.step", "optimiser and EMA"),
    ("aten::_fused_adamw_", "optimiser and EMA"),
    ("aten::_foreach_lerp_", "optimiser and EMA"),
    ("aten::_fft_c2r", "fft"),
    ("aten::_fft_r2c", "fft"),
    ("aten::copy_", "other"),
    ("aten::gelu", "other"),
    ("aten::linalg_vector_norm", "other"),  # a gradient norm is not a normalisation layer
])
def test_operators_fall_into_their_category(name, expected):
    assert category(name) == expected


def test_a_call_splits_into_shares_that_add_up():
    conv = torch.nn.Conv2d(8, 8, 3, padding=1)
    x, a = torch.randn(4, 8, 32, 32), torch.randn(256, 256)

    def call() -> None:
        with torch.no_grad():
            conv(x)
            for _ in range(4):
                a @ a
            torch.fft.irfft(torch.fft.rfft(a))

    out = op_breakdown(call, torch.device("cpu"))
    assert list(out["shares"]) == list(CATEGORIES) == list(out["seconds"])
    assert sum(out["shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert out["shares"]["convolution"] > 0 and out["shares"]["matmul"] > 0 and out["shares"]["fft"] > 0
    assert out["shares"]["attention"] == 0 and out["shares"]["optimiser and EMA"] == 0
    assert out["operators"] >= 5  # the convolution and four matmuls at least
    assert out["profiled_seconds"] >= sum(out["seconds"].values()) * 0.5


def test_a_matmul_chain_is_mostly_matmul():
    a = torch.randn(384, 384)

    def call() -> None:
        b = a
        for _ in range(8):
            b = a @ b

    out = op_breakdown(call, torch.device("cpu"))
    assert out["shares"]["matmul"] > 0.5, out


def test_bench_reports_the_breakdown_of_every_row(tmp_path):
    code, report = bench(tmp_path / "b.json", "generator_tiny.toml", "--steps", "2", "--no-flops", "--breakdown")
    assert code == 0
    rows = {row["key"]: row for row in report["rows"]}
    assert rows and all("breakdown" in row for row in rows.values())
    for row in rows.values():
        b = row["breakdown"]
        assert sum(b["shares"].values()) == pytest.approx(1.0, abs=1e-3)
        assert b["operators"] > 0 and b["profiled_seconds"] > 0
    generator = next(row for key, row in rows.items() if key.startswith("generator"))["breakdown"]["shares"]
    assert generator["attention"] > 0 and generator["matmul"] > 0 and generator["optimiser and EMA"] > 0
    autoencoder = next(row for key, row in rows.items() if key.startswith("ae"))["breakdown"]["shares"]
    assert autoencoder["convolution"] > 0  # the tiny MDSA's conv pixel heads
    out = io.StringIO()
    print_report(report, Console(file=out, width=160))
    text = out.getvalue()
    assert "where the time goes" in text and "conv" in text and "attn" in text


def test_without_the_option_rows_carry_no_breakdown(tmp_path):
    code, report = bench(tmp_path / "b.json", "generator_tiny.toml", "--steps", "2", "--no-flops",
                         "--skip", "autoencoder", "--skip", "sample")
    assert code == 0 and report["rows"] and not any("breakdown" in row for row in report["rows"])
    out = io.StringIO()
    print_report(report, Console(file=out, width=160))
    assert "where the time goes" not in out.getvalue()
