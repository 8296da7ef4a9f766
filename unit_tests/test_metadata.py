"""Each connector's metadata.yaml is what Airbyte's registry and its standard tests read: it must satisfy Airbyte's
connector metadata schema (vendored in unit_tests/data/) and agree with the package and the Dockerfile."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml
from airbyte_cdk.models.connector_metadata import MetadataFile

ROOT = Path(__file__).resolve().parent.parent
CONNECTORS = {"destination": ROOT / "destination_listmonk", "source": ROOT / "source_listmonk"}
SCHEMA = json.loads((Path(__file__).parent / "data" / "connector_metadata_v0.schema.json").read_text())

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("uri")
def _is_absolute_uri(value: object) -> bool:
    # jsonschema checks "uri" only with an optional package; an absolute URL is all the registry needs.
    if not isinstance(value, str):
        return True
    parsed = urlparse(value)
    return bool(parsed.scheme and parsed.netloc) and " " not in value


VALIDATOR = jsonschema.Draft7Validator(SCHEMA, format_checker=FORMATS)


def metadata(kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CONNECTORS[kind] / "metadata.yaml").read_text())
    return loaded


def problems(document: dict[str, Any]) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in VALIDATOR.iter_errors(document))


def dockerfile_stage(target: str) -> str:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(rf"^FROM \S+ AS {target}\n(.*?)(?=^FROM |\Z)", text, re.M | re.S)
    assert match, f"no `{target}` stage in the Dockerfile"
    return match.group(1)


@pytest.mark.parametrize("kind", CONNECTORS)
def test_metadata_satisfies_airbytes_schema(kind: str) -> None:
    assert problems(metadata(kind)) == []
    MetadataFile.from_file(CONNECTORS[kind] / "metadata.yaml")  # the model the CDK's standard tests read


@pytest.mark.parametrize(
    "path, value",
    [
        (("data", "connectorSubtype"), "crm"),
        (("data", "releaseStage"), "stable"),
        (("data", "supportLevel"), "official"),
        (("data", "connectorType"), "reverse-etl"),
        (("data", "definitionId"), "5c0e6a7e-not-a-uuid"),
        (("data", "documentationUrl"), "docs/destination-listmonk.md"),
        (("data", "dockerImageTag"), 4),
        (("data", "connectorBuildOptions", "baseImages"), "python"),
        (("data", "supportsDataActivation"), "yes"),
        (("data", "icons"), "listmonk.svg"),
    ],
)
def test_the_vendored_schema_refuses_what_airbytes_refuses(path: tuple[str, ...], value: object) -> None:
    document = copy.deepcopy(metadata("destination"))
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert problems(document)


@pytest.mark.parametrize("field", ["definitionId", "dockerRepository", "githubIssueLabel", "releaseStage", "license"])
def test_a_required_field_missing_is_refused(field: str) -> None:
    document = copy.deepcopy(metadata("source"))
    del document["data"][field]
    assert problems(document) == [f"data: '{field}' is a required property"]


def test_each_connector_is_registered_under_its_own_identity() -> None:
    destination, source = metadata("destination")["data"], metadata("source")["data"]
    assert destination["definitionId"] != source["definitionId"]
    for kind, data in (("destination", destination), ("source", source)):
        assert data["connectorType"] == kind
        assert data["dockerRepository"] == f"airbyte/{kind}-listmonk"
        assert data["githubIssueLabel"] == f"{kind}-listmonk"
        assert data["documentationUrl"].endswith(f"/docs/{kind}-listmonk.md")
        assert (ROOT / "docs" / f"{kind}-listmonk.md").is_file()
        assert "language:python" in data["tags"]


@pytest.mark.parametrize("kind", CONNECTORS)
def test_metadata_agrees_with_the_package_and_the_dockerfile(kind: str) -> None:
    data = metadata(kind)["data"]
    version = re.search(r'version="([^"]+)"', (ROOT / "setup.py").read_text())
    assert version and data["dockerImageTag"] == version.group(1)

    base = data["connectorBuildOptions"]["baseImage"]
    assert re.fullmatch(r"docker\.io/airbyte/python-connector-base:\d+\.\d+\.\d+@sha256:[0-9a-f]{64}", base)
    assert f"ARG BASE_IMAGE={base}\n" in (ROOT / "Dockerfile").read_text()

    stage = dockerfile_stage(kind)
    command = f"{kind}-listmonk"
    assert f'ENTRYPOINT ["{command}"]' in stage and f'AIRBYTE_ENTRYPOINT="{command}"' in stage
    assert f"io.airbyte.name={data['dockerRepository']}\n" in stage
    assert f"io.airbyte.version={data['dockerImageTag']}\n" in stage
