"""Remote actors and pre-signed ``Create(Note)`` requests for the inbox benchmark.

Keys: a small pool of RSA-2048 keys shared by the actors (each actor still has
its own key id, so the node looks up and caches 1,000 keys; generating 1,000
RSA keys would take a minute for nothing). Requests are signed once per
benchmark invocation, in parallel on all cores, and written in the
``<length>\\n<raw HTTP request>`` records that ``inbox.lua`` and ``loadgen``
read. Every run starts a fresh database, so the same requests are new each time.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
KNOWN_ACTORS = 1000
KEY_POOL = 8
# One request in FIRST_CONTACT_EVERY comes from an actor the node has never seen.
FIRST_CONTACT_EVERY = 100
TEXT = (
    "Weekly update from the platform team: the billing migration finished on Tuesday and "
    "error rates are back to normal. Next we start on the search indexer; comments on the "
    "plan are welcome before Friday. Item {n}."
)


def generate_keys(count: int = KEY_POOL) -> list[tuple[str, str]]:
    """``count`` RSA-2048 key pairs as (private PEM, public PEM)."""
    pairs = []
    for _ in range(count):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        pairs.append((private, public))
    return pairs


@dataclass(frozen=True)
class Record:
    """What one pre-signed request carries."""

    actor: str
    note_uri: str
    first_contact: bool


@dataclass
class InboxWorkload:
    """Actors on a key server at ``key_port``, and requests signed for a node at ``node_port``."""

    node_port: int
    key_port: int
    keys: list[tuple[str, str]]
    requests_path: Path
    documents_path: Path
    records: list[Record]

    @property
    def actor_domain(self) -> str:
        return f"127.0.0.1:{self.key_port}"

    def actor_uri(self, name: str) -> str:
        return f"http://{self.actor_domain}/users/{name}"

    def known_actors(self) -> list[str]:
        return [self.actor_uri(f"a{i}") for i in range(KNOWN_ACTORS)]

    def key_of(self, index: int) -> tuple[str, str]:
        return self.keys[index % len(self.keys)]


_signing_keys: list[Any] = []


def _load_signing_keys(private_pems: list[str]) -> None:
    _signing_keys[:] = [serialization.load_pem_private_key(p.encode(), None) for p in private_pems]


def _sign(job: tuple[str, int, bytes, int]) -> bytes:
    from federation.signatures import sign_request

    url, key_index, body, _ = job
    actor = json.loads(body)["actor"]
    headers = sign_request(
        "POST",
        url,
        {"Content-Type": "application/activity+json"},
        body,
        f"{actor}#main-key",
        _signing_keys[key_index],
        dt.datetime.now(dt.UTC),
    )
    head = "POST /inbox HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _actor_document(uri: str, public_pem: str) -> dict[str, Any]:
    origin = uri.split("/users/")[0]
    return {
        "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
        "id": uri,
        "type": "Person",
        "preferredUsername": uri.rsplit("/", 1)[1],
        "name": "Bench actor",
        "inbox": f"{uri}/inbox",
        "outbox": f"{uri}/outbox",
        "followers": f"{uri}/followers",
        "endpoints": {"sharedInbox": f"{origin}/inbox"},
        "publicKey": {"id": f"{uri}#main-key", "owner": uri, "publicKeyPem": public_pem},
    }


def build(node_port: int, key_port: int, count: int, directory: Path, tag: str) -> InboxWorkload:
    """Sign ``count`` requests: actor ``i % 1000``, or a new first-contact actor every 100th."""
    keys = generate_keys()
    workload = InboxWorkload(
        node_port, key_port, keys, directory / "requests.bin", directory / "actors.json", []
    )
    reader_uri = f"http://localhost:{node_port}/users/reader"
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    jobs: list[tuple[str, int, bytes, int]] = []
    documents: dict[str, Any] = {}
    for n in range(count):
        first_contact = n % FIRST_CONTACT_EVERY == FIRST_CONTACT_EVERY // 2
        if first_contact:
            name, key_index = f"fc{tag}x{n}", n
        else:
            name, key_index = f"a{n % KNOWN_ACTORS}", n % KNOWN_ACTORS
        actor = workload.actor_uri(name)
        key_index %= len(keys)
        if first_contact:
            documents[f"/users/{name}"] = _actor_document(actor, keys[key_index][1])
        note: dict[str, Any] = {
            "id": f"{actor}/notes/{tag}-{n}",
            "type": "Note",
            "attributedTo": actor,
            "content": f"<p>{TEXT.format(n=n)}</p>",
            "published": now,
            "to": [PUBLIC],
            "cc": [f"{actor}/followers"],
        }
        if first_contact:
            # Nobody here follows a first-contact actor: it mentions someone, or it is dropped.
            note["cc"].append(reader_uri)
            note["tag"] = [{"type": "Mention", "href": reader_uri, "name": "@reader"}]
        activity = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"{actor}/activities/{tag}-{n}",
            "type": "Create",
            "actor": actor,
            "published": now,
            "to": note["to"],
            "cc": note["cc"],
            "object": note,
        }
        workload.records.append(Record(actor, note["id"], first_contact))
        jobs.append((f"http://localhost:{node_port}/inbox", key_index, orjson.dumps(activity), n))
    with ProcessPoolExecutor(
        max_workers=os.cpu_count() or 1,
        initializer=_load_signing_keys,
        initargs=([private for private, _ in keys],),
    ) as pool:
        signed = list(pool.map(_sign, jobs, chunksize=256))
    with workload.requests_path.open("wb") as out:
        for raw in signed:
            out.write(f"{len(raw)}\n".encode())
            out.write(raw)
    workload.documents_path.write_text(json.dumps(documents))
    return workload
