"""A department node's ingest on the real network, shared by the test and its crash child."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable

from netsupport import ledger_as

from node.consortium.identities import org_crypto
from node.consortium.launch import Layout
from node.crypto.signing import EcdsaSigner
from node.department import NodePaths, open_parts
from node.ingest import DeviceVerifier, IngestService
from node.streams import Readable
from schemas.claims import CaptureClaims, canonical_bytes
from schemas.hashes import Digest

# A department whose evidence on the shared test ledger comes only through this node:
# other scenario tests register UrbanManagement items directly, which its sweep would
# rightly report as registered-but-not-held.
DEPARTMENT = "PublicSecurity"
PHOTO = b"\xff\xd8 roaming vendor with cart " * 20_000


def node_service(layout: Layout, crash_point: Callable[[str], None] | None = None) -> IngestService:
    crypto = org_crypto(layout.state_dir, layout.consortium, DEPARTMENT)
    parts = open_parts(NodePaths.of(layout.state_dir, DEPARTMENT))
    kwargs = {"crash_point": crash_point} if crash_point else {}
    return IngestService(
        verifier=DeviceVerifier(f"{DEPARTMENT}MSP", crypto.ca_cert.read_bytes()),
        store=parts.store,
        vault=parts.vault,
        keyring=parts.keyring,
        ledger=ledger_as(layout, DEPARTMENT, "device"),
        index=parts.index,
        max_item_bytes=64 << 20,
        **kwargs,  # type: ignore[arg-type]
    )


def upload(layout: Layout, event_id: str) -> tuple[bytes, bytes, bytes, dict[str, Readable]]:
    """Claims for one photo, signed by the department's device identity ``device1``."""
    crypto = org_crypto(layout.state_dir, layout.consortium, DEPARTMENT)
    files = crypto.user("device1")
    claims = CaptureClaims.model_validate_json(
        json.dumps(
            {
                "event_id": event_id,
                "org": f"{DEPARTMENT}MSP",
                "device_id": "device1",
                "camera_id": "cam-jiangbei-12",
                "captured_at": dt.datetime(2026, 11, 22, 8, tzinfo=dt.UTC).isoformat(),
                "zone": "pavement_east",
                "rule": "no_vending",
                "violation_type": "roaming_vendor",
                "model_sha256": str(Digest.of(b"model")),
                "media": [
                    {
                        "name": "photo.jpg",
                        "media_type": "image/jpeg",
                        "sha256": str(Digest.of(PHOTO)),
                        "size": len(PHOTO),
                    }
                ],
            }
        )
    )
    body = canonical_bytes(claims)
    signature = EcdsaSigner.from_pem(files.key.read_bytes()).sign(body)
    return body, signature, files.cert.read_bytes(), {"photo.jpg": io.BytesIO(PHOTO)}
