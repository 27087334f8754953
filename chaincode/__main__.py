"""Entry point of the chaincode server: ``python -m chaincode``.

Reads its settings from the environment once (CHAINCODE_ID, CHAINCODE_SERVER_ADDRESS and
the optional TLS files), as Fabric's chaincode-as-a-service convention has it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

from chaincode.contracts import default_contracts
from chaincode.runtime import Registry
from chaincode.runtime.server import ServerSettings, serve


def _path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("CHAINCODE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = ServerSettings(
            chaincode_id=os.environ["CHAINCODE_ID"],
            address=os.environ["CHAINCODE_SERVER_ADDRESS"],
            tls_cert=_path("CHAINCODE_TLS_CERT_FILE"),
            tls_key=_path("CHAINCODE_TLS_KEY_FILE"),
            client_ca=_path("CHAINCODE_CLIENT_CA_FILE"),
        )
    except KeyError as exc:
        print(f"chaincode: missing environment variable {exc.args[0]}", file=sys.stderr)
        return 2
    asyncio.run(serve(settings, Registry(default_contracts())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
