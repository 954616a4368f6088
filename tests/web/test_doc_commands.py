"""Every shell block of README.md, docs/ and examples/ runs as written (issue 20): in a fresh
bash, in a temporary copy of the repository (its ``.venv`` and the Node example's packages
linked in), with the venv's bin first on PATH and the tracker pointed at a local server this
test starts (AGENTSIGHT_API_ENDPOINT and AGENTSIGHT_API_KEY set; ``127.0.0.1:8600`` and
``localhost:8600`` in a command name that server). Blocks a page tells the reader to save
(``<!-- snippet: file: NAME -->``) are saved first. A block marked
``<!-- snippet: skip: why -->`` is a fragment (it runs until stopped, or names what only the
reader has), and the page must say so in the paragraph before it.

Every relative link of those pages leads to a file that exists, and to a heading in it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentsight_otel.server import LocalServer
from tests.collector.stack import RUN_LOCAL_PORTS, free_port
from tests.web.test_readme_snippets import ROOT, documents, saved_files, user_environment

SHELLS = frozenset({"bash", "sh", "shell", "console"})
_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!-- snippet: (.*?) -->$")
# Linked in, not copied: installed, and too big to copy for every block.
LINKED = (".venv", "examples/node/node_modules")


def fenced_blocks(text: str) -> list[tuple[int, str, str, str]]:
    """(line, language, marker, body) of every fenced block; the marker is on the line before."""
    blocks = []
    lines = text.splitlines()
    opened: tuple[int, str, str] | None = None
    body: list[str] = []
    for number, line in enumerate(lines, 1):
        fence = _FENCE.match(line)
        if opened is None and fence:
            marker = _MARKER.match(lines[number - 2]) if number > 1 else None
            opened, body = (number, fence.group(1), marker.group(1) if marker else ""), []
        elif opened is not None and line.strip() == "```":
            blocks.append((*opened, "\n".join(body) + "\n"))
            opened = None
        elif opened is not None:
            body.append(line)
    return blocks


def shell_blocks() -> list[tuple[str, Path, int, str, str]]:
    """(id, page, line, marker, commands) of every shell block."""
    found = []
    for page in documents():
        for line, language, marker, body in fenced_blocks(page.read_text(encoding="utf-8")):
            if language in SHELLS:
                commands = body
                if language == "console":  # only the "$ " lines are commands
                    commands = "".join(
                        f"{cmd[2:]}\n" for cmd in body.splitlines() if cmd.startswith("$ ")
                    )
                name = f"{page.relative_to(ROOT)}:{line}"
                found.append((name, page, line, marker, commands))
    return found


BLOCKS = shell_blocks()


def _repo_copy(into: Path) -> Path:
    """The repository's files (as they are in the work tree) in ``into``, mtimes kept."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # not a file deleted in the work tree
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)  # the mtime too: make sees nothing to rebuild
    for name in LINKED:
        if (ROOT / name).exists():
            (into / name).symlink_to(ROOT / name)
    return into


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "marker", "commands"),
    [block[1:2] + block[3:] for block in BLOCKS],
    ids=[block[0] for block in BLOCKS],
)
def test_every_shell_block_runs_as_written(
    page: Path, marker: str, commands: str, server: LocalServer, tmp_path: Path
) -> None:
    if marker.startswith("skip:"):
        pytest.skip(marker)
    if "run-local.sh" in commands and shutil.which("go") is None:
        pytest.skip("the Collector route needs Go 1.26+ for `make collector`")
    if "node" in commands.split() and shutil.which("npm") is None:
        pytest.skip("the Node.js example needs Node.js 20+ with npm")
    clone = _repo_copy(tmp_path / "clone")
    for name, code in saved_files(page.read_text(encoding="utf-8")).items():
        (clone / name).write_text(code, encoding="utf-8")
    address = server.url.removeprefix("http://")
    commands = commands.replace("127.0.0.1:8600", address).replace("localhost:8600", address)
    env = user_environment(server)
    env.update(
        PATH=f"{ROOT / '.venv' / 'bin'}:{Path(sys.executable).parent}:{env['PATH']}",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INDEX="1",  # a command may install nothing the venv lacks: no network
        TMPDIR=str(tmp_path),
        **{
            port: str(free_port()) for port in RUN_LOCAL_PORTS
        },  # run-local.sh's, away from 4317/8600
    )
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", commands],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"{commands}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"


def test_every_fragment_says_so_to_the_reader() -> None:
    for name, page, line, marker, _ in BLOCKS:
        if marker.startswith("skip:"):
            before = page.read_text(encoding="utf-8").splitlines()[: line - 2]
            paragraph = "\n".join(before).rsplit("\n\n", 1)[-1]
            assert "fragment" in paragraph, f"{name}: the text before it must say it is one"


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings."""
    headings = re.findall(r"^#+ (.*)$", page.read_text(encoding="utf-8"), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_relative_link_leads_somewhere() -> None:
    for page in documents():
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # an absolute URL
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.relative_to(ROOT)}: {target}"
            if anchor and linked.suffix == ".md":
                assert anchor in _anchors(linked), f"{page.relative_to(ROOT)}: {target}"
