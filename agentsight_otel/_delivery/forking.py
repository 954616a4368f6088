"""Resetting per-process state in a forked child (the gunicorn and Celery worker pattern)."""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def reset_in_child(owner: T, reset: Callable[[T], None]) -> None:
    """Call ``reset(owner)`` in every forked child, for as long as ``owner`` lives.

    Only the forking thread survives a fork: locks other threads held stay held and their
    threads are gone, so objects that own threads and locks rebuild them in the child.
    """
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.ref(owner)

    def after_in_child() -> None:
        alive = ref()
        if alive is not None:
            reset(alive)

    os.register_at_fork(after_in_child=after_in_child)
