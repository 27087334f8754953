"""The one place that touches onnxruntime: a narrow, typed session wrapper.

onnxruntime ships no type information; everything it returns is checked and converted here so
the rest of the package stays typed. Its errors become :class:`ModelError` at this seam.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as _ort  # type: ignore[import-untyped]
import onnxruntime.capi.onnxruntime_pybind11_state as _state  # type: ignore[import-untyped]
from numpy.typing import NDArray

from detectors.errors import ModelError

_ERRORS: tuple[type[Exception], ...] = tuple(
    getattr(_state, name)
    for name in dir(_state)
    if isinstance(getattr(_state, name), type) and issubclass(getattr(_state, name), Exception)
)
# Prefer an accelerator when the installed onnxruntime build has one; CPU always works.
_PREFERRED = ("CUDAExecutionProvider", "CoreMLExecutionProvider", "CPUExecutionProvider")


class OrtSession:
    """A loaded model with one image input and at least one float output."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        options: Any = _ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        available = set(_ort.get_available_providers())
        providers = [p for p in _PREFERRED if p in available] or ["CPUExecutionProvider"]
        try:
            self._session: Any = _ort.InferenceSession(
                str(path), sess_options=options, providers=providers
            )
        except _ERRORS as exc:
            raise ModelError(f"cannot load ONNX model {path}: {_first_line(exc)}") from None
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{path}: expected one image input, found {len(inputs)}")
        self.input_name: str = str(inputs[0].name)
        self.input_shape: tuple[int | str | None, ...] = tuple(inputs[0].shape)
        meta: Mapping[str, str] = self._session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, str] = {str(k): str(v) for k, v in meta.items()}
        self.providers: tuple[str, ...] = tuple(self._session.get_providers())

    def run(self, tensor: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        """Run the model; every output as a float32 array.

        Raises:
            ModelError: the runtime rejected the input or failed.
        """
        try:
            outputs = self._session.run(None, {self.input_name: tensor})
        except _ERRORS as exc:
            raise ModelError(f"inference failed: {_first_line(exc)}") from None
        return [np.asarray(o, dtype=np.float32) for o in outputs]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
