"""The receiver's landing logs, written by group commit: `<folder>/<date>/<code>/<HH>.jsonl`.

One writer task per open hour file. Requests hand it their line and wait; the task takes every line that
arrived while the previous batch was being written, writes them in one `write`, syncs them (fdatasync), and
only then releases their waiters, so a POST is answered after its line is on disk and a crash loses nothing
that was acknowledged (one sync serves hundreds of POSTs under load). A file that ends without a newline (a
line torn by a crash) gets one before the next batch, so the torn bytes stay a line of their own (the harvest
quarantines it as `malformed_line`) and the next acknowledged line is whole. A batch that cannot be written
whole (a full disk) is cut back off the file and its waiters get the error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from xl_pipelines.settings import LOCAL_TZ

CLOSE_AFTER_S = 5.0  # an hour file is closed this long after its hour ended (late waiters still get in)


@dataclass(frozen=True)
class HourKey:
    folder: str  # viid, viid_keepalive, viid_media, viid_quarantine
    day: dt.date
    code: str  # a banner code, or "" for a city-wide log (quarantine)
    hour: int

    def path(self, root: Path) -> Path:
        parts = [self.folder, self.day.isoformat(), *([self.code] if self.code else [])]
        return root.joinpath(*parts, f"{self.hour:02d}.jsonl")

    def ends_at(self) -> float:
        start = dt.datetime.combine(self.day, dt.time(self.hour), LOCAL_TZ)
        return (start + dt.timedelta(hours=1)).timestamp()


def _open_for_append(path: Path) -> int:
    """The file opened for appending, created with its folders (each made durable)."""
    fresh = not path.exists()
    if fresh:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    if fresh:
        for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    return fd


@dataclass
class HourFile:
    """One open hour file and its writer task."""

    key: HourKey
    fd: int
    pending: list[tuple[bytes, asyncio.Future]] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task | None = None
    closing: bool = False


class LandingLog:
    """Hour files under `root`, appended to by group commit; `observe(seconds, lines)` sees each fsync."""

    def __init__(self, root: Path, observe: Callable[[float, int], None] = lambda s, n: None):
        self.root = Path(root)
        self.files: dict[HourKey, HourFile] = {}
        self.opening: dict[HourKey, asyncio.Future] = {}
        self.observe = observe

    async def append(self, key: HourKey, line: bytes) -> None:
        """Append one line (ending in a newline); returns once it is fsynced, raises OSError if it is not."""
        while (file := self.files.get(key)) is None:
            opening = self.opening.get(key)
            if opening is None:
                opening = self.opening[key] = asyncio.ensure_future(self._open(key))
            await asyncio.shield(opening)  # once it is done the file is registered and the opening forgotten
        done = asyncio.get_running_loop().create_future()
        file.pending.append((line, done))
        file.wake.set()
        await done

    async def _open(self, key: HourKey) -> None:
        """Open the hour file once, however many requests ask for it at once (the hour's first second)."""
        try:
            fd = await asyncio.to_thread(_open_for_append, key.path(self.root))
            file = self.files[key] = HourFile(key, fd)
            file.task = asyncio.create_task(self._writer(file))
        finally:
            del self.opening[key]

    async def _writer(self, file: HourFile) -> None:
        while True:
            await file.wake.wait()
            file.wake.clear()
            batch, file.pending = file.pending, []
            if batch:
                data = b"".join(line for line, _ in batch)
                began = time.perf_counter()
                try:
                    await asyncio.to_thread(_write_durably, file.fd, data)
                except OSError as exc:
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                self.observe(time.perf_counter() - began, len(batch))
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
            if file.closing and not file.pending:
                del self.files[file.key]
                os.close(file.fd)
                return

    def close_finished(self, now: float) -> None:
        """Close the hour files whose hour ended more than CLOSE_AFTER_S ago (after their last batch)."""
        for file in list(self.files.values()):
            if not file.closing and now >= file.key.ends_at() + CLOSE_AFTER_S:
                file.closing = True
                file.wake.set()

    async def close(self) -> None:
        """Flush and close every file (shutdown)."""
        for file in list(self.files.values()):
            file.closing = True
            file.wake.set()
        await asyncio.gather(*(f.task for f in list(self.files.values()) if f.task))


def _write_durably(fd: int, data: bytes) -> None:
    """Write the batch whole, after a newline if the file ends in a torn line (a crash, a failed batch that
    could not be cut back), and sync it; if that fails, cut the file back to where the batch began."""
    start = os.lseek(fd, 0, os.SEEK_END)
    if start and os.pread(fd, 1, start - 1) != b"\n":
        data = b"\n" + data
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fdatasync(fd)  # the data and the size that reads it back (an mtime is not worth a second write)
    except OSError:
        try:
            os.ftruncate(fd, start)
        except OSError:
            pass  # the next batch starts with a newline instead
        raise
