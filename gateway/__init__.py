"""EvidenceNet gateway: the department's HTTP API for people and devices.

Build it with :func:`gateway.app.create_app` over a :class:`gateway.deps.GatewayDeps`.
"""
