"""Streamed multipart reading: small fields in memory under a limit, files spooled to disk
under a size limit enforced while reading, so no upload ever sits whole in memory."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from python_multipart.multipart import MultipartParser, parse_options_header

from gateway.problems import Problem

# A submission has its signed parts and a few files; a verification, a package and a trust
# file. Past these, a body is refused: many small parts cost memory and files, not bytes.
MAX_PARTS = 64
FIELDS_PER_UPLOAD = 4  # the fields kept in memory, in all, at most this many field limits

# A file name is one plain path segment: no separators, no dot-dot, no control characters.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def multipart_openapi(
    required: Sequence[str], optional: Sequence[str] = (), *, more_files: bool = False
) -> dict[str, Any]:
    """The ``openapi_extra`` of a route that reads its multipart body itself: its named
    parts (and, with ``more_files``, any number of file parts named as the caller likes)."""
    binary = {"type": "string", "format": "binary"}
    schema: dict[str, Any] = {
        "type": "object",
        "required": list(required),
        "properties": {name: binary for name in (*required, *optional)},
    }
    if more_files:
        schema["additionalProperties"] = binary
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }


def safe_name(name: str) -> str:
    """``name`` if it is a plain file name, else a ``BAD_FILE_NAME`` problem."""
    if not _SAFE_NAME.match(name) or ".." in name:
        raise Problem(422, "BAD_FILE_NAME", "file names must be plain names without paths")
    return name


@dataclass
class Upload:
    """The parts of one multipart request; call :meth:`discard` when done."""

    fields: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)

    def discard(self) -> None:
        for path in self.files.values():
            path.unlink(missing_ok=True)
        self.files.clear()


class _Reader:
    def __init__(
        self,
        spool_dir: Path,
        max_file: int,
        max_field: int,
        max_total: int,
        field_names: Collection[str] = (),
    ) -> None:
        self.spool_dir, self.max_file, self.max_field = spool_dir, max_file, max_field
        self.field_names = frozenset(field_names)
        self.max_total, self.total = max_total, 0
        self.parts, self.field_bytes = 0, 0
        self.upload = Upload()
        self._hname = b""
        self._hvalue = b""
        self._headers: dict[str, bytes] = {}
        self._name = ""
        self._filename: str | None = None
        self._buf = bytearray()
        self._out: IO[bytes] | None = None
        self._out_path: Path | None = None
        self._size = 0

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise Problem(413, "TOO_MANY_PARTS", f"an upload has at most {MAX_PARTS} parts")
        self._headers, self._buf, self._size = {}, bytearray(), 0

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._hname += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._hvalue += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._hname.decode("latin-1").lower()] = self._hvalue
        self._hname, self._hvalue = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        self._filename = None
        if self._name in self.upload.fields:
            raise Problem(422, "DUPLICATE_FIELD", f"field {self._name[:64]!r} sent twice")
        # A reserved name is a field even when the client gave it a file name (the edge
        # devices send claims.json, claims.sig and device.pem as files).
        if raw_filename is not None and self._name not in self.field_names:
            name = safe_name(raw_filename.decode("utf-8", "replace"))
            if name in self.upload.files:
                raise Problem(422, "DUPLICATE_FILE", f"file {name} sent twice")
            self._filename = name
            fd, tmp = tempfile.mkstemp(prefix="upload-", dir=self.spool_dir)
            self._out, self._out_path = os.fdopen(fd, "wb"), Path(tmp)
            self.upload.files[name] = self._out_path

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        self._size += n
        self.total += n
        if self.total > self.max_total:
            raise Problem(413, "TOO_LARGE", f"the upload exceeds {self.max_total} bytes")
        if self._out is not None:
            if self._size > self.max_file:
                raise Problem(413, "TOO_LARGE", f"a file exceeds {self.max_file} bytes")
            self._out.write(data[start:end])
        else:
            if self._size > self.max_field:
                raise Problem(413, "TOO_LARGE", f"field {self._name!r} exceeds {self.max_field}")
            self.field_bytes += n
            if self.field_bytes > self.max_field * FIELDS_PER_UPLOAD:
                raise Problem(
                    413,
                    "TOO_LARGE",
                    f"the fields exceed {self.max_field * FIELDS_PER_UPLOAD} bytes in all",
                )
            self._buf += data[start:end]

    def on_part_end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        else:
            self.upload.fields[self._name] = bytes(self._buf)

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


async def read_multipart(
    content_type: str,
    body: AsyncIterator[bytes],
    *,
    spool_dir: Path,
    max_file_bytes: int,
    max_field_bytes: int,
    field_names: Collection[str] = (),
) -> Upload:
    """Parse a ``multipart/form-data`` body as it arrives.

    Parts without a file name, and parts named in ``field_names``, are small fields kept in
    memory; every other part is a file, spooled to disk under its (sanitised) file name.

    Raises:
        Problem: 415 for another content type, 413 as soon as a limit is passed, 422 for a
            bad file name or a malformed body; every spooled file is removed first.
    """
    ctype, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise Problem(415, "UNSUPPORTED_MEDIA_TYPE", "send multipart/form-data with a boundary")
    spool_dir.mkdir(parents=True, exist_ok=True)
    reader = _Reader(spool_dir, max_file_bytes, max_field_bytes, max_file_bytes * 16, field_names)
    callbacks: Any = {
        name: getattr(reader, name)
        for name in (
            "on_part_begin",
            "on_part_data",
            "on_part_end",
            "on_header_field",
            "on_header_value",
            "on_header_end",
            "on_headers_finished",
        )
    }
    parser = MultipartParser(boundary, callbacks)
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except Problem:
        reader.close()
        reader.upload.discard()
        raise
    except Exception as err:  # the parser's own errors: a malformed body
        reader.close()
        reader.upload.discard()
        raise Problem(422, "MALFORMED_MULTIPART", "the multipart body is malformed") from err
    return reader.upload
