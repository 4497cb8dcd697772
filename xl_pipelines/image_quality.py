"""Image-quality diagnosis (视频质量诊断) from a few decoded frames per camera-day.

Only keyframes of one sampled segment are decoded (the decoder skips the rest), scaled down to at most
WORK_WIDTH pixels wide so the measures mean the same at any resolution. Each measure is a whole-array NumPy
expression over the frames; the faults are thresholds on the measures, set in quality/thresholds.yaml
`limits` (image_*), calibrated on real photographs (bench/vqd.py). A uniform picture (signal loss) has no
other measurable property, so it is the only fault reported for it.

Scene change and colour cast compare the day with the camera's reference: its latest day before this one
judged sound (no fault at all), within `image_reference_days`: its coarse edge map (GRID cell averages of the
luma gradient over their mean: far too coarse to show a face or a plate) and its daytime mean colour.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import av
import numpy as np
import polars as pl

from xl_pipelines import landing
from xl_pipelines.image_faults import FAULTS
from xl_pipelines.lake import Lake
from xl_pipelines.settings import location

SAMPLED_FRAMES = 3
WORK_WIDTH = 640
GRID = (18, 32)  # rows × columns of cells: the edge map, the noise's, the occlusion's and the motion's cells
NOISE_QUANTILE = 0.2  # noise: the flattest fifth of the cells
STRIPS, STRIPE_BACKGROUND = 8, 2.0  # stripes: the strips a band must show in alike; its peak above its neighbourhood
STRIPE_STEP = 1.0  # stripes: a step between rows (columns) counts at most this many grey levels
OCCLUSION_FLAT, OCCLUSION_DARK = 2.0, 35.0  # occlusion: a cell's brightness spread and mean below these
MEASURES = ("luma", "contrast", "sharpness", "motion", "chroma", "cast", "noise", "stripes", "occlusion")
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def keyframes(path: Path, count: int = SAMPLED_FRAMES) -> np.ndarray:
    """Up to `count` keyframes of a segment as RGB, shape (frames, height, width, 3), at most WORK_WIDTH
    wide; empty when none decode."""
    frames = []
    try:
        with landing.open_file(path) as file, av.open(file) as container:
            stream = container.streams.video[0]
            stream.codec_context.skip_frame = "NONKEY"
            for frame in container.decode(stream):
                height = max(2, round(frame.height * WORK_WIDTH / frame.width) // 2 * 2)
                frames.append(frame.to_ndarray(format="rgb24", width=WORK_WIDTH, height=height)
                              if frame.width > WORK_WIDTH else frame.to_ndarray(format="rgb24"))
                if len(frames) == count:
                    break
    except (av.error.FFmpegError, IndexError, landing.Refused):  # no longer a regular file: not diagnosed
        pass
    return np.stack(frames) if frames else np.empty((0, 0, 0, 3), dtype=np.uint8)


def _cells(a: np.ndarray) -> np.ndarray:
    """(h, w) → (rows, columns, cell pixels) over GRID (the right and bottom remainder left out)."""
    h, w = a.shape
    ch, cw = max(1, h // GRID[0]), max(1, w // GRID[1])
    rows, cols = min(GRID[0], h // ch), min(GRID[1], w // cw)
    return a[:rows * ch, :cols * cw].reshape(rows, ch, cols, cw).transpose(0, 2, 1, 3).reshape(rows, cols, ch * cw)


def _sharpness(y: np.ndarray) -> float:
    """Share of the picture's brightness steps that a 9-pixel blur removes, the lower of rows and columns
    (Crété-Roffet's re-blur measure): a sharp edge loses most, an already smeared one little, whatever
    the contrast or how much of the picture is smooth. `y`: one frame's luma, (h, w)."""
    shares = []
    for image in (y, y.T):
        summed = np.cumsum(np.pad(image, ((0, 0), (5, 4)), mode="edge"), axis=1)
        blurred = (summed[:, 9:] - summed[:, :-9]) / 9
        steps = np.abs(np.diff(image, axis=1))
        kept = np.maximum(0, steps - np.abs(np.diff(blurred, axis=1)))
        shares.append(float(kept.sum() / max(float(steps.sum()), 1e-6)))
    return min(shares)


def _noise(y: np.ndarray) -> float:
    """Standard deviation of the noise, grey levels: Immerkær's estimate (the mean absolute response to the
    3×3 mask [1 −2 1; −2 4 −2; 1 −2 1], which cancels any brightness ramp) in each cell, the
    NOISE_QUANTILE of the mid-grey cells: the flattest parts, where edges explain nothing."""
    mask = np.abs(np.diff(np.diff(y, 2, axis=0), 2, axis=1)) * np.float32(np.sqrt(np.pi / 2) / 6)
    cells = _cells(mask).mean(axis=2)
    level = _cells(y[1:-1, 1:-1]).mean(axis=2)
    mid = cells[(level > 24) & (level < 232)]  # clipped black or white hides noise
    return float(np.quantile(mid, NOISE_QUANTILE)) if mid.size else 0.0



def _stripes(y: np.ndarray) -> float:
    """Amplitude of the strongest periodic band (period 4 px to a quarter of the frame) that shows alike
    across the whole frame, in grey levels of the brightness profile rebuilt from steps between rows each
    limited to ±STRIPE_STEP: an edge or texture's large steps count no more than a band's small ones, so a
    band does not drown in a scene's own horizontal structure (a horizon, floors), while content, not alike
    from column to column, averages away. The limited steps of each of STRIPS strips along the band are
    averaged into a profile, Hann-windowed; their spectra (interpolated 4× so a peak between bins keeps its
    height, divided by a step's gain 2 sin(πf) to read as brightness) are averaged as complex numbers over
    each half of the strips (content differs from strip to strip and cancels, interference adds up); the
    band's peak above STRIPE_BACKGROUND × its neighbourhood's median, the weaker half's (a periodic texture
    on one side of the picture is not interference). Bands across rows, then across columns; each profile
    runs the frame's full length, so wide bands still make several periods."""
    found = 0.0
    for image in (y, y.T):  # horizontal bands: row profiles of vertical strips; then vertical bands
        if image.shape[0] < 48:
            return 0.0
        steps = np.clip(np.diff(image, axis=0), -STRIPE_STEP, STRIPE_STEP)
        n = steps.shape[0]
        window = np.hanning(n).astype(np.float32)
        profiles = np.stack([part.mean(axis=1) for part in np.array_split(steps, STRIPS, axis=1)])
        spectra = np.fft.rfft((profiles - profiles.mean(axis=1, keepdims=True)) * window, n=4 * n, axis=1)
        spectra /= 2 * np.sin(np.pi * np.maximum(np.arange(spectra.shape[1]), 1) / (4 * n))
        halves = []
        for half in np.array_split(spectra, 2, axis=0):
            amplitude = np.abs(half.mean(axis=0)) * 2 / window.sum()
            padded = np.pad(amplitude, (24, 24), mode="edge")
            background = np.median(np.lib.stride_tricks.sliding_window_view(padded, 49), axis=1)
            halves.append((amplitude - STRIPE_BACKGROUND * background)[4 * 4:4 * (n // 4 + 1)])
        found = max(found, float(np.minimum(*halves).max()))
    return found


def _tint(rgb: np.ndarray) -> np.ndarray:
    """Mean red − green and yellow − blue of RGB pixels (…, 3), per unit of their mean brightness (both are
    linear, so taken from the mean colour)."""
    r, g, b = rgb.reshape(-1, 3).mean(axis=0, dtype=np.float64)
    return np.array([r - g, (r + g) / 2 - b]) / max(0.299 * r + 0.587 * g + 0.114 * b, 8.0)


def measure(frames: np.ndarray) -> dict[str, float]:
    """The picture's measures (RGB uint8 frames, (frames, h, w, 3)): motion between the frames, the rest on
    the first (what a picture shows does not change between keyframes a minute apart).

    luma: mean brightness 0–255; contrast: spread of brightness; sharpness: share of brightness steps a
    re-blur removes; motion: largest change of a cell's mean brightness between consecutive frames, grey
    levels (encoding jitter moves a still picture's cells by a grey level or two); chroma: mean
    colourfulness (max − min channel); cast: how far the greyest tenth of the pixels leans to one colour,
    per unit of their brightness (a cast tints even grey things; a warm scene's greys stay grey); tint: the
    mean colour's lean, compared with the camera's own (see faults); noise: grey levels of noise in the
    flattest cells; stripes: grey levels of a band repeated across the whole frame (from steps limited to
    ±STRIPE_STEP); occlusion: share of cells flat and dark; edges: the first frame's edge map (edge_map()).
    """
    y = frames.astype(np.float32) @ LUMA  # the one colour conversion; luma planes serve every other measure
    first = y[0]
    rgb = frames[0, ::2, ::2].astype(np.float32)  # colour averages: every other pixel each way is plenty
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    chroma = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    pixels, tenth = rgb.reshape(-1, 3), max(1, chroma.size // 10)
    greyest = pixels[np.argpartition(chroma.ravel(), tenth - 1)[:tenth]]
    cells = _cells(first)
    flat_dark = (cells.std(axis=2) < OCCLUSION_FLAT) & (cells.mean(axis=2) < OCCLUSION_DARK)
    moved = np.abs(np.diff(np.stack([_cells(frame).mean(axis=2) for frame in y]), axis=0))
    return {
        "luma": float(y.mean()),
        "contrast": float(y.std(axis=(1, 2)).mean()),
        "sharpness": _sharpness(first),
        "motion": float(moved.max()) if len(y) > 1 else float("nan"),
        "chroma": float(chroma.mean()),
        "cast": float(np.hypot(*_tint(greyest))),
        "tint": _tint(pixels).tolist(),
        "noise": _noise(first),
        "stripes": _stripes(first),
        "occlusion": float(flat_dark.mean()),
        "edges": edge_map(first),
    }


def edge_map(y: np.ndarray) -> np.ndarray:
    """The scene's coarse structure: a frame's luma (h, w) averaged over 2×2 pixels (so noise and encoding
    touch it less), its gradient averaged per GRID cell and divided by its mean (so lighting and contrast
    cancel), flattened; float32."""
    h, w = y.shape[0] // 2 * 2, y.shape[1] // 2 * 2
    y = y[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    gradient = np.abs(np.diff(y, axis=0))[:, :-1] + np.abs(np.diff(y, axis=1))[:-1, :]
    cells = _cells(gradient).mean(axis=2)
    return (cells / max(float(cells.mean()), 1e-6)).astype(np.float32).ravel()


def similarity(edges: np.ndarray, reference: np.ndarray) -> float:
    """Correlation of two edge maps' logarithms, 1 for the same view; NaN when their sizes differ or one is flat."""
    a, b = np.log1p(edges), np.log1p(reference)
    if a.shape != b.shape or a.size < 2 or not (a.std() and b.std()):
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def compare(measures: dict, reference: dict) -> dict:
    """The measures against the camera's reference (see references()): scene, the similarity of today's
    edge map to the reference's; cast_shift, how far the mean colour's lean moved from the reference's
    daytime one. NaN where there is no reference."""
    earlier, tint = reference.get("reference_edges"), reference.get("day_tint")
    return {"scene": similarity(measures["edges"], np.asarray(earlier, dtype=np.float32)) if earlier is not None else np.nan,
            "cast_shift": float(np.hypot(*(np.asarray(measures["tint"]) - tint))) if tint is not None else np.nan}


def faults(measures: dict, limits: dict[str, float], night: bool = False, day_luma: float | None = None) -> list[str]:
    """The faults the measures show, in FAULTS order. Signal loss alone when the picture is uniform. A fault
    that hides what another measure looks at stops it being judged: blur not in a striped picture (bands
    are smooth steps a re-blur keeps); in a picture too dark or too bright,
    noise, low contrast, greyscale, occlusion, scene change and colour cast are not judged (nor frozen in one
    too dark); greyscale not at low contrast; scene change not in a blurred, noisy, low-contrast or occluded
    picture; colour cast only in a picture otherwise showing its scene in colour, against the camera's own
    daytime colour (cast_shift) where it has one, else by the lean of its greyest pixels (cast). At night
    greyscale is by design (infrared) and colour is not judged, and too dark means darker than
    image_night_dark_share of the camera's daytime brightness where it has one."""
    m = measures
    if m["contrast"] < limits["image_signal_loss_contrast"]:
        return ["signal_loss"]
    dark = (m["luma"] < limits["image_night_dark_share"] * day_luma if night and day_luma is not None
            else m["luma"] < limits["image_dark_luma"])
    bright = m["luma"] > limits["image_bright_luma"]
    exposed = not (dark or bright)
    found = {
        "frozen": not dark and m["motion"] < limits["image_frozen_motion"],  # nan (one frame): not judged
        "too_bright": bright,
        "too_dark": dark,
        "noise": exposed and m["noise"] > limits["image_noise"],
        "stripes": m["stripes"] > limits["image_stripes"],
        "low_contrast": exposed and m["contrast"] < limits["image_low_contrast"] * m["luma"],
    }
    found["blur"] = not found["stripes"] and m["sharpness"] < limits["image_blur_sharpness"]
    found["greyscale"] = (not night and exposed and not found["low_contrast"]
                          and m["chroma"] < limits["image_greyscale_chroma"])
    found["occlusion"] = exposed and m["occlusion"] > limits["image_occlusion_share"]
    found["scene_change"] = not any(found[k] for k in ("blur", "noise", "low_contrast", "occlusion")) and (
        exposed and m.get("scene", np.nan) < limits["image_scene_similarity"])  # nan: no reference
    shift = m.get("cast_shift", np.nan)
    found["colour_cast"] = not night and exposed and not any(found[k] for k in (
        "greyscale", "low_contrast", "occlusion", "scene_change")) and (
        shift > limits["image_cast_shift"] if not np.isnan(shift) else m["cast"] > limits["image_cast"])
    return [fault for fault in FAULTS if found.get(fault)]


def at_night(hour: pl.Expr, limits: dict[str, float]) -> pl.Expr:
    """Whether a local hour lies in the night window [image_night_from, image_night_until), across midnight."""
    start, end = limits["image_night_from"], limits["image_night_until"]
    return (hour >= start) | (hour < end) if start > end else (hour >= start) & (hour < end)


DIAGNOSIS_SCHEMA = {"channel_id": pl.String, "code": pl.String, "path": pl.String, "frames": pl.Int32,
                    "night": pl.Boolean, **dict.fromkeys(MEASURES, pl.Float64), "scene": pl.Float64,
                    "cast_shift": pl.Float64, "tint": pl.List(pl.Float32), "edges": pl.List(pl.Float32),
                    "image_faults": pl.List(pl.String)}
REFERENCE_SCHEMA = {"channel_id": pl.String, "reference_edges": pl.List(pl.Float32), "day_luma": pl.Float64,
                    "day_tint": pl.List(pl.Float32)}


def references(history: pl.DataFrame) -> pl.DataFrame:
    """Per camera, what a day is judged against, from its earlier diagnoses (silver.image_diagnosis rows with
    their `date`): the edge map of its latest day judged sound, and the brightness and colour of its latest
    sound daytime picture. Days with any fault teach nothing, so a camera knocked askew stays flagged until
    it is put right or its last sound day is more than image_reference_days old."""
    sound = history.filter(pl.col("image_faults").list.len() == 0).sort("date")
    edges = sound.group_by("channel_id").agg(reference_edges=pl.col("edges").last())
    daytime = sound.filter(~pl.col("night")).group_by("channel_id").agg(
        day_luma=pl.col("luma").last(), day_tint=pl.col("tint").last())
    return edges.join(daytime, on="channel_id", how="full", coalesce=True).select(list(REFERENCE_SCHEMA)).cast(
        REFERENCE_SCHEMA)


def diagnose(files: pl.DataFrame, code: str, limits: dict[str, float],
             reference: pl.DataFrame | None = None) -> pl.DataFrame:
    """silver.image_diagnosis: one row per camera with a sound segment that day: the sampled segment (its
    longest by day, else by night, the earliest of equals), whether it is a night picture, how many frames
    decoded, the measures, the comparison with the camera's `reference` (references(); null without one),
    its edge map and colour (tomorrow's reference if the day is sound) and the faults found."""
    sampled = (files.filter(pl.col("problem").is_null() & (pl.col("span_s") > 0))
               .with_columns(night=at_night(pl.col("start_at").dt.hour(), limits))
               .sort(["channel_id", "night", "span_s", "start_at"], descending=[False, False, True, False])
               .unique("channel_id", keep="first", maintain_order=True))
    known = {row["channel_id"]: row for row in (reference if reference is not None else pl.DataFrame(
        schema=REFERENCE_SCHEMA)).iter_rows(named=True)}
    rows = []
    for channel, path, night in sampled.select("channel_id", "path", "night").iter_rows():
        frames = keyframes(location(path))  # a local path or an object store's URL
        row = {"channel_id": channel, "code": code, "path": path, "frames": len(frames), "night": night}
        if len(frames):
            ref = known.get(channel, {})
            measures = measure(frames)
            compared = compare(measures, ref)
            row |= {**measures, **{k: None if np.isnan(v) else v for k, v in compared.items()},
                    "edges": measures["edges"].tolist(),
                    "image_faults": faults(measures | compared, limits, night, ref.get("day_luma"))}
        rows.append(row)
    return pl.DataFrame(rows, schema=DIAGNOSIS_SCHEMA)


def reference(lake: Lake, keys: dict[str, str], limits: dict[str, float]) -> pl.DataFrame:
    """references() from the banner's earlier partitions of silver.image_diagnosis within
    image_reference_days before the partition's day, those materialised when this one is built (so a day
    materialised before its predecessors is judged without them; materialise in order, or again)."""
    day = dt.date.fromisoformat(keys["date"])
    first = day - dt.timedelta(days=int(limits["image_reference_days"]))
    kept = {dt.date.fromisoformat(path.parent.parent.name.removeprefix("date=")) for path in
            lake.table_path("silver", "image_diagnosis").glob(f"date=*/banner={keys['banner']}/*.parquet")}  # one listing
    earlier = [lake.read("silver", "image_diagnosis", {**keys, "date": when.isoformat()}).with_columns(date=pl.lit(when))
               for when in sorted(kept) if first <= when < day]
    earlier = [frame for frame in earlier if "edges" in frame.columns]  # written before references were kept
    return references(pl.concat(earlier, how="diagonal_relaxed") if earlier else pl.DataFrame(
        schema={**DIAGNOSIS_SCHEMA, "date": pl.Date}))
