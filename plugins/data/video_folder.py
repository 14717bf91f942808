"""`dataset` "video_folder": sounding videos found recursively under a folder.

Layout: root/<class>/.../clip.mp4 gives label <class> (the Landscape and AIST++ layout:
one subfolder per class, labels in sorted order); files directly in root get label -1, and a
root without subfolders is unlabelled (classes = []; with labels = "folders" that draws a
ProavWarning saying how to lay the folder out). Frames of another aspect ratio than the
clip's are fitted by `resize` (crop, pad or stretch; see proav_core.data.decode). Each file
gives clips of T frames at clip.fps starting at offset, offset + stride, ... while they fit
(at most max_clips_per_file). Files are split into train and test, never clips of one file:
files are ranked by a hash of (split_seed, relative path) and the first
round(test_fraction * n) are test (at least one when test_fraction > 0 and there are two or
more files). `assigned` lists the split's files, bad ones included, and `empty_split_reason`
says why a split got none (`proav data prepare` warns with it).

Bad files (unreadable, empty, unsupported container, not a media file, corrupt, no video, no
audio, zero-length audio, shorter than one clip) are found when the dataset is built, from
the headers; audio files (.m4a, .mp3, .wav, ...) are opened and judged by their streams. With
on_bad_file = "skip" they are left out and listed in `skipped`, with "error" the first one
raises a DataError naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from proav_core import ComponentParams, ConfigError, DataError, build
from proav_core.data.bad_input import BadInput, Skipped
from proav_core.data.decode import ResizeMode, decode_clips
from proav_core.data.media_files import MEDIA_EXTENSIONS, is_audio_file, list_files
from proav_core.data.probe import probe_media
from proav_core.errors import ProavWarning
from proav_core.interfaces.data import ClipSample, ClipSpec

SIDECAR_EXTENSIONS = (".json", ".txt", ".csv", ".md", ".toml", ".yaml", ".yml", ".tsv")


class VideoFolderParams(ComponentParams):
    root: str = Field(..., description="folder searched recursively for mp4/m4v/mkv/webm/avi/mov files")
    labels: Literal["folders", "none"] = Field("folders", description="'folders': first-level subfolder = class")
    offset: float = Field(0.0, ge=0, description="start of the first clip in each file, seconds")
    stride: float | None = Field(None, gt=0, description="seconds between clip starts; unset = clip length")
    max_clips_per_file: int | None = Field(None, ge=1, description="cap on clips per file; unset = all that fit")
    test_fraction: float = Field(0.1, ge=0, lt=1, description="share of FILES in the test split")
    split_seed: int = Field(0, description="seed of the file ranking that decides the split")
    on_bad_file: Literal["skip", "error"] = Field("skip", description="skip bad files (listed) or raise")
    resize: ResizeMode = Field("crop", description="frames of another aspect ratio: 'crop' (cover H x W, centre "
                               "crop: edges lost), 'pad' (fit inside, black bars), 'stretch' (aspect not kept)")


def _rank(rel: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{rel}".encode()).hexdigest()


class VideoFolder(torch.utils.data.Dataset):
    """Clips of the sounding videos under `root` (see the module doc); items follow ClipSample."""

    def __init__(self, clip: ClipSpec, split: str = "train", audio_repr: Any = None,
                 params: VideoFolderParams | None = None):
        if params is None:
            raise ConfigError("video_folder needs `root`, the folder that holds the videos", path="dataset.root")
        if split not in ("train", "test", "all"):
            raise ConfigError(f"video_folder: unknown split {split!r}; use train, test or all", path="split")
        self.clip, self.split, self.params = clip, split, params
        self.audio_repr = audio_repr if audio_repr is not None else build("audio_repr", "mel_frames", clip=clip)
        self.root = Path(params.root).expanduser()
        self.skipped: list[Skipped] = []
        files, others = list_files(self.root)
        for path in others:
            if is_audio_file(path):  # judged by its streams, like any file: an audio file has no video
                try:
                    probe_media(path)
                except BadInput as err:
                    self._bad(err)
                    continue
                files.append(path)
            elif path.suffix.lower() not in SIDECAR_EXTENSIONS:
                self._bad(BadInput(path, "unsupported container",
                                   f"'{path.suffix or '(no extension)'}' is not a video container proav reads"))
        files.sort(key=lambda p: p.relative_to(self.root).as_posix())
        self.num_found = len(files)
        self.classes = self._classes(files)
        if params.labels == "folders" and files and not self.classes:
            warnings.warn(
                f"{self.root}: labels = \"folders\" but no video sits in a subfolder, so the clips have no "
                f"classes; lay the folder out as {self.root}/<class>/<video>.mp4 (one subfolder per class), "
                "or set dataset.labels = \"none\" to use it without labels", ProavWarning, stacklevel=2)
        chosen = self._split_files(files)
        self.assigned: list[Path] = chosen  # the files of this split, bad ones included
        self.files: list[Path] = []
        self.starts: dict[str, list[float]] = {}
        for path in chosen:
            try:
                starts = self._clip_starts(path)
            except BadInput as err:
                self._bad(err)
                continue
            self.files.append(path)
            self.starts[str(path)] = starts
        self.index = [(str(p), s) for p in self.files for s in self.starts[str(p)]]

    def _bad(self, err: BadInput) -> None:
        if self.params.on_bad_file == "error":
            raise err
        self.skipped.append(Skipped.of(err))

    def _classes(self, files: list[Path]) -> list[str]:
        if self.params.labels == "none":
            return []
        return sorted({p.relative_to(self.root).parts[0] for p in files if len(p.relative_to(self.root).parts) > 1})

    def label_of(self, path: Path) -> int:
        parts = path.relative_to(self.root).parts
        return self.classes.index(parts[0]) if len(parts) > 1 and parts[0] in self.classes else -1

    def _test_count(self, num_files: int) -> int:
        """Files in the test split: round(test_fraction * n), at least one of two or more."""
        n_test = round(self.params.test_fraction * num_files)
        if self.params.test_fraction > 0 and num_files >= 2:
            n_test = max(n_test, 1)
        return n_test

    def _split_files(self, files: list[Path]) -> list[Path]:
        if self.split == "all":
            return files
        ranked = sorted(files, key=lambda p: _rank(p.relative_to(self.root).as_posix(), self.params.split_seed))
        test = set(ranked[: self._test_count(len(ranked))])
        return [p for p in files if (p in test) == (self.split == "test")]

    @property
    def empty_split_reason(self) -> str:
        """Why no file fell into this split (read when it has none)."""
        if not self.num_found:
            return f"{self.root} holds no video files ({', '.join(MEDIA_EXTENSIONS)})"
        n, n_test = self.num_found, self._test_count(self.num_found)
        return (f"test_fraction = {self.params.test_fraction:g} puts {n_test} of the {n} video file(s) under "
                f"{self.root} in the test split; change dataset.test_fraction or add files")

    def _clip_starts(self, path: Path) -> list[float]:
        info = probe_media(path)
        p, length = self.params, self.clip.duration
        stride = p.stride or length
        room = info.duration - p.offset - length
        count = math.floor(room / stride + 1e-6) + 1 if room >= -1e-6 else 0
        if p.max_clips_per_file is not None:
            count = min(count, p.max_clips_per_file)
        if count < 1:
            raise BadInput(path, "shorter than one clip",
                           f"{info.duration:.3f} s long; a clip from {p.offset:g} s needs {length:.3f} s")
        return [round(p.offset + k * stride, 6) for k in range(count)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index: int) -> ClipSample:
        path, start = self.index[index]
        video, waveform = decode_clips(path, self.clip, [start], self.params.resize)[0]
        return self._sample(Path(path), start, video, waveform)

    def _sample(self, path: Path, start: float, video: torch.Tensor, waveform: torch.Tensor) -> ClipSample:
        audio = self.audio_repr.encode(waveform[None])[0]  # (T, H, W)
        return ClipSample(video=video, audio=audio, waveform=waveform, label=self.label_of(path),
                          path=str(path), start=start, end=start + self.clip.duration)

    # --- the source interface `proav data prepare` uses: one decode pass per file ---

    def sources(self) -> list[str]:
        """The files this split reads, in order."""
        return [str(p) for p in self.files]

    def source_items(self, source: str) -> list[ClipSample]:
        """Every clip of one file, decoded in one pass. Raises BadInput for a bad file."""
        if source not in self.starts:
            raise DataError(f"{source} is not a file of this video_folder split", source=source)
        starts = self.starts[source]
        clips = decode_clips(source, self.clip, starts, self.params.resize)
        return [self._sample(Path(source), s, v, w) for s, (v, w) in zip(starts, clips)]
