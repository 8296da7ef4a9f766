"""The image tests run the built images (`make images`). A developer's `make test` skips them when podman or the
images are missing; CI sets LISTMONK_IMAGE_TESTS=required, so that missing images fail instead."""

from __future__ import annotations

import os

import pytest

from integration_tests.images import podman


@pytest.fixture(scope="session", autouse=True)
def images() -> None:
    reason = podman.missing()
    if reason is None:
        return
    if os.environ.get(podman.REQUIRED_ENV) == "required":
        pytest.fail(f"{reason}, and {podman.REQUIRED_ENV}=required: build them with `make images`")
    pytest.skip(f"{reason}: `make images` builds both images (Debian, as root; see docs/images.md)")
