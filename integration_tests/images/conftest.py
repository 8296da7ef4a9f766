"""The image tests run the built images (`make images`). A developer's `make test` skips them when podman or the
images are missing; CI sets LISTMONK_IMAGE_TESTS=required, so that missing images fail instead."""

from __future__ import annotations

import pytest

from integration_tests.images import podman


@pytest.fixture(scope="session", autouse=True)
def images() -> None:
    podman.require_images()
