"""HTTP signatures: published vectors, tampered requests, and sign/verify round trips."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from federation.errors import FederationError, SignatureError
from federation.signatures import (
    HttpMessage,
    HttpRequestView,
    HttpResponseView,
    KeyCache,
    ParsedSignature,
    PrivateKey,
    PublicKey,
    check_covered_components,
    content_digest_header,
    digest_header,
    generate_rsa_key,
    load_private_key_pem,
    load_public_key_pem,
    parse_signature,
    sign_message_rfc9421,
    sign_request,
    verify_body_digest,
    verify_request,
)

# CI clones the repository beside a copy of shared/, as on the development machine.
VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors"
CAVAGE = VECTORS / "cavage12"
RFC9421 = VECTORS / "rfc9421"

RFC9421_VECTORS = [
    "b21_minimal_rsa-pss-sha512",
    "b22_selective_rsa-pss-sha512",
    "b23_full_rsa-pss-sha512",
    "b24_response_ecdsa-p256-sha256",
    "b25_hmac-sha256",
    "b26_ed25519",
    "s4.3_proxy_sig_rsa-v1_5-sha256",
    "appB4_transform_ed25519",
]
DETERMINISTIC_RFC9421_VECTORS = [
    "b25_hmac-sha256",
    "b26_ed25519",
    "s4.3_proxy_sig_rsa-v1_5-sha256",
    "appB4_transform_ed25519",
]

CAVAGE_URL = "https://example.com/foo?param=value&pet=dog"
CAVAGE_NOW = datetime(2014, 1, 5, 21, 31, 40, tzinfo=UTC)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
INBOX = "https://social.example/users/alice/inbox"
OUTBOX = "https://social.example/users/alice/outbox"
KEY_ID = "https://peer.example/users/bob#main-key"
ACTIVITY = b'{"type": "Follow", "actor": "https://peer.example/users/bob"}'


# --------------------------------------------------------------------------------------------
# Vector loading


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def parse_http(text: str) -> tuple[str, dict[str, str], bytes]:
    """Start line, headers (repeated fields joined with ", ") and body of a message file."""
    head, _, rest = text.partition("\n\n")
    start, *lines = head.split("\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    body = rest.encode()
    if "Content-Length" in headers:
        body = body[: int(headers["Content-Length"])]
    return start, headers, body


def http_request(text: str, authority: str | None = None) -> HttpRequestView:
    start, headers, body = parse_http(text)
    method, target, _ = start.split(" ")
    return HttpRequestView(method, f"https://{authority or headers['Host']}{target}", headers, body)


def cavage_case(name: str) -> dict[str, Any]:
    cases = read_json(CAVAGE / "cavage12_test_values.json")["cases"]
    return next(case for case in cases if case["name"] == name)


def cavage_request(**extra_headers: str) -> HttpRequestView:
    request = http_request((CAVAGE / "test-request.http").read_text())
    return replace(request, headers={**request.headers, **extra_headers})


def cavage_private_key() -> rsa.RSAPrivateKey:
    key = load_private_key_pem((CAVAGE / "test-key.priv.pem").read_text())
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def cavage_public_key() -> PublicKey:
    return load_public_key_pem((CAVAGE / "test-key.pub.pem").read_text())


def rfc9421_vector(name: str) -> dict[str, Any]:
    vector: dict[str, Any] = read_json(RFC9421 / f"{name}.json")
    return vector


def rfc9421_signature_input(vector: dict[str, Any]) -> str:
    if "signature_input" in vector:
        return str(vector["signature_input"])
    params = vector["signature_base"].rpartition('"@signature-params": ')[2]
    return f"{vector['label']}={params}"


def rfc9421_unsigned_message(vector: dict[str, Any]) -> HttpMessage:
    """The message a vector signs, as the RFC describes it, without signature headers."""
    name = vector["name"]
    if "message" in vector:
        request = http_request(vector["message"])
        headers = {
            key: value
            for key, value in request.headers.items()
            if key not in {"Signature-Input", "Signature"}
        }
        return replace(request, headers=headers)
    if name.startswith("b24"):
        start, headers, body = parse_http((RFC9421 / "test-response.http").read_text())
        # The Content-Digest printed in the RFC's response does not match its body.
        digests = read_json(VECTORS / "digest" / "digest_vectors.json")["cases"]
        right = next(case for case in digests if case["body"].encode() == body)
        headers["Content-Digest"] = right["value"]
        return HttpResponseView(int(start.split(" ")[1]), headers, body)
    text = (RFC9421 / "test-request.http").read_text()
    if name.startswith("s4.3"):
        # The proxy forwards to the origin server and records the original request.
        request = http_request(text, authority="origin.host.internal.example")
        forwarded = "for=192.0.2.123;host=example.com;proto=https"
        return replace(request, headers={**request.headers, "Forwarded": forwarded})
    return http_request(text)


def rfc9421_signed_message(vector: dict[str, Any]) -> HttpMessage:
    message = rfc9421_unsigned_message(vector)
    signature_headers = {
        "Signature-Input": rfc9421_signature_input(vector),
        "Signature": f"{vector['label']}=:{vector['signature_b64']}:",
    }
    return replace(message, headers={**message.headers, **signature_headers})


def rfc9421_public_key(name: str) -> PublicKey:
    if name == "test-shared-secret":
        return base64.b64decode((RFC9421 / "test-shared-secret.b64").read_text().strip())
    return load_public_key_pem((RFC9421 / f"{name}.pub.pem").read_text())


def rfc9421_private_key(name: str) -> PrivateKey:
    if name == "test-shared-secret":
        return base64.b64decode((RFC9421 / "test-shared-secret.b64").read_text().strip())
    return load_private_key_pem((RFC9421 / f"{name}.priv.pem").read_text())


def signature_param(header: str, name: str) -> str:
    match = re.search(rf'{name}="([^"]*)"', header)
    assert match is not None
    return match.group(1)


# --------------------------------------------------------------------------------------------
# Fixtures and helpers for live signatures


@pytest.fixture(scope="module")
def rsa_keypair() -> tuple[rsa.RSAPrivateKey, str, str]:
    return generate_rsa_key()


@pytest.fixture(scope="module")
def rsa_key(rsa_keypair: tuple[rsa.RSAPrivateKey, str, str]) -> rsa.RSAPrivateKey:
    return rsa_keypair[0]


@pytest.fixture(scope="module")
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def signed_post(
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    *,
    body: bytes = ACTIVITY,
    signed_headers: list[str] | None = None,
) -> HttpRequestView:
    headers = sign_request(
        "POST",
        INBOX,
        {"Content-Type": "application/activity+json"},
        body,
        KEY_ID,
        key,
        NOW,
        signed_headers=signed_headers,
    )
    return HttpRequestView("POST", INBOX, headers, body)


def signed_get(
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, headers: dict[str, str] | None = None
) -> HttpRequestView:
    if headers is None:
        headers = {"Accept": "application/activity+json"}
    signed = sign_request("GET", OUTBOX, headers, b"", KEY_ID, key, NOW)
    return HttpRequestView("GET", OUTBOX, signed)


def accept_as_inbox(
    request: HttpRequestView, public_key: PublicKey, now: datetime = NOW
) -> ParsedSignature:
    parsed = parse_signature(request)
    verify_request(request, parsed, public_key, now)
    check_covered_components(parsed, request)
    return parsed


def with_headers(request: HttpRequestView, **changes: str) -> HttpRequestView:
    headers = {name: value for name, value in request.headers.items() if name not in changes}
    headers.update({name.replace("_", "-"): value for name, value in changes.items()})
    return replace(request, headers=headers)


# --------------------------------------------------------------------------------------------
# Published vectors: digests


def test_digest_vectors_recompute_exactly() -> None:
    for case in read_json(VECTORS / "digest" / "digest_vectors.json")["cases"]:
        body = case["body"].encode()
        if case["header"] == "Digest":
            assert digest_header(body) == case["value"]
        else:
            alg = case["value"].partition("=")[0]
            assert content_digest_header(body, alg) == case["value"]
        if "alt_sha512" in case:
            assert content_digest_header(body, "sha-512") == case["alt_sha512"]


def test_digest_vectors_are_accepted_as_body_digests() -> None:
    for case in read_json(VECTORS / "digest" / "digest_vectors.json")["cases"]:
        body = case["body"].encode()
        request = HttpRequestView("POST", INBOX, {case["header"]: case["value"]}, body)
        verify_body_digest(request)


# --------------------------------------------------------------------------------------------
# Published vectors: draft-cavage-12


def test_cavage_default_test_resigns_byte_identically() -> None:
    case = cavage_case("C.1 Default Test")
    request = cavage_request()
    headers = sign_request(
        "POST",
        CAVAGE_URL,
        {"Content-Type": "application/json"},
        request.body,
        "Test",
        cavage_private_key(),
        CAVAGE_NOW,
        signed_headers=["date"],
    )
    assert signature_param(headers["Signature"], "signature") == case["signature"]


def test_cavage_basic_test_resigns_byte_identically() -> None:
    case = cavage_case("C.2 Basic Test")
    request = cavage_request()
    headers = sign_request(
        "POST",
        CAVAGE_URL,
        {"Content-Type": "application/json"},
        request.body,
        "Test",
        cavage_private_key(),
        CAVAGE_NOW,
        signed_headers=case["headers_param"].split(),
    )
    assert f"Signature {headers['Signature']}" == case["authorization_header"]
    assert headers["Date"] == "Sun, 05 Jan 2014 21:31:40 GMT"
    assert headers["Digest"] == request.header("digest")


@pytest.mark.parametrize("name", ["C.1 Default Test", "C.2 Basic Test"])
def test_cavage_vector_verifies_from_authorization_header(name: str) -> None:
    case = cavage_case(name)
    request = cavage_request(Authorization=case["authorization_header"])
    parsed = parse_signature(request)
    assert parsed.scheme == "cavage"
    assert parsed.key_id == "Test"
    assert parsed.signature_base == case["signing_string"].encode()
    verify_request(request, parsed, cavage_public_key(), CAVAGE_NOW)


def test_cavage_all_headers_test_verifies_over_its_printed_signing_string() -> None:
    case = cavage_case("C.3 All Headers Test")
    printed_headers = "(request-target) host date content-type digest content-length"
    signature = (
        f'keyId="Test",algorithm="rsa-sha256",headers="{printed_headers}",'
        f'signature="{case["signature"]}"'
    )
    request = cavage_request(Signature=signature)
    parsed = parse_signature(request)
    assert parsed.signature_base == case["signing_string_as_printed"].encode()
    verify_request(request, parsed, cavage_public_key(), CAVAGE_NOW)


def test_cavage_all_headers_test_as_printed_is_rejected_for_signing_created_with_rsa() -> None:
    case = cavage_case("C.3 All Headers Test")
    signature = (
        f'keyId="Test",algorithm="rsa-sha256",created={case["created"]},'
        f'expires={case["expires"]},headers="{case["headers_param_as_printed"]}",'
        f'signature="{case["signature"]}"'
    )
    with pytest.raises(SignatureError, match=r"\(created\) cannot be signed with rsa-sha256"):
        parse_signature(cavage_request(Signature=signature))


def test_cavage_basic_test_fails_inbox_rules_because_its_digest_is_unsigned() -> None:
    request = cavage_request(Authorization=cavage_case("C.2 Basic Test")["authorization_header"])
    parsed = parse_signature(request)
    verify_request(request, parsed, cavage_public_key(), CAVAGE_NOW)
    with pytest.raises(SignatureError, match="body digest is not signed"):
        check_covered_components(parsed, request)


# --------------------------------------------------------------------------------------------
# Published vectors: RFC 9421


def test_rfc9421_manifest_lists_exactly_the_tested_vectors() -> None:
    manifest = read_json(RFC9421 / "manifest.json")
    assert [vector["name"] for vector in manifest] == RFC9421_VECTORS
    deterministic = [vector["name"] for vector in manifest if vector["deterministic"]]
    assert deterministic == DETERMINISTIC_RFC9421_VECTORS


@pytest.mark.parametrize("name", RFC9421_VECTORS)
def test_rfc9421_signature_base_equals_published_bytes(name: str) -> None:
    vector = rfc9421_vector(name)
    parsed = parse_signature(rfc9421_signed_message(vector), label=vector["label"])
    assert parsed.scheme == "rfc9421"
    assert parsed.key_id == vector["key"]
    assert parsed.signature_base == (RFC9421 / f"{name}.base.txt").read_bytes()


@pytest.mark.parametrize("name", RFC9421_VECTORS)
def test_rfc9421_vector_verifies_with_its_key(name: str) -> None:
    vector = rfc9421_vector(name)
    message = rfc9421_signed_message(vector)
    parsed = parse_signature(message, label=vector["label"])
    assert parsed.created is not None
    verify_request(message, parsed, rfc9421_public_key(vector["key"]), parsed.created)


@pytest.mark.parametrize("name", DETERMINISTIC_RFC9421_VECTORS)
def test_rfc9421_deterministic_vector_resigns_byte_identically(name: str) -> None:
    vector = rfc9421_vector(name)
    parsed = parse_signature(rfc9421_signed_message(vector), label=vector["label"])
    assert parsed.created is not None
    headers = sign_message_rfc9421(
        rfc9421_unsigned_message(vector),
        parsed.components,
        parsed.key_id,
        rfc9421_private_key(vector["key"]),
        parsed.created,
        label=vector["label"],
        algorithm=parsed.algorithm,
        expires=parsed.expires,
        nonce=parsed.nonce,
        tag=parsed.tag,
    )
    assert headers == {
        "Signature-Input": rfc9421_signature_input(vector),
        "Signature": f"{vector['label']}=:{vector['signature_b64']}:",
    }


@pytest.mark.parametrize(
    ("key_name", "algorithm"),
    [("test-key-rsa-pss", "rsa-pss-sha512"), ("test-key-ecc-p256", "ecdsa-p256-sha256")],
)
def test_rfc9421_randomised_algorithms_round_trip_with_the_test_keys(
    key_name: str, algorithm: str
) -> None:
    request = http_request((RFC9421 / "test-request.http").read_text())
    headers = sign_message_rfc9421(
        request,
        ["@method", "@authority", "@path", "content-digest"],
        key_name,
        rfc9421_private_key(key_name),
        1618884473,
        algorithm=algorithm,
    )
    signed = replace(request, headers={**request.headers, **headers})
    parsed = parse_signature(signed)
    assert parsed.algorithm == algorithm
    verify_request(signed, parsed, rfc9421_public_key(key_name), 1618884473)


def test_rfc9421_query_param_values_are_form_decoded_and_percent_encoded() -> None:
    # RFC 9421 §2.2.8 example.
    url = (
        "https://example.com/parameters?var=this%20is%20a%20big%0Avalue"
        "&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something"
    )
    request = HttpRequestView("GET", url, {})
    components = [
        '"@query-param";name="var"',
        '"@query-param";name="bar"',
        '"@query-param";name="fa%C3%A7ade%22%3A%20"',
    ]
    headers = sign_message_rfc9421(request, components, "k", b"secret", 1)
    parsed = parse_signature(replace(request, headers=headers))
    assert parsed.signature_base.split(b"\n")[:3] == [
        b'"@query-param";name="var": this%20is%20a%20big%0Avalue',
        b'"@query-param";name="bar": with%20plus%20whitespace',
        b'"@query-param";name="fa%C3%A7ade%22%3A%20": something',
    ]


def test_rfc9421_query_param_that_occurs_twice_cannot_be_covered() -> None:
    request = HttpRequestView("GET", "https://example.com/search?q=a&q=b", {})
    with pytest.raises(SignatureError, match="occurs more than once"):
        sign_message_rfc9421(request, ['"@query-param";name="q"'], "k", b"secret", 1)


def test_rfc9421_vector_with_changed_path_is_rejected() -> None:
    vector = rfc9421_vector("b26_ed25519")
    message = rfc9421_signed_message(vector)
    assert isinstance(message, HttpRequestView)
    tampered = replace(message, url="https://example.com/bar")
    parsed = parse_signature(tampered)
    with pytest.raises(SignatureError, match="signature does not verify"):
        verify_request(tampered, parsed, rfc9421_public_key(vector["key"]), 1618884473)


def test_rfc9421_signature_past_its_expiry_is_rejected() -> None:
    vector = rfc9421_vector("s4.3_proxy_sig_rsa-v1_5-sha256")
    message = rfc9421_signed_message(vector)
    parsed = parse_signature(message)
    assert parsed.expires == 1618884540
    with pytest.raises(SignatureError, match="signature expired"):
        verify_request(message, parsed, rfc9421_public_key(vector["key"]), 1618884541)


def test_rfc9421_unknown_algorithm_is_rejected() -> None:
    vector = rfc9421_vector("b26_ed25519")
    message = rfc9421_signed_message(vector)
    signature_input = message.headers["Signature-Input"] + ';alg="rsa-sha1"'
    tampered = replace(message, headers={**message.headers, "Signature-Input": signature_input})
    with pytest.raises(SignatureError, match="unsupported signature algorithm 'rsa-sha1'"):
        parse_signature(tampered)


def test_rfc9421_malformed_signature_input_is_rejected() -> None:
    vector = rfc9421_vector("b26_ed25519")
    message = rfc9421_signed_message(vector)
    broken = {**message.headers, "Signature-Input": 'sig-b26=("@method" "@path"'}
    with pytest.raises(SignatureError, match="Signature-Input header is malformed"):
        parse_signature(replace(message, headers=broken))


def test_rfc9421_signed_post_passes_inbox_rules(rsa_key: rsa.RSAPrivateKey) -> None:
    body = ACTIVITY
    request = HttpRequestView(
        "POST",
        INBOX,
        {
            "Host": "social.example",
            "Content-Type": "application/activity+json",
            "Content-Digest": content_digest_header(body),
        },
        body,
    )
    components = ["@method", "@target-uri", "@authority", "content-type", "content-digest"]
    headers = sign_message_rfc9421(request, components, KEY_ID, rsa_key, int(NOW.timestamp()))
    signed = replace(request, headers={**request.headers, **headers})
    parsed = accept_as_inbox(signed, rsa_key.public_key())
    assert parsed.algorithm is None


def test_rfc9421_signature_without_the_path_is_rejected_by_inbox_rules(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    request = HttpRequestView(
        "POST", INBOX, {"Content-Digest": content_digest_header(ACTIVITY)}, ACTIVITY
    )
    components = ["@method", "@authority", "content-digest"]
    headers = sign_message_rfc9421(request, components, KEY_ID, rsa_key, int(NOW.timestamp()))
    with pytest.raises(SignatureError, match="request target is not signed"):
        accept_as_inbox(
            replace(request, headers={**request.headers, **headers}), rsa_key.public_key()
        )


def test_rfc9421_signed_digest_that_does_not_match_the_body_is_rejected(
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    request = HttpRequestView(
        "POST",
        INBOX,
        {"Content-Digest": content_digest_header(b"another body")},
        ACTIVITY,
    )
    components = ["@method", "@target-uri", "content-digest"]
    headers = sign_message_rfc9421(request, components, KEY_ID, rsa_key, int(NOW.timestamp()))
    signed = replace(request, headers={**request.headers, **headers})
    parsed = parse_signature(signed)
    verify_request(signed, parsed, rsa_key.public_key(), NOW)
    with pytest.raises(SignatureError, match="body digest does not match"):
        check_covered_components(parsed, signed)


# --------------------------------------------------------------------------------------------
# Tampered draft-cavage requests


def test_changed_body_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    tampered = replace(signed_post(rsa_key), body=b'{"type": "Delete"}')
    with pytest.raises(SignatureError, match="body digest does not match"):
        accept_as_inbox(tampered, rsa_key.public_key())


def test_changed_path_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    tampered = replace(signed_post(rsa_key), url="https://social.example/users/carol/inbox")
    with pytest.raises(SignatureError, match="signature does not verify"):
        accept_as_inbox(tampered, rsa_key.public_key())


def test_changed_method_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    tampered = replace(signed_post(rsa_key), method="PUT")
    with pytest.raises(SignatureError, match="signature does not verify"):
        accept_as_inbox(tampered, rsa_key.public_key())


def test_changed_host_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = signed_post(rsa_key)
    replayed = replace(
        with_headers(request, Host="other.example"), url="https://other.example/users/alice/inbox"
    )
    with pytest.raises(SignatureError, match="signature does not verify"):
        accept_as_inbox(replayed, rsa_key.public_key())


def test_host_header_that_does_not_name_the_url_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = signed_post(rsa_key)
    replayed = replace(request, url="https://other.example/users/alice/inbox")
    with pytest.raises(SignatureError, match="host header does not match the request URL"):
        accept_as_inbox(replayed, rsa_key.public_key())


def test_stale_date_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SignatureError, match="date outside the accepted window"):
        accept_as_inbox(signed_post(rsa_key), rsa_key.public_key(), NOW + timedelta(hours=2))


def test_date_too_far_in_the_future_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(SignatureError, match="date outside the accepted window"):
        accept_as_inbox(signed_post(rsa_key), rsa_key.public_key(), NOW - timedelta(hours=2))


def test_date_within_the_allowed_skew_is_accepted(rsa_key: rsa.RSAPrivateKey) -> None:
    accept_as_inbox(signed_post(rsa_key), rsa_key.public_key(), NOW + timedelta(minutes=50))


def test_unsigned_digest_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = signed_post(rsa_key, signed_headers=["(request-target)", "host", "date"])
    with pytest.raises(SignatureError, match="body digest is not signed"):
        accept_as_inbox(request, rsa_key.public_key())


def test_unsigned_host_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = signed_post(rsa_key, signed_headers=["(request-target)", "date", "digest"])
    with pytest.raises(SignatureError, match="host is not signed"):
        accept_as_inbox(request, rsa_key.public_key())


def test_unsigned_request_target_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = signed_post(rsa_key, signed_headers=["host", "date", "digest"])
    with pytest.raises(SignatureError, match="request target is not signed"):
        accept_as_inbox(request, rsa_key.public_key())


def test_signature_without_date_or_created_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = signed_post(rsa_key, signed_headers=["(request-target)", "host", "digest"])
    with pytest.raises(SignatureError, match="neither date nor created is signed"):
        accept_as_inbox(request, rsa_key.public_key())


def test_unknown_algorithm_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = signed_post(rsa_key)
    header = request.headers["Signature"].replace('algorithm="rsa-sha256"', 'algorithm="rsa-sha1"')
    with pytest.raises(SignatureError, match="unsupported signature algorithm 'rsa-sha1'"):
        parse_signature(with_headers(request, Signature=header))


def test_algorithm_that_does_not_fit_the_key_is_rejected(
    ed_key: ed25519.Ed25519PrivateKey,
) -> None:
    request = signed_post(ed_key)
    header = request.headers["Signature"].replace('algorithm="hs2019"', 'algorithm="rsa-sha256"')
    tampered = with_headers(request, Signature=header)
    with pytest.raises(SignatureError, match="does not fit"):
        accept_as_inbox(tampered, ed_key.public_key())


def test_malformed_signature_header_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = with_headers(signed_post(rsa_key), Signature="keyId=unquoted, nonsense")
    with pytest.raises(SignatureError, match="Signature header is malformed"):
        parse_signature(request)


def test_signature_value_that_is_not_base64_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = signed_post(rsa_key)
    header = re.sub(r'signature="[^"]*"', 'signature="not base64!"', request.headers["Signature"])
    with pytest.raises(SignatureError, match="not valid base64"):
        parse_signature(with_headers(request, Signature=header))


def test_signature_without_key_id_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = signed_post(rsa_key)
    header = re.sub(r'keyId="[^"]*",', "", request.headers["Signature"])
    with pytest.raises(SignatureError, match="no keyId"):
        parse_signature(with_headers(request, Signature=header))


def test_signed_header_missing_from_the_request_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = signed_post(rsa_key)
    stripped = replace(
        request, headers={k: v for k, v in request.headers.items() if k != "Content-Type"}
    )
    with pytest.raises(SignatureError, match="signed header 'content-type' is missing"):
        parse_signature(stripped)


def test_signed_header_containing_a_line_break_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    request = with_headers(signed_post(rsa_key), Content_Type="text/plain\ndigest: forged")
    with pytest.raises(SignatureError, match="line break"):
        parse_signature(request)


def test_unsigned_request_is_rejected() -> None:
    with pytest.raises(SignatureError, match="request is not signed"):
        parse_signature(HttpRequestView("POST", INBOX, {"Host": "social.example"}, ACTIVITY))


def test_signature_from_another_key_is_rejected(rsa_key: rsa.RSAPrivateKey) -> None:
    other = generate_rsa_key()[0]
    with pytest.raises(SignatureError, match="signature does not verify"):
        accept_as_inbox(signed_post(rsa_key), other.public_key())


# --------------------------------------------------------------------------------------------
# Body digests


def test_post_without_a_digest_header_is_rejected() -> None:
    with pytest.raises(SignatureError, match="no Digest or Content-Digest"):
        verify_body_digest(HttpRequestView("POST", INBOX, {}, ACTIVITY))


def test_get_without_a_body_needs_no_digest() -> None:
    verify_body_digest(HttpRequestView("GET", OUTBOX, {}, b""))


def test_every_known_algorithm_in_a_content_digest_must_match() -> None:
    sha256 = content_digest_header(ACTIVITY, "sha-256")
    wrong_sha512 = content_digest_header(b"something else", "sha-512")
    request = HttpRequestView(
        "POST", INBOX, {"Content-Digest": f"{sha256}, {wrong_sha512}"}, ACTIVITY
    )
    with pytest.raises(SignatureError, match="body digest does not match"):
        verify_body_digest(request)


def test_several_matching_digests_in_one_header_are_accepted() -> None:
    value = f"{digest_header(ACTIVITY, 'sha-512')},{digest_header(ACTIVITY, 'sha-256')}"
    verify_body_digest(HttpRequestView("POST", INBOX, {"Digest": value}, ACTIVITY))


def test_unknown_digest_algorithms_are_ignored_beside_a_matching_one() -> None:
    value = f"md5=:AAAA:, {content_digest_header(ACTIVITY)}"
    verify_body_digest(HttpRequestView("POST", INBOX, {"Content-Digest": value}, ACTIVITY))


def test_digest_with_only_unknown_algorithms_is_rejected() -> None:
    request = HttpRequestView("POST", INBOX, {"Digest": "MD5=HUXZLQLMuI/KZ5KDcJPcOA=="}, ACTIVITY)
    with pytest.raises(SignatureError, match="no supported algorithm"):
        verify_body_digest(request)


def test_malformed_content_digest_is_rejected() -> None:
    request = HttpRequestView("POST", INBOX, {"Content-Digest": "sha-256=notbytes"}, ACTIVITY)
    with pytest.raises(SignatureError, match="Content-Digest header is malformed"):
        verify_body_digest(request)


# --------------------------------------------------------------------------------------------
# Round trips


def test_rsa_signed_post_passes_inbox_checks(
    rsa_keypair: tuple[rsa.RSAPrivateKey, str, str],
) -> None:
    key, _, public_pem = rsa_keypair
    parsed = accept_as_inbox(signed_post(key), load_public_key_pem(public_pem))
    assert parsed.algorithm == "rsa-sha256"
    assert parsed.components == ("(request-target)", "host", "date", "digest", "content-type")


def test_rsa_signed_get_passes_inbox_checks(rsa_key: rsa.RSAPrivateKey) -> None:
    parsed = accept_as_inbox(signed_get(rsa_key), rsa_key.public_key())
    assert parsed.components == ("(request-target)", "host", "date", "accept")


def test_ed25519_signed_post_passes_inbox_checks(ed_key: ed25519.Ed25519PrivateKey) -> None:
    parsed = accept_as_inbox(signed_post(ed_key), ed_key.public_key())
    assert parsed.algorithm == "hs2019"


def test_ed25519_signed_get_passes_inbox_checks(ed_key: ed25519.Ed25519PrivateKey) -> None:
    accept_as_inbox(signed_get(ed_key), ed_key.public_key())


def test_get_without_accept_signs_only_the_headers_present(rsa_key: rsa.RSAPrivateKey) -> None:
    parsed = accept_as_inbox(signed_get(rsa_key, headers={}), rsa_key.public_key())
    assert parsed.components == ("(request-target)", "host", "date")


def test_sign_request_adds_host_date_and_digest(rsa_key: rsa.RSAPrivateKey) -> None:
    headers = signed_post(rsa_key).headers
    assert headers["Host"] == "social.example"
    assert headers["Date"] == "Sat, 01 Mar 2025 12:00:00 GMT"
    assert headers["Digest"] == digest_header(ACTIVITY)
    assert headers["Content-Type"] == "application/activity+json"


def test_headers_are_matched_case_insensitively(rsa_key: rsa.RSAPrivateKey) -> None:
    request = signed_post(rsa_key)
    lowered = replace(request, headers={k.lower(): v for k, v in request.headers.items()})
    accept_as_inbox(lowered, rsa_key.public_key())


# --------------------------------------------------------------------------------------------
# Keys and errors


def test_generated_rsa_key_pems_load_back() -> None:
    key, private_pem, public_pem = generate_rsa_key()
    assert key.key_size == 2048
    loaded_private = load_private_key_pem(private_pem)
    assert isinstance(loaded_private, rsa.RSAPrivateKey)
    assert loaded_private.private_numbers() == key.private_numbers()
    loaded_public = load_public_key_pem(public_pem)
    assert isinstance(loaded_public, rsa.RSAPublicKey)
    assert loaded_public.public_numbers() == key.public_key().public_numbers()


def test_malformed_public_key_pem_is_rejected() -> None:
    with pytest.raises(SignatureError, match="public key PEM is malformed"):
        load_public_key_pem("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")


def test_key_cache_evicts_the_least_recently_used_key(rsa_key: rsa.RSAPrivateKey) -> None:
    cache = KeyCache(max_entries=2)
    cache.put("a", b"1")
    cache.put("b", b"2")
    assert cache.get("a") == b"1"
    cache.put("c", rsa_key.public_key())
    assert "b" not in cache
    assert "a" in cache
    assert "c" in cache
    assert len(cache) == 2


def test_key_cache_forgets_a_discarded_key() -> None:
    cache = KeyCache()
    cache.put("a", b"1")
    cache.discard("a")
    assert cache.get("a") is None


def test_signature_error_is_a_federation_error_with_a_reason() -> None:
    with pytest.raises(FederationError) as caught:
        parse_signature(HttpRequestView("GET", OUTBOX, {}))
    assert caught.value.reason == "request is not signed"
