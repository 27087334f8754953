"""A small real HTTP gateway for the delivery tests, on 127.0.0.1.

It implements the device-submission contract of docs/DETECTORS.md the way the department
gateway will: multipart parts ``claims``, ``signature``, ``certificate`` and one ``evidence``
part per file; the claims verified by the node's own ``DeviceVerifier``; every file checked
against the SHA-256 and size the device signed; idempotent by ``Idempotency-Key`` (the same
key with the same claims answers 200 with the first receipt, with other claims 409).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from node.ingest import DeviceVerifier, IngestRefused
from schemas.hashes import Digest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class GatewayState:
    verifier: DeviceVerifier
    stored: dict[str, bytes] = field(default_factory=dict)  # event id -> claims
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    posts: int = 0
    created: int = 0
    fail_next: int = 0  # answer 503 to this many requests first
    drop_first_response: bool = False  # store, then hang up without answering (once per key)
    dropped: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str | None, str, bytes]]:
    """(name, filename, content type, bytes) of each part."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str)
        assert isinstance(payload, bytes)
        parts.append((name, part.get_filename(), part.get_content_type(), payload))
    return parts


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self, status: int, doc: dict[str, object]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header(
            "Content-Type", "application/json" if status < 400 else "application/problem+json"
        )
        self.send_header("Content-Length", str(len(body)))
        if status == 503:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with state.lock:
            state.posts += 1
            if state.fail_next > 0:
                state.fail_next -= 1
                self._answer(503, {"title": "warming up"})
                return
        if self.path != "/devices/submissions":
            self._answer(404, {"title": "no such endpoint"})
            return
        key = self.headers.get("Idempotency-Key", "")
        parts = parse_multipart(self.headers["Content-Type"], body)
        named = {name: data for name, _, _, data in parts if name != "evidence"}
        evidence = {fname or "": data for name, fname, _, data in parts if name == "evidence"}
        try:
            claims = state.verifier.verify(
                named["claims"], named["signature"], named["certificate"]
            )
        except IngestRefused as exc:
            self._answer(422, {"code": exc.code, "title": exc.message})
            return
        if claims.event_id != key:
            self._answer(400, {"code": "KEY_MISMATCH", "title": "Idempotency-Key != event_id"})
            return
        for media in claims.media:
            data = evidence.get(media.name)
            if data is None or Digest.of(data) != media.sha256 or len(data) != media.size:
                self._answer(422, {"code": "MEDIA_MISMATCH", "title": media.name})
                return
        receipt = {"event_id": key, "claims_sha256": hashlib.sha256(named["claims"]).hexdigest()}
        with state.lock:
            existing = state.stored.get(key)
            if existing is not None and existing != named["claims"]:
                self._answer(409, {"code": "EVENT_CONFLICT", "title": "other claims, same id"})
                return
            if existing is None:
                state.stored[key] = named["claims"]
                state.files[key] = evidence
                state.created += 1
            if state.drop_first_response and key not in state.dropped:
                state.dropped.add(key)
                self.close_connection = True
                return  # stored, but the device never hears so
        self._answer(201 if existing is None else 200, receipt)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, state: GatewayState) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state


class LocalGateway:
    """Start with :meth:`start`, stop with :meth:`stop`; the state outlives restarts."""

    def __init__(self, port: int, state: GatewayState) -> None:
        self.port = port
        self.state = state
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = _Server(self.port, self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
