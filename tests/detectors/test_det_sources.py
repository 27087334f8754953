"""Frame sources: sampling, timing, and clear errors for sources that cannot be read."""

from __future__ import annotations

import datetime as dt
import itertools
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from detkit import NOW

from detectors.config import SourceConfig
from detectors.errors import ModelError, SourceError
from detectors.models import SsdMobileNetDetector
from detectors.models.ssd_opencv import GRAPH, TEXT_GRAPH, packaged_model_dir
from detectors.sources import _redact, open_source


def source(uri: str | Path, **kw: object) -> SourceConfig:
    return SourceConfig.model_validate({"uri": str(uri), **kw})


def test_a_video_is_sampled_to_the_configured_rate(vtest: Path) -> None:
    start = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with open_source(source(vtest, start_time=start.isoformat()), 5.0) as frames:
        assert frames.fps == 10.0
        assert frames.time_source == "configured_start"
        first = list(itertools.islice(frames, 4))
    assert [f.index for f in first] == [0, 2, 4, 6]
    assert [f.pts for f in first] == [0.0, 0.2, 0.4, 0.6]
    assert first[3].captured_at == start + dt.timedelta(seconds=0.6)
    assert first[0].image.shape == (576, 768, 3)


def test_an_unreadable_video_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "camera-07.avi"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage, not a video" * 50)
    with pytest.raises(SourceError) as caught:
        open_source(source(bad), 5.0)
    assert caught.value.code == "SOURCE_UNREADABLE"
    assert "camera-07.avi" in str(caught.value)
    with pytest.raises(SourceError, match="does not exist"):
        open_source(source(tmp_path / "missing.mp4"), 5.0)


def test_an_image_directory_needs_a_rate_and_readable_images(tmp_path: Path) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    with pytest.raises(SourceError, match="holds no"):
        open_source(source(folder, fps=10), 5.0)
    for i in range(6):
        cv2.imwrite(str(folder / f"img{i:03d}.png"), np.full((20, 30, 3), i, np.uint8))
    with pytest.raises(SourceError, match=r"set source\.fps"):
        open_source(source(folder), 5.0)
    got = list(open_source(source(folder, fps=10), 5.0, clock=lambda: NOW))
    assert [(f.index, f.pts, int(f.image[0, 0, 0])) for f in got] == [
        (0, 0.0, 0),
        (2, 0.2, 2),
        (4, 0.4, 4),
    ]
    assert got[1].captured_at == NOW + dt.timedelta(seconds=0.2)
    (folder / "img001.png").write_bytes(b"broken")
    (folder / "img002.png").write_bytes(b"broken")
    with pytest.raises(SourceError, match=r"cannot read image .*img002\.png"):
        list(open_source(source(folder, fps=10), 5.0))


def test_an_unreachable_stream_is_a_clear_error_without_its_password() -> None:
    with pytest.raises(SourceError) as caught:
        open_source(source("rtsp://admin:secret@127.0.0.1:9/stream1"), 5.0)
    assert "secret" not in str(caught.value)
    assert "rtsp://***@127.0.0.1:9/stream1" in str(caught.value)
    assert _redact("rtsp://cam.local/live") == "rtsp://cam.local/live"


def test_a_corrupt_ssd_graph_is_a_clear_error(tmp_path: Path) -> None:
    shutil.copy(packaged_model_dir() / TEXT_GRAPH, tmp_path / TEXT_GRAPH)
    (tmp_path / GRAPH).write_bytes(b"\x0a\x05 truncated graph" * 100)
    with pytest.raises(ModelError) as caught:
        SsdMobileNetDetector(tmp_path)
    assert caught.value.code == "MODEL_INVALID"
    assert "not a readable graph" in str(caught.value)
