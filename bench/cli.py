"""The command line every standalone benchmark (``python -m bench.<name>``) starts from."""

from __future__ import annotations

import argparse


def parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser showing the module's docstring as its help, with ``--quick``."""
    made = argparse.ArgumentParser(
        prog=f"python -m {module}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    made.add_argument("--quick", action="store_true", help="a fast smoke run")
    return made
