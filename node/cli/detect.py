"""``evnet detect --camera cam.yaml [--dry-run]``: run the edge detectors on one camera.

Live runs sign every event with the device identity, spool it durably and deliver it to the
gateway in a background thread; ``--dry-run`` writes events (claims, evidence, annotated
frames) to a local folder and sends nothing. Progress (frames, fps, events) goes to stderr.
"""

from __future__ import annotations

import argparse
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from node.settings import Settings

if TYPE_CHECKING:
    from detectors.claims import DeviceIdentity
    from detectors.config import CameraConfig, DeliveryConfig
    from detectors.pipeline import FrameResult, Stats
    from detectors.rectification import RectificationWatcher

# The detector stack (OpenCV, ONNX Runtime) is imported when `evnet detect` runs, not for
# every evnet command.


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("detect", help="run the edge detectors on one camera")
    parser.add_argument("--camera", required=True, type=Path, help="camera configuration YAML")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write annotated frames and events to --out; submit nothing",
    )
    parser.add_argument(
        "--out", type=Path, help="dry-run output folder (default: detect-out/<camera_id>)"
    )
    parser.add_argument(
        "--preview-every",
        type=int,
        default=25,
        metavar="N",
        help="dry run: also write every Nth sampled frame, annotated (0: none)",
    )
    parser.add_argument("--max-frames", type=int, help="stop after this many sampled frames")
    parser.set_defaults(handler=_detect)


def _alarm(message: str) -> None:
    print(f"\nevnet: ALARM: {message}", file=sys.stderr, flush=True)


