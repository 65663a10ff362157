"""The README works as written: its command blocks run, in order, against a fresh devnet.

What runs: every ```sh and ```python block of README.md, top to bottom, except a block whose
fence is directly preceded by ``<!-- readme-test: skip: REASON -->`` (the README shows the
reason too: the two commands that make this very environment, the Docker steps that need
an engine, and SDK fragments whose whole flows run in tests/examples).

Where: a fresh temporary folder is the working directory; ``.venv`` in it links to the
environment running this test, so ``source .venv/bin/activate`` works as in a checkout. A
devnet is started there as ``scripts/up.sh`` starts it (``tdx devnet up --dir devnet``, 3
validators and 1 observer) but on a free base port, and is stopped at the end, whatever
happens.

How: each command (a line, with its backslash continuations) runs in its own
``bash -euo pipefail``; exported variables carry over from one command to the next. A
command ending in ``&`` runs in the background with its output in a log file and is stopped
at the end. A Python block runs as a script with the ``python`` that the commands before it
put on the PATH. Every command must exit 0 and print no traceback.

What is substituted, and nothing else:

- Addresses: ``127.0.0.1:74NN`` is the devnet's port base+NN (the README's devnet is on
  7400-7403); ``127.0.0.1:75NN`` is a second free base, for the README's network of one.
- Document ids, which exist only once a command has printed them: a placeholder in
  ``ID_SOURCES`` takes the ``document id`` printed by the latest command that contains its
  source text. A placeholder missing from the table fails the test, so that a new one is
  given its source here.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tdx.node.ops.devnet import MESH_OFFSET, devnet_down
from tdx.node.ops.process import port_free

README = Path(__file__).resolve().parents[2] / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip:\s*(?P<reason>.+?)\s*-->")
FENCE = re.compile(r"^```(?P<lang>\w*)\s*$")
PLACEHOLDER = re.compile(r"<[a-z][a-z ]* id>")
DOCUMENT_ID = re.compile(r"^document id:\s+([0-9a-f]{64})\s*$", re.MULTILINE)
ADDRESS = re.compile(r"127\.0\.0\.1:(74|75)(\d\d)\b")
BACKGROUND = re.compile(r"^(?P<command>.*[^&])&\s*(#.*)?$", re.DOTALL)

ID_SOURCES = {
    "<document id>": "tdx doc submit decl.json",
    "<certificate id>": "tdx doc submit coo.json",
    "<import declaration id>": "tdx doc submit import.json",
    "<proposal id>": "tdx gov propose",
    "<invoice id>": "tdx doc submit invoice.json",
}
NODES = 4            # 3 validators and 1 observer, as scripts/up.sh starts them
COMMAND_TIMEOUT = 90.0


@dataclass
class Block:
    """A fenced block of the README: its language, first line number and text."""

    lang: str
    line: int
    text: str
    skip: str = ""

    def commands(self) -> Iterator[tuple[int, str]]:
        """(README line, command) for each command of a sh block, continuations joined."""
        pending: list[str] = []
        start = 0
        for offset, raw in enumerate(self.text.splitlines()):
            if not pending:
                if not raw.strip():
                    continue
                start = self.line + 1 + offset
            pending.append(raw)
            if not raw.rstrip().endswith("\\"):
                yield start, "\n".join(pending)
                pending = []
        assert not pending, f"README line {start}: a command ends in a backslash"


def readme_blocks() -> list[Block]:
    """Every sh and python block of the README, with its skip reason if it has one."""
    lines = README.read_text().splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opened = FENCE.match(lines[i])
        if opened and opened["lang"]:
            end = lines.index("```", i + 1)
            skip = SKIP.search(lines[i - 1]) if i else None
            blocks.append(Block(opened["lang"], i + 1, "\n".join(lines[i + 1:end]),
                                skip["reason"] if skip else ""))
            i = end
        i += 1
    return [b for b in blocks if b.lang in ("sh", "python")]


def free_base(count: int, *, mesh: bool) -> int:
    """A base port P with P..P+count-1 free (and P+200.. too, for a devnet's mesh)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 40000)
        ports = [base + i for i in range(count)]
        ports += [base + MESH_OFFSET + i for i in range(count)] if mesh else []
        if all(port_free(port) for port in ports):
            return base
    raise AssertionError("no free range of ports found")


@dataclass
class Session:
    """The README's commands running in one folder with one environment."""

    folder: Path
    bases: dict[str, int]
    env_file: Path = field(init=False)
    printed_ids: list[tuple[str, str]] = field(default_factory=list)
    background: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.env_file = self.folder / ".readme-env.sh"
        self.env_file.write_text("")

    def substitute(self, line: int, text: str) -> str:
        """The command with this run's addresses and the ids printed so far."""
        text = ADDRESS.sub(lambda m: f"127.0.0.1:{self.bases[m[1]] + int(m[2])}", text)
        for placeholder in PLACEHOLDER.findall(text):
            source = ID_SOURCES.get(placeholder)
            assert source, (f"README line {line}: {placeholder} has no source in "
                            "ID_SOURCES (add the command that prints it)")
            ids = [doc for command, doc in self.printed_ids if source in command]
            assert ids, f"README line {line}: no command before it printed {placeholder}"
            text = text.replace(placeholder, ids[-1])
        return text

    def run(self, line: int, command: str) -> str:
        """Run one command; fail the test with its output unless it exits 0."""
        text = self.substitute(line, command)
        background = BACKGROUND.match(text.strip())
        if background:
            self._start_background(line, background["command"])
            return ""
        # What the command exported, for the next ones (bash's own read-only variables aside).
        script = (f"set -euo pipefail\nsource {self.env_file}\n{text}\n"
                  f"export -p | grep -Ev '^declare -[a-z]*x[a-z]* "
                  f"(BASHOPTS|SHELLOPTS|PWD|OLDPWD|SHLVL|_)=' > {self.env_file}\n")
        with subprocess.Popen(["bash", "-c", script], cwd=self.folder, text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True,
                              env=self._base_env()) as process:
            try:
                stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                stdout, stderr = process.communicate()
        done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        output = done.stdout + done.stderr
        assert done.returncode == 0 and "Traceback" not in output, (
            f"README line {line} failed (exit {done.returncode}):\n{text}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}{self._logs()}")
        self.printed_ids += [(text, doc) for doc in DOCUMENT_ID.findall(done.stdout)]
        return done.stdout

    def run_python(self, line: int, code: str) -> str:
        script = self.folder / f"readme_line_{line}.py"
        script.write_text(self.substitute(line, code))
        return self.run(line, f"python {script.name}")

    def _start_background(self, line: int, text: str) -> None:
        log = (self.folder / f"background-{line}.log").open("ab")
        with log:
            self.background.append(subprocess.Popen(
                ["bash", "-c", f"source {self.env_file}\nexec {text}"], cwd=self.folder,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env=self._base_env()))

    def _base_env(self) -> dict[str, str]:
        # The environment a newcomer's shell has: nothing of tdx's set yet.
        return {k: v for k, v in os.environ.items() if not k.startswith(("TDX_", "VIRTUAL_ENV"))}

    def _logs(self) -> str:
        tails = []
        for log in sorted(self.folder.glob("devnet/*.log")) + sorted(
                self.folder.glob("background-*.log")):
            tail = log.read_text(errors="replace").splitlines()[-8:]
            tails.append(f"\n--- {log.name}\n" + "\n".join(tail))
        return "".join(tails)

    def stop(self) -> None:
        """Stop what the README left running in the background, then the devnet."""
        for process in self.background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.background:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if (self.folder / "devnet" / "devnet.json").exists():
            devnet_down(self.folder / "devnet")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_command_block_of_the_readme_runs_in_order(tmp_path: Path) -> None:
    blocks = readme_blocks()
    assert len([b for b in blocks if not b.skip]) >= 8, "the README lost its examples?"
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    session = Session(tmp_path, {"74": free_base(NODES, mesh=True),
                                 "75": free_base(2, mesh=False)})
    try:
        # What scripts/up.sh does (its venv is this one), on this run's ports.
        session.run(0, f"{sys.prefix}/bin/tdx devnet up --dir devnet --base-port "
                       f"{session.bases['74']}")
        ran = 0
        for block in blocks:
            if block.skip:
                continue
            if block.lang == "python":
                output = session.run_python(block.line, block.text)
                assert output.strip(), f"README line {block.line}: the example printed nothing"
                ran += 1
                continue
            for line, command in block.commands():
                session.run(line, command)
                ran += 1
        assert ran >= 40
    finally:
        session.stop()


def test_skipped_blocks_say_why_and_links_resolve() -> None:
    skipped = [block for block in readme_blocks() if block.skip]
    assert skipped, "the README marks the blocks no test can run"
    for block in skipped:
        assert len(block.skip.split()) >= 5, f"README line {block.line}: say why it is skipped"
    text = README.read_text()
    for target in re.findall(r"\]\(([^)#:]+)\)", text):
        assert (README.parent / target).exists(), f"README links to missing {target}"
