"""The package archive as a stream: nothing readable before it opens, every byte in order
after, a bounded lead for the writer, and a failure or a reader gone each stopping the
other side."""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from node.package.archive_file import STAGE, STAGES
from node.package.archive_stream import ArchiveStream, StreamCancelled, StreamFailed


def _bytes(n: int, size: int) -> bytes:
    return hashlib.shake_256(f"part-{n}".encode()).digest(size)


async def _read_all(stream: ArchiveStream) -> bytes:
    # A chunk is a view of a stage, filled again once the next is asked for: copied here.
    return b"".join([bytes(chunk) async for chunk in stream.chunks()])


def test_the_reader_gets_exactly_what_was_written_once_opened() -> None:
    parts = [_bytes(n, size) for n, size in enumerate([1, 511, STAGE - 1, STAGE, 2 * STAGE + 17])]
    stream = ArchiveStream()

    def write() -> None:
        for n, part in enumerate(parts):
            stream.write(part)
            if n == 1:
                stream.open()
        stream.close()

    async def main() -> bytes:
        writer = asyncio.ensure_future(asyncio.to_thread(write))
        got = await _read_all(stream)
        await writer
        return got

    assert asyncio.run(main()) == b"".join(parts)


def test_nothing_is_readable_before_open_and_the_writer_waits_within_its_lead() -> None:
    stream = ArchiveStream()
    written = 0
    done = threading.Event()

    def write() -> None:
        nonlocal written
        # Far more than the lead: the writer must stop and wait for a reader.
        for n in range(STAGES + 6):
            stream.write(_bytes(n, STAGE))
            written += STAGE
        stream.close()
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.5)
    # Its three stages at most; the rest waits for the reader.
    assert not done.is_set()
    assert written <= STAGES * STAGE
    # And nothing can be read yet: the reader waits for open().
    assert stream._take() is None
    stream.open()
    first = stream._take()
    assert isinstance(first, memoryview)
    assert first == _bytes(0, STAGE)
    rest = asyncio.run(_read_all(stream))
    writer.join(5)
    assert done.is_set()
    assert rest == b"".join(_bytes(n, STAGE) for n in range(1, STAGES + 6))


def test_a_failed_build_fails_its_reader_even_mid_stream() -> None:
    stream = ArchiveStream()
    stream.open()
    stream.write(_bytes(0, STAGE))
    stream.write(_bytes(1, STAGE))  # the first stage is handed over

    got: list[bytes] = []

    async def main() -> None:
        async for chunk in stream.chunks():
            got.append(bytes(chunk))
            stream.discard()  # the build fails while the reader holds its first chunk

    with pytest.raises(StreamFailed):
        asyncio.run(main())
    assert got == [_bytes(0, STAGE)]
    assert stream.closed


def test_a_reader_gone_stops_a_writer_that_waits_for_it() -> None:
    stream = ArchiveStream()
    stream.open()
    failure: list[BaseException] = []

    def write() -> None:
        try:
            for n in range(STAGES + 6):
                stream.write(_bytes(n, STAGE))
            stream.close()
        except BaseException as e:
            failure.append(e)
            stream.discard()

    writer = threading.Thread(target=write)
    writer.start()
    time.sleep(0.3)
    assert writer.is_alive()  # waiting for a reader
    stream.cancel()
    writer.join(5)
    assert not writer.is_alive()
    assert [type(e) for e in failure] == [StreamCancelled]


def test_a_failed_build_does_not_wait_for_a_reader_that_never_came() -> None:
    stream = ArchiveStream()  # never opened: the build failed before its reader was let in
    for n in range(STAGES - 1):  # as many as it takes without a reader: one of them waits
        stream.write(_bytes(n, STAGE))
    stream.fail()  # the builder's first step on any failure: the hand-over gives up
    stream.discard()
    assert stream.closed


def test_the_reader_holds_no_thread_while_it_waits() -> None:
    # The gateway's builds may hold every thread of a pool while they wait for their
    # readers: a reader that needed one of them to wait would never be served.
    stream = ArchiveStream()
    parts = [_bytes(n, STAGE) for n in range(STAGES + 3)]

    def write() -> None:
        for n, part in enumerate(parts):
            if n == 1:
                stream.open()
            stream.write(part)
        stream.close()

    async def main() -> bytes:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(1))
        release = threading.Event()
        held = loop.run_in_executor(None, release.wait)  # the pool's only thread, taken
        writer = threading.Thread(target=write)
        writer.start()
        try:
            return await asyncio.wait_for(_read_all(stream), 20)
        finally:
            release.set()
            await held
            writer.join(5)

    assert asyncio.run(main()) == b"".join(parts)
