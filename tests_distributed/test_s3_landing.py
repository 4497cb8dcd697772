"""The landing zone and recording storage on a real object store (Ceph's gateway, `services.sh start-storage`).

The same tree is laid out in a local folder and in a bucket; the object store's listing must refuse what the
folder's refuses, by the same reasons and words, and read back the same bytes and the same probed segments.
An object store has no links, FIFOs or devices: its hostile entries are a key that is a folder prefix, an
oversize object, compressed bytes under a plain name, and an object replaced after it was listed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from bench.distributed import exported
from tests.conftest import encode_segment
from xl_pipelines import landing, recordings
from xl_pipelines.resources import LandingResource
from xl_pipelines.settings import location

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "deploy" / "services" / "services.sh"
BUCKET = "xl-landing-test"
LIMIT = 2000  # bytes: the test source's limit
PLAIN = b"channel_id,polled_at,status\n15050200001320000001,2026-11-20 00:00:00,ON\n"


@pytest.fixture(scope="module")
def store():
    """A running object gateway for this module; AWS_* from its env in os.environ; stopped by PID at the end."""
    folder = Path(tempfile.mkdtemp(prefix="xl-s3-landing-"))
    saved = dict(os.environ)
    try:
        subprocess.run([SERVICES, "start-storage", folder / "services"], check=True, capture_output=True)
        os.environ.update(exported(folder / "services" / "env"))
        import s3fs

        fs = s3fs.S3FileSystem()
        fs.mkdir(BUCKET)
        yield {"fs": fs, "folder": folder}
    finally:
        os.environ.clear()
        os.environ.update(saved)
        subprocess.run([SERVICES, "stop", folder / "services"], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def both(store, name: str, files: dict[str, bytes]) -> tuple[Path, str]:
    """`files` (relative name → bytes) written below a local folder and uploaded below s3://BUCKET/name."""
    local = store["folder"] / name
    for relative, data in files.items():
        (local / relative).parent.mkdir(parents=True, exist_ok=True)
        (local / relative).write_bytes(data)
    store["fs"].put(str(local), f"{BUCKET}/{name}", recursive=True)
    return local, f"s3://{BUCKET}/{name}"


def shown(listing: landing.Listing, root: str) -> tuple[list[str], list[tuple[str, str, str]]]:
    """A listing with names relative to `root`: (files, (name, reason, detail) refused)."""
    cut = len(root.rstrip("/")) + 1
    return ([str(f)[cut:] for f in listing.files],
            [(f[cut:], reason, detail) for f, reason, detail in listing.refused.iter_rows()])


def test_an_object_store_refuses_what_a_folder_refuses_with_the_same_words(store):
    tree = {"status/0000.csv": PLAIN, "status/0100.csv": gzip.compress(PLAIN * 3),
            "status/0200.csv": PLAIN * 40,  # 2,880 bytes: over the limit
            "status/0300.csv/inside": PLAIN,  # a folder named like a file (a key prefix on the store)
            "status/.0400.csv": PLAIN,  # still being written: not listed
            "status/0500.txt": PLAIN,  # not the pattern
            "status/0600.csv": b""}  # empty: read as empty (a store refuses a byte range of an empty object)
    local, url = both(store, "refusals", tree)
    results = []
    for root in (str(local), url):
        where = location(root)
        listing = landing.list_files(where, where / "status", "*.csv", LIMIT)
        with listing.reading():
            assert [landing.read_bytes(f) for f in listing.files] == [PLAIN, b""]
        results.append(shown(listing, root))
    assert results[0] == results[1]
    files, refused = results[1]
    assert files == ["status/0000.csv", "status/0600.csv"]
    assert refused == [
        ("status/0100.csv", "compressed", "gzip data: the contract names uncompressed files only"),
        ("status/0200.csv", "too_large", "2,880 bytes, over this source's limit of 2,000 "
                                         "(landing_max_mb in quality/thresholds.yaml)"),
        ("status/0300.csv", "not_regular_file", "a directory, not a regular file")]