class _Progress:
    """One status line on stderr, redrawn at most twice a second."""

    def __init__(self, stats: Stats, pending: Any = None) -> None:
        self._stats = stats
        self._pending = pending
        self._last = 0.0
        self._tty = sys.stderr.isatty()

    def __call__(self, result: FrameResult, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < (0.5 if self._tty else 5.0):
            return
        self._last = now
        s = self._stats
        line = f"frames {s.frames}  fps {s.fps:.1f}  events {s.events}"
        if s.dropped:
            line += f"  DROPPED {s.dropped}"
        if self._pending is not None:
            line += f"  pending {self._pending()}"
        print(("\r" if self._tty else "") + line, end="" if self._tty else "\n", file=sys.stderr)


def _detect(args: argparse.Namespace, settings: Settings) -> int:
    from detectors.errors import DetectorError

    try:
        return _run(args)
    except DetectorError as exc:
        print(f"\nevnet: {exc.code}: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("\nevnet: stopped; undelivered events stay in the spool", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from detectors.claims import DeviceIdentity
    from detectors.config import load_camera_config
    from detectors.errors import ConfigError

    config = load_camera_config(args.camera)
    identity = (
        DeviceIdentity.from_files(config.device.org, config.device.cert, config.device.key)
        if config.device is not None
        else None
    )
    if args.dry_run:
        return _dry_run(args, config, identity)
    if identity is None or config.delivery is None:
        raise ConfigError(
            "a live run needs the 'device' and 'delivery' sections (or use --dry-run)",
            field="device" if identity is None else "delivery",
        )
    return _live(args, config, identity)


def _dry_run(
    args: argparse.Namespace, config: CameraConfig, identity: DeviceIdentity | None
) -> int:
    import cv2

    from detectors.models import load_detector
    from detectors.pipeline import Pipeline, preview
    from detectors.sinks import DirectorySink
    from detectors.sources import open_source

    out: Path = args.out or Path("detect-out") / config.camera_id
    sink = DirectorySink(out)
    frames_dir = out / "frames"
    if args.preview_every:
        frames_dir.mkdir(parents=True, exist_ok=True)
    detector = load_detector(config.model)
    with open_source(config.source, config.sample_fps) as source:
        pipeline = Pipeline(config, detector, sink, identity=identity)
        progress = _Progress(pipeline.stats)
        names = detector.info.class_names

        def on_result(result: FrameResult) -> None:
            every = args.preview_every
            if result.events or (every and (pipeline.stats.frames - 1) % every == 0):
                image = preview(result, pipeline.zones, names)
                cv2.imwrite(str(frames_dir / f"frame-{result.frame.index:07d}.jpg"), image)
            progress(result)

        stats = pipeline.run(source, on_result=on_result, max_frames=args.max_frames)
    print(
        f"\ndry run: {stats.frames} frames at {stats.fps:.1f} fps, {stats.events} event(s)"
        f"{'' if identity else ' (unsigned: no device section)'} in {out}",
        file=sys.stderr,
    )
    return 0


def _tls(config: CameraConfig) -> ssl.SSLContext | bool:
    """How the delivery client checks the gateway (and presents the device's certificate)."""
    delivery = config.delivery
    assert delivery is not None
    if not delivery.gateway_url.startswith("https://"):
        return True
    from detectors.errors import ConfigError

    try:
        context = ssl.create_default_context(
            cafile=str(delivery.ca_file) if delivery.ca_file is not None else None
        )
        if delivery.client_certificate and config.device is not None:
            context.load_cert_chain(str(config.device.cert), str(config.device.key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"delivery TLS: cannot load the CA or the device certificate ({exc})",
            field="delivery",
        ) from None
    return context


def _deliver(
    stop: threading.Event,
    delivery: DeliveryConfig,
    headers: dict[str, str],
    verify: ssl.SSLContext | bool,
) -> None:
    """The delivery thread: its own spool connection and HTTP client, until ``stop``."""
    import httpx

    from detectors.delivery import Deliverer, RetryPolicy
    from detectors.errors import DetectorError
    from detectors.spool import Spool

    try:
        with (
            Spool(delivery.spool_path, delivery.spool_max_bytes, on_alarm=_alarm) as own,
            httpx.Client(
                timeout=delivery.timeout_seconds, headers=headers, verify=verify
            ) as client,
        ):
            policy = RetryPolicy(
                base=delivery.retry_base_seconds, max_delay=delivery.retry_max_seconds
            )
            Deliverer(own, client, delivery.gateway_url, policy=policy, on_alarm=_alarm).run(stop)
    except DetectorError as exc:  # the spool failed: say so; the pipeline keeps spooling
        _alarm(f"{exc.code}: delivery stopped: {exc}")


def _poll_rectifications(
    stop: threading.Event,
    delivery: DeliveryConfig,
    headers: dict[str, str],
    verify: ssl.SSLContext | bool,
    watcher: RectificationWatcher,
) -> None:
    """Ask the gateway, now and then, which reminded zones to watch; hand them to the watcher."""
    import httpx

    from detectors.delivery import fetch_rectification_requests
    from detectors.errors import DeliveryError

    failing = False
    with httpx.Client(timeout=delivery.timeout_seconds, headers=headers, verify=verify) as client:
        while not stop.is_set():
            try:
                accepted = watcher.offer(fetch_rectification_requests(client, delivery.gateway_url))
                failing = False
                for flag_id in accepted:
                    print(f"\nrectification requested: watching for {flag_id}", file=sys.stderr)
            except DeliveryError as exc:
                if not failing:  # one alarm per outage, not one per poll
                    _alarm(f"{exc.code}: cannot read rectification requests: {exc}")
                failing = True
            stop.wait(delivery.rectification_poll_seconds)


def _live(args: argparse.Namespace, config: CameraConfig, identity: DeviceIdentity) -> int:
    from detectors.models import load_detector
    from detectors.pipeline import Pipeline
    from detectors.rectification import RectificationWatcher
    from detectors.sinks import SpoolSink
    from detectors.sources import open_source
    from detectors.spool import Spool
    from schemas.claims import Place

    delivery = config.delivery
    assert delivery is not None
    headers = delivery.bearer_headers()  # before any work: a missing token fails now
    verify = _tls(config)  # and an unreadable certificate or CA
    spool = Spool(delivery.spool_path, delivery.spool_max_bytes, on_alarm=_alarm)
    stop = threading.Event()

    worker = threading.Thread(
        target=_deliver, args=(stop, delivery, headers, verify), name="evnet-delivery", daemon=True
    )
    worker.start()
    detector = load_detector(config.model)
    place = Place(lat=config.place.lat, lon=config.place.lon) if config.place else None
    watcher = RectificationWatcher(
        camera_id=config.camera_id,
        zones=config.zones,
        model=detector.info,
        sink=spool.put,
        place=place,
        identity=identity,
        jpeg_quality=config.evidence.jpeg_quality,
    )
    poller = threading.Thread(
        target=_poll_rectifications,
        args=(stop, delivery, headers, verify, watcher),
        name="evnet-rectification-requests",
        daemon=True,
    )
    poller.start()
    try:
        with open_source(config.source, config.sample_fps) as source:
            pipeline = Pipeline(
                config,
                detector,
                SpoolSink(spool),
                identity=identity,
                on_alarm=_alarm,
            )
            progress = _Progress(pipeline.stats, lambda: spool.usage().pending)

            def on_result(result: FrameResult) -> None:
                progress(result)
                for report in watcher.observe(result.frame, result.tracks):
                    print(f"\nrectification report: {report.status.value}", file=sys.stderr)

            stats = pipeline.run(source, on_result=on_result, max_frames=args.max_frames)
        print(f"\nsource ended: {stats.frames} frames, {stats.events} event(s)", file=sys.stderr)
        while (pending := spool.usage().pending) > 0:
            print(
                f"\rwaiting for {pending} delivery(ies) (Ctrl-C leaves them spooled)",
                end="",
                file=sys.stderr,
            )
            time.sleep(1.0)
        print("\nall events delivered", file=sys.stderr)
    finally:
        stop.set()
        worker.join(timeout=10)
        poller.join(timeout=10)
        spool.close()
    return 0
