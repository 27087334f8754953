"""A rectification request as the gateway hands it to a device, and the device's view of it.

After a co-governance reminder the gateway asks the camera that raised the flag to watch the
zone: clear for ``clear_seconds`` before ``deadline`` is *rectified*, otherwise *not
rectified*. The device answers with :class:`schemas.claims.RectificationClaims`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, Field


class RequestStatus(StrEnum):
    PENDING = "pending"  # the device has not reported yet
    REPORTED = "reported"


class RectificationRequest(BaseModel):
    flag_id: str
    device_id: str
    camera_id: str
    zone: str
    requested_at: AwareDatetime
    deadline: AwareDatetime  # the device reports not_rectified if the zone is not clear by then
    clear_seconds: float = Field(gt=0)
    status: RequestStatus = RequestStatus.PENDING
    # The device's report, once it arrived.
    outcome: str | None = None  # rectified | not_rectified
    report_event_id: str | None = None
    evidence_ids: list[str] = Field(default_factory=list)
    reported_at: AwareDatetime | None = None
