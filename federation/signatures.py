"""HTTP message signatures: draft-cavage-12 (what the fediverse uses today) and RFC 9421.

Pure functions over plain request data: nothing here touches the network, a database or the
clock. Callers pass ``now`` in, and fetch the signer's key themselves between the two
verification steps::

    parsed = parse_signature(request)                # which key, which bytes were signed
    key = cache.get(parsed.key_id) or await fetch_key(parsed.key_id)
    verify_request(request, parsed, key, now)         # cryptography and freshness
    check_covered_components(parsed, request)         # inbox policy: what must be signed

Every rejection raises :class:`~federation.errors.SignatureError` with a short reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import cached_property
from typing import Literal, TypeAlias
from urllib.parse import SplitResult, parse_qsl, quote, urlsplit

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from federation.errors import SignatureError

__all__ = [
    "AsymmetricPrivateKey",
    "AsymmetricPublicKey",
    "HttpMessage",
    "HttpRequestView",
    "HttpResponseView",
    "Instant",
    "KeyCache",
    "ParsedSignature",
    "PrivateKey",
    "PublicKey",
    "check_covered_components",
    "content_digest_header",
    "digest_header",
    "generate_rsa_key",
    "load_private_key_pem",
    "load_public_key_pem",
    "parse_signature",
    "sign_message_rfc9421",
    "sign_request",
    "verify_body_digest",
    "verify_request",
]

AsymmetricPublicKey: TypeAlias = (
    rsa.RSAPublicKey | ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey
)
AsymmetricPrivateKey: TypeAlias = (
    rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
)
# ``bytes`` is an HMAC shared secret (RFC 9421 hmac-sha256).
PublicKey: TypeAlias = AsymmetricPublicKey | bytes
PrivateKey: TypeAlias = AsymmetricPrivateKey | bytes
# A moment: an aware datetime, or seconds since the Unix epoch.
Instant: TypeAlias = datetime | float | int

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_HASH_NAMES = {"sha-256": "sha256", "sha-512": "sha512"}
_CAVAGE_ALGORITHMS = frozenset({"rsa-sha256", "hs2019", "ed25519"})
_RFC9421_ALGORITHMS = frozenset(
    {
        "rsa-pss-sha512",
        "rsa-v1_5-sha256",
        "ecdsa-p256-sha256",
        "ecdsa-p384-sha384",
        "ed25519",
        "hmac-sha256",
    }
)
# algorithm -> (curve name, hash, size of r and of s in bytes)
_ECDSA: dict[str, tuple[str, hashes.HashAlgorithm, int]] = {
    "ecdsa-p256-sha256": ("secp256r1", hashes.SHA256(), 32),
    "ecdsa-p384-sha384": ("secp384r1", hashes.SHA384(), 48),
}


# --------------------------------------------------------------------------------------------
# Messages


class _HeaderLookup:
    headers: Mapping[str, str]

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), trimmed, or None when absent."""
        return self._folded_headers.get(name.lower())

    @cached_property
    def _folded_headers(self) -> dict[str, str]:
        folded: dict[str, str] = {}
        for name, raw in self.headers.items():
            key, value = name.lower(), raw.strip(" \t")
            folded[key] = f"{folded[key]}, {value}" if key in folded else value
        return folded


