"""Video-quality diagnosis on real photographs (issue 20): precision and recall per fault kind.

The photographs are those Debian's background packages ship (mate-backgrounds, lomiri-wallpapers-16.04 /
-20.04) and the sample photographs of Debian's python3-skimage (a portrait, a cat, a coffee cup, a
motorcycle, a rocket), which `make bench` installs or unpacks; nothing is fetched here. Each is cut to a
camera-like framing (640×360, smaller for small photographs) with a small object moving across it and a
little sensor noise, three frames a minute apart, each encoded as an H.264 keyframe with PyAV and read back
through the diagnosis' own decoder. Each fault is one independent transformation of those frames at
several strengths; the sound versions are the same framing as it is, dimmer, and as an infrared night
picture (greyscale, at 23:00). Every clip is judged against the camera's reference: the same framing on
another day (other moving object, other noise). A clip's label is its one transformation; a kind's
precision counts every clip flagged with it, whatever its label.
"""

from __future__ import annotations

import argparse
import fractions
import os
import time
from pathlib import Path

import av
import numpy as np

from xl_pipelines import image_quality
from xl_pipelines.gates import load_thresholds
from xl_pipelines.simulator import degradations

WORK = Path(__file__).parent / "work"
SKIMAGE = Path(__file__).parent / "photos/skimage/usr/lib/python3/dist-packages/skimage/data"
BACKGROUNDS = Path("/usr/share/backgrounds")
PHOTOS = [BACKGROUNDS / name for name in (
    "Bridge_by_Sander_Klootwijk.jpg", "Wine_by_Jakkub_Mede.jpg", "aitzgorri_by_Aitzol_Berasategi.jpg",
    "free_by_Peter_Nerlich.jpg", "friends_by_Aitzol_Berasategi.jpg", "life_by_Aitzol_Berasategi.jpg",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg", "sunset_by_Aitzol_Berasategi.jpg", "Picture_0B_by_freespace.jpg",
    "Dragonfly_by_Bolly.jpg", "mate/nature/Storm.jpg", "mate/nature/Dune.jpg")] + [
    SKIMAGE / name for name in ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg")]
VIEW = (360, 640)  # the framing, at most; it covers COVER of the photograph's width, so it can be turned
COVER = 0.62
SOUND = ("sound", "sound_dim", "sound_night")
DAY_HOUR, NIGHT_HOUR = 12, 23


def load(path: Path) -> np.ndarray:
    """A photograph as RGB float32, scaled (by FFmpeg's scaler) so the framing is at most VIEW."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    width = min(frame.width, round(VIEW[1] / COVER))
    height = round(frame.height * width / frame.width)
    return frame.to_ndarray(format="rgb24", width=width, height=height).astype(np.float32)


def framing(photo: np.ndarray, dx: float = 0, dy: float = 0, angle: float = 0) -> np.ndarray:
    """The camera's framing of a photograph: VIEW-shaped (16:9, COVER of the photo's width) around its centre,
    moved by (dx, dy) of the framing's size and turned by `angle` degrees (degradations.view)."""
    h, w = photo.shape[:2]
    vw = min(VIEW[1], int(w * COVER)) // 2 * 2
    return degradations.view(photo, (min(VIEW[0], vw * 9 // 16, h) // 2 * 2, vw), dx, dy, angle)


def frames(still: np.ndarray, rng: np.random.Generator, count: int = 3) -> list[np.ndarray]:
    """`count` frames of a still scene a minute apart: a patch of the scene itself moves across its lower
    third (a passer-by), and sensor noise of 1.5 grey levels (drawn once, shifted per frame)."""
    h, w = still.shape[:2]
    ph, pw = h // 9, w // 10
    patch = still[h // 6:h // 6 + ph, w // 2:w // 2 + pw]
    out = []
    for index in range(count):
        image = still.copy()
        x = int(w * (0.1 + 0.3 * index + rng.uniform(0, 0.1)))
        image[2 * h // 3:2 * h // 3 + ph, x:x + pw] = patch
        out.append(image + np.roll(SENSOR, tuple(rng.integers(0, 64, 2)), axis=(0, 1))[:h, :w])
    return out


SENSOR = np.random.default_rng(0).normal(0, 1.5, (*VIEW, 3)).astype(np.float32)


def degraded(kind: str, strength, still: np.ndarray, photo: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """The three frames of a clip showing `kind` at `strength` (the sound kinds: none)."""
    if kind == "scene_change":
        return frames(framing(photo, *strength), rng)
    shots = frames(still, rng)
    match kind:
        case "sound":
            return shots
        case "sound_dim":
            return [image * 0.7 for image in shots]
        case "sound_night" | "too_dark" if kind == "sound_night" or strength == "night":
            gain = 0.6 if kind == "sound_night" else 0.12
            return [np.repeat(degradations.luma(image) * gain, 3, axis=2) + SENSOR[:image.shape[0], :image.shape[1], :1]
                    for image in shots]
        case "frozen":
            return [shots[0]] * 3
        case _ if kind in degradations.DEGRADE:
            return [degradations.DEGRADE[kind](image, strength, rng) for image in shots]
    raise ValueError(kind)


CASES = {  # kind → strengths
    "sound": [None], "sound_dim": [None], "sound_night": [None],
    "signal_loss": [(16, 16, 16), (0, 0, 190), (128, 128, 128)],
    "frozen": [None],
    "blur": [2.0, 3.5, 6.0],
    "too_bright": [0.3, 0.22, 0.15],  # washed towards white: 255 − (255 − x) × strength
    "too_dark": [0.25, 0.16, 0.1, "night"],  # exposure × strength; night: an infrared picture at 0.12
    "greyscale": [1.0, 0.99, 0.98],
    "colour_cast": [(1.0, 0.8, 0.45), (0.55, 0.8, 1.15), (0.7, 1.05, 0.6)],
    "noise": [6.0, 10.0, 16.0],
    "stripes": [(0, 8, 24), (0, 12, 50), (1, 10, 16)],  # (0 rows / 1 columns, amplitude, period px)
    "low_contrast": [0.3, 0.2, 0.15],  # spread × strength, towards grey 150 (haze)
    "occlusion": [0.25, 0.4, 0.6],
    "scene_change": [(0.15, 0, 0), (-0.3, 0.1, 0), (0, 0, 8.0), (0.1, -0.1, 15.0)],
}


def encode(path: Path, shots: list[np.ndarray]) -> Path:
    """An H.264 MP4 of the frames, a minute apart, each a keyframe (x264 veryfast, crf 23, as cameras do)."""
    h, w = shots[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fractions.Fraction(1, 60))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23", "g": "1", "bf": "0"}
        for index, image in enumerate(shots):
            frame = av.VideoFrame.from_ndarray(np.clip(image, 0, 255).round().astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = index, fractions.Fraction(60)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def run(verbose: bool = False) -> dict:
    """Build the set under bench/work/vqd, diagnose every clip, and count per kind."""
    limits = load_thresholds().limits
    missing = [str(p) for p in PHOTOS if not p.exists()]
    if missing:
        raise SystemExit(f"bench vqd: photographs missing (make bench installs them): {', '.join(missing)}")
    folder = WORK / "vqd"
    folder.mkdir(parents=True, exist_ok=True)
    results, spent, waited = [], 0.0, 0.0
    for number, path in enumerate(PHOTOS):
        rng = np.random.default_rng(number)
        photo = load(path)
        still = framing(photo)
        reference_frames = image_quality.keyframes(encode(folder / "reference.mp4", frames(still, rng)))
        day = image_quality.measure(reference_frames)
        reference = {"reference_edges": day["edges"], "day_luma": day["luma"],
                     "day_tint": day["tint"]}
        for kind, strengths in CASES.items():
            for strength in strengths:
                clip = encode(folder / "clip.mp4", degraded(kind, strength, still, photo, rng))
                night = kind == "sound_night" or strength == "night"
                started, wall = time.process_time(), time.perf_counter()  # CPU time too: the machine may be shared
                found = judged(clip, reference, limits, night)
                spent, waited = spent + time.process_time() - started, waited + time.perf_counter() - wall
                results.append((path.stem, kind, strength, found))
                if verbose and found != ([] if kind in SOUND else [kind]):
                    print(f"  {path.stem[:24]:24} {kind:13} {strength!s:22} → {found}")
    return summary(results, spent, waited)


def judged(clip: Path, reference: dict, limits: dict, night: bool) -> list[str]:
    """What the diagnosis finds in a clip: the pipeline's decoder, measures and faults."""
    shots = image_quality.keyframes(clip)
    measures = image_quality.measure(shots)
    measures |= image_quality.compare(measures, reference)
    return image_quality.faults(measures, limits, night, reference["day_luma"])


def summary(results: list[tuple], spent: float, waited: float) -> dict:
    """Per kind: clips, precision, recall; the sound clips' false-alarm rate; ms per camera, CPU and wall, and
    the load average it ran under."""
    kinds = {}
    for kind in image_quality.FAULTS:
        truth = np.array([label == kind for _, label, _, _ in results])
        said = np.array([kind in found for _, _, _, found in results])
        hits = int((truth & said).sum())
        kinds[kind] = {"clips": int(truth.sum()), "precision": hits / max(int(said.sum()), 1),
                       "recall": hits / max(int(truth.sum()), 1), "flagged": int(said.sum())}
    sound = [found for _, label, _, found in results if label in SOUND]
    return {"photos": len(PHOTOS), "clips": len(results), "kinds": kinds, "sound": len(sound),
            "false_alarm_rate": sum(bool(found) for found in sound) / max(len(sound), 1),
            "ms_per_camera": spent * 1000 / max(len(results), 1), "wall_ms_per_camera": waited * 1000 / max(len(results), 1),
            "load_average": os.getloadavg()[0]}


def lines(result: dict) -> list[str]:
    """The results as markdown (bench/results.md's section; `python -m bench.vqd` prints it)."""
    out = [f"## Video-quality diagnosis: {result['clips']} clips from {result['photos']} real photographs", "",
           f"{result['ms_per_camera']:.1f} ms of CPU per camera (decode 3 keyframes, measure, judge; "
           f"{result['wall_ms_per_camera']:.1f} ms wall at load average {result['load_average']:.1f} on "
           f"{os.cpu_count()} cores); false alarms on "
           f"{result['sound']} sound clips (as they are, dimmer, infrared at night): {result['false_alarm_rate']:.1%}.",
           "", "| kind | clips | flagged | precision | recall |", "|---|---:|---:|---:|---:|"]
    out += [f"| {kind} | {k['clips']} | {k['flagged']} | {k['precision']:.2f} | {k['recall']:.2f} |"
            for kind, k in result["kinds"].items()]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="print every clip judged wrongly")
    print("\n".join(lines(run(parser.parse_args().verbose))))
