"""The durable spool: ingest bodies the backend could not take, one file each, until it can.

Files are written to a temporary name and renamed into place, so a reader never sees half a
body. Names sort oldest first (``<ns>-<pid>-<seq>-<destination>-<spans>.body``) and carry the
fingerprint of the endpoint and key they were accepted for (`destination.py`) and their span
count. A spool sees only its own destination's bodies: another's (or an older version's, which
record none) are left untouched, never sent, evicted or counted, and a warning gives their number.
Files are 0600 in 0700 directories (`_private.py`): they hold conversation text.
A sender claims a body before sending it by renaming it to ``<name>.<pid>.claim``, so two
senders sharing the directory (forked workers, a restarted process) never send one body at the
same time. Claims are put back when their process is gone, or when they are older than any send
can take (a process that died and was followed by another with the same pid, as pid 1 in a
container is). The total size is bounded: past it the oldest bodies are evicted, counted and
logged. A body the backend keeps refusing is set aside in ``dead/`` for inspection (bounded to a
quarter of the spool's own bytes, oldest deleted first).

The delivery thread (or a shutdown) writes here; so does the caller of `export` (a span
processor's thread) when the delivery queue is full, rather than drop what it was given.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agentsight_otel._log import RateLimitedLog
from agentsight_otel._private import create_private, private_dir

BODY = ".body"
CLAIM = ".claim"
TMP = ".tmp"
DEAD = "dead"
STALE_S = 300.0  # far longer than one send takes (a claim) or one write (a temporary file)
RECOVER_EVERY_S = 60.0


@dataclass(frozen=True)
class SpooledBody:
    """One claimed body on disk."""

    path: Path
    name: str
    spans: int

    def read(self) -> bytes:
        """The body's bytes."""
        return self.path.read_bytes()


def _destination_of(name: str) -> str | None:
    """The destination a body's name records (None for a foreign or older name)."""
    parts = name.split("-")
    return parts[3] if len(parts) == 5 else None


def _stem(entry: str) -> str:
    """A body's name from the name of its file, claim or temporary file."""
    if entry.endswith(CLAIM):
        return entry[: -len(CLAIM)].rpartition(".")[0]
    for suffix in (BODY, TMP):
        if entry.endswith(suffix):
            return entry[: -len(suffix)]
    return entry


def count_bodies(directory: str | os.PathLike[str], destination: str) -> tuple[int, int]:
    """Bodies waiting in a directory: (this destination's, every other's); nothing is created."""
    try:
        names = [entry.name for entry in os.scandir(directory)]
    except OSError:
        return 0, 0
    bodies = [_destination_of(_stem(name)) for name in names if name.endswith(BODY)]
    own = sum(1 for found in bodies if found == destination)
    return own, len(bodies) - own


def _spans_in(name: str) -> int:
    """The span count a body's name carries (0 when the name is foreign)."""
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _abandoned(path: str, pid: str, now: float) -> bool:
    """Whether a claim or temporary file was left behind: its process is gone, or it is stale."""
    if pid.isdigit() and not _pid_alive(int(pid)):
        return True
    try:
        return now - os.stat(path).st_mtime > STALE_S
    except OSError:
        return False


