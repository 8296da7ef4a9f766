"""preflight, as a connector's `check` shows it: one actionable message per problem."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from listmonk_client import ListmonkClient, preflight

from .conftest import TOKEN, fast_policy
from .fake_server import FakeListmonk, Reply, data, error, page

ALL_LISTS = [
    {"id": 1, "name": "Default list"},
    {"id": 2, "name": "Opt-in list"},
    {"id": 5, "name": "CRM"},
    {"id": 8, "name": "CRM"},
]


def healthy(server: FakeListmonk, permissions: list[str] | None = None, lists: Reply | None = None) -> None:
    server.script("GET", "/api/config", data({"version": "v6.2.0"}))
    server.script("GET", "/api/profile", data({
        "username": "apiuser",
        "user_role": {"permissions": permissions if permissions is not None else ["subscribers:get", "subscribers:manage"]},
    }))
    server.script("GET", "/api/lists", lists or page(ALL_LISTS, total=len(ALL_LISTS)))


def test_given_a_working_setup_then_preflight_is_ok_and_reports_the_server(
    server: FakeListmonk, client: ListmonkClient
) -> None:
    healthy(server)

    report = preflight(client, required_permissions=["subscribers:manage"], list_ids=[1, 2], list_names=["Opt-in list"])

    assert report.ok and report.problems == []
    assert report.server is not None and report.server.supports_patch
    assert report.profile is not None and report.profile.username == "apiuser"


def test_given_nothing_listens_on_the_port_then_preflight_names_host_port_and_the_error(
    make_client: Callable[..., ListmonkClient],
) -> None:
    client = make_client(base_url="http://127.0.0.1:9", retry=fast_policy(max_attempts=2))

    report = preflight(client, list_ids=[1])

    assert not report.ok
    (problem,) = report.problems
    assert "Cannot reach listmonk" in problem
    assert "127.0.0.1:9" in problem and "connection refused" in problem
    assert "Traceback" not in problem
    assert report.server is None


def test_given_a_rejected_token_then_preflight_says_so_without_echoing_it(
    server: FakeListmonk, client: ListmonkClient
) -> None:
    server.script("GET", "/api/config", error(403, "invalid API credentials"))
    server.script("GET", "/api/about", error(403, "invalid API credentials"))

    report = preflight(client, required_permissions=["subscribers:get"], list_ids=[1])

    (problem,) = report.problems
    assert "API user / token rejected by listmonk" in problem
    assert "invalid API credentials" in problem
    assert TOKEN not in problem
    assert not report.ok


def test_given_missing_permissions_then_each_is_named_with_where_to_grant_it(
    server: FakeListmonk, client: ListmonkClient
) -> None:
    healthy(server, permissions=["subscribers:get"])

    report = preflight(client, required_permissions=["subscribers:get", "subscribers:manage", "subscribers:import"])

    assert report.problems == [
        "The API user lacks the permission 'subscribers:import'. "
        "Grant it to the user's role in listmonk Admin > Users > User roles.",
        "The API user lacks the permission 'subscribers:manage'. "
        "Grant it to the user's role in listmonk Admin > Users > User roles.",
    ]


def test_given_list_ids_that_do_not_exist_then_each_is_reported(server: FakeListmonk, client: ListmonkClient) -> None:
    healthy(server)

    report = preflight(client, list_ids=[1, 42, 7])

    assert report.problems == [
        "List id 7 does not exist in listmonk (or the API user cannot see it).",
        "List id 42 does not exist in listmonk (or the API user cannot see it).",
    ]


def test_given_a_list_name_that_does_not_exist_then_it_is_reported(server: FakeListmonk, client: ListmonkClient) -> None:
    healthy(server)

    report = preflight(client, list_names=["default list"])

    assert report.problems == ["No list named 'default list' exists in listmonk (names are case-sensitive)."]


def test_given_a_list_name_shared_by_several_lists_then_their_ids_are_named(
    server: FakeListmonk, client: ListmonkClient
) -> None:
    healthy(server)

    report = preflight(client, list_names=["CRM"])

    (problem,) = report.problems
    assert "Several lists are named 'CRM' (ids 5, 8)" in problem


def test_given_lists_cannot_be_read_then_the_missing_permission_is_named(
    server: FakeListmonk, client: ListmonkClient
) -> None:
    healthy(server, lists=error(403, "permission denied: lists:get_all"))

    report = preflight(client, list_ids=[1])

    assert report.problems == [
        "The API user lacks 'lists:get_all' needed to read lists. "
        "Grant it to the user's role in listmonk Admin > Users > User roles."
    ]


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[FakeListmonk]:
    """An HTTPS fake with a self-signed certificate (needs the `cryptography` package)."""
    pytest.importorskip("cryptography", reason="cryptography is not installed: cannot make a self-signed certificate")
    cert_file, key_file = _self_signed_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    with FakeListmonk(tls=context) as fake:
        yield fake


def test_given_a_self_signed_certificate_then_preflight_suggests_fixing_it_or_turning_verification_off(
    tls_server: FakeListmonk, make_client: Callable[..., ListmonkClient]
) -> None:
    healthy(tls_server)
    client = make_client(base_url=tls_server.url)

    report = preflight(client)

    (problem,) = report.problems
    assert "certificate" in problem and f"127.0.0.1:{tls_server.port}" in problem
    assert "turn off TLS verification" in problem
    # A bad certificate does not fix itself: one attempt only.
    assert tls_server.received == []


def test_given_tls_verification_turned_off_then_a_self_signed_server_passes(
    tls_server: FakeListmonk, make_client: Callable[..., ListmonkClient]
) -> None:
    healthy(tls_server)
    client = make_client(base_url=tls_server.url, verify_tls=False)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning is the expected trade-off
        report = preflight(client)

    assert report.ok


def _self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file
