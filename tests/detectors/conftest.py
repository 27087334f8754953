"""Fixtures for the detector tests (builders live in detkit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from detkit import VTEST, device_pair, org_ca

from node.crypto.pki import KeyPair


@pytest.fixture(scope="session")
def ca() -> KeyPair:
    return org_ca()


@pytest.fixture(scope="session")
def device(ca: KeyPair) -> KeyPair:
    return device_pair(ca)


@pytest.fixture
def vtest() -> Path:
    """Debian's real street footage; missing it is a broken install, never a skip."""
    if not VTEST.is_file():
        pytest.fail(
            f"{VTEST} is missing: run scripts/install (it installs the Debian package opencv-doc)"
        )
    return VTEST
