"""Files only their owner can read: conversation text at rest (spooled bodies, the local database).

Directories are made 0700 and files 0600 whatever the process's umask: the mode is passed to
the system call and set again with chmod, which the umask does not narrow. An existing
directory the library owns (a spool, the uploads beside a database) that others can read is
tightened to 0700, with a warning; parents the library did not create are left alone.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from agentsight_otel._log import logger

DIR_MODE = 0o700
FILE_MODE = 0o600
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def private_dir(path: str | os.PathLike[str], *, own: bool = True) -> Path:
    """Create ``path`` and its missing parents 0700; ``own``: an existing ``path`` is tightened."""
    leaf = Path(path)
    missing: list[Path] = []
    probe = leaf
    while not os.path.lexists(probe) and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process (with this mode, if by this library)
        os.chmod(directory, DIR_MODE)
    if not leaf.is_dir():
        raise NotADirectoryError(f"not a directory: {leaf}")
    if own and not missing:
        tighten(leaf, DIR_MODE)
    return leaf


def create_private(path: str | os.PathLike[str]) -> int:
    """A new file open for writing, 0600 (``FileExistsError`` when the name is taken)."""
    fd = os.open(path, _OPEN_FLAGS, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def private_file(path: str | os.PathLike[str]) -> None:
    """Make sure a file exists and only its owner can read it (an empty one when new)."""
    try:
        os.close(create_private(path))
    except FileExistsError:
        tighten(Path(path), FILE_MODE)


def tighten(path: Path, mode: int) -> None:
    """Narrow an existing file or directory others can reach to ``mode`` (warned, once here)."""
    try:
        found = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if not found & 0o077:
        return
    try:
        os.chmod(path, mode)
    except OSError as exc:
        logger.warning(
            "%s is open to other users (mode %04o) and could not be narrowed: %s", path, found, exc
        )
        return
    logger.warning(
        "%s was open to other users (mode %04o): narrowed to %04o, as it holds conversation text",
        path,
        found,
        mode,
    )
