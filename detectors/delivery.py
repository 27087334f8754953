"""Delivery of spooled submissions to the department gateway over HTTPS (httpx).

One ``POST {gateway}/devices/submissions`` per event, ``multipart/form-data``, with the event id
as ``Idempotency-Key`` (the contract is in docs/DETECTORS.md). An event leaves the pending
state only on a 2xx answer, so a crash or a lost response leads to a resend, and the
gateway's idempotency makes the resend harmless: each event takes effect exactly once.

Failures are sorted once, here, at the transport boundary:

- connection errors, timeouts, 408, 425, 429, 5xx, anything unexpected → retry later with
  exponential backoff and jitter (``Retry-After`` is honoured);
- 401 → the device's token is missing, expired or revoked: an alarm, and retry later, so
  the backlog waits for a new token instead of being thrown away;
- 409 and other 4xx → the gateway refused this submission for good → ``rejected`` in the
  spool (kept for a person to inspect) and an alarm.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import TypeAdapter, ValidationError

from detectors.errors import DeliveryError, DeliveryRejected
from detectors.events import Submission
from detectors.spool import Spool
from schemas.rectification import RectificationRequest

log = logging.getLogger(__name__)

SUBMIT_PATH = "/devices/submissions"
REQUESTS_PATH = "/devices/rectification-requests"
_RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with "equal jitter": a delay in ``[cap/2, cap]``."""

    base: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0

    def delay(self, attempts: int, rng: random.Random) -> float:
        cap = min(self.max_delay, self.base * self.factor ** min(attempts, 32))
        return rng.uniform(cap / 2, cap)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    rejected: int = 0


def multipart_parts(submission: Submission) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The form parts, in contract order: claims, signature, certificate, then evidence."""
    parts = [
        ("claims", ("claims.json", submission.claims, "application/json")),
        ("signature", ("claims.sig", submission.signature, "application/octet-stream")),
        ("certificate", ("device.pem", submission.certificate, "application/x-pem-file")),
    ]
    parts += [("evidence", (f.name, f.data, f.media_type)) for f in submission.files]
    return parts


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # the HTTP-date form: fall back to our own backoff


class Deliverer:
    """Sends due submissions from a spool; one instance per thread (it owns a spool handle)."""

    def __init__(
        self,
        spool: Spool,
        client: httpx.Client,
        gateway_url: str,
        *,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        on_alarm: Callable[[str], None] | None = None,
    ) -> None:
        self._spool = spool
        self._client = client
        self._url = gateway_url.rstrip("/") + SUBMIT_PATH
        self._policy = policy or RetryPolicy()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self._clock = clock
        self._on_alarm = on_alarm or (lambda message: log.error("%s", message))

    def submit(self, submission: Submission) -> str:
        """POST one submission; returns the gateway's receipt (its response body).

        Raises:
            DeliveryRejected: the gateway refused it for good (4xx other than 401, 408, 425,
                429).
            DeliveryError: anything worth retrying (``retry_after`` set when the server said).
        """
        event_id = submission.event_id
        try:
            response = self._client.post(
                self._url,
                files=multipart_parts(submission),
                headers={"Idempotency-Key": event_id},
            )
        except httpx.TransportError as exc:
            raise DeliveryError(
                f"gateway unreachable: {type(exc).__name__}", event_id=event_id
            ) from None
        status = response.status_code
        if 200 <= status < 300:
            _check_receipt(response, event_id)
            return response.text
        detail = _problem(response)
        if status == 401:
            self._on_alarm(f"DEVICE_UNAUTHENTICATED: the gateway refused the device's token "
                           f"({detail}); events wait in the spool")  # fmt: skip
        elif 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise DeliveryRejected(
                f"gateway refused it ({status}): {detail}", event_id=event_id, status=status
            )
        raise DeliveryError(
            f"gateway answered {status}: {detail}",
            event_id=event_id,
            status=status,
            retry_after=_retry_after(response),
        )

    def deliver_due(self, limit: int = 50) -> DeliveryReport:
        """Try each due pending event once; returns what happened."""
        delivered = retried = rejected = 0
        for due in self._spool.due(limit):
            submission = self._spool.load(due.event_id)
            try:
                receipt = self.submit(submission)
            except DeliveryRejected as exc:
                self._spool.mark_rejected(due.event_id, str(exc))
                self._on_alarm(f"{exc.code}: {exc}")
                rejected += 1
            except DeliveryError as exc:
                delay = self._policy.delay(due.attempts, self._rng)
                if exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                self._spool.mark_retry(due.event_id, str(exc), self._clock() + delay)
                log.info("%s: %s; retry in %.1fs", exc.code, exc, delay)
                retried += 1
            else:
                self._spool.mark_delivered(due.event_id, receipt[:2000])
                delivered += 1
        return DeliveryReport(delivered, retried, rejected)

    def run(self, stop: threading.Event, idle_seconds: float = 1.0) -> None:
        """Deliver until ``stop`` is set, sleeping until the next event is due."""
        while not stop.is_set():
            report = self.deliver_due()
            if report.delivered or report.rejected:
                continue
            next_at = self._spool.next_attempt_at()
            wait = idle_seconds if next_at is None else next_at - self._clock()
            stop.wait(min(max(wait, 0.01), idle_seconds))


def _check_receipt(response: httpx.Response, event_id: str) -> None:
    """A 2xx answer about another event would mean a broken gateway: never count it."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return
    if isinstance(body, dict) and "event_id" in body and body["event_id"] != event_id:
        raise DeliveryError(
            f"gateway acknowledged event {body['event_id']!r} instead", event_id=event_id
        )


def _problem(response: httpx.Response) -> str:
    """The title/detail of an RFC 9457 problem document, else the start of the body."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        parts = [str(body[k]) for k in ("code", "title", "detail") if k in body]
        if parts:
            return " - ".join(parts)
    return response.text[:200]


def fetch_rectification_requests(
    client: httpx.Client, gateway_url: str
) -> list[RectificationRequest]:
    """The rectification requests the gateway holds for this device (after reminders).

    Raises:
        DeliveryError: the gateway could not be reached or answered something else than a
            list of requests (``event_id`` is ``"rectification-requests"``).
    """
    what = "rectification-requests"
    try:
        response = client.get(gateway_url.rstrip("/") + REQUESTS_PATH)
    except httpx.TransportError as exc:
        raise DeliveryError(f"gateway unreachable: {type(exc).__name__}", event_id=what) from None
    if response.status_code != 200:
        raise DeliveryError(
            f"gateway answered {response.status_code}: {_problem(response)}",
            event_id=what,
            status=response.status_code,
        )
    try:
        return _REQUESTS.validate_json(response.content)
    except ValidationError:
        raise DeliveryError("the gateway's requests are malformed", event_id=what) from None


_REQUESTS = TypeAdapter(list[RectificationRequest])
