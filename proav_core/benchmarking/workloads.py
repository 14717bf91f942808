"""The benchmarked workloads, built from a config with fresh weights on the real code paths.

Autoencoder step (`AutoencoderBench`), as proav_core.training.autoencoder_loop runs it:
`loss, logs, recon = step.generator_loss(ae, batch, i)`, backward, gradient clipping, Adam
step; from stage 2 on also `step.discriminator_loss(batch, recon, i)`, backward, clipping,
Adam step of the discriminators; EMA when [train.autoencoder] sets ema_decay. Stage 1 is
measured at i = 0, stage 2 at i = disc_start.

Generator step (`GeneratorBench`), as proav_core.training.generator_loop runs it: stack the
planes, the FlowModel's loss (conditioner, condition dropout, objective, generator),
backward, clipping, AdamW step, EMA when [train.generator] sets ema_decay.

Sample (`SampleBench`): proav_core.sampling.SamplingPipeline.sample: the objective's noise,
the config's sampler with classifier-free guidance against the null condition, unstack,
autoencoder decode, waveform by the audio representation's decode (Griffin-Lim for
mel_frames). The decode (latents -> video, audio, waveform) is also measured on its own,
and the waveform decode alone.

Batches are synthetic: video (B, 3, T, H, W) and audio (B, T, H, W) uniform in [-1, 1],
latent planes uniform inside 90 % of the latent box. Forward passes run under the Fabric
precision's autocast (fabric.setup wrappers for training, fabric.autocast() for sampling).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from lightning_fabric import Fabric
from torch import Tensor, nn

from proav_core.build import build_component, build_generation
from proav_core.config import ExperimentConfig
from proav_core.sampling import SamplingPipeline
from proav_core.training.common import adam
from proav_core.training.ema import EMA
from proav_core.training.generator_loop import FlowModel, flow_model, parameter_counts


@dataclass
class Workload:
    """One measured item. `run` performs one iteration (a training step, a sampling call).

    `watch` is the generator, whose evaluations are counted; `analytic_factor` times the
    generator's analytic forward FLOPs per sample times those evaluations gives the analytic
    FLOPs (3 for a training step: backward ~ 2 x forward).
    """

    key: str
    label: str
    batch: int
    run: Callable[[], object]
    watch: nn.Module | None = None
    analytic_factor: int = 1
    note: str = ""


def count_parameters(module: Any) -> int:
    return sum(p.numel() for p in module.parameters()) if isinstance(module, nn.Module) else 0



def synthetic_clips(cfg: ExperimentConfig, batch: int, device: torch.device) -> dict[str, Tensor]:
    """video (B, 3, T, H, W) and audio (B, T, H, W), uniform in [-1, 1]."""
    c = cfg.clip
    g = torch.Generator().manual_seed(cfg.seed)
    video = torch.rand(batch, 3, c.frames, c.height, c.width, generator=g) * 2 - 1
    audio = torch.rand(batch, c.frames, c.height, c.width, generator=g) * 2 - 1
    return {"video": video.to(device), "audio": audio.to(device)}


def synthetic_planes(plane_shapes: Mapping[str, tuple[int, int, int]], bound: float | None, batch: int,
                     device: torch.device, seed: int = 0) -> dict[str, Tensor]:
    """{plane: (B, C, a, b)} uniform in [-0.9 b, 0.9 b] (b = 1 without a box)."""
    g = torch.Generator().manual_seed(seed)
    half = 0.9 * (1.0 if bound is None else float(bound))
    return {k: ((torch.rand(batch, *s, generator=g) * 2 - 1) * half).to(device) for k, s in plane_shapes.items()}


class _Updater:
    """backward, optional gradient clipping, optimiser step, zero_grad: the loops' update."""

    def __init__(self, fabric: Fabric, grad_clip: float | None):
        self.fabric, self.grad_clip = fabric, grad_clip

    def __call__(self, loss: Tensor, module: nn.Module, optimizer: Any) -> None:
        self.fabric.backward(loss)
        if self.grad_clip:
            self.fabric.clip_gradients(module, optimizer, max_norm=self.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


class AutoencoderBench:
    """The autoencoder on the device (fresh weights) and, on demand, its training step."""

    def __init__(self, fabric: Fabric, cfg: ExperimentConfig, batch_size: int):
        self.fabric, self.cfg, self.batch_size = fabric, cfg, batch_size
        autoencoder = build_component(cfg.model.autoencoder, clip=cfg.clip)
        self.step_fn = autoencoder.training_step()
        self.parameters = {"autoencoder": count_parameters(autoencoder),
                           "discriminators": count_parameters(self.step_fn.discriminators)}
        self.module = fabric.setup_module(autoencoder)  # moved to the device, autocast forward
        self._state: dict[str, Any] = {}

    @property
    def autoencoder(self) -> nn.Module:
        """The bare autoencoder (for sampling)."""
        return self.module.module

    def disc_start(self) -> int | None:
        return getattr(getattr(self.step_fn, "params", None), "disc_start", None)

    def workloads(self) -> list[Workload]:
        """Stage 1 (i = 0) and stage 2 (i = disc_start) steps; one step without a disc_start."""
        fabric, opt = self.fabric, self.cfg.train.autoencoder.optim
        step_fn = self.step_fn.to(fabric.device)
        s = self._state
        s["opt_g"] = fabric.setup_optimizers(adam(self.module.parameters(), opt, fabric.device, decoupled=False))
        d_params = [p for p in step_fn.discriminators.parameters() if p.requires_grad]
        if d_params:
            opt_d = adam(d_params, opt, fabric.device, decoupled=False)
            step_fn.discriminators, s["opt_d"] = fabric.setup(step_fn.discriminators, opt_d)
        decay = self.cfg.train.autoencoder.ema_decay
        s["ema"] = EMA(self.autoencoder, decay) if decay else None
        s["batch"] = synthetic_clips(self.cfg, self.batch_size, fabric.device)
        s["update"] = _Updater(fabric, opt.grad_clip)
        start = self.disc_start()
        if start is None:
            return [Workload("ae_step", "ae step", self.batch_size, lambda: self._step(0),
                             note="the training step has no disc_start: one stage measured")]
        out = []
        if start > 0:
            out.append(Workload("ae_step_stage1", "ae step, stage 1", self.batch_size,
                                lambda: self._step(0), note="step 0, before disc_start"))
        note = (f"step {start} = disc_start, with the discriminator update" if d_params
                else f"step {start} = disc_start; no discriminators are built")
        out.append(Workload("ae_step_stage2", "ae step, stage 2", self.batch_size,
                            lambda: self._step(start), note=note))
        return out

    def _step(self, i: int) -> None:
        s, step_fn = self._state, self.step_fn
        loss, _, recon = step_fn.generator_loss(self.module, s["batch"], i)
        s["update"](loss, self.module, s["opt_g"])
        d = step_fn.discriminator_loss(s["batch"], recon, i) if "opt_d" in s else None
        if d is not None:
            s["update"](d[0], step_fn.discriminators, s["opt_d"])
        if s["ema"] is not None:
            s["ema"].update(self.module)

    def close(self) -> None:
        """Drop the optimisers, EMA, discriminators and batch; the autoencoder stays."""
        self._state.clear()
        self.step_fn = self.step_fn.to("cpu")


class GeneratorBench:
    """The FlowModel (generator + conditioner + objective) on the device, fresh weights, and
    on demand its training step."""

    def __init__(self, fabric: Fabric, cfg: ExperimentConfig, plane_shapes: Mapping[str, tuple[int, int, int]],
                 latent_bound: float | None, classes: list[str], batch_size: int):
        self.fabric, self.cfg, self.batch_size, self.classes = fabric, cfg, batch_size, classes
        self.plane_shapes, self.latent_bound = dict(plane_shapes), latent_bound
        self.parts = build_generation(cfg, self.plane_shapes, latent_bound, classes)
        flow = flow_model(self.parts, None)  # as training builds it (the generator's optional hooks)
        self.parameters = {"generator": count_parameters(self.parts.generator),
                           "conditioner": count_parameters(self.parts.conditioner)}
        self.trainable_parameters = {"generator": parameter_counts(self.parts.generator)[0],
                                     "conditioner": parameter_counts(self.parts.conditioner)[0]}
        self.module = fabric.setup_module(flow)
        self._state: dict[str, Any] = {}

    @property
    def flow(self) -> FlowModel:
        return self.module.module

    def cond_tokens(self) -> int:
        return int(self.parts.conditioner.null(1).shape[1])

    def analytic_forward_flops(self) -> int | None:
        """The generator's describe()["flops_per_sample"] (one sample, forward), if it has one."""
        describe = getattr(self.parts.generator, "describe", None)
        if not callable(describe):
            return None
        return describe(cond_tokens=self.cond_tokens()).get("flops_per_sample")

    def token_figures(self) -> dict[str, Any] | None:
        """Tokens per sample and the padded share of them from the generator's describe(), if it
        reports them (stdit: tokens_per_sample, padded_token_share, padding, computed tokens)."""
        describe = getattr(self.parts.generator, "describe", None)
        info = describe(cond_tokens=self.cond_tokens()) if callable(describe) else {}
        keys = ("tokens_per_sample", "padded_token_share", "computed_tokens_per_sample", "padding")
        return {k: info[k] for k in keys if k in info} if "tokens_per_sample" in info else None

    def workloads(self) -> list[Workload]:
        fabric, loop = self.fabric, self.cfg.train.generator
        opt, s = loop.optim, self._state
        trainable = [p for p in self.module.parameters() if p.requires_grad]  # as training: frozen parts left out
        s["opt"] = fabric.setup_optimizers(adam(trainable, opt, fabric.device, decoupled=True))
        s["ema"] = EMA(self.flow, loop.ema_decay) if loop.ema_decay else None
        s["planes"] = synthetic_planes(self.plane_shapes, self.latent_bound, self.batch_size, fabric.device,
                                       self.cfg.seed)
        s["labels"] = (torch.arange(self.batch_size) % max(len(self.classes), 1)).to(fabric.device)
        s["update"] = _Updater(fabric, opt.grad_clip)
        ema = f", EMA {loop.ema_decay:g}" if loop.ema_decay else ""
        return [Workload("generator_step", "generator step", self.batch_size, self._step, watch=self.parts.generator,
                         analytic_factor=3, note=f"flow loss, AdamW{ema}")]

    def _step(self) -> None:
        s = self._state
        x1 = self.parts.stacker.stack(s["planes"])  # (B, *latent)
        loss = self.module(x1, s["labels"])
        s["update"](loss, self.module, s["opt"])
        if s["ema"] is not None:
            s["ema"].update(self.module)

    def forward_only(self) -> Callable[[], Tensor]:
        """One generator forward on B synthetic latents (no grad): for the analytic check."""
        b, fabric = self.batch_size, self.fabric
        x = self.parts.stacker.stack(synthetic_planes(self.plane_shapes, self.latent_bound, b, fabric.device))
        cond = self.parts.conditioner.null(b).to(fabric.device)  # (B, L, Dc)
        t = torch.full((b,), 0.5, device=fabric.device)

        @torch.no_grad()
        def forward() -> Tensor:
            with fabric.autocast():
                return self.parts.generator(x, t, cond)  # (B, *latent)

        return forward

    def close(self) -> None:
        self._state.clear()


class SampleBench:
    """SamplingPipeline over the benchmark's generator and autoencoder (fresh weights)."""

    def __init__(self, fabric: Fabric, cfg: ExperimentConfig, generator: GeneratorBench, autoencoder: nn.Module,
                 audio_repr: Any, num: int, cfg_scale: float):
        self.fabric, self.num, self.cfg_scale = fabric, num, cfg_scale
        parts = generator.parts
        self.pipe = SamplingPipeline(cfg, generator.flow, parts.stacker, parts.sampler, autoencoder, audio_repr,
                                     fabric.device)
        self.prompts = list(itertools.islice(itertools.cycle(self.pipe.default_prompts()), num))
        self.guided = cfg_scale != 1.0 and bool(self.pipe.classes)
        latent = self.pipe.flow.objective.sample_noise((num, *parts.stacker.latent_shape))
        self.latent = latent.to(fabric.device)  # (N, *latent), a decode input inside the box

    def _sample(self) -> None:
        with self.fabric.autocast():
            self.pipe.sample(self.prompts, cfg_scale=self.cfg_scale, seed=0)

    @torch.no_grad()
    def _decode(self) -> tuple[Tensor | None, Tensor | None]:
        """SamplingPipeline.sample's decode: unstack, decode_latents, waveform on the CPU."""
        pipe = self.pipe
        with self.fabric.autocast():
            video, audio = pipe.autoencoder.decode_latents(pipe.stacker.unstack(self.latent))
        if audio is not None and pipe.audio_repr is not None:
            pipe.audio_repr.decode(audio.float().cpu())
        video = None if video is None else video.float().cpu().clamp(-1, 1)
        return video, None if audio is None else audio.float().cpu()

    def workloads(self) -> list[Workload]:
        steps = getattr(self.pipe.sampler, "steps", "?")
        guidance = (f"CFG {self.cfg_scale:g} (conditional + null batched)" if self.guided else
                    "no guidance evaluated (scale 1 or the conditioner has no classes)")
        label = f"sample, {steps} steps{' CFG' if self.guided else ''}"
        out = [Workload("sample", label, self.num, self._sample,
                        watch=self.pipe.flow.generator, note=f"{steps} sampler steps, {guidance}"),
               Workload("decode", "  of it: decode", self.num, self._decode,
                        note="unstack + autoencoder decode + waveform decode")]
        _, audio = self._decode()
        if audio is not None and self.pipe.audio_repr is not None:
            out.append(Workload("waveform", "  of it: waveform", self.num,
                                lambda: self.pipe.audio_repr.decode(audio),
                                note=f"{type(self.pipe.audio_repr).__name__}.decode on the CPU "
                                     "(mel_frames: inverse mel + Griffin-Lim, whose FFTs and solves are not counted as FLOPs)"))
        return out
