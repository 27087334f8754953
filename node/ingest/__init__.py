"""Ingest of device submissions: verified, sealed, stored, registered, indexed; crash-safe."""

from node.ingest.devices import DeviceVerifier
from node.ingest.errors import IngestRefused
from node.ingest.service import Ingested, IngestService

__all__ = ["DeviceVerifier", "IngestRefused", "IngestService", "Ingested"]
