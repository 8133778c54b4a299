"""Zip files from users: opened with a clear message when corrupt, bounded in count and size, never trusted.

Member names are checked before anything is written (no absolute paths, no ``..``, no links), and
the unpacked size and member count are capped against zip bombs.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path, PurePosixPath

from engine.errors import InputError

MAX_MEMBERS = 20_000
MAX_UNPACKED_BYTES = 2_000_000_000


def open_zip(path: str | Path) -> zipfile.ZipFile:
    """Open a user's zip file for reading.

    Raises:
        InputError: not a zip, or corrupt/truncated (what the user sees instead of a traceback).
    """
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
        archive.infolist()
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as error:
        raise InputError(f"{path.name} is not a readable .zip file (corrupt or truncated: {error}).") from error
    return archive


def file_members(archive: zipfile.ZipFile, suffixes: tuple[str, ...] | None = None,
                 max_members: int = MAX_MEMBERS, max_bytes: int = MAX_UNPACKED_BYTES) -> list[zipfile.ZipInfo]:
    """The regular files of ``archive`` (optionally only those ending in ``suffixes``), sorted by name.

    Hidden files and folders (``.DS_Store``, ``__MACOSX``) are left out.

    Raises:
        InputError: more members or more unpacked bytes than allowed, or an unsafe member name.
    """
    name = Path(archive.filename or "the zip").name
    infos = []
    for info in archive.infolist():
        parts = PurePosixPath(info.filename).parts
        if info.is_dir() or any(part.startswith(".") or part == "__MACOSX" for part in parts):
            continue
        if info.filename.startswith("/") or ".." in parts or (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise InputError(f"{name} holds an unsafe entry {info.filename!r} (absolute path, '..' or a link).")
        if suffixes is None or PurePosixPath(info.filename).suffix.lower() in suffixes:
            infos.append(info)
    if len(infos) > max_members:
        raise InputError(f"{name} holds {len(infos):,} files; at most {max_members:,} are accepted.")
    if sum(info.file_size for info in infos) > max_bytes:
        raise InputError(f"{name} would unpack to more than {max_bytes / 1e9:.1f} GB.")
    return sorted(infos, key=lambda info: info.filename)


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The bytes of one member; a damaged member is an :class:`InputError` naming it."""
    try:
        return archive.read(info)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
        raise InputError(f"{info.filename} is damaged inside the zip ({error}).") from error


def extract(source: str | Path, destination: str | Path, max_members: int = MAX_MEMBERS,
            max_bytes: int = MAX_UNPACKED_BYTES) -> Path:
    """Unpack a user's zip into ``destination`` after checking every member; returns ``destination``."""
    destination = Path(destination)
    with open_zip(source) as archive:
        for info in file_members(archive, max_members=max_members, max_bytes=max_bytes):
            target = destination.joinpath(*PurePosixPath(info.filename).parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(read_member(archive, info))
    return destination
