"""The receiver's landing logs, written by group commit: `<folder>/<date>/<code>/<HH>.jsonl`.

One writer task per open hour file. Requests hand it their line and wait; the task takes every line that
arrived while the previous batch was being written, writes them in one `write`, syncs them (fdatasync), and
only then releases their waiters, so a POST is answered after its line is on disk and a crash loses nothing
that was acknowledged (one sync serves hundreds of POSTs under load). A file that ends without a newline (a
line torn by a crash) gets one before the next batch, so the torn bytes stay a line of their own (the harvest
quarantines it as `malformed_line`) and the next acknowledged line is whole. A batch that cannot be written
whole (a full disk) is cut back off the file and its waiters get the error.

What was acknowledged is kept beside each capture hour file, for the harvest's reconciliation: `<HH>.acked`, one
line per batch `{"posts", "objects", "without_objects"}`, written after the batch's lines are synced and before
their answers, so it never counts a line that is not on disk. It is synced when the hour file closes, not per
batch (a second sync per batch would double every answer's wait): a killed receiver loses none of it (the
kernel holds it), a machine that loses power may lose the hour's last counts, and the reconciliation then sees
more read than acknowledged, a warning, never a false loss.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from xl_pipelines.settings import LOCAL_TZ

COUNTED = "viid"  # the capture logs, whose acknowledged objects the harvest reconciles
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

    def counts_path(self, root: Path) -> Path:
        return acked_path(self.path(root))

    def ends_at(self) -> float:
        start = dt.datetime.combine(self.day, dt.time(self.hour), LOCAL_TZ)
        return (start + dt.timedelta(hours=1)).timestamp()


def acked_path(log: Path) -> Path:
    """The counts of what was acknowledged into the hour file `log` (`<HH>.jsonl` → `<HH>.acked`)."""
    return log.with_suffix(".acked")


def read_acked(path: Path) -> dict[str, int]:
    """The sums of an `.acked` file's batches (a line torn by a crash was never acknowledged: not counted)."""
    sums = {"posts": 0, "objects": 0, "without_objects": 0}
    for line in path.read_bytes().splitlines():
        try:
            batch = json.loads(line)
            counts = {name: int(batch[name]) for name in sums}
        except (ValueError, KeyError, TypeError):
            continue
        for name, value in counts.items():
            sums[name] += value
    return sums


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
    counts_fd: int | None = None  # the `.acked` file of a capture log
    pending: list[tuple[bytes, asyncio.Future, int | None]] = field(default_factory=list)
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

    async def append(self, key: HourKey, line: bytes, objects: int | None = None) -> None:
        """Append one line (ending in a newline); returns once it is fsynced, raises OSError if it is not.
        `objects`: the captured objects the line holds, counted in the hour's `.acked` file (capture logs)."""
        while (file := self.files.get(key)) is None:
            opening = self.opening.get(key)
            if opening is None:
                opening = self.opening[key] = asyncio.ensure_future(self._open(key))
            await asyncio.shield(opening)  # once it is done the file is registered and the opening forgotten
        done = asyncio.get_running_loop().create_future()
        file.pending.append((line, done, objects))
        file.wake.set()
        await done

    async def _open(self, key: HourKey) -> None:
        """Open the hour file once, however many requests ask for it at once (the hour's first second)."""
        try:
            fd = await asyncio.to_thread(_open_for_append, key.path(self.root))
            counts_fd = await asyncio.to_thread(_open_for_append, key.counts_path(self.root)) \
                if key.folder == COUNTED else None
            file = self.files[key] = HourFile(key, fd, counts_fd)
            file.task = asyncio.create_task(self._writer(file))
        finally:
            del self.opening[key]

    async def _writer(self, file: HourFile) -> None:
        while True:
            await file.wake.wait()
            file.wake.clear()
            batch, file.pending = file.pending, []
            if batch:
                data = b"".join(line for line, _, _ in batch)
                counts = _counts(batch) if file.counts_fd is not None else b""
                began = time.perf_counter()
                try:
                    await asyncio.to_thread(_write_batch, file.fd, data, file.counts_fd, counts)
                except OSError as exc:
                    for _, done, _ in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                self.observe(time.perf_counter() - began, len(batch))
                for _, done, _ in batch:
                    if not done.done():
                        done.set_result(None)
            if file.closing and not file.pending:
                del self.files[file.key]
                os.close(file.fd)
                if file.counts_fd is not None:
                    try:
                        await asyncio.to_thread(os.fdatasync, file.counts_fd)
                    finally:
                        os.close(file.counts_fd)
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


def _counts(batch: list[tuple[bytes, asyncio.Future, int | None]]) -> bytes:
    objects = [n or 0 for _, _, n in batch]
    return json.dumps({"posts": len(batch), "objects": sum(objects),
                       "without_objects": objects.count(0)}).encode() + b"\n"


def _write_batch(fd: int, data: bytes, counts_fd: int | None, counts: bytes) -> None:
    """The batch's lines made durable, then (a capture log) its counts written: one thread hop for both."""
    _write_durably(fd, data)
    if counts_fd is not None:
        _write_durably(counts_fd, counts, sync=False)


def _write_durably(fd: int, data: bytes, sync: bool = True) -> None:
    """Write the batch whole, after a newline if the file ends in a torn line (a crash, a failed batch that
    could not be cut back), and sync it; if that fails, cut the file back to where the batch began."""
    start = os.lseek(fd, 0, os.SEEK_END)
    if start and os.pread(fd, 1, start - 1) != b"\n":
        data = b"\n" + data
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fdatasync(fd)  # the data and the size that reads it back (an mtime is not worth a second write)
    except OSError:
        try:
            os.ftruncate(fd, start)
        except OSError:
            pass  # the next batch starts with a newline instead
        raise