def test_a_listed_object_is_checked_again_against_its_own_sources_limit_when_read(store):
    _, url = both(store, "swapped", {"status/0000.csv": PLAIN})
    where = location(url)
    listing = landing.list_files(where, where / "status", "*.csv", LIMIT)
    path = listing.files[0]
    assert landing.read_bytes(path) == PLAIN
    fs = store["fs"]
    fs.pipe(path.path, PLAIN * 40)  # replaced after the listing by 2,880 bytes: within every landing limit but this one
    assert len(landing.read_bytes(path)) == 2880  # outside a harvest: the largest landing limit
    with listing.reading(), pytest.raises(landing.Refused) as refused:
        landing.read_bytes(path)
    assert refused.value.reason == "too_large" and "2,880 bytes" in str(refused.value)
    fs.pipe(path.path, gzip.compress(PLAIN))
    with listing.reading(), pytest.raises(landing.Refused) as refused:
        landing.read_bytes(path)
    assert refused.value.reason == "compressed"
    fs.rm(path.path)
    with listing.reading(), pytest.raises(landing.Refused) as refused:
        landing.read_bytes(path)
    assert refused.value.reason == "not_regular_file"


def test_segments_on_the_store_probe_as_they_do_on_disk(store, tmp_path):
    """PyAV reads an object through its file object: the same packets, keyframes and problems as from disk."""
    channel = "15050200001320000001"
    made = {"sound.mp4": encode_segment(tmp_path / "00-00-00.mp4", 600),
            "fast.mp4": encode_segment(tmp_path / "00-10-00.mp4", 600, faststart=True),
            "sound.ts": encode_segment(tmp_path / "00-20-00.ts", 600)}
    tree = {f"150502/{channel}/2026-11-20/{path.name}": path.read_bytes() for path in made.values()}
    cut = made["sound.mp4"].read_bytes()
    tree[f"150502/{channel}/2026-11-20/00-30-00.mp4"] = cut[: len(cut) // 2]  # cut before its index (moov)
    ts = made["sound.ts"].read_bytes()
    tree[f"150502/{channel}/2026-11-20/00-40-00.ts"] = ts[: len(ts) - 100]  # cut mid-packet
    tree[f"150502/{channel}/2026-11-20/00-50-00.mp4"] = b""  # empty
    tree[f"150502/{channel}/2026-11-19/.23-50-00.mp4"] = b""  # only an unfinished file that day
    local, url = both(store, "recordings", tree)
    probed = []
    for root in (str(local), url):
        where = location(root)
        listing = recordings.segment_files(where, "150502", dt.date(2026, 11, 20))
        assert not listing.refused.height
        probed.append([(f.name, recordings.probe(f)) for f in listing.files])
        # 11-19 holds only an unfinished file: the oldest day kept is 11-20
        assert recordings.stored_channels(where, "150502").rows() == [(channel, dt.date(2026, 11, 20))]
    assert probed[0] == probed[1]
    problems = {name: (row["problem"], row["packets"], row["keyframes"]) for name, row in probed[1]}
    assert {name: problems.pop(name) for name in ("00-00-00.mp4", "00-10-00.mp4", "00-20-00.ts")} == dict.fromkeys(
        ("00-00-00.mp4", "00-10-00.mp4", "00-20-00.ts"), (None, 30, 10))  # tests.conftest: 30 frames, a GOP of 3
    assert {name: found[0] for name, found in problems.items()} == {"00-30-00.mp4": "truncated", "00-40-00.ts": "truncated",
                                                                    "00-50-00.mp4": "corrupt"}


def test_the_case_export_is_found_on_the_store_and_its_absence_said(store):
    _, url = both(store, "cases", {"cases/2026-11.csv": b"case_id,opened_at\n"})
    resource = LandingResource(root=url)
    listing = resource.case_files("2026-11")
    assert [str(f) for f in listing.files] == [f"{url}/cases/2026-11.csv"] and not listing.refused.height
    assert landing.read_bytes(listing.files[0]) == b"case_id,opened_at\n"
    assert resource.case_files("2026-10").files == [] and not landing.exists(resource.case_export("2026-10"))
