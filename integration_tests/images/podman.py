"""Runs the connector images with podman the way Airbyte runs them: the image's entrypoint with the command, the
config and catalog mounted as files, messages on stdin and stdout. The host network lets a container reach a
listmonk on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {"destination": "airbyte/destination-listmonk:dev", "source": "airbyte/source-listmonk:dev"}
# Set to `required` (CI does) to fail, rather than skip, when podman or the images are missing.
REQUIRED_ENV = "LISTMONK_IMAGE_TESTS"
MOUNT = "/secrets"


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(ROOT / "scripts" / "podman" / "containers.conf"))
    return env


def missing() -> Optional[str]:
    """Why the images cannot be run here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed"
    for image in IMAGES.values():
        found = subprocess.run(["podman", "image", "exists", image], env=podman_env(), capture_output=True)
        if found.returncode != 0:
            return f"image {image} is not built"
    return None


def require_images() -> None:
    """Skips the calling test when the images cannot be run here; fails it instead when they are required."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get(REQUIRED_ENV) == "required":
        pytest.fail(f"{reason}, and {REQUIRED_ENV}=required: build them with `make images`")
    pytest.skip(f"{reason}: `make images` builds both images (Debian, as root; see docs/images.md)")


def inspect(image: str) -> dict[str, Any]:
    out = subprocess.run(["podman", "image", "inspect", image], env=podman_env(), capture_output=True, check=True)
    (config,) = json.loads(out.stdout)
    return dict(config["Config"])


@dataclass
class Output:
    messages: list[dict[str, Any]]
    returncode: int
    stderr: str

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]


def run(
    kind: str,
    *args: str,
    files: Mapping[str, Any] = {},
    stdin: Iterable[str] = (),
) -> Output:
    """`args` may name the `files` (written as JSON) by their path under /secrets."""
    folder = Path(tempfile.mkdtemp(prefix="listmonk-image-"))
    try:
        folder.chmod(0o755)  # the connector runs as a non-root user
        for name, content in files.items():
            path = folder / name
            path.write_text(json.dumps(content))
            path.chmod(0o644)
        command = ["podman", "run", "--rm", "-i", "--network", "host", "-v", f"{folder}:{MOUNT}:ro", IMAGES[kind], *args]
        done = subprocess.run(
            command, env=podman_env(), input="".join(line + "\n" for line in stdin), capture_output=True, text=True
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    messages = []
    for line in done.stdout.splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            continue
    return Output(messages, done.returncode, done.stderr)