@dataclass(frozen=True)
class HttpRequestView(_HeaderLookup):
    """What signature code needs to know about an HTTP request.

    ``url`` is the absolute target URI (``https://host/path?query``). ``headers`` are looked
    up case-insensitively; a field sent on several lines must appear once, its values joined
    with ", " (RFC 9110 §5.3). ``body`` is the raw body exactly as received or sent.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""

    def __post_init__(self) -> None:
        _split_absolute_url(self.url)


@dataclass(frozen=True)
class HttpResponseView(_HeaderLookup):
    """An HTTP response, for RFC 9421 signatures that cover ``@status``."""

    status: int
    headers: Mapping[str, str]
    body: bytes = b""


HttpMessage: TypeAlias = HttpRequestView | HttpResponseView


# --------------------------------------------------------------------------------------------
# Keys


def load_public_key_pem(pem: str) -> AsymmetricPublicKey:
    """Parse a PEM public key (SPKI or PKCS#1) published by a peer.

    Raises SignatureError when the PEM is malformed or holds a key type we cannot verify
    with (RSA, Ed25519 and ECDSA P-256/P-384 are supported).
    """
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError, UnsupportedAlgorithm) as exc:
        raise SignatureError("public key PEM is malformed") from exc
    if isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in {"secp256r1", "secp384r1"}:
        return key
    raise SignatureError(f"unsupported public key type ({_key_kind(key)})")


def load_private_key_pem(pem: str) -> AsymmetricPrivateKey:
    """Parse an unencrypted PEM private key (PKCS#8 or PKCS#1) from local configuration.

    Parse once and keep the object: parsing costs far more than signing. Raises ValueError
    when the PEM is malformed or holds an unsupported key type.
    """
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except (UnicodeEncodeError, UnsupportedAlgorithm, TypeError) as exc:
        raise ValueError(f"private key PEM is not usable: {exc}") from exc
    if isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
        return key
    raise ValueError(f"unsupported private key type ({_key_kind(key)})")


def generate_rsa_key() -> tuple[rsa.RSAPrivateKey, str, str]:
    """A new RSA-2048 key as (key object, PKCS#8 private PEM, SPKI public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    return key, private_pem, public_pem


class KeyCache:
    """A bounded in-memory LRU of parsed public keys by key id. Does no I/O.

    When a signature fails with a cached key, ``discard`` it and fetch again once: the
    peer may have rotated its key.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._keys: OrderedDict[str, PublicKey] = OrderedDict()

    def get(self, key_id: str) -> PublicKey | None:
        """The cached key for ``key_id`` (now the most recently used), or None."""
        key = self._keys.get(key_id)
        if key is not None:
            self._keys.move_to_end(key_id)
        return key

    def put(self, key_id: str, key: PublicKey) -> None:
        """Cache ``key``, evicting the least recently used entry when full."""
        self._keys[key_id] = key
        self._keys.move_to_end(key_id)
        while len(self._keys) > self._max_entries:
            self._keys.popitem(last=False)

    def discard(self, key_id: str) -> None:
        """Forget ``key_id`` if cached."""
        self._keys.pop(key_id, None)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys


# --------------------------------------------------------------------------------------------
# Body digests


def digest_header(body: bytes, alg: str = "sha-256") -> str:
    """The ``Digest`` value (RFC 3230) for ``body``: ``SHA-256=<base64>`` or ``SHA-512=…``."""
    return f"{alg.upper()}={_b64encode(_hash(alg, body))}"


def content_digest_header(body: bytes, alg: str = "sha-256") -> str:
    """The ``Content-Digest`` value (RFC 9530) for ``body``: ``sha-256=:<base64>:``."""
    return f"{alg.lower()}=:{_b64encode(_hash(alg, body))}:"


def verify_body_digest(message: HttpMessage) -> None:
    """Check the ``Digest`` and ``Content-Digest`` headers against the raw body.

    Every digest with a supported algorithm (SHA-256, SHA-512) must match; others are
    ignored, but each header present must hold at least one supported digest. A message
    with a body, and any POST, PUT or PATCH, must carry at least one of the two headers.
    """
    present = False
    legacy = message.header("digest")
    if legacy is not None:
        present = True
        _check_digests("Digest", _parse_legacy_digest(legacy), message.body)
    structured = message.header("content-digest")
    if structured is not None:
        present = True
        _check_digests("Content-Digest", _parse_content_digest(structured), message.body)
    if not present and _has_body(message):
        raise SignatureError("request has a body but no Digest or Content-Digest header")


def _hash(alg: str, body: bytes) -> bytes:
    name = _HASH_NAMES.get(alg.lower())
    if name is None:
        raise ValueError(f"unsupported digest algorithm {alg!r}")
    return hashlib.new(name, body).digest()


def _has_body(message: HttpMessage) -> bool:
    if message.body:
        return True
    return isinstance(message, HttpRequestView) and message.method.upper() in _BODY_METHODS


def _parse_legacy_digest(value: str) -> list[tuple[str, bytes | None]]:
    digests: list[tuple[str, bytes | None]] = []
    for part in value.split(","):
        alg, sep, encoded = part.strip().partition("=")
        if not sep or not alg:
            raise SignatureError("Digest header is malformed")
        alg = alg.lower()
        if alg in _HASH_NAMES:
            digests.append((alg, _b64decode(encoded, "Digest header is malformed")))
        else:
            digests.append((alg, None))
    return digests


def _parse_content_digest(value: str) -> list[tuple[str, bytes | None]]:
    try:
        members = _parse_sf_dictionary(value)
    except _SfError as exc:
        raise SignatureError("Content-Digest header is malformed") from exc
    digests: list[tuple[str, bytes | None]] = []
    for alg, member in members.items():
        if alg not in _HASH_NAMES:
            digests.append((alg, None))
        elif isinstance(member, _Item) and isinstance(member.value, bytes):
            digests.append((alg, member.value))
        else:
            raise SignatureError("Content-Digest header is malformed")
    return digests


def _check_digests(header: str, digests: list[tuple[str, bytes | None]], body: bytes) -> None:
    known = [(alg, value) for alg, value in digests if value is not None]
    if not known:
        raise SignatureError(f"{header} header uses no supported algorithm")
    for alg, expected in known:
        if not hmac.compare_digest(_hash(alg, body), expected):
            raise SignatureError("body digest does not match")


# --------------------------------------------------------------------------------------------
# Parsing a signature


@dataclass(frozen=True)
class ParsedSignature:
    """A signature read from a message, with the exact bytes it claims to sign.

    ``components`` lists what the signature covers, as it appears in the signature base
    (cavage: ``(request-target)``, ``host``…; RFC 9421: ``"@method"``,
    ``"@query-param";name="Pet"``…). ``covered`` holds the names of the components signed
    whole: lowercase header names and derived names (``(request-target)``, ``@authority``…).
    ``created`` and ``expires`` are set only when the signature covers them. ``algorithm``
    is the label the signer stated, or None when it stated none.
    """

    scheme: Literal["cavage", "rfc9421"]
    key_id: str
    algorithm: str | None
    components: tuple[str, ...]
    covered: frozenset[str]
    created: int | None
    expires: int | None
    signature: bytes
    signature_base: bytes
    label: str | None = None
    nonce: str | None = None
    tag: str | None = None


def parse_signature(message: HttpMessage, label: str | None = None) -> ParsedSignature:
    """Read the signature on ``message`` and build the signature base it must verify over.

    RFC 9421 (``Signature-Input`` with ``Signature``) is used when present, taking the
    signature named ``label`` or else the first one listed; otherwise the draft-cavage
    ``Signature`` header, then ``Authorization: Signature …``. Raises SignatureError when the
    message is unsigned, the signature is malformed, names an unsupported algorithm, or covers
    a component the message lacks. Does not check the signature: see verify_request.
    """
    signature_input = message.header("signature-input")
    if signature_input is not None:
        signature = message.header("signature")
        if signature is None:
            raise SignatureError("Signature-Input header without a Signature header")
        return _parse_rfc9421(message, signature_input, signature, label)
    if not isinstance(message, HttpRequestView):
        raise SignatureError("response is not signed")
    cavage = message.header("signature")
    if cavage is None:
        scheme, _, credentials = (message.header("authorization") or "").partition(" ")
        if scheme.lower() == "signature":
            cavage = credentials
    if cavage is None:
        raise SignatureError("request is not signed")
    return _parse_cavage(message, cavage)


# keyId="…", algorithm="…", created=1402170695 — cavage values are quoted, except timestamps.
_CAVAGE_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([0-9]+(?:\.[0-9]+)?))\s*(?:,|$)')


def _parse_cavage(request: HttpRequestView, value: str) -> ParsedSignature:
    params: dict[str, str] = {}
    position, value = 0, value.strip()
    while position < len(value):
        match = _CAVAGE_PARAM.match(value, position)
        if match is None:
            raise SignatureError("Signature header is malformed")
        name = match.group(1).lower()
        if name in params:
            raise SignatureError(f"Signature header repeats {name!r}")
        params[name] = match.group(2) if match.group(2) is not None else match.group(3)
        position = match.end()

    key_id = params.get("keyid")
    if not key_id:
        raise SignatureError("Signature header has no keyId")
    encoded = params.get("signature")
    if not encoded:
        raise SignatureError("Signature header has no signature value")
    algorithm = params.get("algorithm")
    if algorithm is not None:
        algorithm = algorithm.lower()
        if algorithm not in _CAVAGE_ALGORITHMS:
            raise SignatureError(f"unsupported signature algorithm {algorithm!r}")
    # The draft now defaults to "(created)", but Mastodon and the draft's own test vectors
    # default to "date"; a signer relying on either default signs almost nothing anyway.
    names = params.get("headers", "date").lower().split()
    if not names:
        raise SignatureError("signature covers no headers")
    if len(set(names)) != len(names):
        raise SignatureError("signature lists a header twice")
    pseudo = [name for name in ("(created)", "(expires)") if name in names]
    if pseudo and algorithm is not None and algorithm.startswith("rsa"):
        raise SignatureError(f"{pseudo[0]} cannot be signed with {algorithm}")

    # created/expires outside the signed headers are unauthenticated: ignore them.
    created_raw = _cavage_pseudo(params, names, "created")
    expires_raw = _cavage_pseudo(params, names, "expires")
    created = None if created_raw is None else _cavage_timestamp(created_raw, "created")
    expires = None if expires_raw is None else _cavage_timestamp(expires_raw, "expires")

    lines = []
    for name in names:
        if name == "(request-target)":
            component = f"{request.method.lower()} {_request_target(request.url)}"
        elif name == "(created)":
            component = str(created_raw)
        elif name == "(expires)":
            component = str(expires_raw)
        elif name == "host":
            component = request.header("host") or _authority(request.url)
        else:
            header = request.header(name)
            if header is None:
                raise SignatureError(f"signed header {name!r} is missing")
            component = header
        lines.append(f"{name}: {_check_component_value(name, component)}")

    return ParsedSignature(
        scheme="cavage",
        key_id=key_id,
        algorithm=algorithm,
        components=tuple(names),
        covered=frozenset(names),
        created=created,
        expires=expires,
        signature=_b64decode(encoded, "signature value is not valid base64"),
        signature_base=_encode_base("\n".join(lines)),
    )


def _cavage_pseudo(params: Mapping[str, str], names: Sequence[str], param: str) -> str | None:
    if f"({param})" not in names:
        return None
    value = params.get(param)
    if value is None:
        raise SignatureError(f"({param}) is signed but the {param} parameter is missing")
    return value


def _cavage_timestamp(value: str, param: str) -> int:
    try:
        # The draft allows sub-second expiry; rounding down only makes it stricter.
        return int(value) if param == "created" else int(float(value))
    except ValueError as exc:
        raise SignatureError(f"{param} parameter is not a timestamp") from exc


def _parse_rfc9421(
    message: HttpMessage, input_value: str, signature_value: str, label: str | None
) -> ParsedSignature:
    try:
        inputs = _parse_sf_dictionary(input_value)
    except _SfError as exc:
        raise SignatureError(f"Signature-Input header is malformed ({exc})") from exc
    try:
        signatures = _parse_sf_dictionary(signature_value)
    except _SfError as exc:
        raise SignatureError(f"Signature header is malformed ({exc})") from exc
    if label is None:
        label = next((name for name in inputs if name in signatures), None)
        if label is None:
            raise SignatureError("Signature-Input and Signature share no label")
    elif label not in inputs or label not in signatures:
        raise SignatureError(f"no signature labelled {label!r}")
    spec, signature = inputs[label], signatures[label]
    if not isinstance(spec, _InnerList):
        raise SignatureError(f"Signature-Input {label!r} is not an inner list")
    if not isinstance(signature, _Item) or not isinstance(signature.value, bytes):
        raise SignatureError(f"Signature {label!r} is not a byte sequence")

    params = spec.params
    key_id = params.get("keyid")
    if not isinstance(key_id, str) or not key_id:
        raise SignatureError("signature has no keyid")
    algorithm = _optional_str_param(params, "alg")
    if algorithm is not None and algorithm not in _RFC9421_ALGORITHMS:
        raise SignatureError(f"unsupported signature algorithm {algorithm!r}")
    base = _rfc9421_signature_base(message, spec)

    return ParsedSignature(
        scheme="rfc9421",
        key_id=key_id,
        algorithm=algorithm,
        components=tuple(_serialize_item(item) for item in spec.items),
        covered=frozenset(
            item.value
            for item in spec.items
            if isinstance(item.value, str) and set(item.params) <= {"sf"}
        ),
        created=_optional_int_param(params, "created"),
        expires=_optional_int_param(params, "expires"),
        signature=signature.value,
        signature_base=_encode_base(base),
        label=label,
        nonce=_optional_str_param(params, "nonce"),
        tag=_optional_str_param(params, "tag"),
    )


def _optional_int_param(params: Mapping[str, _BareItem], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise SignatureError(f"signature parameter {name!r} is not an integer")
    return value


def _optional_str_param(params: Mapping[str, _BareItem], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SignatureError(f"signature parameter {name!r} is not a string")
    return value


# --------------------------------------------------------------------------------------------
# Verifying


def verify_request(
    message: HttpMessage,
    parsed: ParsedSignature,
    public_key: PublicKey,
    now: Instant,
    max_skew_seconds: int = 3600,
) -> None:
    """Check that ``parsed`` was made with ``public_key`` and is fresh at ``now``.

    On return: ``expires``, if covered, is not in the past; ``created``, if covered, and the
    ``date`` header, if signed, are within ``max_skew_seconds`` of ``now`` on either side;
    the signature over ``parsed.signature_base`` verifies under the stated algorithm (or,
    for ``hs2019`` and RFC 9421 without ``alg``, one that fits the key type). Works for
    RFC 9421 signed responses too. What must be covered is checked by
    check_covered_components. Raises SignatureError otherwise.
    """
    moment = _epoch_seconds(now)
    if parsed.expires is not None and parsed.expires < moment:
        raise SignatureError(f"signature expired at {_iso(parsed.expires)}")
    if parsed.created is not None and abs(parsed.created - moment) > max_skew_seconds:
        raise SignatureError(
            f"created time outside the accepted window "
            f"(created {_iso(parsed.created)}, now {_iso(moment)})"
        )
    if "date" in parsed.covered:
        date = _parse_http_date(message.header("date") or "")
        if abs(date - moment) > max_skew_seconds:
            raise SignatureError(
                f"date outside the accepted window (date {_iso(date)}, now {_iso(moment)})"
            )
    algorithms = _algorithms_to_try(parsed, public_key)
    if not any(
        _signature_matches(alg, public_key, parsed.signature_base, parsed.signature)
        for alg in algorithms
    ):
        raise SignatureError(f"signature does not verify with key {parsed.key_id}")


def check_covered_components(parsed: ParsedSignature, request: HttpRequestView) -> None:
    """Enforce what an inbox requires a verified request signature to cover.

    Requires: the request target (cavage ``(request-target)``; RFC 9421 ``@request-target``
    or ``@method`` with ``@target-uri`` or ``@path``); the host (``host`` or
    ``@authority``/``@target-uri``); a ``date`` header or a ``created`` parameter; and, for
    a request with a body, a signed ``Digest`` or ``Content-Digest`` that matches the body
    (see verify_body_digest). A ``Host`` header must also name the URL's authority, so a
    signature made for one server cannot be replayed to another. Raises SignatureError.
    """
    covered = parsed.covered
    if parsed.scheme == "cavage":
        target_signed = "(request-target)" in covered
        host_signed = "host" in covered
    else:
        target_signed = "@request-target" in covered or (
            "@method" in covered and bool({"@target-uri", "@path"} & covered)
        )
        host_signed = bool({"@authority", "@target-uri", "host"} & covered)
    if not target_signed:
        raise SignatureError("request target is not signed")
    if not host_signed:
        raise SignatureError("host is not signed")
    if "date" not in covered and parsed.created is None:
        raise SignatureError("neither date nor created is signed")
    host = request.header("host")
    if host is not None:
        scheme = _split_absolute_url(request.url).scheme
        if _normalize_authority(host, scheme) != _authority(request.url):
            raise SignatureError("host header does not match the request URL")
    if _has_body(request):
        if not {"digest", "content-digest"} & covered:
            raise SignatureError("body digest is not signed")
        verify_body_digest(request)


def _algorithms_to_try(parsed: ParsedSignature, key: PublicKey) -> tuple[str, ...]:
    stated = parsed.algorithm
    if parsed.scheme == "cavage" and stated in (None, "hs2019"):
        # hs2019 (or nothing stated): the key decides. Mastodon-family servers sign hs2019
        # with PKCS#1 v1.5; the draft recommends PSS with SHA-512.
        if isinstance(key, rsa.RSAPublicKey):
            return ("rsa-v1_5-sha256", "rsa-pss-sha512")
        if isinstance(key, ed25519.Ed25519PublicKey):
            return ("ed25519",)
        raise SignatureError(f"{_key_kind(key)} keys are not supported for hs2019")
    if stated is None:
        if isinstance(key, rsa.RSAPublicKey):
            return ("rsa-pss-sha512", "rsa-v1_5-sha256")
        return (_default_algorithm(key),)
    alg = "rsa-v1_5-sha256" if stated == "rsa-sha256" else stated
    if not _key_fits(alg, key):
        raise SignatureError(f"algorithm {stated} does not fit this {_key_kind(key)} key")
    return (alg,)


def _key_fits(alg: str, key: PublicKey) -> bool:
    if alg == "hmac-sha256":
        return isinstance(key, bytes)
    if alg == "ed25519":
        return isinstance(key, ed25519.Ed25519PublicKey)
    if alg in ("rsa-v1_5-sha256", "rsa-pss-sha512"):
        return isinstance(key, rsa.RSAPublicKey)
    if alg in _ECDSA:
        return isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == _ECDSA[alg][0]
    return False


def _default_algorithm(key: PublicKey | PrivateKey) -> str:
    if isinstance(key, bytes):
        return "hmac-sha256"
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "rsa-pss-sha512"
    for alg, (curve, _, _) in _ECDSA.items():
        if key.curve.name == curve:
            return alg
    raise SignatureError(f"unsupported key type ({_key_kind(key)})")


def _signature_matches(alg: str, key: PublicKey, data: bytes, signature: bytes) -> bool:
    # Callers pass only algorithms that fit the key (see _algorithms_to_try).
    try:
        if alg == "hmac-sha256" and isinstance(key, bytes):
            expected = hmac.new(key, data, hashlib.sha256).digest()
            return hmac.compare_digest(expected, signature)
        if alg == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
        elif alg == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        elif alg == "rsa-pss-sha512" and isinstance(key, rsa.RSAPublicKey):
            # RFC 9421 fixes the salt at 64 bytes; cavage hs2019 signers vary, so accept any.
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=padding.PSS.AUTO)
            key.verify(signature, data, pss, hashes.SHA512())
        elif alg in _ECDSA and isinstance(key, ec.EllipticCurvePublicKey):
            _, digest, size = _ECDSA[alg]
            # RFC 9421 signatures are raw r||s; cryptography wants DER.
            if len(signature) != 2 * size:
                return False
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), data, ec.ECDSA(digest))
        else:
            raise SignatureError(f"algorithm {alg} does not fit this {_key_kind(key)} key")
    except InvalidSignature:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Signing


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    key_id: str,
    private_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    now: Instant,
    *,
    signed_headers: Sequence[str] | None = None,
) -> dict[str, str]:
    """Sign a request the draft-cavage-12 way that Mastodon, GoToSocial and Akkoma verify.

    Returns ``headers`` plus ``Host``, ``Date`` (RFC 7231, from ``now``), ``Digest`` (SHA-256,
    for requests with a body and any POST/PUT/PATCH) and ``Signature``, replacing any of
    those given. By default a request with a body signs ``(request-target) host date digest
    content-type`` and one without signs ``(request-target) host date accept``, leaving out
    headers that are absent. RSA keys sign ``rsa-sha256`` (PKCS#1 v1.5, SHA-256); Ed25519
    keys sign ``hs2019``. Pass a parsed key: never re-parse PEM per request.
    """
    if '"' in key_id:
        raise ValueError("key_id cannot contain a double quote")
    if isinstance(private_key, rsa.RSAPrivateKey):
        label, alg = "rsa-sha256", "rsa-v1_5-sha256"
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        label, alg = "hs2019", "ed25519"
    else:
        raise TypeError(
            f"cannot sign draft-cavage signatures with this {_key_kind(private_key)} key"
        )
    replaced = {"host", "date", "digest", "signature"}
    out = {name: value for name, value in headers.items() if name.lower() not in replaced}
    out["Host"] = _authority(url)
    out["Date"] = _http_date(now)
    draft = HttpRequestView(method, url, out, body)
    if _has_body(draft):
        out["Digest"] = digest_header(body)
        draft = HttpRequestView(method, url, out, body)
    if signed_headers is None:
        names = ["(request-target)", "host", "date"]
        names += ["digest", "content-type"] if _has_body(draft) else ["accept"]
        names = [name for name in names if name.startswith("(") or draft.header(name)]
    else:
        names = [name.lower() for name in signed_headers]
    signing_string = "\n".join(f"{name}: {_cavage_sign_value(draft, name)}" for name in names)
    signature = _b64encode(_sign_with(alg, private_key, _encode_base(signing_string)))
    out["Signature"] = (
        f'keyId="{key_id}",algorithm="{label}",headers="{" ".join(names)}",signature="{signature}"'
    )
    return out


def _cavage_sign_value(request: HttpRequestView, name: str) -> str:
    if name == "(request-target)":
        return f"{request.method.lower()} {_request_target(request.url)}"
    value = request.header(name)
    if value is None:
        raise ValueError(f"cannot sign missing header {name!r}")
    return _check_component_value(name, value)


def sign_message_rfc9421(
    message: HttpMessage,
    components: Sequence[str],
    key_id: str,
    private_key: PrivateKey,
    created: int,
    *,
    label: str = "sig1",
    algorithm: str | None = None,
    expires: int | None = None,
    nonce: str | None = None,
    tag: str | None = None,
) -> dict[str, str]:
    """Sign ``message`` per RFC 9421; returns the ``Signature-Input`` and ``Signature`` headers.

    ``components`` are names (``"@method"``, ``"content-digest"``) or serialized component
    identifiers (``'"@query-param";name="Pet"'``). Parameters are emitted in the order
    created, keyid, alg, expires, nonce, tag. Without ``algorithm`` no ``alg`` parameter is
    sent and the key type decides (RSA: rsa-pss-sha512). Ed25519, HMAC and RSA PKCS#1 v1.5
    signatures are deterministic; PSS and ECDSA are not.
    """
    _serialize_key(label)
    items = []
    for component in components:
        if component.startswith('"'):
            try:
                items.append(_SfParser(component).item_only())
            except _SfError as exc:
                raise ValueError(f"malformed component identifier {component!r}") from exc
        else:
            items.append(_Item(component.lower()))
    params: dict[str, _BareItem] = {"created": created, "keyid": key_id}
    optional: dict[str, _BareItem | None] = {
        "alg": algorithm,
        "expires": expires,
        "nonce": nonce,
        "tag": tag,
    }
    params.update({name: value for name, value in optional.items() if value is not None})
    spec = _InnerList(tuple(items), params)
    base = _encode_base(_rfc9421_signature_base(message, spec))
    alg = algorithm or _default_algorithm(private_key)
    signature = _sign_with(alg, private_key, base)
    return {
        "Signature-Input": f"{label}={_serialize_inner_list(spec)}",
        "Signature": f"{label}={_serialize_bare(signature)}",
    }


def _sign_with(alg: str, key: PrivateKey, data: bytes) -> bytes:
    if alg == "hmac-sha256" and isinstance(key, bytes):
        return hmac.new(key, data, hashlib.sha256).digest()
    if alg == "ed25519" and isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if alg == "rsa-v1_5-sha256" and isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "rsa-pss-sha512" and isinstance(key, rsa.RSAPrivateKey):
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
        return key.sign(data, pss, hashes.SHA512())
    if alg in _ECDSA and isinstance(key, ec.EllipticCurvePrivateKey):
        curve, digest, size = _ECDSA[alg]
        if key.curve.name == curve:
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    raise TypeError(f"cannot sign {alg} with this {_key_kind(key)} key")


# --------------------------------------------------------------------------------------------
# RFC 9421 signature base (§2.5) and component values (§2.1, §2.2)

# Fields whose structured type we know, for the ``sf`` and ``key`` component parameters.
_SF_DICTIONARY_FIELDS = frozenset(
    {
        "accept-signature",
        "content-digest",
        "priority",
        "repr-digest",
        "signature",
        "signature-input",
        "want-content-digest",
        "want-repr-digest",
    }
)
_SF_LIST_FIELDS = frozenset({"accept-ch", "cache-status", "proxy-status"})


def _rfc9421_signature_base(message: HttpMessage, spec: _InnerList) -> str:
    lines = []
    seen: set[str] = set()
    for item in spec.items:
        identifier = _serialize_item(item)
        if identifier in seen:
            raise SignatureError(f"component {identifier} is listed twice")
        seen.add(identifier)
        value = _component_value(message, item)
        lines.append(f"{identifier}: {_check_component_value(identifier, value)}")
    lines.append(f'"@signature-params": {_serialize_inner_list(spec)}')
    return "\n".join(lines)


def _component_value(message: HttpMessage, item: _Item) -> str:
    name, params = item.value, item.params
    if not isinstance(name, str) or not name or name != name.lower():
        raise SignatureError("component names must be lowercase strings")
    if name.startswith("@"):
        return _derived_component(message, name, params)
    unknown = set(params) - {"sf", "key", "bs"}
    if unknown:
        raise SignatureError(f"unsupported component parameter {sorted(unknown)[0]!r}")
    if "bs" in params and ("sf" in params or "key" in params):
        raise SignatureError(f"component {name!r} combines bs with sf or key")
    value = message.header(name)
    if value is None:
        raise SignatureError(f"covered header {name!r} is missing")
    if "key" in params:
        member_name = params["key"]
        if not isinstance(member_name, str):
            raise SignatureError("key parameter must be a string")
        try:
            members = _parse_sf_dictionary(value)
        except _SfError as exc:
            raise SignatureError(f"header {name!r} is not a structured dictionary") from exc
        if member_name not in members:
            raise SignatureError(f"header {name!r} has no member {member_name!r}")
        return _serialize_member(members[member_name])
    if "sf" in params:
        return _reserialize_structured(name, value)
    if "bs" in params:
        # We only see the combined value, so a field sent on several lines is wrapped whole.
        return _serialize_bare(value.encode())
    return value


def _derived_component(message: HttpMessage, name: str, params: Mapping[str, _BareItem]) -> str:
    allowed = {"name"} if name == "@query-param" else set()
    if set(params) - allowed:
        raise SignatureError(f"unsupported parameter on component {name!r}")
    if name == "@status":
        if not isinstance(message, HttpResponseView):
            raise SignatureError("@status is only defined for responses")
        return f"{message.status:03d}"
    if not isinstance(message, HttpRequestView):
        raise SignatureError(f"component {name!r} is not defined for responses")
    url = message.url
    parts = _split_absolute_url(url)
    if name == "@method":
        return message.method
    if name == "@target-uri":
        return url
    if name == "@authority":
        return _authority(url)
    if name == "@scheme":
        return parts.scheme.lower()
    if name == "@request-target":
        return _request_target(url)
    if name == "@path":
        return parts.path or "/"
    if name == "@query":
        return f"?{parts.query}"
    if name == "@query-param":
        wanted = params.get("name")
        if not isinstance(wanted, str):
            raise SignatureError("@query-param needs a name parameter")
        values = [
            _form_encode(value)
            for key, value in parse_qsl(parts.query, keep_blank_values=True)
            if _form_encode(key) == wanted
        ]
        if not values:
            raise SignatureError(f"query parameter {wanted!r} is missing")
        if len(values) > 1:
            raise SignatureError(f"query parameter {wanted!r} occurs more than once")
        return values[0]
    raise SignatureError(f"unsupported derived component {name!r}")


def _reserialize_structured(name: str, value: str) -> str:
    try:
        if name in _SF_DICTIONARY_FIELDS:
            return _serialize_dictionary(_parse_sf_dictionary(value))
        if name in _SF_LIST_FIELDS:
            return _serialize_list(_parse_sf_list(value))
    except _SfError as exc:
        raise SignatureError(f"header {name!r} is not a valid structured field") from exc
    # Unknown type: try the narrowest reading first. A dictionary that also parses as a
    # list serializes identically either way.
    for reserialize in (
        lambda v: _serialize_item(_SfParser(v).item_only()),
        lambda v: _serialize_list(_parse_sf_list(v)),
        lambda v: _serialize_dictionary(_parse_sf_dictionary(v)),
    ):
        try:
            return reserialize(value)
        except _SfError:
            continue
    raise SignatureError(f"header {name!r} is not a valid structured field")


def _form_encode(text: str) -> str:
    # WHATWG "application/x-www-form-urlencoded percent-encode set", space as %20 (§2.2.8).
    return quote(text, safe="*").replace("~", "%7E")


# --------------------------------------------------------------------------------------------
# Small shared helpers


def _split_absolute_url(url: str) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"url must be an absolute http(s) URL, got {url!r}")
    return parts


def _authority(url: str) -> str:
    parts = _split_absolute_url(url)
    return _normalize_authority(parts.netloc.rpartition("@")[2], parts.scheme)


def _normalize_authority(authority: str, scheme: str) -> str:
    authority = authority.strip().lower()
    default_port = {"http": ":80", "https": ":443"}.get(scheme.lower())
    if default_port and authority.endswith(default_port):
        return authority[: -len(default_port)]
    return authority


def _request_target(url: str) -> str:
    parts = _split_absolute_url(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _check_component_value(name: str, value: str) -> str:
    # A line break inside a value would let a sender forge extra lines of the base.
    if "\n" in value or "\r" in value:
        raise SignatureError(f"component {name} contains a line break")
    return value


def _encode_base(base: str) -> bytes:
    try:
        return base.encode("ascii")
    except UnicodeEncodeError as exc:
        raise SignatureError("signed components contain non-ASCII characters") from exc


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, reason: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError(reason) from exc


def _epoch_seconds(now: Instant) -> float:
    if isinstance(now, datetime):
        if now.tzinfo is None:
            raise ValueError("now must be a timezone-aware datetime")
        return now.timestamp()
    return float(now)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat()


def _http_date(now: Instant) -> str:
    return format_datetime(datetime.fromtimestamp(int(_epoch_seconds(now)), tz=UTC), usegmt=True)


def _parse_http_date(value: str) -> float:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError) as exc:
        raise SignatureError("date header is not a valid HTTP date") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _key_kind(key: object) -> str:
    if isinstance(key, bytes):
        return "shared secret"
    if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return "Ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    return type(key).__name__


# --------------------------------------------------------------------------------------------
# Structured field values (RFC 8941), as much as HTTP signatures need


class _SfError(ValueError):
    pass


@dataclass(frozen=True)
class _Token:
    value: str


_BareItem: TypeAlias = bool | int | float | str | bytes | _Token


@dataclass(frozen=True)
class _Item:
    value: _BareItem
    params: Mapping[str, _BareItem] = field(default_factory=dict)


@dataclass(frozen=True)
class _InnerList:
    items: tuple[_Item, ...]
    params: Mapping[str, _BareItem] = field(default_factory=dict)


_Member: TypeAlias = _Item | _InnerList

_DIGITS = frozenset("0123456789")
_LCALPHA = frozenset("abcdefghijklmnopqrstuvwxyz")
_ALPHA = _LCALPHA | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_KEY_START = _LCALPHA | {"*"}
_KEY_CHARS = _LCALPHA | _DIGITS | frozenset("_-.*")
_TOKEN_START = _ALPHA | {"*"}
_TOKEN_CHARS = _ALPHA | _DIGITS | frozenset("!#$%&'*+-.^_`|~:/")
_BASE64_CHARS = _ALPHA | _DIGITS | frozenset("+/=")


class _SfParser:
    """The parsing algorithms of RFC 8941 §4.2, over one field value."""

    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise _SfError("non-ASCII character")
        self.text = text.strip(" \t")
        self.pos = 0

    def dictionary_only(self) -> dict[str, _Member]:
        members: dict[str, _Member] = {}
        while self.pos < len(self.text):
            key = self._key()
            if self._peek() == "=":
                self.pos += 1
                members[key] = self._member()
            else:
                members[key] = _Item(True, self._params())
            if self._end_of_member():
                break
        return members

    def list_only(self) -> list[_Member]:
        members: list[_Member] = []
        while self.pos < len(self.text):
            members.append(self._member())
            if self._end_of_member():
                break
        return members

    def item_only(self) -> _Item:
        item = self._item()
        if self.pos != len(self.text):
            raise _SfError(f"unexpected {self._peek()!r} at {self.pos}")
        return item

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise _SfError(f"expected {char!r} at {self.pos}")
        self.pos += 1

    def _end_of_member(self) -> bool:
        while self._peek() in (" ", "\t"):
            self.pos += 1
        if self.pos == len(self.text):
            return True
        self._expect(",")
        while self._peek() in (" ", "\t"):
            self.pos += 1
        if self.pos == len(self.text):
            raise _SfError("trailing comma")
        return False

    def _member(self) -> _Member:
        return self._inner_list() if self._peek() == "(" else self._item()

    def _inner_list(self) -> _InnerList:
        self._expect("(")
        items: list[_Item] = []
        while self.pos < len(self.text):
            while self._peek() == " ":
                self.pos += 1
            if self._peek() == ")":
                self.pos += 1
                return _InnerList(tuple(items), self._params())
            items.append(self._item())
            if self._peek() not in (" ", ")"):
                raise _SfError(f"unexpected {self._peek()!r} in inner list at {self.pos}")
        raise _SfError("unterminated inner list")

    def _item(self) -> _Item:
        return _Item(self._bare_item(), self._params())

    def _params(self) -> dict[str, _BareItem]:
        params: dict[str, _BareItem] = {}
        while self._peek() == ";":
            self.pos += 1
            while self._peek() == " ":
                self.pos += 1
            key = self._key()
            value: _BareItem = True
            if self._peek() == "=":
                self.pos += 1
                value = self._bare_item()
            params[key] = value
        return params

    def _key(self) -> str:
        start = self.pos
        if self._peek() not in _KEY_START:
            raise _SfError(f"expected a key at {self.pos}")
        while self._peek() in _KEY_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def _bare_item(self) -> _BareItem:
        char = self._peek()
        if char == "-" or char in _DIGITS:
            return self._number()
        if char == '"':
            return self._string()
        if char in _TOKEN_START:
            return self._token()
        if char == ":":
            return self._byte_sequence()
        if char == "?":
            return self._boolean()
        raise _SfError(f"unexpected {char!r} at {self.pos}")

    def _number(self) -> int | float:
        negative = self._peek() == "-"
        if negative:
            self.pos += 1
        start, decimal = self.pos, False
        if self._peek() not in _DIGITS:
            raise _SfError(f"expected a digit at {self.pos}")
        while self._peek() in _DIGITS or (self._peek() == "." and not decimal):
            if self._peek() == ".":
                if self.pos - start > 12:
                    raise _SfError("decimal has too many integer digits")
                decimal = True
            self.pos += 1
            if self.pos - start > (16 if decimal else 15):
                raise _SfError("number is too long")
        text = self.text[start : self.pos]
        if decimal:
            fraction = text.partition(".")[2]
            if not 1 <= len(fraction) <= 3:
                raise _SfError("decimal needs one to three fractional digits")
            return -float(text) if negative else float(text)
        return -int(text) if negative else int(text)

    def _string(self) -> str:
        self._expect('"')
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self._peek()
                if escaped not in ('"', "\\"):
                    raise _SfError("invalid escape in string")
                chars.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(chars)
            elif not " " <= char <= "~":
                raise _SfError("invalid character in string")
            else:
                chars.append(char)
        raise _SfError("unterminated string")

    def _token(self) -> _Token:
        start = self.pos
        self.pos += 1
        while self._peek() in _TOKEN_CHARS:
            self.pos += 1
        return _Token(self.text[start : self.pos])

    def _byte_sequence(self) -> bytes:
        self._expect(":")
        end = self.text.find(":", self.pos)
        if end < 0:
            raise _SfError("unterminated byte sequence")
        encoded = self.text[self.pos : end]
        if not set(encoded) <= _BASE64_CHARS:
            raise _SfError("invalid character in byte sequence")
        self.pos = end + 1
        try:
            # RFC 8941 lets parsers accept missing padding.
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error as exc:
            raise _SfError("invalid base64 in byte sequence") from exc

    def _boolean(self) -> bool:
        self._expect("?")
        char = self._peek()
        if char not in ("0", "1"):
            raise _SfError("invalid boolean")
        self.pos += 1
        return char == "1"


def _parse_sf_dictionary(text: str) -> dict[str, _Member]:
    return _SfParser(text).dictionary_only()


def _parse_sf_list(text: str) -> list[_Member]:
    return _SfParser(text).list_only()


def _serialize_key(key: str) -> str:
    if not key or key[0] not in _KEY_START or not set(key) <= _KEY_CHARS:
        raise ValueError(f"invalid structured field key {key!r}")
    return key


def _serialize_bare(value: _BareItem) -> str:
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > 999_999_999_999_999:
            raise ValueError("integer out of range for a structured field")
        return str(value)
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, str):
        if not all(" " <= char <= "~" for char in value):
            raise ValueError("string has characters a structured field cannot carry")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, _Token):
        return value.value
    return f":{_b64encode(value)}:"


def _serialize_params(params: Mapping[str, _BareItem]) -> str:
    return "".join(
        f";{_serialize_key(key)}"
        if value is True
        else f";{_serialize_key(key)}={_serialize_bare(value)}"
        for key, value in params.items()
    )


def _serialize_item(item: _Item) -> str:
    return _serialize_bare(item.value) + _serialize_params(item.params)


def _serialize_inner_list(inner: _InnerList) -> str:
    items = " ".join(_serialize_item(item) for item in inner.items)
    return f"({items}){_serialize_params(inner.params)}"


def _serialize_member(member: _Member) -> str:
    if isinstance(member, _InnerList):
        return _serialize_inner_list(member)
    return _serialize_item(member)


def _serialize_list(members: Sequence[_Member]) -> str:
    return ", ".join(_serialize_member(member) for member in members)


def _serialize_dictionary(members: Mapping[str, _Member]) -> str:
    return ", ".join(
        f"{_serialize_key(key)}{_serialize_params(member.params)}"
        if isinstance(member, _Item) and member.value is True
        else f"{_serialize_key(key)}={_serialize_member(member)}"
        for key, member in members.items()
    )
