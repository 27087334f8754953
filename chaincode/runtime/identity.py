"""The submitting client's identity, read from the signed proposal's creator."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from cryptography import x509
from fabric_protos.msp import identities_pb2

from schemas.glossary import ATTRIBUTE_EXTENSION_OID


@dataclass(frozen=True)
class ClientIdentity:
    """MSP id, certificate subject and Fabric-CA attributes (``role`` among them)."""

    msp_id: str
    certificate: x509.Certificate
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    @property
    def role(self) -> str | None:
        return self.attributes.get("role")

    @classmethod
    def from_creator(cls, creator: bytes) -> ClientIdentity:
        """Parse a serialized ``msp.SerializedIdentity``.

        Raises:
            ValueError: the creator is not an X.509 identity.
        """
        ident = identities_pb2.SerializedIdentity.FromString(creator)
        cert = x509.load_pem_x509_certificate(ident.id_bytes)
        attrs: dict[str, str] = {}
        try:
            ext = cert.extensions.get_extension_for_oid(
                x509.ObjectIdentifier(ATTRIBUTE_EXTENSION_OID)
            )
        except x509.ExtensionNotFound:
            pass
        else:
            value = ext.value
            if isinstance(value, x509.UnrecognizedExtension):
                doc = json.loads(value.value)
                raw = doc.get("attrs", {}) if isinstance(doc, dict) else {}
                attrs = {str(k): str(v) for k, v in raw.items()}
        return cls(msp_id=str(ident.mspid), certificate=cert, attributes=attrs)
