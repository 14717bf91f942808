"""`run_benchmarks(cfg, settings)`: build what the config has, measure each workload, return
the report (a JSON-ready dict). Order: autoencoder steps, generator step, sample; each
stage's optimisers are dropped before the next, and on CUDA the autoencoder leaves the device
while the generator trains, so each peak-memory figure holds what that workload needs.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from typing import Any

import torch
from lightning_fabric import Fabric

from proav_core.benchmarking.breakdown import op_breakdown
from proav_core.benchmarking.measure import Measurement, count_flops, measure
from proav_core.benchmarking.peaks import Peak, achieved, find_peak
from proav_core.benchmarking.workloads import AutoencoderBench, GeneratorBench, SampleBench, Workload
from proav_core.build import build_component, dataset_classes
from proav_core.compiling import compile_model, compiled_summary, require_compile
from proav_core.config import ExperimentConfig, config_from_dict, config_to_dict
from proav_core.errors import UsageError
from proav_core.machine import device_info
from proav_core.training.hardware import default_precision
from proav_core.training.hardware import make_fabric as guarded_fabric

PARTS = ("autoencoder", "generator", "sample")
ANALYTIC_NOTE = ("analytic = the generator's describe() forward FLOPs per sample x generator samples evaluated "
                 "(x 3 for a training step: backward ~ 2 x forward); matmuls and attention only, "
                 "the autoencoder and decode are not included")


@dataclass(frozen=True)
class BenchSettings:
    """What `proav bench` measures and how (hardware from the command line, never the config)."""

    accelerator: str = "auto"
    precision: str | None = None  # None: bf16-mixed where supported, else 32-true
    threads: int | None = None  # torch.set_num_threads; None: torch's default
    batch_size: int = 2  # training steps
    sample_batch: int = 1  # samples per sampling call
    steps: int = 30  # sampler steps
    cfg_scale: float = 4.0
    warmup: int = 1
    repeats: int = 3
    flops: bool = True
    skip: tuple[str, ...] = ()
    compile_scope: str | None = None  # --compile: "blocks", "network" or "cudagraphs" (proav_core.compiling); None: eager
    peak_tflops: float | None = None  # --peak-tflops: the device's peak (default: the table's, GPUs only)
    breakdown: bool = False  # --breakdown: one more call per item under the profiler, its time by category


def make_fabric(settings: BenchSettings) -> Fabric:
    """A single-device Fabric; unknown or unavailable accelerators and precisions are UsageErrors."""
    acc = settings.accelerator
    return guarded_fabric("benchmark", accelerator=acc, devices=1, precision=settings.precision or default_precision(acc))


def with_sampler_steps(cfg: ExperimentConfig, steps: int) -> tuple[ExperimentConfig, str | None]:
    """The config with sampler.steps = steps (a note instead when the sampler has no `steps`)."""
    if cfg.sampler is None:
        return cfg, None
    if "steps" not in type(cfg.sampler.params).model_fields:
        return cfg, f"sampler '{cfg.sampler.name}' has no 'steps' parameter: its own step count is used"
    tree = config_to_dict(cfg)
    tree["sampler"]["steps"] = steps
    return config_from_dict(tree, source=f"{cfg.name} (bench: sampler.steps={steps})"), None


def conditioner_classes(cfg: ExperimentConfig, notes: list[str]) -> list[str]:
    """The dataset's class names; two placeholders when it has none or cannot be built."""
    if cfg.model.conditioner is None:
        return []
    classes, err = dataset_classes(cfg)
    if classes:
        return classes
    why = f"dataset unavailable ({err})" if err is not None else "the dataset has no classes"
    notes.append(f"conditioner sized for two placeholder classes: {why}")
    return ["class_0", "class_1"]


def _row(w: Workload, m: Measurement, analytic_forward: int | None, peak: Peak) -> dict[str, Any]:
    samples = m.extras.get("generator_samples")
    analytic = None
    if analytic_forward is not None and samples:
        analytic = w.analytic_factor * samples * analytic_forward
    row = {"key": w.key, "label": w.label, "batch": w.batch,
           "seconds": {"median": m.median, "min": m.minimum, "all": m.seconds},
           "seconds_per_item": m.median / w.batch, "flops": m.flops,
           "flops_per_second": None if m.flops is None else m.flops / m.median,
           "analytic_flops": analytic, "generator_samples": samples,
           "peak_memory_bytes": m.peak_memory_bytes, "memory_scope": m.memory_scope, "note": w.note}
    return row | achieved(row, peak)


def run_benchmarks(cfg: ExperimentConfig, settings: BenchSettings,
                   progress: Callable[[int, str], Any] | None = None) -> dict[str, Any]:
    """Measure the config's autoencoder steps, generator step and sample; returns the report.

    `progress(total, description)` may return a context manager yielding `advance` (e.g.
    proav_core.progress.progress_bar); one bar per workload. torch's thread count is
    restored afterwards.
    """
    unknown = [p for p in settings.skip if p not in PARTS]
    if unknown:
        raise UsageError(f"--skip {unknown[0]!r} is not a part; parts: {', '.join(PARTS)}")
    if set(PARTS) <= set(settings.skip):
        raise UsageError(f"--skip leaves nothing to measure (the parts are {', '.join(PARTS)}); skip fewer")
    threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        session = _Session(cfg, settings, progress)
        session.all_parts()
    finally:
        torch.set_num_threads(threads)
    return session.report


