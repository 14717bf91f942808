"""Opening media files with PyAV and reading what they hold, with a named reason for every failure.

`open_media` turns each way a file can be unusable into BadInput (unreadable path, empty
file, unsupported container, not a media file, corrupt: a file FFmpeg cannot open is "corrupt"
when its first bytes are a container's, else "not a media file", see signatures.py);
`probe_media` reads the headers (streams, sizes, rates, durations) without decoding (it
demuxes up to the first audio packet) and rejects files without a video or audio stream or
with an empty audio stream. Times are seconds on the container's clock, origin at its start.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av

from proav_core.data.bad_input import BadInput
from proav_core.data.media_files import MEDIA_EXTENSIONS, is_audio_file
from proav_core.data.signatures import describe_non_media


@dataclass(frozen=True)
class MediaInfo:
    """What the headers of a sounding-video file say."""

    path: str
    duration: float  # seconds both streams cover: min(video, audio) where known
    fps: float  # the video stream's average frame rate
    width: int
    height: int
    sample_rate: int  # the audio stream's own rate
    channels: int
    origin: float  # the container's start time, seconds; clip times count from here


def open_media(path: str | Path, extensions: tuple[str, ...] | None = MEDIA_EXTENSIONS) -> av.container.InputContainer:
    """Open a media file for reading, or raise BadInput naming the file and the reason.

    `extensions`: the file names accepted (None: any, e.g. for a soundtrack in a wav file)."""
    p = Path(path)
    if not p.exists():
        raise BadInput(p, "unreadable path", "no such file")
    if p.is_dir():
        raise BadInput(p, "unreadable path", "a folder, not a file")
    if not os.access(p, os.R_OK):
        raise BadInput(p, "unreadable path", "permission denied")
    if p.stat().st_size == 0:
        raise BadInput(p, "empty file", "0 bytes")
    # audio files are opened to be judged by their streams; extensions=None opens any file
    if extensions is not None and not (p.suffix.lower() in extensions or is_audio_file(p)):
        raise BadInput(p, "unsupported container",
                       f"'{p.suffix or '(no extension)'}' is not one of {', '.join(extensions)}")
    try:
        return av.open(str(p), metadata_errors="ignore")
    except PermissionError as err:
        raise BadInput(p, "unreadable path", str(err)) from None
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as err:
        what = describe_non_media(p)
        if what is not None:
            raise BadInput(p, "not a media file", what) from None
        raise BadInput(p, "corrupt", f"FFmpeg cannot open it: {getattr(err, 'strerror', None) or err}") from None


def _stream_seconds(stream, origin: float) -> float | None:
    """End time of a stream (start + duration) relative to the origin, when the header says."""
    if stream.duration is None or stream.time_base is None:
        return None
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else origin
    return start + float(stream.duration * stream.time_base) - origin


def _has_packets(container, stream) -> bool:
    """True when the stream has at least one non-empty packet (demuxes until the first one)."""
    try:
        return any(packet.size > 0 for packet in container.demux(stream))
    except av.FFmpegError:
        return True  # a damaged stream is found, and named, when it is decoded


def probe_media(path: str | Path) -> MediaInfo:
    """Read a file's headers (no decoding). Raises BadInput for files that cannot give clips."""
    p = Path(path)
    with open_media(p) as container:
        video = next(iter(container.streams.video), None)
        audio = next(iter(container.streams.audio), None)
        if video is None:
            raise BadInput(p, "no video stream", "the file holds audio only")
        if audio is None:
            raise BadInput(p, "no audio stream", "the video is silent; proav needs sounding video")
        if not _has_packets(container, audio):
            raise BadInput(p, "zero-length audio", "the audio stream holds no samples")
        origin = container.start_time / av.time_base if container.start_time is not None else 0.0
        total = container.duration / av.time_base if container.duration is not None else None
        ends = [e for e in (_stream_seconds(video, origin), _stream_seconds(audio, origin)) if e is not None]
        duration = min(ends) if ends else (total or 0.0)
        rate = video.average_rate or video.guessed_rate or video.base_rate
        ctx = audio.codec_context
        return MediaInfo(
            path=str(p), duration=max(duration, 0.0), fps=float(rate) if rate else 0.0,
            width=video.codec_context.width, height=video.codec_context.height,
            sample_rate=ctx.sample_rate or 0, channels=ctx.channels or 0, origin=origin,
        )
