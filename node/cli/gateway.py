"""``evnet gateway serve|token``: a department's HTTP gateway as a service, and its tokens."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import math
import sys
from typing import Any

from node.cli.network import network_from
from node.consortium.identities import ensure_gateway_tls, org_crypto
from node.ops.config import department_runtime
from node.settings import Settings

# A bearer token is a password: a year at most (devices use their certificates instead).
MAX_TOKEN_HOURS = 24 * 366


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("gateway", help="run a department's gateway; issue its tokens")
    verbs = parser.add_subparsers(dest="verb", required=True)
    serve = verbs.add_parser("serve", help="serve the department's HTTP API (foreground)")
    serve.add_argument("--department", required=True, help="e.g. UrbanManagement")
    serve.set_defaults(handler=_serve)
    token = verbs.add_parser("token", help="bearer tokens")
    token_verbs = token.add_subparsers(dest="token_verb", required=True)
    issue = token_verbs.add_parser("issue", help="issue a token for a user; printed once")
    issue.add_argument("--department", required=True)
    issue.add_argument("--user", required=True, help="the Fabric identity the token acts as")
    issue.add_argument("--hours", type=float, default=12.0, help="validity (default 12)")
    issue.set_defaults(handler=_issue)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here: the rest of the CLI must not pay for FastAPI and uvicorn.
    import uvicorn

    from gateway.app import create_app
    from gateway.observability import json_log_handler
    from gateway.tls import ClientCertificates, ServerTls
    from gateway.wiring import (
        chain_follower,
        department_gateway,
        exchange_remote,
        index_follower,
        start_exchange_server,
    )
    from node.chain import BlockArchive, follow_chain
    from node.crypto.subjects import SubjectSecretError
    from node.department import open_parts
    from node.follower import follow
    from node.package import ClaimsArchive
    from node.redaction.archive import CopyArchive

    layout = network_from(settings, verbose=False).layout
    dep = layout.consortium.department(args.department)
    runtime = department_runtime(settings.state_dir, dep)
    parts = open_parts(runtime.paths, runtime.index_url)
    archive = BlockArchive(runtime.paths.chain)
    try:
        deps = department_gateway(
            layout,
            dep.name,
            parts,
            registrar_user=runtime.registrar_user,
            work_dir=runtime.work_dir,
            max_upload_bytes=runtime.max_upload_bytes,
            node_root=runtime.paths.root,
            areas=runtime.areas,
            calendar=runtime.calendar,
            archive=archive,
            # Other departments' items: fetched from their nodes against the caller's record.
            remote=exchange_remote(layout, dep.name, parts.keyring),
        )
    except SubjectSecretError as exc:  # `evnet up` generates it with the crypto material
        print(f"evnet: {exc.code}: {exc}", file=sys.stderr)
        return 2
    root = logging.getLogger()
    root.handlers[:] = [json_log_handler()]
    root.setLevel(logging.INFO)

    tls_options: dict[str, Any] = {}
    if runtime.tls:
        crypto = org_crypto(settings.state_dir, layout.consortium, dep.name)
        server = ensure_gateway_tls(crypto, runtime.host, dt.datetime.now(dt.UTC))
        tls = ServerTls(
            cert=server.tls_cert,
            key=server.tls_key,
            client_ca=crypto.ca_cert,  # callers present their enrollment certificate
            client_certificates=ClientCertificates(runtime.client_certificates),
        )
        tls_options = tls.uvicorn_options()

    async def serve() -> None:
        # Finish or clean up what an earlier, killed instance left half done.
        outcome = await deps.ingest.reconcile()
        logging.getLogger("gateway.service").info("reconciled: %s", outcome)
        # The claims the gateway keeps at ingest go out with the items they describe.
        claims = deps.claims or ClaimsArchive(runtime.paths.root / "claims")
        copies = CopyArchive(deps.redactions_dir or runtime.paths.root / "redactions")
        exchange = await start_exchange_server(
            layout, dep.name, parts, runtime.exchange_port, claims, copies
        )
        logging.getLogger("gateway.service").info(
            "exchange serving on 127.0.0.1:%d", runtime.exchange_port
        )
        # The console's case list and the overview read the index; the follower fills it.
        # The officers' open feeds (GET /assignments/stream) send a flag once it is written.
        follower = index_follower(
            layout,
            dep.name,
            parts,
            runtime.paths.root / "index-follower.json",
            flag_changes=deps.flag_changes,
        )
        following = asyncio.create_task(follow(follower))
        # The node's copy of the chain: exports read their blocks from it.
        archiving = asyncio.create_task(follow_chain(chain_follower(layout, dep.name, archive)))
        config = uvicorn.Config(
            create_app(deps),
            host=runtime.host,
            port=runtime.port,
            log_config=None,
            **tls_options,
        )
        try:
            await uvicorn.Server(config).serve()
        finally:
            following.cancel()
            archiving.cancel()
            await asyncio.gather(following, archiving, return_exceptions=True)
            archive.close()
            await exchange.stop()

    asyncio.run(serve())
    return 0


def _issue(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.auth import TokenStore, TokenStoreCorrupt

    # NaN and infinity pass a plain comparison and break the expiry's arithmetic.
    if not (math.isfinite(args.hours) and 0 < args.hours <= MAX_TOKEN_HOURS):
        print(
            f"evnet: BAD_ARGUMENT: --hours must be a number above 0, at most {MAX_TOKEN_HOURS}",
            file=sys.stderr,
        )
        return 2
    layout = network_from(settings, verbose=False).layout
    dep = layout.consortium.department(args.department)
    runtime = department_runtime(settings.state_dir, dep)
    crypto = org_crypto(settings.state_dir, layout.consortium, dep.name)
    if not crypto.user(args.user).cert.exists():
        print(f"evnet: UNKNOWN_USER: {dep.name} has no identity {args.user!r}", file=sys.stderr)
        return 2
    store = TokenStore(runtime.work_dir / "tokens.json", lambda: dt.datetime.now(dt.UTC))
    try:
        token = store.issue_token(args.user, dt.timedelta(hours=args.hours))
    except TokenStoreCorrupt as exc:
        print(f"evnet: {exc.code}: {exc}", file=sys.stderr)
        return 1
    print(token)
    return 0
