"""EvidenceNet edge detectors: camera video to signed, deduplicated violation submissions.

The public surface is small; everything else is a module per concept (docs/DETECTORS.md)::

    config = load_camera_config(Path("cam.yaml"))
    detector = load_detector(config.model)
    with open_source(config.source, config.sample_fps) as frames:
        Pipeline(config, detector, SpoolSink(spool), identity=identity).run(frames)
"""

from detectors.claims import DeviceIdentity
from detectors.config import CameraConfig, load_camera_config
from detectors.delivery import Deliverer, RetryPolicy
from detectors.errors import DetectorError
from detectors.models import Detections, Detector, load_detector
from detectors.pipeline import Pipeline
from detectors.rectification import RectificationCheck
from detectors.sinks import DirectorySink, SpoolSink
from detectors.sources import open_source
from detectors.spool import Spool

__all__ = [
    "CameraConfig",
    "Deliverer",
    "Detections",
    "Detector",
    "DetectorError",
    "DeviceIdentity",
    "DirectorySink",
    "Pipeline",
    "RectificationCheck",
    "RetryPolicy",
    "Spool",
    "SpoolSink",
    "load_camera_config",
    "load_detector",
    "open_source",
]
