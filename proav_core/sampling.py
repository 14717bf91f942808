"""Sampling from trained checkpoints: noise -> sampler(generator) -> unstack -> undo the
latent normalisation -> decode.

    pipe = SamplingPipeline.from_checkpoint(cfg, "runs/demo/generator/last.ckpt")
    out = pipe.sample(["a video of circle"], cfg_scale=2.0, seed=0)
    out.video (N, 3, T, H, W) in [-1, 1], out.audio (N, T, H, W), out.waveform (N, S)
    out = pipe.sample(task="a2v", audio="song.wav")      # animate a soundtrack (proav_core.tasks)
    out = pipe.sample(task="v2a", video=frames)          # score a silent video, frames (N, 3, T, H, W)
                                                         # (prompted with the class its probe reads)
    pipe.load_guide("runs/demo/generator/guide.ckpt")    # autoguidance: steer away from an early state
    out = pipe.sample(["a video of circle"], guide_scale=2.0)
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from proav_core.build import build_component, build_generation
from proav_core.compiling import compile_model, fixed_batches
from proav_core.config import ExperimentConfig
from proav_core.errors import ConfigError, ProavWarning, UsageError, did_you_mean
from proav_core.flow_matching import autoguided
from proav_core.generated import Generated, class_prompt
from proav_core.interfaces.generation import StepCallback
from proav_core.training.checkpoint import component_names, load_weights, peek_checkpoint, require_kind
from proav_core.training.class_probe import ClassProbe, probes_from_dict
from proav_core.training.encode import load_autoencoder
from proav_core.training.latent_cache import autoencoder_changed, encoding_autoencoder
from proav_core.data.bad_input import BadInput
from proav_core.data.condition_inputs import given_tensor_clips, read_audio_clips, read_video_clips
from proav_core.interfaces.autoencoder import Planes
from proav_core.tasks import TASK_IDS, GivenPlanes, Task, get_task, given_mask, probe_planes
from proav_core.training.generator_loop import FlowModel, flow_model
from proav_core.training.latent_norm import LatentNormalizer


Media = Tensor | str | Path
HOLD_MODES = ("auto", "trained", "zero_shot")
# What the autoguidance guide is conditioned on: "null", its null condition (steers away from
# the weaker model's unconditional prediction: autoguidance and class guidance at once), or
# "prompt", the sample's own prompt (Karras et al. 2024). docs/quality.md, "Autoguidance".
GUIDE_CONDITIONS = ("null", "prompt")
# The prompt of an a2v / v2a sample given none: "probe", the class the checkpoint's class probe
# reads from the given planes (training/class_probe.py), or "none", the null condition.
GIVEN_LABELS = ("probe", "none")


class SamplingPipeline:
    """A trained generator (EMA weights) with its autoencoder, ready to sample."""

    def __init__(self, cfg: ExperimentConfig, flow: FlowModel, stacker: Any, sampler: Any,
                 autoencoder: torch.nn.Module, audio_repr: Any, device: torch.device | str = "cpu",
                 normalizer: LatentNormalizer | None = None, latents: dict[str, Any] | None = None):
        self.cfg, self.flow, self.stacker, self.sampler = cfg, flow.eval(), stacker, sampler
        self.normalizer = normalizer  # None: the generator works in the autoencoder's own space
        self.autoencoder, self.audio_repr = autoencoder.eval(), audio_repr
        self.device = torch.device(device)
        self.batch_size: int | None = None  # samples per sampler run; None: all of a call at once
        self.guide: FlowModel | None = None  # autoguidance's weaker model (load_guide)
        self.latents = latents  # the checkpoint's latent geometry (from_checkpoint); None: not known
        self.class_probes: dict[str, ClassProbe] = {}  # per given modality (from_checkpoint); {}: none

    def compile(self, scope: str = "blocks", batch_size: int | None = None) -> dict[str, Any]:
        """torch.compile the generator (and a guide loaded before, load_guide) in place
        (proav_core.compiling: its blocks, or the whole velocity network) and fix the sampling
        batch: every sampler run then integrates `batch_size` samples (the last partial batch
        padded with copies of its last sample), so each step of each run has one shape and
        nothing recompiles. Returns what was compiled (of the generator)."""
        if batch_size is not None:
            self.batch_size = batch_size
        if self.guide is not None:  # autoguidance's guide runs beside the generator at every step
            compile_model(self.guide.generator, scope, self.device, network=self.guide.generator)
        generator = self.flow.generator
        return compile_model(generator, scope, self.device, network=generator)

    @classmethod
    def from_checkpoint(cls, cfg: ExperimentConfig, checkpoint: str | Path,
                        autoencoder_checkpoint: str | Path | None = None,
                        device: torch.device | str = "cpu") -> SamplingPipeline:
        flow, parts, raw = _load_flow(cfg, checkpoint)
        latents = raw["latents"]
        normalizer = (LatentNormalizer.from_dict(latents["normalization"]) if latents.get("normalization")
                      else None)  # generator checkpoints from before normalisation
        recorded, sha256 = Path(latents["autoencoder_checkpoint"]), latents.get("autoencoder_sha256", "")
        ae_path = Path(autoencoder_checkpoint or encoding_autoencoder(checkpoint, recorded, sha256))
        autoencoder = load_autoencoder(cfg, ae_path, option="--ae-ckpt" if autoencoder_checkpoint else None)
        matched = autoencoder_checkpoint is None and ae_path != recorded  # a moved run's copy, its sha256 checked
        if not matched and autoencoder_changed(ae_path, sha256):
            warnings.warn(f"{ae_path} is not the autoencoder checkpoint the generator's latents were encoded with "
                          f"({latents['autoencoder_checkpoint']} as it was then): its decoder may not read what the "
                          "generator makes (grey or garbled samples); give that checkpoint with --ae-ckpt, or encode "
                          "again and retrain the generator", ProavWarning, stacklevel=2)
        audio_repr = None if cfg.audio_repr is None else build_component(cfg.audio_repr, clip=cfg.clip)
        pipe = cls(cfg, flow, parts.stacker, parts.sampler, autoencoder, audio_repr, device, normalizer, latents)
        pipe.class_probes = probes_from_dict(raw.get("class_probe"))  # absent before class probes
        pipe.flow.to(device)
        pipe.autoencoder.to(device)
        return pipe

    def load_guide(self, checkpoint: str | Path) -> int:
        """Load the weaker model for autoguidance (`sample(guide_scale=...)`): a generator checkpoint
        on the same latents (geometry, normalisation, classes), usually the run's own guide.ckpt
        ([train.generator] guide_fraction). Returns the step it was saved at."""
        flow, _, raw = _load_flow(self.cfg, checkpoint, option="--guide-ckpt")
        latents, mine = raw["latents"], self.latents
        if mine is not None:
            for key in ("plane_shapes", "normalization", "classes"):
                if latents.get(key) != mine.get(key):
                    raise UsageError(f"--guide-ckpt {checkpoint} was trained on other latents than --ckpt ({key} "
                                     "differs); give a checkpoint of the same run, e.g. its generator/guide.ckpt")
        self.guide = flow.eval().to(self.device)
        return int(raw.get("step", 0))

    @property
    def classes(self) -> list[str]:
        return list(self.flow.conditioner.classes)

    @property
    def trained_tasks(self) -> list[str]:
        """The tasks the generator was trained for (["joint"] for a joint-only generator)."""
        return self.flow.trained_tasks

    def default_prompts(self) -> list[str]:
        """"a video of <class>" for each class; one empty prompt (null condition) without classes."""
        return [class_prompt(c) for c in self.classes] or [""]

    @torch.no_grad()
    def sample(self, prompts: Sequence[str] | None = None, cfg_scale: float = 1.0, seed: int = 0,
               callback: StepCallback | None = None, *, task: str = "joint", audio: Media | None = None,
               video: Media | None = None, hold: str = "auto", guide_scale: float = 1.0,
               guide_condition: str = "null", given_label: str = "probe", resize: str = "crop") -> Generated:
        """One sample per prompt (joint), or per given clip (a2v, v2a); deterministic given the seed.

        a2v: `audio` is a waveform (S,) of any length >= one clip or (N, S) of clips, at
        clip.sample_rate, or a file path (a wav or any file with an audio track); v2a: `video` is
        (3, T', H', W') with T' >= clip.frames or (N, 3, T, H', W') in [-1, 1], or a video file
        path; frames of another size are fitted to the clip by `resize` ("crop", the default,
        "pad" or "stretch"; data.decode.RESIZE_MODES). A longer input is cut into back-to-back
        clips, one sample each (data.condition_inputs).
        Prompts are optional for a2v/v2a: without them `given_label` (GIVEN_LABELS) says what
        prompts the sample: "probe" (default), the class the checkpoint's class probe reads from
        the given planes, or "none", the null condition (the
        class must then come from the given planes through the network). `hold`: "auto" (trained
        when the generator was trained for the task, else zero-shot), "trained" or "zero_shot"
        (proav_core.tasks).
        `guide_scale` != 1: autoguidance by the model of `load_guide` (flow_matching.autoguided)
        in place of classifier-free guidance (cfg_scale must then be 1); `guide_condition` (one of
        GUIDE_CONDITIONS): the guide runs under the null condition ("null", default) or under the
        sample's prompt ("prompt").
        """
        self._check_guidance(cfg_scale, guide_scale, guide_condition)
        spec = get_task(task)
        if not spec.given:
            if audio is not None or video is not None:
                raise UsageError("--task joint generates both modalities; give --audio only with --task a2v "
                                 "and --video only with --task v2a")
            prompts = list(self.default_prompts() if prompts is None else prompts)
            return self._run(prompts, cfg_scale, seed, callback, spec, None, None, guide_scale, guide_condition)
        if given_label not in GIVEN_LABELS:
            raise UsageError(f"--given-label: unknown value {given_label!r}{did_you_mean(given_label, GIVEN_LABELS)}; "
                             f"known: {', '.join(GIVEN_LABELS)}")
        given_mask(self.stacker, spec)  # a task the latent cannot express is refused before any file is read
        given_side, names = self._given_side(spec, audio, video, resize)
        n = next(iter(given_side.values())).shape[0]
        if prompts is not None:
            prompts = list(prompts) * n if len(prompts) == 1 else list(prompts)
            if len(prompts) != n:
                raise UsageError(f"--task {task}: {len(prompts)} prompts for {n} given clips; give one prompt, one "
                                 "per clip, or none")
        mode, note = self._mode(spec, hold)
        planes = {}
        for m in spec.given:
            planes |= self._encode(m, given_side[m])
        label_note = ""
        if prompts is None and given_label == "probe":
            prompts, label_note = self._probe_prompts(spec, planes)
        prompts = [""] * n if prompts is None else prompts
        given = self._given_planes(spec, planes, mode)
        out = self._run(prompts, cfg_scale, seed, callback, spec, given, mode, guide_scale, guide_condition)
        out.note, out.names = note + label_note, [f"{task}_{name}" for name in names]
        if "audio" in given_side:  # the given soundtrack itself, not its decoded latent
            out.waveform, out.audio = given_side["audio_waveform"].cpu(), given_side["audio"].float().cpu()
        if "video" in given_side:
            out.video = given_side["video"].float().cpu()
        return out

    def _probe_prompts(self, task: Task, planes: Planes) -> tuple[list[str] | None, str]:
        """The prompts the class probe of the given modality reads from its encoded planes
        ({name: (N, C, a, b)}, autoencoder space), and a note; (None, why not) without a probe."""
        (modality,) = task.given
        probe = self.class_probes.get(modality)
        if probe is None or not self.classes:
            why = ("the generator has no classes" if not self.classes else
                   "this checkpoint has no class probe (trained before class probes)")
            return None, f"; no prompt: {why}"
        normalised = self.normalizer.normalize(planes) if self.normalizer is not None else planes
        found = [self.classes[int(k)] for k in probe.predict(normalised)]
        shown = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
        return ([class_prompt(c) for c in found],
                f"; prompted with the class the {modality} probe reads: {shown}")

    def _check_guidance(self, cfg_scale: float, guide_scale: float, guide_condition: str = "null") -> None:
        if guide_condition not in GUIDE_CONDITIONS:
            raise UsageError(f"--guide-condition: unknown condition {guide_condition!r}"
                             f"{did_you_mean(guide_condition, GUIDE_CONDITIONS)}; known: {', '.join(GUIDE_CONDITIONS)}")
        if guide_scale == 1.0:
            return
        if self.guide is None:
            raise UsageError("--guide-scale needs the weaker model to steer away from: --guide-ckpt FILE (in Python "
                             "load_guide(FILE)), e.g. the run's generator/guide.ckpt, kept when [train.generator] "
                             "guide_fraction is set")
        if cfg_scale != 1.0:
            raise UsageError("autoguidance (--guide-scale) takes the place of classifier-free guidance: leave --cfg "
                             "at 1, or drop --guide-scale")

    def _mode(self, task: Task, hold: str) -> tuple[str, str]:
        """-> ("trained" | "zero-shot", a note for the user)."""
        if hold not in HOLD_MODES:
            raise UsageError(f"--hold: unknown mode '{hold}'; known: {', '.join(HOLD_MODES)}")
        trained = task.name in self.trained_tasks
        if hold == "trained" and not trained:
            raise UsageError(f"--hold trained: the generator was trained for {', '.join(self.trained_tasks)}, not "
                             f"{task.name}; use --hold zero_shot (or auto)")
        if hold == "zero_shot" or not trained:
            why = ("as asked" if hold == "zero_shot"
                   else f"the generator was trained for {', '.join(self.trained_tasks)} only")
            return "zero-shot", f"{task.name} runs zero-shot ({why}): the given planes are held on the flow path"
        return "trained", f"{task.name} runs as trained (given planes clean, task embedding)"

    def _given_side(self, task: Task, audio: Media | None, video: Media | None,
                    resize: str = "crop") -> tuple[dict[str, Tensor], list[str]]:
        """The given modality in dataset layout, {"audio": (N, T, H, W), "audio_waveform": (N, S)} or
        {"video": (N, 3, T, H, W)}, and a name per clip."""
        clip = self.cfg.clip
        wanted, other = ("audio", "video") if "audio" in task.given else ("video", "audio")
        value = audio if wanted == "audio" else video
        if (audio if other == "audio" else video) is not None:
            raise UsageError(f"--task {task.name} generates the {other}; give --{wanted} only")
        if value is None:
            raise UsageError(f"--task {task.name} needs --{wanted} FILE (or a tensor): the {wanted} to condition on")
        stem = Path(value).stem if isinstance(value, (str, Path)) else "clip"
        if wanted == "audio" and self.audio_repr is None:
            raise ConfigError(f"--task {task.name} needs an [audio_repr] section to turn the waveform into the audio "
                              "stream; this config has none, so use --task joint", path="audio_repr")
        if isinstance(value, (str, Path)):
            try:
                x = read_audio_clips(value, clip) if wanted == "audio" else read_video_clips(value, clip, resize)
            except BadInput as err:
                need = ("a wav, or any file with an audio track," if wanted == "audio" else "a video file")
                raise UsageError(f"--{wanted} {err}; give {need} of at least {clip.duration:g} s") from None
        else:
            x = given_tensor_clips(wanted, value.float(), clip, resize)
        if wanted == "audio":
            side = {"audio": self.audio_repr.encode(x), "audio_waveform": x}  # (N, T, H, W), (N, S)
        else:
            side = {"video": x}  # (N, 3, T, H, W)
        n = next(iter(side.values())).shape[0]
        return side, [f"{stem}_{k * clip.duration:.2f}s" for k in range(n)]

    def _encode(self, modality: str, x: Tensor) -> Planes:
        """One modality in dataset layout -> its planes in generator space (autoencoder.encode_modality)."""
        if not hasattr(self.autoencoder, "encode_modality"):
            raise UsageError(f"the autoencoder ({type(self.autoencoder).__name__}) cannot encode one modality alone "
                             "(no encode_modality method), so it cannot condition on given audio or video")
        return self.autoencoder.encode_modality(modality, x.to(self.device))

    def _given_planes(self, task: Task, planes: Planes, mode: str) -> GivenPlanes:
        """Encoded given planes -> GivenPlanes in the generator's (normalised, stacked) space."""
        if self.normalizer is not None:
            planes = self.normalizer.normalize(planes)
        probe = probe_planes(self.stacker)  # {name: (1, C, a, b)}
        n = next(iter(planes.values())).shape[0]
        full = {k: planes[k] if k in planes else torch.zeros(n, *v.shape[1:], device=self.device)
                for k, v in probe.items()}  # the generated side's planes are zeros, ignored
        bound = getattr(self.sampler, "bound", None)
        return GivenPlanes(self.stacker.stack(full), given_mask(self.stacker, task).to(self.device),
                           "clean" if mode == "trained" else "path", bound)

    def _condition(self, flow: FlowModel, prompts: list[str], task_id: int,
                   given: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """prompts -> (cond, null) (N, L, Dc) in `flow`'s own embedding (with its task embedding and,
        for a generator trained with a given-side summary, that of `given` (N, *latent): the given planes)."""
        n = len(prompts)
        conditioner = flow.conditioner
        cond = (conditioner.from_prompts(prompts) if self.classes else conditioner.null(n)).to(self.device)
        null = conditioner.null(n).to(self.device)
        if flow.tasks is not None:  # a multi-task generator: the task embedding joins the condition
            ids = torch.full((n,), task_id, device=self.device)
            cond, null = flow.tasks.embed(cond, ids, given), flow.tasks.embed(null, ids, given)
        return cond, null

    def _run(self, prompts: list[str], cfg_scale: float, seed: int, callback: StepCallback | None, task: Task,
             given: GivenPlanes | None, mode: str | None, guide_scale: float = 1.0,
             guide_condition: str = "null") -> Generated:
        n = len(prompts)
        task_id = TASK_IDS[task.name if mode == "trained" else "joint"]
        held = given.latent if given is not None and mode == "trained" else None  # (N, *latent), clean
        cond, null = self._condition(self.flow, prompts, task_id, held)
        guide_cond = None
        if guide_scale != 1.0 and self.guide is not None:
            guide_prompt, guide_null = self._condition(self.guide, prompts, task_id, held)
            guide_cond = guide_null if guide_condition == "null" else guide_prompt
        generator = torch.Generator(device="cpu").manual_seed(seed)
        x0 = self.flow.objective.sample_noise((n, *self.stacker.latent_shape), generator=generator).to(self.device)
        if self.batch_size is None:
            x1 = self._integrate(x0, cond, null, cfg_scale, callback, given, guide_cond, guide_scale)
        else:  # fixed-shape runs: the noise was drawn for all n at once, so samples do not depend on the batch
            runs = []
            for rows, real in fixed_batches(n, self.batch_size):
                part = None if given is None else dataclasses.replace(given, latent=given.latent[rows])
                part_guide = None if guide_cond is None else guide_cond[rows]
                runs.append(self._integrate(x0[rows], cond[rows], null[rows], cfg_scale, callback, part, part_guide,
                                            guide_scale)[:real])
            x1 = torch.cat(runs)  # (N, *latent)
        if given is not None:
            x1 = given.paste(x1)
        planes = self.stacker.unstack(x1)  # {name: (N, C, a, b)}
        if self.normalizer is not None:
            planes = self.normalizer.denormalize(planes)
        video, audio = self.autoencoder.decode_latents(planes)
        waveform = None
        if audio is not None and self.audio_repr is not None:
            waveform = self.audio_repr.decode(audio.float().cpu())
        return Generated(prompts, None if video is None else video.float().cpu().clamp(-1, 1),
                         None if audio is None else audio.float().cpu(), waveform, task.name, mode or "joint")

    def _integrate(self, x0: Tensor, cond: Tensor, null: Tensor, cfg_scale: float, callback: StepCallback | None,
                   given: GivenPlanes | None, guide_cond: Tensor | None = None, guide_scale: float = 1.0) -> Tensor:
        """One sampler run: x0 (B, *latent) noise, cond/null (B, L, Dc) -> (B, *latent) at t = 1
        (given planes not pasted yet); guide_cond (B, L, Dc): the guide's condition (autoguidance)."""
        velocity = self.flow.generator
        if guide_cond is not None and self.guide is not None:
            velocity = autoguided(velocity, self.guide.generator, guide_cond, guide_scale)
        if given is not None:
            velocity, x0 = given.bind(velocity, x0), given.start(x0)
        extra = {"given": given} if given is not None and accepts_given(self.sampler) else {}
        return self.sampler(velocity, x0, cond=cond, null_cond=null, cfg_scale=cfg_scale, callback=callback, **extra)


def _load_flow(cfg: ExperimentConfig, checkpoint: str | Path, option: str = "--ckpt") -> tuple[FlowModel, Any, dict]:
    """A generator checkpoint -> (its FlowModel with the EMA weights, the built parts, the raw
    checkpoint: "latents" holds its latent geometry, "step" when it was saved)."""
    raw = peek_checkpoint(checkpoint)
    require_kind(raw, checkpoint, "generator", option)
    latents = raw.get("latents")
    if not latents:
        raise UsageError(f"{checkpoint} is not a generator checkpoint (no latent geometry in it)")
    if cfg.sampler is None or cfg.objective is None:
        raise ConfigError("sampling needs [sampler] and [objective] sections", path="sampler")
    trained_clip = (raw.get("config") or {}).get("clip")
    if trained_clip and trained_clip != cfg.clip.model_dump():
        differ = ", ".join(f"{k} {trained_clip.get(k)} there, {v} here" for k, v in cfg.clip.model_dump().items()
                           if trained_clip.get(k) != v)
        raise ConfigError(f"{checkpoint} was trained on clips of another [clip] ({differ}); sample with the config it "
                          "was trained with (its run's generator/config.toml) or set [clip] to match", path="clip")
    plane_shapes = {k: tuple(v) for k, v in latents["plane_shapes"].items()}
    normalizer = LatentNormalizer.from_dict(latents["normalization"]) if latents.get("normalization") else None
    box = latents["latent_bound"] if normalizer is None else normalizer.bound(latents["latent_bound"])
    parts = build_generation(cfg, plane_shapes, box, list(latents["classes"]), restoring=raw)
    flow = flow_model(parts, raw.get("tasks"), given_summary=raw.get("given_summary") or "none")  # before: joint only
    load_weights(flow, checkpoint, component_names(cfg), "model.", raw=raw, config=cfg)
    return flow, parts, raw


def accepts_given(sampler: Any) -> bool:
    """Whether a sampler's __call__ takes `given` (a GivenPlanes, for samplers that alter their
    state other than by integrating the velocity: they call given.project on it)."""
    try:
        return "given" in inspect.signature(sampler).parameters
    except (TypeError, ValueError):
        return False
