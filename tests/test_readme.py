"""Every bash command and Python snippet of README.md and docs/*.md runs as written from the root of a clone.

Each document's blocks run in order (a later block may use what an earlier one wrote) in a fresh folder that
holds the clone's shipped files (linked: ``examples/``, ``src/``, ``hub_configs``, ``spaces/``, ...) and the
venv running the tests as ``.venv``, so whatever a block writes stays out of the repository. Python blocks run
each in a new interpreter. Two things differ from a user's run: ``--max_train_steps N`` becomes 2, and the Hub
is offline (and torch gets one thread, :data:`QUIET_ENVIRONMENT`). Not run:

- the quick start, between ``<!-- quickstart:begin -->`` and ``<!-- quickstart:end -->``: ``.ci/run`` runs it
  (it installs the package and runs this very suite);
- a block whose first line is ``# not run by tests/test_readme.py: REASON`` (a server, several machines, the
  Hub), shown so in the document itself.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHIPPED = ["examples", "src", "hub_configs", "spaces", "docs", "benchmarks", "pyproject.toml", "README.md"]
NOT_RUN = "# not run by tests/test_readme.py: "
MAX_NOT_RUN = 4
"""Blocks marked not run, in all the documents together: keep them few."""
QUICKSTART = re.compile(r"<!-- quickstart:begin -->.*?<!-- quickstart:end -->", re.S)
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
TRAINING_STEPS = re.compile(r"--max_train_steps \d+")
QUIET_ENVIRONMENT = {"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
"""The Hub is offline here; one thread per process (torch's threads spin: on a machine busy with other work, two
threads per process made a cartoon sample 16 times slower than one)."""


@dataclass
class Block:
    document: Path
    line: int
    language: str
    code: str

    def __str__(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line} ({self.language})"


def blocks(document: Path) -> list[Block]:
    """The document's ``bash`` and ``python`` blocks outside the quick start, with their first line's number."""
    text = QUICKSTART.sub(lambda match: "\n" * match.group().count("\n"), document.read_text())
    found = []
    for match in FENCE.finditer(text):
        if match.group(1) in ("bash", "python"):
            line = text.count("\n", 0, match.start()) + 2
            found.append(Block(document, line, match.group(1), match.group(2)))
    return found


def is_run(block: Block) -> bool:
    return not block.code.startswith(NOT_RUN)


def workspace(folder: Path) -> Path:
    """A folder that looks like the root of a clone after the quick start."""
    for name in SHIPPED:
        (folder / name).symlink_to(ROOT / name)
    (folder / ".venv").symlink_to(Path(sys.prefix))
    return folder


def run_block(block: Block, cwd: Path) -> None:
    code = TRAINING_STEPS.sub("--max_train_steps 2", block.code)
    if block.language == "bash":
        command = ["bash", "-euo", "pipefail", "-c", code]
    else:
        command = [str(cwd / ".venv" / "bin" / "python"), "-c", code]
    environment = {**os.environ, **QUIET_ENVIRONMENT, "PYTHONPATH": ""}
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=environment, timeout=600)
    assert result.returncode == 0, (
        f"{block} failed:\n{code}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n" + (result.stderr[-3000:])
    )


def test_every_document_has_blocks_and_few_are_not_run():
    every = [block for document in DOCUMENTS for block in blocks(document)]
    not_run = [block for block in every if not is_run(block)]
    assert sum(is_run(block) for block in every) >= 10
    assert len(not_run) <= MAX_NOT_RUN, [str(block) for block in not_run]
    for block in not_run:
        reason = block.code.splitlines()[0].removeprefix(NOT_RUN)
        assert len(reason) > 10, f"{block}: say why it is not run"


def test_the_quick_start_is_left_to_ci_and_nothing_else():
    readme = (ROOT / "README.md").read_text()
    (quickstart,) = QUICKSTART.findall(readme)
    commands = [line for line in quickstart.splitlines() if line and not line.startswith(("<!--", "```"))]
    assert len(commands) == 2  # .ci/run reads exactly these
    assert all(command not in block.code for block in blocks(ROOT / "README.md") for command in commands)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_document_runs_as_written(document, tmp_path):
    cwd = workspace(tmp_path)
    for block in filter(is_run, blocks(document)):
        run_block(block, cwd)
