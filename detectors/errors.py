"""What can fail on the edge box, named for the phase that failed.

Every error carries a stable ``code`` (for scripts, logs and the gateway) and a one-line
message a person can act on; ``field`` names the configuration field where there is one.
The CLI prints ``evnet: CODE: message``.

    DetectorError
    ├── ConfigError                  CONFIG_INVALID
    │   ├── PolygonError             CONFIG_POLYGON_SELF_INTERSECTING
    │   └── UnknownClassError        CONFIG_UNKNOWN_CLASS
    ├── SourceError                  SOURCE_UNREADABLE
    ├── ModelError                   MODEL_INVALID
    │   └── ModelOutputError         MODEL_OUTPUT_UNSUPPORTED
    ├── DeviceIdentityError          DEVICE_IDENTITY_INVALID
    ├── SpoolError                   SPOOL_ERROR
    │   └── SpoolFullError           SPOOL_FULL
    └── DeliveryError                DELIVERY_FAILED
        └── DeliveryRejected         DELIVERY_REJECTED
"""

from __future__ import annotations


class DetectorError(Exception):
    """Base of the detector errors. ``code`` is stable; the message is for people."""

    code = "DETECTOR_ERROR"
    #: Exit status the CLI uses: 2 for bad input or configuration, 1 for anything else.
    exit_status = 1

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class ConfigError(DetectorError):
    """The camera configuration is missing, malformed or inconsistent."""

    code = "CONFIG_INVALID"
    exit_status = 2


class PolygonError(ConfigError):
    """A zone polygon's edges cross each other (or it has no area)."""

    code = "CONFIG_POLYGON_SELF_INTERSECTING"


class UnknownClassError(ConfigError):
    """A zone names a class the model does not have."""

    code = "CONFIG_UNKNOWN_CLASS"


class SourceError(DetectorError):
    """The video file, image directory or stream cannot be opened or read."""

    code = "SOURCE_UNREADABLE"
    exit_status = 2


class ModelError(DetectorError):
    """The model file is missing, corrupt or not a detector this backend can run."""

    code = "MODEL_INVALID"
    exit_status = 2


class ModelOutputError(ModelError):
    """The model runs but its output layout is not one we can decode."""

    code = "MODEL_OUTPUT_UNSUPPORTED"


class DeviceIdentityError(DetectorError):
    """The device certificate or key is missing, unreadable or not a device identity."""

    code = "DEVICE_IDENTITY_INVALID"
    exit_status = 2


class SpoolError(DetectorError):
    """The durable spool cannot be opened or written."""

    code = "SPOOL_ERROR"


class SpoolFullError(SpoolError):
    """The spool reached its disk budget; new events are refused until some are delivered."""

    code = "SPOOL_FULL"

    def __init__(self, used_bytes: int, needed_bytes: int, max_bytes: int) -> None:
        super().__init__(
            f"spool is full: {used_bytes} bytes used + {needed_bytes} needed"
            f" > budget {max_bytes} bytes; the event was NOT recorded"
            " (check the gateway connection, or raise delivery.spool_max_bytes)"
        )
        self.used_bytes = used_bytes
        self.needed_bytes = needed_bytes
        self.max_bytes = max_bytes


class DeliveryError(DetectorError):
    """A submission did not reach the gateway (it stays in the spool and is retried)."""

    code = "DELIVERY_FAILED"

    def __init__(
        self,
        message: str,
        *,
        event_id: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"event {event_id}: {message}")
        self.event_id = event_id
        self.status = status
        #: Seconds the gateway asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after


class DeliveryRejected(DeliveryError):
    """The gateway refused a submission for good (it is kept in the spool as rejected)."""

    code = "DELIVERY_REJECTED"
