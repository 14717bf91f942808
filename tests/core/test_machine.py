"""proav_core.machine: what the demo's and the benchmarks' timings were measured on."""

from __future__ import annotations

import builtins
import platform

import torch

from proav_core import machine


def test_cpu_info_names_the_model_its_vector_extension_and_threads(monkeypatch):
    lines = ["processor\t: 0\n", "vendor_id\t: AuthenticAMD\n", "model name\t: AMD EPYC 9B14\n", "flags\t\t: avx2\n"]
    real_open = builtins.open

    def fake_open(path, *args, **kwargs):
        return _Lines(lines) if path == "/proc/cpuinfo" else real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    info = machine.device_info(torch.device("cpu"))
    assert info["type"] == "cpu" and info["name"] == "AMD EPYC 9B14"
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and info["threads"] == torch.get_num_threads()
    assert info["torch"] == torch.__version__
    assert machine.describe(info) == (f"AMD EPYC 9B14 (cpu, {info['cpu_count']} cores, {info['cpu_capability']}, "
                                      f"{info['threads']} threads), torch {torch.__version__}")


def test_without_proc_cpuinfo_the_platform_names_the_cpu(monkeypatch):
    def no_cpuinfo(path, *args, **kwargs):
        raise OSError(f"no such file: {path}")

    monkeypatch.setattr(builtins, "open", no_cpuinfo)
    assert machine.cpu_model() is None
    assert machine.device_info(torch.device("cpu"))["name"] == (platform.processor() or platform.machine())


class _Lines:
    """A stand-in for an open text file: iterable lines, a context manager."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def __enter__(self):
        return iter(self.lines)

    def __exit__(self, *exc):
        return False
