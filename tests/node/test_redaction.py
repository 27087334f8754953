"""The redactor on real images with OpenCV's real detectors: Debian's sample photo of a
footballer (a face), a frame of Debian's street footage (vtest.avi) with and without a plate."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from detectors.evidence import write_clip
from node.redaction import RedactionError, Redactor
from node.redaction.detectors import opencv_cascade_dir
from schemas.derivations import Region, RegionClass

SAMPLES = Path("/usr/share/doc/opencv-doc/examples/data")
# Hand-marked on messi5.jpg (548x342): the player's face, x, y, width, height.
MESSI_FACE = (226, 94, 37, 37)


def _sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: run scripts/install (it installs Debian's opencv-doc)")
    return path


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor.with_opencv_models()


@pytest.fixture(scope="module")
def street_frame() -> Any:
    capture = cv2.VideoCapture(str(_sample("vtest.avi")))
    ok, frame = capture.read()
    capture.release()
    assert ok, "vtest.avi gave no frame"
    return frame


def _png(image: Any) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return bytes(data.tobytes())


def _decode(data: bytes) -> Any:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def _mask(shape: tuple[int, ...], regions: list[Region]) -> Any:
    mask = np.zeros(shape[:2], bool)
    for r in regions:
        mask[r.y : r.y + r.height, r.x : r.x + r.width] = True
    return mask


def _overlaps(region: Region, box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    return (
        region.x < x + w
        and x < region.x + region.width
        and region.y < y + h
        and y < region.y + region.height
    )


def test_the_face_in_a_real_photo_is_pixelated_and_nothing_else_changes(
    redactor: Redactor,
) -> None:
    data = _sample("messi5.jpg").read_bytes()
    result = redactor.redact(data, "image/jpeg")
    original, copy = _decode(data), _decode(result.data)
    assert result.media_type == "image/png"
    assert copy.shape == original.shape
    faces = [r for r in result.regions if r.region_class is RegionClass.FACE]
    assert any(_overlaps(r, MESSI_FACE) for r in faces), result.regions
    x, y, w, h = MESSI_FACE
    face_before = original[y : y + h, x : x + w].astype(int)
    face_after = copy[y : y + h, x : x + w].astype(int)
    assert np.abs(face_before - face_after).mean() > 5  # really obscured, not re-encoded
    outside = ~_mask(original.shape, result.regions)
    assert outside.sum() > 0.8 * outside.size
    assert np.array_equal(original[outside], copy[outside])  # byte for byte
    assert data == _sample("messi5.jpg").read_bytes()  # the input is never changed


def test_a_plate_in_a_street_frame_is_pixelated(redactor: Redactor, street_frame: Any) -> None:
    # A plate of the Russian format the shipped cascade was trained on, on a real frame.
    frame = street_frame.copy()
    plate = np.full((35, 160, 3), 235, np.uint8)
    cv2.rectangle(plate, (1, 1), (158, 33), (20, 20, 20), 2)
    cv2.putText(plate, "A123BC", (8, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.97, (10, 10, 10), 2)
    cv2.putText(plate, "77", (124, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.58, (10, 10, 10), 1)
    frame[420:455, 300:460] = plate
    result = redactor.redact(_png(frame), "image/png")
    plates = [r for r in result.regions if r.region_class is RegionClass.PLATE]
    assert any(_overlaps(r, (300, 420, 160, 35)) for r in plates), result.regions
    copy = _decode(result.data)
    assert not np.array_equal(copy[420:455, 300:460], plate)
    outside = ~_mask(frame.shape, result.regions)
    assert np.array_equal(frame[outside], copy[outside])


def test_a_frame_without_faces_or_plates_comes_out_pixel_identical(
    redactor: Redactor, street_frame: Any
) -> None:
    result = redactor.redact(_png(street_frame), "image/png")
    assert result.regions == []
    assert np.array_equal(_decode(result.data), street_frame)


def test_the_output_is_deterministic_across_runs_and_instances(redactor: Redactor) -> None:
    data = _sample("messi5.jpg").read_bytes()
    first = redactor.redact(data, "image/jpeg")
    again = Redactor.with_opencv_models().redact(data, "image/jpeg")
    assert (again.data, again.regions) == (first.data, first.regions)


def test_the_models_are_named_and_pinned_by_their_hash(redactor: Redactor) -> None:
    files = {m.file: m for m in redactor.models}
    assert set(files) == {
        "haarcascade_frontalface_default.xml",
        "haarcascade_profileface.xml",
        "haarcascade_russian_plate_number.xml",
    }
    for name, model in files.items():
        raw = (opencv_cascade_dir() / name).read_bytes()
        assert str(model.sha256) == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_alpha_and_grey_images_keep_their_channels(redactor: Redactor, street_frame: Any) -> None:
    grey = cv2.cvtColor(street_frame, cv2.COLOR_BGR2GRAY)
    assert np.array_equal(_decode(redactor.redact(_png(grey), "image/png").data), grey)
    rgba = cv2.cvtColor(street_frame, cv2.COLOR_BGR2BGRA)
    rgba[:, :, 3] = 200
    assert np.array_equal(_decode(redactor.redact(_png(rgba), "image/png").data), rgba)


@pytest.mark.parametrize(
    ("data", "media_type", "code"),
    [
        (b"RIFF....WAVEfmt ", "audio/wav", "REDACTION_UNSUPPORTED_MEDIA"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4", "REDACTION_UNSUPPORTED_MEDIA"),
        (b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg", "REDACTION_UNDECODABLE"),
        (b"\x89PNG\r\n\x1a\n", "image/png", "REDACTION_UNDECODABLE"),
        (b"GIF89a", "image/png", "REDACTION_UNDECODABLE"),  # bytes of another type
    ],
)
def test_what_cannot_be_redacted_is_refused_with_a_code(
    redactor: Redactor, data: bytes, media_type: str, code: str
) -> None:
    with pytest.raises(RedactionError) as caught:
        redactor.redact(data, media_type)
    assert caught.value.code == code


def test_limits_are_enforced(street_frame: Any) -> None:
    small = Redactor(opencv_cascade_dir(), max_bytes=1000)
    with pytest.raises(RedactionError, match="REDACTION_TOO_LARGE"):
        small.redact(_png(street_frame), "image/png")
    few = Redactor(opencv_cascade_dir(), max_pixels=100 * 100)
    with pytest.raises(RedactionError, match="REDACTION_TOO_LARGE"):
        few.redact(_png(street_frame), "image/png")


def test_a_missing_detector_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RedactionError) as caught:
        Redactor(tmp_path)
    assert caught.value.code == "REDACTION_MODEL_MISSING"
    (tmp_path / "haarcascade_frontalface_default.xml").write_text("<not a cascade/>")
    with pytest.raises(RedactionError, match="REDACTION_MODEL_MISSING"):
        Redactor(tmp_path)


# --- clips ---------------------------------------------------------------------------------


def _frames(data: bytes, tmp_path: Path) -> list[Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "clip.avi"
    path.write_bytes(data)
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


@pytest.fixture(scope="module")
def player_clip() -> bytes:
    """A Motion-JPEG AVI as the detectors write it: the photo, panning a few pixels."""
    photo = cv2.imread(str(_sample("messi5.jpg")))
    frames = [np.roll(photo, shift, axis=1) for shift in (0, 4, 8)]
    return write_clip(frames, fps=5.0)


def test_a_clip_is_redacted_frame_by_frame_losslessly(
    redactor: Redactor, player_clip: bytes, tmp_path: Path
) -> None:
    result = redactor.redact(player_clip, "video/x-msvideo")
    assert result.media_type == "video/x-msvideo"
    before, after = _frames(player_clip, tmp_path / "in"), _frames(result.data, tmp_path / "out")
    assert len(after) == len(before) == 3
    for index, (original, copy) in enumerate(zip(before, after, strict=True)):
        regions = [r for r in result.regions if r.frame == index]
        x, y, w, h = MESSI_FACE
        face = (x + 4 * index, y, w, h)
        assert any(_overlaps(r, face) for r in regions if r.region_class is RegionClass.FACE)
        fx = face[0]
        changed = np.abs(
            original[y : y + h, fx : fx + w].astype(int) - copy[y : y + h, fx : fx + w]
        )
        assert changed.mean() > 5
        outside = ~_mask(original.shape, regions)
        assert np.array_equal(original[outside], copy[outside])
    assert redactor.redact(player_clip, "video/x-msvideo").data == result.data


def test_real_footage_past_the_frame_limit_is_refused(redactor: Redactor) -> None:
    footage = _sample("vtest.avi").read_bytes()
    short = Redactor(opencv_cascade_dir(), max_frames=5)
    with pytest.raises(RedactionError, match="REDACTION_TOO_LARGE"):
        short.redact(footage, "video/x-msvideo")
    with pytest.raises(RedactionError, match="REDACTION_UNDECODABLE"):
        redactor.redact(b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 64, "video/x-msvideo")