class Spool:
    """A directory of undelivered bodies, bounded in bytes, oldest evicted first."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_bytes: int,
        *,
        destination: str,
        log: RateLimitedLog | None = None,
        on_evict: Callable[[int], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.destination = destination
        self._log = log or RateLimitedLog()
        self._on_evict = on_evict
        self._seq = itertools.count()
        self._opened = False
        self._recover_at = 0.0
        self.evicted_bodies = 0
        self.evicted_spans = 0

    def open(self) -> bool:
        """Create the directory (private), say what others left in it; False on error."""
        if self._opened:
            return True
        try:
            private_dir(self.directory)
        except OSError as exc:
            self._log.log(logging.ERROR, "spool-open", f"AgentSight spool unusable: {exc}")
            return False
        self._opened = True
        foreign = count_bodies(self.directory, self.destination)[1]
        if foreign:
            self._log.log(
                logging.WARNING,
                "spool-foreign",
                f"AgentSight spool {self.directory}: {foreign} body(ies) spooled for another "
                "endpoint or API key (or by an older version) left untouched, not sent",
            )
        return True

    def _mine(self, entry: str) -> bool:
        """Whether a file of the directory is one of this destination's bodies."""
        return _destination_of(_stem(entry)) == self.destination

    def put(self, data: bytes, spans: int) -> str | None:
        """Write one body atomically, then evict the oldest past the bound; its name, or None."""
        if not self.open():
            return None
        stamp = f"{time.time_ns():020d}-{os.getpid()}-{next(self._seq):08d}"
        name = f"{stamp}-{self.destination}-{spans}"
        tmp = self.directory / (name + TMP)
        try:
            with open(create_private(tmp), "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.directory / (name + BODY))
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            self._log.log(logging.ERROR, "spool-write", f"AgentSight spool write failed: {exc}")
            return None
        self._evict_over_bound()
        return name

    def pending(self) -> list[Path]:
        """This destination's bodies waiting (not claimed), oldest first."""
        if not self.open():
            return []
        try:
            names = [entry.name for entry in os.scandir(self.directory)]
        except OSError:
            return []
        mine = [name for name in names if name.endswith(BODY) and self._mine(name)]
        return [self.directory / name for name in sorted(mine)]

    def claim_oldest(self, ready: Callable[[str], bool] | None = None) -> SpooledBody | None:
        """Take the oldest waiting body ``ready`` allows (another process may take it first)."""
        if time.time() >= self._recover_at:
            self._recover()
        for path in self.pending():
            name = path.name[: -len(BODY)]
            if ready is not None and not ready(name):
                continue  # backing off after failures of its own: the next one goes first
            claimed = self.directory / f"{name}.{os.getpid()}{CLAIM}"
            try:
                os.rename(path, claimed)
                os.utime(claimed)  # the claim's age starts now
            except FileNotFoundError:
                continue  # another sender claimed or evicted it
            except OSError:
                return None
            return SpooledBody(claimed, name, _spans_in(name))
        return None

    def remove(self, body: SpooledBody) -> None:
        """Forget a body that was delivered (or given up on)."""
        body.path.unlink(missing_ok=True)

    def release(self, body: SpooledBody) -> None:
        """Put a claimed body back, to be tried again later."""
        try:
            os.rename(body.path, self.directory / (body.name + BODY))
        except OSError as exc:
            self._log.log(logging.ERROR, "spool-release", f"AgentSight spool: {exc}")

    def set_aside(self, body: SpooledBody) -> Path | None:
        """Move a claimed body the backend keeps refusing to ``dead/``; its path there."""
        dead = self.directory / DEAD
        target = dead / (body.name + BODY)
        try:
            private_dir(dead)
            os.rename(body.path, target)
        except OSError as exc:
            self._log.log(logging.ERROR, "spool-dead", f"AgentSight spool: {exc}")
            self.remove(body)
            return None
        self._bound_dead(dead)
        return target

    def _bound_dead(self, dead: Path) -> None:
        """Keep what was set aside within a quarter of the bound, oldest deleted first."""
        try:
            paths = sorted(path for path in dead.glob("*" + BODY) if self._mine(path.name))
            sizes = [path.stat().st_size for path in paths]
        except OSError:
            return
        excess = sum(sizes) - self.max_bytes // 4
        for path, length in zip(paths, sizes, strict=True):
            if excess <= 0:
                return
            path.unlink(missing_ok=True)
            excess -= length

    def size(self) -> int:
        """Bytes this destination's bodies hold, claimed ones included."""
        total = 0
        try:
            for entry in os.scandir(self.directory):
                if entry.name.endswith((BODY, CLAIM)) and self._mine(entry.name):
                    total += entry.stat().st_size
        except OSError:
            pass
        return total

    def _evict_over_bound(self) -> None:
        """Delete the oldest waiting bodies while the spool holds more than its bound."""
        excess = self.size() - self.max_bytes
        bodies = spans = 0
        for path in self.pending():
            if excess <= 0:
                break
            try:
                length = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            excess -= length
            bodies += 1
            spans += _spans_in(path.name[: -len(BODY)])
        if bodies:
            self._evicted(bodies, spans)

    def _evicted(self, bodies: int, spans: int) -> None:
        """Count and report an eviction: the spool is full, so these spans are lost."""
        self.evicted_bodies += bodies
        self.evicted_spans += spans
        if self._on_evict is not None:
            self._on_evict(spans)
        self._log.log(
            logging.WARNING,
            "spool-evicted",
            f"AgentSight spool full ({self.max_bytes} bytes): evicted the oldest {bodies} "
            f"body(ies), {spans} span(s) lost (evicted so far: {self.evicted_spans} span(s))",
        )

    def _recover(self) -> None:
        """Put back abandoned claims and remove abandoned half-written files."""
        now = time.time()
        self._recover_at = now + RECOVER_EVERY_S
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return
        for entry in entries:
            name = entry.name
            if not self._mine(name):
                continue  # another destination's: its own spool recovers it
            try:
                if name.endswith(CLAIM):
                    stem, _, pid = name[: -len(CLAIM)].rpartition(".")
                    if _abandoned(entry.path, pid, now):
                        os.rename(entry.path, self.directory / (stem + BODY))
                elif name.endswith(TMP) and _abandoned(entry.path, name.split("-")[1], now):
                    os.unlink(entry.path)
            except (OSError, IndexError):
                continue  # another sender got there first
