"""Permission bits of what the library wrote: its own files are 0600, its directories 0700."""

from __future__ import annotations

import stat
from pathlib import Path


def modes(root: Path) -> dict[str, int]:
    """Every directory and file from ``root`` down, by relative path: its permission bits."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    return found


def assert_private(root: Path) -> None:
    """Directories 0700, files 0600, from ``root`` down."""
    open_to_others = {
        name: oct(mode)
        for name, mode in modes(root).items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert open_to_others == {}
