"""Certificates issued by member keys, the anchors that pin them, and who is pinned where.

No server here: certificates are parsed with pyca/cryptography and the trust rules are
checked as functions. ``test_sdk_tls_handshake.py`` does real handshakes.
"""

from __future__ import annotations

import datetime
import ipaddress
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tdx.sdk import (
    TLS_NAME,
    Client,
    Identity,
    InsecureWarning,
    TdxError,
    TlsError,
    Trust,
    anchor_pem,
    default_trust,
    documents_pb2,
    is_loopback,
    issuing_key,
    ledger_pb2,
    make_certificate,
    set_default_trust,
)
from tdx.sdk._tls import anchor_name, member_dns_name
from tdx.sdk._trust import plan


def identity(name: str, n: int) -> Identity:
    return Identity.from_seed(bytes([n]) * 32, name)


DE, FR = identity("customs-de", 1), identity("customs_FR.2", 2)


def chain(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


def raw(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_a_server_certificate_is_issued_by_the_member_key_and_names_it() -> None:
    issued = make_certificate(DE, hosts=["10.0.0.5", "ledger.zoll.example", "0.0.0.0",
                                         "[::1]", "bad host!"], network="tdx-test")
    leaf, root = chain(issued.chain_pem)
    assert issuing_key(leaf) == DE.public_key == issued.member_key
    assert leaf.issuer == root.subject == anchor_name(DE.public_key)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "customs-de"
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "tdx-test"
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [
        TLS_NAME, "customs-de.member.tdx.invalid", "ledger.zoll.example"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5"),
                                                         ipaddress.ip_address("::1")]
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    # The TLS key is P-256 (grpc's TLS cannot sign handshakes with Ed25519); the root that
    # travels with it is the member key's own, validly self-signed.
    assert leaf.public_key_algorithm_oid.dotted_string == "1.2.840.10045.2.1"
    assert raw(root.public_key()) == DE.public_key  # type: ignore[arg-type]
    root.verify_directly_issued_by(root)
    assert issued.not_after - datetime.datetime.now(datetime.UTC) > datetime.timedelta(days=29)
    assert b"PRIVATE KEY" in issued.key_pem and b"PRIVATE" not in issued.chain_pem


def test_a_client_certificate_says_so_and_names_no_host() -> None:
    leaf, _ = chain(make_certificate(FR, client=True).chain_pem)
    assert issuing_key(leaf) == FR.public_key
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_member_ids_become_host_names() -> None:
    assert member_dns_name("customs_FR.2") == "customs-fr-2.member.tdx.invalid"
    assert member_dns_name("___") == "member.member.tdx.invalid"


def test_a_certificate_that_names_a_member_key_it_was_not_signed_by_is_refused() -> None:
    forged = make_certificate(FR)
    leaf = chain(forged.chain_pem)[0]
    # The same certificate body with DE's key named as issuer: FR's signature cannot match.
    def issued_by(issuer: x509.Name, key: ed25519.Ed25519PrivateKey) -> x509.Certificate:
        return (x509.CertificateBuilder().subject_name(leaf.subject).issuer_name(issuer)
                .public_key(leaf.public_key()).serial_number(1)
                .not_valid_before(leaf.not_valid_before_utc)
                .not_valid_after(leaf.not_valid_after_utc).sign(key, None))

    fr_key = ed25519.Ed25519PrivateKey.from_private_bytes(FR.seed)
    with pytest.raises(TlsError, match="does not verify"):
        issuing_key(issued_by(anchor_name(DE.public_key), fr_key))
    with pytest.raises(TlsError, match="not issued by a tdx member key"):
        issuing_key(issued_by(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a CA")]),
                              fr_key))


def test_an_anchor_is_made_from_the_public_key_alone_and_always_the_same() -> None:
    first = anchor_pem(DE.public_key)
    assert first == anchor_pem(bytes(DE.public_key))
    anchor = x509.load_pem_x509_certificate(first)
    assert raw(anchor.public_key()) == DE.public_key  # type: ignore[arg-type]
    assert anchor.subject == anchor.issuer == anchor_name(DE.public_key)
    assert anchor_pem(FR.public_key) != first
    with pytest.raises(TlsError, match="not an Ed25519 public key"):
        anchor_pem(b"\x01" * 31)


@pytest.mark.parametrize(("target", "loopback"), [
    ("127.0.0.1:7400", True), ("127.3.2.1:1", True), ("[::1]:7400", True),
    ("localhost:7400", True), ("LOCALHOST:1", True), ("10.0.0.1:7400", False),
    ("0.0.0.0:7400", False), ("ledger.example:7400", False), ("[2001:db8::1]:7400", False),
])
def test_loopback_addresses(target: str, loopback: bool) -> None:
    assert is_loopback(target) is loopback


def record(who: Identity, api: str, peer: str = "") -> documents_pb2.MemberRecord:
    return documents_pb2.MemberRecord(id=who.member_id, public_key=who.public_key,
                                      api_address=api, peer_address=peer)


MEMBERS = [record(DE, "10.0.0.5:7400", "10.0.0.5:7401"), record(FR, "127.0.0.1:7402")]


def test_a_trust_pins_an_address_to_the_key_of_the_member_there() -> None:
    trust = Trust.from_members(MEMBERS)
    for target in ("10.0.0.5:7400", "10.0.0.5:7401"):
        pin = trust.pin(target)
        assert pin is not None and pin.keys == {DE.public_key}
        assert "member customs-de" in pin.who
    assert trust.pin("127.0.0.1:7402") is None  # loopback: plaintext, as before TLS
    on_loopback = Trust.from_members(MEMBERS, tls_on_loopback=True)
    pin = on_loopback.pin("127.0.0.1:7402")
    assert pin is not None and pin.keys == {FR.public_key}
    with pytest.raises(TlsError, match=r"no trusted member has the address 10\.9\.9\.9:7400"):
        trust.pin("10.9.9.9:7400")
    with pytest.raises(TlsError, match="no trusted member has the address"):
        on_loopback.pin("127.0.0.1:9999")


def test_a_trust_pins_a_named_member_a_key_or_an_alias() -> None:
    by_member = Trust.from_members(MEMBERS, member="customs_FR.2").pin("127.0.0.1:1")
    assert by_member is not None and by_member.keys == {FR.public_key}
    by_key = Trust(keys=frozenset({DE.public_key})).pin("127.0.0.1:1")
    assert by_key is not None and by_key.keys == {DE.public_key}
    aliased = Trust.from_members(MEMBERS, aliases={"127.0.0.1:17401": "customs-de"},
                                 tls_on_loopback=True).pin("127.0.0.1:17401")
    assert aliased is not None and aliased.keys == {DE.public_key}
    with pytest.raises(TlsError, match="member 'nobody' is not among the trusted members"):
        Trust.from_members(MEMBERS, member="nobody").pin("10.0.0.5:7400")


def test_a_trust_from_a_genesis_and_one_that_follows_a_changing_list() -> None:
    genesis = ledger_pb2.Genesis(network="tdx-test", members=MEMBERS)
    pin = Trust.from_genesis(genesis).pin("10.0.0.5:7400")
    assert pin is not None and pin.keys == {DE.public_key}
    live = list(MEMBERS)
    trust = Trust.from_members(lambda: live)
    live[0] = record(FR, "10.0.0.5:7400")  # governance moved the address to another key
    moved = trust.pin("10.0.0.5:7400")
    assert moved is not None and moved.keys == {FR.public_key}


def test_plaintext_is_for_loopback_only() -> None:
    assert plan("127.0.0.1:7400") is None
    with pytest.raises(TlsError, match=r"not a loopback address.*server_key= or trust="):
        plan("10.0.0.5:7400")
    with pytest.raises(TlsError, match="only for loopback"):
        plan("10.0.0.5:7400", insecure=True)
    with pytest.warns(InsecureWarning, match="plaintext to 127.0.0.1:7400"):
        assert plan("127.0.0.1:7400", insecure=True,
                    trust=Trust(keys=frozenset({DE.public_key}))) is None
    pinned = plan("127.0.0.1:7400", server_key=DE.public_key)
    assert pinned is not None and pinned.keys == {DE.public_key}


def test_clients_plan_when_made_and_use_the_default_trust() -> None:
    with pytest.raises(TlsError):
        Client("10.0.0.5:7400")
    previous = set_default_trust(Trust.from_members(MEMBERS))
    try:
        assert default_trust() is not None
        client = Client("10.0.0.5:7400")  # pinned by the default; nothing is dialled yet
        client.close()
        with pytest.raises(TlsError, match=r"10\.9\.9\.9:7400"):
            Client("10.9.9.9:7400")
    finally:
        set_default_trust(previous)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Client("127.0.0.1:7400").close()  # loopback plaintext: no warning, no error


def test_tls_error_is_a_tdx_error() -> None:
    assert TlsError.__bases__ == (TdxError,)
