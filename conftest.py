"""Test-wide settings. Hypothesis: no per-example deadline (the machines are small and shared, so timing says
nothing about correctness), and in CI a fixed seed so a red build is reproducible rather than a lucky draw."""

import os

from hypothesis import settings

settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

# airbyte-cdk's standard test suites (integration_tests/standard/) draw their scenarios through these hooks.
pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]
