"""The Docker test network, for real: scripts/docker-test.sh on this machine's engine.

The script builds the node image with no network inside the build (from a local base image and
a wheelhouse, cached under ~/.cache/tdx-docker), runs docker/compose.yaml (3 validators, 1
observer), submits documents from this host, reads them on the observer, stops the leader's
container, submits more, restarts it, and removes everything it made. Skipped, with the
reason, where there is no engine, no compose, or no way to get a base image.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "docker-test.sh"
BASE_IMAGE = "tdx-base:bookworm-1"  # docker/build.sh's base_recipe
RUN_SECONDS = 900  # a cold run (debootstrap, pip wheel, image) took about 3.5 minutes here
CLEANUP_SECONDS = 90

pytestmark = pytest.mark.docker


def _quiet(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def why_no_docker() -> str | None:
    """Why this machine cannot run the test, or None when it can."""
    if shutil.which("docker") is None:
        return "no docker command on PATH"
    info = _quiet("docker", "info")
    if info.returncode != 0:
        lines = (info.stderr.strip() or info.stdout.strip() or "no output").splitlines()
        return f"no Docker engine: `docker info` failed: {lines[-1]}"
    if _quiet("docker", "compose", "version").returncode != 0 and (
        shutil.which("docker-compose") is None
    ):
        return "neither `docker compose` nor docker-compose is installed"
    if os.environ.get("TDX_BASE_IMAGE"):
        return None
    cache = Path(os.environ.get("TDX_DOCKER_CACHE")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                 / "tdx-docker")
    have_base = (_quiet("docker", "image", "inspect", BASE_IMAGE).returncode == 0
                 or (cache / "base-bookworm-1.tar").is_file())
    if not have_base and (shutil.which("debootstrap") is None or os.geteuid() != 0):
        return (f"no base image {BASE_IMAGE}, and making one needs root and debootstrap "
                "(apt-get install debootstrap), or set TDX_BASE_IMAGE")
    return None


@pytest.mark.timeout(RUN_SECONDS + CLEANUP_SECONDS + 30)
def test_network_in_docker() -> None:
    reason = why_no_docker()
    if reason is not None:
        pytest.skip(reason)
    # Its own session, so that on a timeout the whole group gets SIGTERM and the script's
    # trap still takes the network down.
    process = subprocess.Popen(["bash", str(SCRIPT)], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=RUN_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=CLEANUP_SECONDS)
        pytest.fail(f"scripts/docker-test.sh took over {RUN_SECONDS}s:\n{output[-6000:]}")
    assert process.returncode == 0, f"scripts/docker-test.sh failed:\n{output[-8000:]}"
    assert "PASSED" in output
