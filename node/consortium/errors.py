"""What can fail while defining, building or running the consortium.

Every error's ``str()`` is one line a person can act on; the CLI prints it as is.
"""

from __future__ import annotations


class NetworkError(Exception):
    """Base of the consortium errors. ``code`` is stable; the message is for people."""

    code = "NETWORK_ERROR"


class ConsortiumConfigError(NetworkError):
    """The consortium file is missing, malformed or inconsistent."""

    code = "CONSORTIUM_CONFIG_INVALID"


class ToolchainError(NetworkError):
    """A Fabric binary or the Go toolchain needed to build it is missing or unusable."""

    code = "TOOLCHAIN_MISSING"


class PortInUseError(NetworkError):
    """A port the consortium file assigns is already bound by another process."""

    code = "PORT_IN_USE"


class IdentityError(NetworkError):
    """An identity cannot be issued or loaded (unknown org, bad role, missing CA)."""

    code = "IDENTITY_INVALID"
