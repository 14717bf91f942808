"""What a file's first bytes say: a media container, text, or neither.

FFmpeg reports every file it cannot open the same way ("Invalid data found when processing
input"), whether it is a damaged video or a text file with a video's name. `looks_like_media`
tells them apart by the container signatures FFmpeg itself probes for, so a bad file can be
named "corrupt" (a container, damaged) or "not a media file" (what it is instead).
"""

from __future__ import annotations

from pathlib import Path

HEAD_BYTES = 512  # how much of the start is read
ISO_BOX_TYPES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid")  # mp4/mov/m4a, at 4:8
PREFIXES = (
    b"\x1a\x45\xdf\xa3",  # Matroska / WebM (EBML)
    b"RIFF", b"RIFX", b"RF64",  # AVI, WAV
    b"fLaC", b"OggS", b"FLV", b"ID3",  # FLAC, Ogg, FLV, MP3 with a tag
    b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3",  # MPEG program stream, MPEG video
    b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",  # ASF / WMV
    b"#EXTM3U",  # a playlist FFmpeg follows
)


def _mpeg_audio_sync(head: bytes) -> bool:
    """An MPEG audio (mp3) or ADTS AAC frame header: 11 set sync bits."""
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0


def _transport_stream(head: bytes) -> bool:
    """MPEG-TS: a 0x47 sync byte every 188 bytes."""
    return len(head) > 188 and head[0] == 0x47 and head[188] == 0x47


def looks_like_media(head: bytes) -> bool:
    """True when the first bytes of a file carry the signature of an audio or video container."""
    return (head[4:8] in ISO_BOX_TYPES or head.startswith(PREFIXES) or _mpeg_audio_sync(head)
            or _transport_stream(head))


def text_start(head: bytes) -> str | None:
    """The first line of a file that holds text (UTF-8 without control bytes), else None."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # the head may end inside a multi-byte character
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not text.strip() or any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        return None
    return text.strip().splitlines()[0][:40]


def describe_non_media(path: str | Path) -> str | None:
    """Why a file FFmpeg cannot open is not a media file at all ("it holds text: ..."), or None
    when its start looks like a media container (then it is a damaged one)."""
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    if looks_like_media(head):
        return None
    text = text_start(head)
    if text is not None:
        return f"it holds text, starting {text!r}"
    return "its first bytes match no audio or video container"
