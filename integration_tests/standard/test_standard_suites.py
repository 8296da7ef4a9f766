"""airbyte-cdk's standard test suites for both connectors, in-process against a local listmonk-compatible server.
Their scenarios are each connector's acceptance-test-config.yml; the configs it names (secrets/*.json, never
committed) are written here for the server this module starts. The suites' image tests run the images built by
`make images` through podman (a `docker` that runs podman comes first on PATH for them), and skip or fail as the
tests in integration_tests/images/ do when the images are missing."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
from airbyte_cdk.test.standard_tests import DestinationTestSuiteBase, SourceTestSuiteBase

from destination_listmonk.destination import DestinationListmonk
from integration_tests.images import podman
from listmonk_emulator import EmulatorServer
from source_listmonk.source import SourceListmonk

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR_ROOTS = (ROOT / "destination_listmonk", ROOT / "source_listmonk")


@pytest.fixture(scope="module", autouse=True)
def scenario_configs() -> Iterator[None]:
    """A server holding something in every stream the source reads (its basic read demands records in each)."""
    with EmulatorServer() as server:
        server.seed(50, list_ids=(1, 2))
        with psycopg.connect(server.dsn) as conn:
            conn.execute("INSERT INTO bounces (subscriber_id, campaign_id, type, source) SELECT min(id), 1, 'soft', 'api' FROM subscribers")
        config = {"url": server.url, "username": server.api_user, "token": server.token}
        for root in CONNECTOR_ROOTS:
            secrets = root / "secrets"
            secrets.mkdir(exist_ok=True)
            (secrets / "config.json").write_text(json.dumps(config))
            (secrets / "invalid_config.json").write_text(json.dumps({**config, "token": "not-the-token"}))
        try:
            yield
        finally:
            for root in CONNECTOR_ROOTS:
                shutil.rmtree(root / "secrets", ignore_errors=True)


class ThroughPodman:
    """The suite of the connector `kind`, whose metadata.yaml and acceptance-test-config.yml are in its package.
    Its image tests run against the image through podman: re-declared so that they do not inherit the suites' skip
    marks, which look for a `docker` CLI only (and one without an engine is useless)."""

    kind: ClassVar[str]

    @classmethod
    def get_connector_root_dir(cls) -> Path:
        return ROOT / f"{cls.kind}_listmonk"

    @pytest.fixture
    def connector_image_override(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
        podman.require_images()
        shim = tmp_path / "docker"
        shim.write_text('#!/bin/sh\nexec podman "$@"\n')
        shim.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
        for name, value in podman.podman_env().items():
            monkeypatch.setenv(name, value)
        return podman.IMAGES[self.kind]

    def test_docker_image_build_and_spec(self, connector_image_override: str, connector_base_image_override: Any) -> None:
        super().test_docker_image_build_and_spec(connector_image_override, connector_base_image_override)  # type: ignore[misc]

    def test_docker_image_build_and_check(self, scenario: Any, connector_image_override: str, connector_base_image_override: Any) -> None:
        super().test_docker_image_build_and_check(scenario, connector_image_override, connector_base_image_override)  # type: ignore[misc]

    def test_docker_image_build_and_config_matches_spec(
        self, scenario: Any, connector_image_override: str, connector_base_image_override: Any
    ) -> None:
        super().test_docker_image_build_and_config_matches_spec(  # type: ignore[misc]
            scenario, connector_image_override, connector_base_image_override
        )


class TestDestinationStandard(ThroughPodman, DestinationTestSuiteBase):
    kind = "destination"
    connector = DestinationListmonk
    connector_name = "destination-listmonk"


class TestSourceStandard(ThroughPodman, SourceTestSuiteBase):
    kind = "source"
    connector = SourceListmonk
    connector_name = "source-listmonk"

    @pytest.fixture
    def read_from_streams(self) -> str:
        """The image's read covers every stream, as the in-process basic read does (the suite reads none unless
        asked with --read-from-streams)."""
        return "all"

    def test_docker_image_build_and_discover(
        self, scenario: Any, connector_image_override: str, connector_base_image_override: Any
    ) -> None:
        super().test_docker_image_build_and_discover(scenario, connector_image_override, connector_base_image_override)

    def test_docker_image_build_and_read(
        self,
        scenario: Any,
        connector_image_override: str,
        connector_base_image_override: Any,
        read_from_streams: Any,
        read_scenarios: Any,
    ) -> None:
        super().test_docker_image_build_and_read(
            scenario, connector_image_override, connector_base_image_override, read_from_streams, read_scenarios
        )
