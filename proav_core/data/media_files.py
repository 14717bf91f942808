"""Finding sounding-video files: the containers proav reads and a recursive, sorted listing.

Audio containers (AUDIO_EXTENSIONS) are opened too, so that one in a video folder is judged
by its streams ("no video stream") rather than by its name; they are not listed as videos."""

from __future__ import annotations

from pathlib import Path

from proav_core.data.bad_input import BadInput

MEDIA_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".webm", ".avi", ".mov")
AUDIO_EXTENSIONS = (".m4a", ".mp3", ".wav", ".flac", ".ogg", ".opus", ".aac")


def is_media_file(path: str | Path) -> bool:
    """True for a file name ending in one of MEDIA_EXTENSIONS (case-insensitive)."""
    return Path(path).suffix.lower() in MEDIA_EXTENSIONS


def is_audio_file(path: str | Path) -> bool:
    """True for a file name ending in one of AUDIO_EXTENSIONS (case-insensitive)."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


def list_files(root: str | Path, recursive: bool = True) -> tuple[list[Path], list[Path]]:
    """(media files, other files) under `root` (a folder) in one walk, each sorted by its path
    relative to root.

    Hidden files and folders (names starting with '.') are left out. Raises BadInput when
    root does not exist or is not a folder.
    """
    root = Path(root)
    if not root.exists():
        raise BadInput(root, "unreadable path", "the folder does not exist")
    if not root.is_dir():
        raise BadInput(root, "unreadable path", "not a folder; give the folder that holds the videos")
    media, others = [], []
    for path in root.rglob("*") if recursive else root.glob("*"):
        if any(part.startswith(".") for part in path.relative_to(root).parts) or path.is_dir():
            continue
        if is_media_file(path):
            media.append(path)  # a broken link too: reading it reports it
        elif path.is_file():
            others.append(path)
    key = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    return sorted(media, key=key), sorted(others, key=key)


def list_media_files(root: str | Path, recursive: bool = True) -> list[Path]:
    """Media files under `root` (a folder), sorted by their path relative to root (list_files)."""
    return list_files(root, recursive)[0]


def other_files(root: str | Path) -> list[Path]:
    """Files under root that are not media files (for reporting unsupported containers)."""
    return list_files(root)[1]