class _Session:
    """One benchmark run: the Fabric, the report being filled, the parts in order."""

    def __init__(self, cfg: ExperimentConfig, settings: BenchSettings, progress: Callable[[int, str], Any] | None):
        self.settings, self.progress = settings, progress
        self.fabric = make_fabric(settings)
        self.device = self.fabric.device
        self.cfg, note = with_sampler_steps(cfg, settings.steps)
        self.report: dict[str, Any] = {
            "config": cfg.name, "device": device_info(self.device),
            "precision": settings.precision or default_precision(settings.accelerator),
            "threads": torch.get_num_threads(), "settings": asdict(settings), "rows": [], "skipped": [],
            "parameters": {}, "trainable_parameters": {}, "checks": {}, "notes": [note] if note else [],
            "analytic_note": ANALYTIC_NOTE,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        device = self.report["device"]
        self.peak = find_peak(device["type"], device["name"], self.report["precision"], settings.peak_tflops)
        self.report["peak"] = self.peak.to_dict()
        self.report["compile"] = None
        if settings.compile_scope:
            require_compile(self.device)  # before any model is built
            self.report["compile"] = {"scope": settings.compile_scope, "compiled": []}

    def compile(self, module: torch.nn.Module, what: str) -> None:
        """--compile: compile `module` in place; its first (warm-up) calls pay the compilation."""
        if not self.settings.compile_scope:
            return
        done = compile_model(module, self.settings.compile_scope, self.device)
        self.report["compile"]["compiled"] += [f"{what}: {name}" for name in done["compiled"]]
        self.report["notes"].append(compiled_summary(done, what))
        if self.settings.warmup == 0:
            self.report["notes"].append("--compile with --warmup 0: the timed calls include the compilation")

    def skip(self, item: str, why: str) -> None:
        self.report["skipped"].append({"item": item, "reason": why})

    def run(self, w: Workload, analytic_forward: int | None = None) -> None:
        s = self.settings
        total = s.warmup + s.repeats + int(s.flops) + int(s.breakdown)
        with self.progress(total, f"bench {w.key}") if self.progress else nullcontext() as advance:
            m = measure(w.run, self.device, warmup=s.warmup, repeats=s.repeats, flops=s.flops, watch=w.watch,
                        advance=advance)
            row = _row(w, m, analytic_forward, self.peak)
            if s.breakdown:
                row["breakdown"] = op_breakdown(w.run, self.device)
                if advance:
                    advance()
        self.report["rows"].append(row)

    def all_parts(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        if cfg.model.autoencoder is None:
            for item in ("autoencoder steps", "generator step", "sample"):
                self.skip(item, "the config has no [model.autoencoder] section")
            return
        ae = self.autoencoder_part()
        missing = [s for s in ("model.stacker", "model.conditioner", "model.generator", "objective")
                   if _section(cfg, s) is None]
        if missing:
            why = f"the config has no {', '.join(f'[{s}]' for s in missing)} section"
            self.skip("generator step", why)
            self.skip("sample", why)
            return
        gen = self.generator_part(ae)
        if "sample" in self.settings.skip:
            self.skip("sample", "--skip sample")
        elif cfg.sampler is None:
            self.skip("sample", "the config has no [sampler] section")
        else:
            self.sample_part(ae, gen)

    def autoencoder_part(self) -> AutoencoderBench:
        ae = AutoencoderBench(self.fabric, self.cfg, self.settings.batch_size)
        self.report["parameters"].update(ae.parameters)
        self.compile(ae.autoencoder, "the autoencoder")
        if "autoencoder" in self.settings.skip:
            self.skip("autoencoder steps", "--skip autoencoder")
        else:
            for w in ae.workloads():
                self.run(w)
            if ae.disc_start() == 0:
                self.skip("ae step, stage 1", "disc_start = 0: training starts in stage 2")
        ae.close()
        return ae

    def generator_part(self, ae: AutoencoderBench) -> GeneratorBench:
        if self.device.type == "cuda":  # the generator trains without the autoencoder on the device
            ae.autoencoder.to("cpu")
            torch.cuda.empty_cache()
        classes = conditioner_classes(self.cfg, self.report["notes"])
        gen = GeneratorBench(self.fabric, self.cfg, ae.autoencoder.plane_shapes(),
                             getattr(ae.autoencoder, "latent_bound", None), classes, self.settings.batch_size)
        self.report["parameters"].update(gen.parameters)
        self.report["trainable_parameters"].update(gen.trainable_parameters)
        self.compile(gen.parts.generator, "the generator")
        self.analytic = gen.analytic_forward_flops()
        tokens = gen.token_figures()
        if tokens:
            self.report["generator_tokens"] = tokens
        if self.analytic is not None and self.settings.flops:
            measured, expected = count_flops(gen.forward_only()), self.analytic * self.settings.batch_size
            self.report["checks"]["generator_forward_flops"] = {
                "batch": self.settings.batch_size, "measured": measured, "analytic": expected,
                "ratio": measured / expected}
        if "generator" in self.settings.skip:
            self.skip("generator step", "--skip generator")
        else:
            for w in gen.workloads():
                self.run(w, self.analytic)
        gen.close()
        return gen

    def sample_part(self, ae: AutoencoderBench, gen: GeneratorBench) -> None:
        cfg = self.cfg
        ae.autoencoder.to(self.device)
        audio_repr = None if cfg.audio_repr is None else build_component(cfg.audio_repr, clip=cfg.clip)
        if audio_repr is None:
            self.skip("waveform decode", "the config has no [audio_repr] section")
        s = self.settings
        sampling = SampleBench(self.fabric, cfg, gen, ae.autoencoder, audio_repr, s.sample_batch, s.cfg_scale)
        for w in sampling.workloads():
            self.run(w, self.analytic)


def _section(cfg: ExperimentConfig, dotted: str) -> Any:
    obj: Any = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
    return obj
