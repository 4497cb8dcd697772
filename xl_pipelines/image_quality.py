"""Image-quality diagnosis (视频质量诊断) from a few decoded frames per camera-day.

Only keyframes of one sampled segment are decoded (the decoder skips the rest). Each measure is one
whole-array NumPy expression over the frames; the faults are thresholds on the measures, set in
quality/thresholds.yaml `limits` (image_*). A uniform picture (signal loss) has no other measurable
property, so it is the only fault reported for it.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import polars as pl

from xl_pipelines import landing

FAULTS = ("signal_loss", "frozen", "blur", "too_bright", "too_dark", "greyscale", "colour_cast")
SAMPLED_FRAMES = 3
MEASURES = ("luma", "contrast", "sharpness", "motion", "chroma", "cast")


def keyframes(path: Path, count: int = SAMPLED_FRAMES) -> np.ndarray:
    """Up to `count` keyframes of a segment as RGB, shape (frames, height, width, 3); empty when none decode."""
    frames = []
    try:
        with landing.open_file(path) as file, av.open(file) as container:
            stream = container.streams.video[0]
            stream.codec_context.skip_frame = "NONKEY"
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) == count:
                    break
    except (av.error.FFmpegError, IndexError, landing.Refused):  # no longer a regular file: not diagnosed
        pass
    return np.stack(frames) if frames else np.empty((0, 0, 0, 3), dtype=np.uint8)


def measure(frames: np.ndarray) -> dict[str, float]:
    """The picture's measures over all sampled frames (RGB uint8, (frames, h, w, 3)).

    luma: mean brightness 0–255; contrast: spread of brightness; sharpness: mean absolute Laplacian per
    unit of contrast (falls when edges are smeared); motion: largest mean absolute change between
    consecutive frames, per unit of contrast (a dim picture moves in small steps); chroma: mean colourfulness
    (max − min channel); cast: how far the average colour leans to one channel.
    """
    rgb = frames.astype(np.float32)
    y = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    contrast = float(y.std(axis=(1, 2)).mean())
    laplacian = 4 * y[:, 1:-1, 1:-1] - y[:, :-2, 1:-1] - y[:, 2:, 1:-1] - y[:, 1:-1, :-2] - y[:, 1:-1, 2:]
    means = rgb.mean(axis=(0, 1, 2))
    return {
        "luma": float(y.mean()),
        "contrast": contrast,
        "sharpness": float(np.abs(laplacian).mean()) / max(contrast, 1e-6),
        "motion": float(np.abs(np.diff(y, axis=0)).mean(axis=(1, 2)).max()) / max(contrast, 1e-6)
        if len(y) > 1 else float("nan"),
        "chroma": float((rgb.max(axis=3) - rgb.min(axis=3)).mean()),
        "cast": float(np.abs(means - means.mean()).max()),
    }


def faults(measures: dict[str, float], limits: dict[str, float]) -> list[str]:
    """The faults the measures show, in FAULTS order; signal loss alone when the picture is uniform."""
    m = measures
    if m["contrast"] < limits["image_signal_loss_contrast"]:
        return ["signal_loss"]
    found = {
        "frozen": m["motion"] < limits["image_frozen_motion"],  # nan (one frame) compares false: not judged
        "blur": m["sharpness"] < limits["image_blur_sharpness"],
        "too_bright": m["luma"] > limits["image_bright_luma"],
        "too_dark": m["luma"] < limits["image_dark_luma"],
        "greyscale": m["chroma"] < limits["image_greyscale_chroma"],
        "colour_cast": m["cast"] > limits["image_cast"],
    }
    return [fault for fault in FAULTS if found.get(fault)]


DIAGNOSIS_SCHEMA = {"channel_id": pl.String, "code": pl.String, "path": pl.String, "frames": pl.Int32,
                    **dict.fromkeys(MEASURES, pl.Float64), "image_faults": pl.List(pl.String)}


def diagnose(files: pl.DataFrame, code: str, limits: dict[str, float]) -> pl.DataFrame:
    """silver.image_diagnosis: one row per camera with a sound segment that day: the sampled segment (its
    longest, the earliest of equals), how many frames decoded, the measures and the faults found."""
    sampled = (files.filter(pl.col("problem").is_null() & (pl.col("span_s") > 0))
               .sort(["channel_id", "span_s", "start_at"], descending=[False, True, False])
               .unique("channel_id", keep="first", maintain_order=True))
    rows = []
    for channel, path in sampled.select("channel_id", "path").iter_rows():
        frames = keyframes(Path(path))
        measures = measure(frames) if len(frames) else dict.fromkeys(MEASURES)
        rows.append({"channel_id": channel, "code": code, "path": path, "frames": len(frames), **measures,
                     "image_faults": faults(measures, limits) if len(frames) else None})
    return pl.DataFrame(rows, schema=DIAGNOSIS_SCHEMA)
