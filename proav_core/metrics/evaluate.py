"""Running metric components over real and generated clips, and the report `proav eval` writes.

From Python: build metrics with `build_metrics(sections, clip)`, then
`evaluate(metrics, real_batches, fake_batches)` with any iterables of batch dicts
(video (B, 3, T, H, W), waveform (B, S), audio (B, T, H, W) as the metrics need). Real and
generated batches are interleaved (real 0, fake 0, real 1, ...), so pairing metrics (psnr)
hold only a batch or two. A metric that cannot be built or run (missing weights, a missing
optional dependency) yields an unavailable MetricResult with the reason; the others run.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from proav_core.config import ComponentConfig
from proav_core.errors import ProavError
from proav_core.interfaces import ClipSpec, MetricResult


@dataclass
class MetricRun:
    """One selected metric: its label, the built component (None when it could not be built)."""

    label: str
    section: ComponentConfig
    metric: Any = None
    error: str | None = None

    @property
    def inputs(self) -> frozenset[str]:
        return frozenset() if self.metric is None else frozenset(self.metric.inputs)

    @property
    def needs_real(self) -> bool:
        return bool(self.metric is not None and self.metric.needs_real)


def select_sections(configured: Sequence[ComponentConfig], names: Sequence[str] | None) -> list[ComponentConfig]:
    """The config's [[metrics]] sections, or for each requested name its configured sections
    (all of them) or, when the config has none, a section with the component's defaults."""
    if not names:
        return list(configured)
    out: list[ComponentConfig] = []
    for name in names:
        matching = [s for s in configured if s.name == name]
        out += matching or [ComponentConfig(name=name).with_kind("metric")]
    return out


def build_metrics(sections: Sequence[ComponentConfig], clip: ClipSpec, registry: Any = None) -> list[MetricRun]:
    """Build each metric section; unknown names and bad parameters raise (usage errors),
    any other proav error (e.g. a missing dependency) makes that metric unavailable."""
    from proav_core.build import build_component
    from proav_core.plugin_manager import get_registry

    registry = registry or get_registry()
    runs, seen = [], {}
    for index, section in enumerate(sections):
        path = f"metrics[{index}]"
        if not section.resolved:
            section.resolve(registry, path)
        seen[section.name] = seen.get(section.name, 0) + 1
        run = MetricRun(label=section.name or "metric", section=section)
        try:
            run.metric = build_component(section, clip=clip, path=path)
        except ProavError as err:
            if getattr(err, "exit_code", 1) == 2:
                raise
            run.error = str(err)
        runs.append(run)
    return runs


def _update(runs: Iterable[MetricRun], batch: dict[str, Any], role: str, failures: dict[int, str]) -> None:
    for run in runs:
        if run.metric is None or id(run) in failures:
            continue
        missing = run.inputs - batch.keys()
        if missing:
            held = ", ".join(sorted(k for k in batch if k != "path"))
            failures[id(run)] = (f"needs {', '.join(sorted(missing))}, which these clips do not hold (they hold "
                                 f"{held}: e.g. latent planes come from an autoencoder, not from files); "
                                 "choose other metrics (`proav eval --metrics ...`)")
            continue
        try:
            run.metric.update({k: batch[k] for k in run.inputs}, role)
        except (ProavError, ValueError) as err:  # bad data for this metric; the others go on
            failures[id(run)] = f"{role} batch: {err}"


def evaluate(
    runs: Sequence[MetricRun],
    real_batches: Iterable[dict[str, Any]] | None,
    fake_batches: Iterable[dict[str, Any]],
) -> list[MetricResult]:
    """Feed interleaved real and generated batches to every metric, then compute each."""
    failures: dict[int, str] = {}
    real_iter = iter(real_batches) if real_batches is not None else iter(())
    for real, fake in itertools.zip_longest(real_iter, fake_batches):
        if real is not None:
            _update(runs, real, "real", failures)
        if fake is not None:
            _update(runs, fake, "fake", failures)
    results = []
    for run in runs:
        reason = run.error or failures.get(id(run))
        if reason is not None:
            results.append(MetricResult(run.label, None, reason=reason))
            continue
        try:
            results.append(run.metric.compute())
        except ProavError as err:
            results.append(MetricResult(run.label, None, reason=str(err)))
    return label_duplicates(results)


def label_duplicates(results: list[MetricResult]) -> list[MetricResult]:
    """Two sections of one metric (say fvd on two extractors) get names fvd, fvd#2, ..."""
    counts: dict[str, int] = {}
    for result in results:
        counts[result.name] = counts.get(result.name, 0) + 1
        if counts[result.name] > 1:
            result.name = f"{result.name}#{counts[result.name]}"
    return results


@dataclass
class EvalReport:
    """What `proav eval` prints and writes as JSON."""

    results: list[MetricResult]
    clip: ClipSpec
    sources: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def unavailable(self) -> list[str]:
        return [r.name for r in self.results if not r.available]

    def to_dict(self) -> dict[str, Any]:
        from proav_core._version import __version__

        return {
            "proav_version": __version__,
            **self.sources,
            "clip": self.clip.model_dump(),
            "skipped": self.skipped,
            "metrics": [r.to_dict() for r in self.results],
            "unavailable": self.unavailable,
        }
