"""Uploaded bytes on disk, content-addressed: ``<root>/<sha256[:2]>/<sha256>``.

Beside the SQLite file for an on-disk store; a temporary directory owned by the store (and
removed when it closes) for ``:memory:``. A file is written to a temporary name while it is
hashed and only moved into place once its request has been accepted. Directories are 0700
and files 0600 (`_private.py`): uploads are conversation content.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

from agentsight_otel._private import create_private, private_dir

OCTET_STREAM = "application/octet-stream"


class BlobStore:
    """The directory of uploaded files."""

    def __init__(self, root: Path | None) -> None:
        """``root=None``: a temporary directory, made on first use and removed on close."""
        self._root = root
        self._lock = threading.Lock()
        self._cleanup: weakref.finalize[..., BlobStore] | None = None

    @property
    def root(self) -> Path:
        """The directory, created when first needed."""
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="agentsight-files-"))
                self._cleanup = weakref.finalize(self, shutil.rmtree, self._root, True)
            return private_dir(self._root)

    def writer(self) -> BlobWriter:
        """A new file being received."""
        return BlobWriter(self.root)

    def path(self, sha256: str) -> Path:
        """Where the file with this digest lives."""
        return self.root / sha256[:2] / sha256

    def close(self) -> None:
        """Remove a temporary directory; an on-disk one stays with its database."""
        if self._cleanup is not None:
            self._cleanup()


class BlobWriter:
    """One incoming file: written to a temporary name and hashed as it arrives."""

    def __init__(self, root: Path) -> None:
        """Open a temporary file under ``root``."""
        self._root = root
        self._temp = root / f".incoming-{secrets.token_hex(12)}"
        self._file = os.fdopen(create_private(self._temp), "wb")
        self._hash = hashlib.sha256()
        self._committed = False
        self.size = 0

    def write(self, data: bytes) -> None:
        """Append bytes."""
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        """The digest of what was written."""
        return self._hash.hexdigest()

    def finish(self) -> None:
        """Close the temporary file (the bytes are complete)."""
        self._file.close()

    def commit(self) -> str:
        """Move the file to its content address (a duplicate is dropped); its digest."""
        self.finish()
        digest = self.sha256
        target = self._root / digest[:2] / digest
        private_dir(target.parent)
        if target.exists():
            self._temp.unlink(missing_ok=True)
        else:
            os.replace(self._temp, target)
        self._committed = True
        return digest

    def discard(self) -> None:
        """Drop a file whose request was refused (nothing, once committed)."""
        self._file.close()
        if not self._committed:
            self._temp.unlink(missing_ok=True)


@dataclass
class IncomingFile:
    """A received file, still under a temporary name."""

    filename: str
    mime_type: str
    writer: BlobWriter
