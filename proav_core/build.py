"""Building components by registry name, from Python or from a resolved config.

A factory is called with its validated parameters as keyword arguments plus *context*:
values that the assembling code offers (clip, dim, plane_shapes, latent_shape, ...). Context
is offered, not imposed: a factory receives the context values its signature names (all of
them if it takes **kwargs), so a component asks for exactly what it uses. A factory that
fails is reported as a PluginError naming the component and its provider (see `_call`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proav_core.config import ComponentConfig, ExperimentConfig, resolve_components
from proav_core.errors import ConfigError, ParameterError, PluginError, ProavError
from proav_core.plugin_manager import get_registry
from proav_core.registry import (
    ComponentParams,
    ComponentSpec,
    FactorySignature,
    Registrar,
    Registry,
    factory_name,
    undeclared_parameters,
)


def _factory_failed(spec: ComponentSpec, err: Exception, path: str | None) -> PluginError:
    where = f" at {path}" if path else ""
    return PluginError(
        f"{spec.kind} '{spec.name}'{where} (from plugin '{spec.provider}', factory "
        f"{factory_name(spec.factory)}) failed while building: {type(err).__name__}: {err}. Its parameters "
        "passed validation, so the fault is in the factory: fix it (PROAV_DEBUG=1 shows the traceback) or "
        f"report this message to the plugin's author; meanwhile pick another {spec.kind} "
        f"(`proav registry list --kind {spec.kind}`)."
    )


def _call(
    spec: ComponentSpec, params: ComponentParams, context: Mapping[str, Any], path: str | None = None
) -> Any:
    """Call the factory with the validated parameters and the context its signature names.

    A factory that cannot take a declared parameter, needs an argument nobody offered, or
    raises anything but a ProavError is reported as a PluginError naming the component, its
    provider, the exception and the fix."""
    sig = FactorySignature.of(spec.factory)
    mismatch = undeclared_parameters(spec.factory, type(params))
    if mismatch:
        raise PluginError(f"{spec.kind} '{spec.name}' (from plugin '{spec.provider}'): {mismatch}")
    kwargs = {f: getattr(params, f) for f in type(params).model_fields}
    kwargs.update({k: v for k, v in context.items() if k not in kwargs and sig.accepts(k)})
    missing = [r for r in sig.required if r not in kwargs]
    if missing:
        raise PluginError(
            f"{spec.kind} '{spec.name}' (from plugin '{spec.provider}'): its factory "
            f"{factory_name(spec.factory)} needs {', '.join(map(repr, missing))}, which is neither one of "
            f"its parameters nor context offered here (offered: {', '.join(sorted(context)) or 'none'}). "
            f"Pass it (proav_core.build({spec.kind!r}, {spec.name!r}, {missing[0]}=...)); a plugin author "
            f"gives it a default or asks only for the context the {spec.kind} interface documents."
        )
    try:
        return spec.factory(**kwargs)
    except ProavError:
        raise
    except Exception as err:
        if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
            raise  # the machine's limit, not the plugin's fault
        raise _factory_failed(spec, err, path) from err


def build(kind: str, name: str | None = None, /, **kwargs: Any) -> Any:
    """Build a component by registry name, e.g. ``build("attention", "gcm_attn", dim=64)``.

    Keyword arguments that are fields of the component's parameter model are validated by
    it; the others are context for the factory (dims, clip spec, ...), and one the factory
    does not take is an error. `name` None means registry.toml's default for `kind`.
    """
    registry = get_registry()
    spec = registry.get(kind, name)
    fields = spec.params.model_fields
    params = {k: v for k, v in kwargs.items() if k in fields}
    context = {k: v for k, v in kwargs.items() if k not in fields}
    sig = FactorySignature.of(spec.factory)
    unknown = sorted(k for k in context if not sig.accepts(k))
    if unknown:
        raise ParameterError(
            f"{kind} '{spec.name}' takes no argument {', '.join(map(repr, unknown))}; "
            f"parameters: {', '.join(fields) or '(none)'}; "
            f"context: {', '.join(sorted(sig.names - set(fields))) or '(none)'}",
            path=f"{kind}.{spec.name}",
        )
    validated = spec.validate(params, path=f"{kind}.{spec.name}")
    resolve_components(validated, registry, f"{kind}.{spec.name}")
    return _call(spec, validated, context)


def build_component(
    section: ComponentConfig | str | Mapping[str, Any],
    kind: str | None = None,
    /,
    *,
    registry: Registry | None = None,
    path: str | None = None,
    **context: Any,
) -> Any:
    """Build a config section (resolved, or a name / table with `kind` given), offering context."""
    if not isinstance(section, ComponentConfig):
        if kind is None:
            raise ConfigError("build_component needs `kind` for a section given as a name or table")
        section = ComponentConfig.model_validate(section).with_kind(kind)
    elif kind is not None and section.kind not in (None, kind):
        raise ConfigError(f"{path or 'section'}: expected a {kind}, got a {section.kind}")
    elif kind is not None and section.kind is None:
        section = section.with_kind(kind)
    if not section.resolved:
        section.resolve(registry or get_registry(), path or section.kind or "component")
    return _call(section.spec, section.params, context, path)


def register_component(
    kind: str,
    name: str,
    factory: Callable[..., Any],
    params: type[ComponentParams] | None = None,
    summary: str | None = None,
) -> ComponentSpec:
    """Register one component from Python (a notebook, a script) without writing a plugin."""
    return Registrar(get_registry(), provider="python").add(kind, name, factory, params, summary)


@dataclass
class Assembly:
    """The components a config names, built and wired together (sections left out stay None).

    Wiring: the autoencoder's plane shapes size the stacker; the stacker's latent shape and
    the conditioner's width size the generator; the autoencoder's latent bound is the box
    of the objective and the sampler; the dataset's classes feed the conditioner.
    """

    config: ExperimentConfig
    classes: list[str] = field(default_factory=list)
    audio_repr: Any = None
    autoencoder: Any = None
    stacker: Any = None
    conditioner: Any = None
    generator: Any = None
    objective: Any = None
    sampler: Any = None
    metrics: list[Any] = field(default_factory=list)

    def dataset(self, split: str = "train") -> Any:
        """Build the configured dataset for one split ("train", "test" or "all")."""
        if self.config.dataset is None:
            raise ConfigError("the config has no [dataset] section", path="dataset")
        return build_component(
            self.config.dataset, clip=self.config.clip, audio_repr=self.audio_repr, split=split
        )


def dataset_classes(cfg: ExperimentConfig) -> tuple[list[str], ProavError | None]:
    """The class names of the config's training dataset, built for them (which may read every
    file of a raw folder), and the ProavError that kept it from saying them ([] and None: the
    dataset names none)."""
    try:
        return list(getattr(Assembly(config=cfg).dataset("train"), "classes", [])), None
    except ProavError as err:
        return [], err


@dataclass
class GenerationParts:
    """The generator side, wired from the latent geometry (no autoencoder needed)."""

    stacker: Any = None
    conditioner: Any = None
    generator: Any = None
    objective: Any = None
    sampler: Any = None


def build_generation(
    cfg: ExperimentConfig,
    plane_shapes: Mapping[str, tuple[int, int, int]] | None,
    latent_bound: float | None,
    classes: list[str],
    restoring: Mapping[str, Any] | None = None,
) -> GenerationParts:
    """Build stacker, conditioner, generator, objective and sampler from their sections.

    plane_shapes size the stacker; its latent shape, the stacker itself (padding mask, token
    layout) and the conditioner's width are offered to the generator; latent_bound (the
    autoencoder's box) is offered to objective and sampler, and the objective's
    `noise(shape, generator, device)` to the sampler (stochastic samplers draw fresh noise like
    the training noise). `restoring`, the raw generator checkpoint whose weights are loaded
    right after (sampling), is offered to the generator: a factory that would read weights
    from other files (av_dit's backbone, javisdit's prior) skips them and rebuilds from what
    the generator's `checkpoint_context()` saved there ("generator_context").
    """
    m, out = cfg.model, GenerationParts()
    box = {} if latent_bound is None else {"latent_bound": float(latent_bound)}
    if m.stacker is not None:
        if plane_shapes is None:
            raise ConfigError("[model.stacker] needs [model.autoencoder] for the plane shapes")
        out.stacker = build_component(m.stacker, plane_shapes=dict(plane_shapes))
    if m.conditioner is not None:
        out.conditioner = build_component(m.conditioner, classes=list(classes))
    if m.generator is not None:
        if out.stacker is None or out.conditioner is None:
            raise ConfigError(
                "[model.generator] needs [model.stacker] (latent shape) and [model.conditioner] "
                "(condition width)"
            )
        out.generator = build_component(
            m.generator,
            latent_shape=tuple(out.stacker.latent_shape),
            cond_dim=out.conditioner.dim,
            stacker=out.stacker,  # padding mask / token layout, for generators that ask
            **({} if restoring is None else {"restoring": restoring}),
        )
    if cfg.objective is not None:
        out.objective = build_component(cfg.objective, **box)
    if cfg.sampler is not None:
        noise_fn = getattr(out.objective, "noise", None)
        noise = {} if noise_fn is None else {"noise": noise_fn}  # for stochastic samplers
        out.sampler = build_component(cfg.sampler, **box, **noise)
    return out


def build_from_config(cfg: ExperimentConfig, *, classes: list[str] | None = None) -> Assembly:
    """Build every component section of a resolved config and wire them together.

    `classes` (the class names the conditioner knows) defaults to the training dataset's.
    """
    out = Assembly(config=cfg)
    if cfg.audio_repr is not None:
        out.audio_repr = build_component(cfg.audio_repr, clip=cfg.clip)
    if classes is None and cfg.dataset is not None and cfg.model.conditioner is not None:
        classes = list(getattr(out.dataset("train"), "classes", []))
    out.classes = list(classes or [])
    if cfg.model.autoencoder is not None:
        out.autoencoder = build_component(cfg.model.autoencoder, clip=cfg.clip)
    ae = out.autoencoder
    gen = build_generation(
        cfg,
        plane_shapes=None if ae is None else ae.plane_shapes(),
        latent_bound=None if ae is None else ae.latent_bound,
        classes=out.classes,
    )
    out.stacker, out.conditioner, out.generator = gen.stacker, gen.conditioner, gen.generator
    out.objective, out.sampler = gen.objective, gen.sampler
    out.metrics = [build_component(m, clip=cfg.clip) for m in cfg.metrics]
    return out
