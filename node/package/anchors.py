"""Trust anchors: what a court pins before it verifies a package.

A package carries the channel's config block, which says which MSPs exist, their root
certificates, and which MSPs order the channel (and so sign its blocks). Pinning only the
roots (a PEM file) leaves that last point to the package: a dishonest department could hand
over a config block naming its own MSP an orderer, sign blocks of its making with its own
keys, and every root would still be a pinned one. The config block is either the genesis
block, which nobody signs, or a later one, signed by whatever orderers the package's own
config names; neither anchors it. So the anchors pin each MSP's roots *by MSP id* and the
set of ordering MSPs, for one channel. The consortium's administrator exports them once
(``evnet trust-anchors --out anchors.json``); they change only when an org or a CA does.

The file is canonical JSON (RFC 8785)::

    {"channel": "evidence", "format": "evidencenet-trust/1",
     "orderer_msps": ["OrdererMSP"],
     "roots": {"OrdererMSP": ["-----BEGIN CERTIFICATE-----..."], ...}}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Final, Literal

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from node.consortium.config import Consortium
from node.consortium.identities import consortium_roots
from node.package.certificates import load_cert
from schemas.canonical import CanonicalJSONError, canonical_json, parse_json
from schemas.ledger import MspId

FORMAT: Final = "evidencenet-trust/1"
MAX_BYTES: Final = 1 << 20  # a consortium's roots: a few kilobytes each

Pem = Annotated[str, Field(min_length=1, max_length=16_384)]


class TrustAnchorsMalformed(ValueError):
    """The bytes are not a trust-anchors file (what is wrong is the message)."""


class TrustAnchors(BaseModel):
    """Each MSP's root certificates by MSP id, and which MSPs order ``channel``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    format: Literal["evidencenet-trust/1"]
    channel: Annotated[str, Field(pattern=r"^[a-z][a-z0-9.\-]{0,48}$")]
    orderer_msps: Annotated[list[MspId], Field(min_length=1, max_length=64)]
    roots: Annotated[
        dict[MspId, Annotated[list[Pem], Field(min_length=1, max_length=16)]],
        Field(min_length=1, max_length=64),
    ]

    @model_validator(mode="after")
    def _consistent(self) -> TrustAnchors:
        unknown = sorted(set(self.orderer_msps) - set(self.roots))
        if unknown:
            raise ValueError(f"orderer MSPs without roots: {', '.join(unknown)}")
        for msp_id, pems in self.roots.items():
            for pem in pems:
                if load_cert(pem.encode()) is None:
                    raise ValueError(f"a root of {msp_id} is not a PEM certificate")
        return self

    @classmethod
    def build(
        cls, channel: str, orderer_msps: list[str], roots: Mapping[str, list[bytes]]
    ) -> TrustAnchors:
        """Anchors from each MSP's root certificates (PEM).

        Raises:
            TrustAnchorsMalformed: a value is not what the format allows.
        """
        try:
            return cls(
                format=FORMAT,
                channel=channel,
                orderer_msps=sorted(orderer_msps),
                roots={m: [p.decode() for p in pems] for m, pems in sorted(roots.items())},
            )
        except ValidationError as exc:
            raise TrustAnchorsMalformed(_first_error(exc)) from None

    @classmethod
    def of_consortium(cls, state_dir: Path, consortium: Consortium) -> TrustAnchors:
        """The anchors of the local consortium: its channel, its orderer org as the
        ordering MSP, and each org's CA certificate under ``state_dir``.

        Raises:
            IdentityError: an org's CA was never created (the network never came up).
        """
        return cls.build(
            consortium.channel,
            [consortium.orderers.msp_id],
            consortium_roots(state_dir, consortium),
        )

    @classmethod
    def parse(cls, raw: bytes) -> TrustAnchors:
        """Read a trust-anchors file.

        Raises:
            TrustAnchorsMalformed: not JSON, too large, or not of this format.
        """
        try:
            doc = parse_json(raw, max_bytes=MAX_BYTES)
        except CanonicalJSONError as exc:
            raise TrustAnchorsMalformed(str(exc)) from None
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            raise TrustAnchorsMalformed(_first_error(exc)) from None

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def certificates(self, msp_id: str) -> list[x509.Certificate]:
        """The pinned roots of ``msp_id`` (none if it is not anchored)."""
        return [c for p in self.roots.get(msp_id, []) if (c := load_cert(p.encode())) is not None]


def is_anchors(raw: bytes) -> bool:
    """Whether pinned trust given as bytes is meant as a trust-anchors file (JSON) rather
    than a PEM bundle of roots."""
    return raw.lstrip()[:1] == b"{"


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "file"
    return f"{where}: {error['msg']}"
