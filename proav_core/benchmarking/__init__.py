"""`proav bench`: what training and sampling cost on the current device, measured on the real
code paths with fresh weights (no checkpoint needed).

Items: the autoencoder's training step (stage 1 and stage 2 apart), the generator's training
step, one sampling call (the config's sampler, 30 steps by default, classifier-free guidance,
decode included) and, of it, the decode alone and the waveform decode alone. Per item:
seconds (median and min over the timed calls), peak memory, FLOPs counted by
FlopCounterMode, achieved FLOP/s (counted FLOPs / median seconds) and, for the generator
part, the analytic FLOPs from the generator's describe(). Plus parameters per component.

    from proav_core.benchmarking import BenchSettings, run_benchmarks
    report = run_benchmarks(cfg, BenchSettings(accelerator="cpu", repeats=3))
"""

from proav_core.benchmarking.report import print_report, write_report
from proav_core.benchmarking.runner import BenchSettings, run_benchmarks

__all__ = ["BenchSettings", "print_report", "run_benchmarks", "write_report"]
