"""Video-quality diagnosis on pictures built by hand: each fault shown alone, beside its sound twin.

The sound picture is 144×256: a brightness ramp under 400 small rectangles of random colours and sizes
(sharp, colourful, textured everywhere, nothing periodic), with a white block moving between the three frames.
"""

import datetime as dt

import av
import numpy as np
import polars as pl
import pytest

from tests.conftest import BANNER, DAY, camera_id, encode_segment
from xl_pipelines import image_quality
from xl_pipelines.gates import load_thresholds
from xl_pipelines.lake import Lake
from xl_pipelines.settings import LOCAL_TZ
from xl_pipelines.simulator import degradations
from xl_pipelines.simulator import recordings as simulated

LIMITS = load_thresholds().limits
H, W = 144, 256


def still(seed: int = 1, count: int = 400, size: int = 24) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.broadcast_to(np.linspace(70, 150, W, dtype=np.float32)[None, :, None], (H, W, 3)).copy()
    for _ in range(count):
        y, x = rng.integers(0, H - 4), rng.integers(0, W - 4)
        image[y:y + rng.integers(4, size), x:x + rng.integers(4, size)] = rng.integers(40, 216, 3)
    return image


def frames(transform=lambda image: image, moving: bool = True, seed: int = 1, **scene) -> np.ndarray:
    """Three frames of the sound picture (still(), `scene` its rectangles' count and size) with the block
    moving (or not), each changed by `transform`."""
    shots = []
    for index in range(3):
        shot = still(seed, **scene)
        if moving:
            shot[40:56, 20 + 40 * index:36 + 40 * index] = 255
        shots.append(transform(shot))
    return np.clip(np.stack(shots), 0, 255).astype(np.uint8)


def grey(image: np.ndarray) -> np.ndarray:
    return np.repeat((image @ image_quality.LUMA)[..., None], 3, axis=2)


def box_blur(image: np.ndarray, size: int = 7) -> np.ndarray:
    padded = np.pad(image, ((size // 2,) * 2, (size // 2,) * 2, (0, 0)), mode="edge")
    return sum(padded[y:y + H, x:x + W] for y in range(size) for x in range(size)) / size ** 2


def occluded(image: np.ndarray) -> np.ndarray:
    covered = image.copy()
    covered[60:, :110] = 20  # 84 × 110 of 144 × 256: a quarter of the frame, flat and dark
    return covered


NOISE = np.random.default_rng(5).normal(0, 8, (H, W, 3))
ROWS = np.arange(H)[:, None, None]
PICTURES = {  # fault → the three frames showing it (each made from the sound picture)
    None: frames(),
    "signal_loss": frames(lambda image: np.full_like(image, 16)),
    "frozen": frames(moving=False),
    "blur": frames(box_blur),
    "too_bright": frames(lambda image: 215 + image * 0.15),
    "too_dark": frames(lambda image: image * 0.12),
    "greyscale": frames(grey),
    "colour_cast": frames(lambda image: image * [1.0, 0.8, 0.5]),
    "noise": frames(lambda image: image + NOISE),
    "stripes": frames(lambda image: image + 10 * np.sin(2 * np.pi * ROWS / 12)),
    "low_contrast": frames(lambda image: 150 + (image - 120) * 0.12),
    "occlusion": frames(occluded),
    "scene_change": frames(seed=2),
}


def diagnosed(shots: np.ndarray, night: bool = False, reference_shots: np.ndarray | None = None) -> list[str]:
    """The faults found, judged against the sound picture as the camera's reference day."""
    day = frames() if reference_shots is None else reference_shots
    day_measures = image_quality.measure(day)
    reference = {"reference_edges": day_measures["edges"], "day_luma": day_measures["luma"],
                 "day_tint": day_measures["tint"]}
    measures = image_quality.measure(shots)
    measures |= image_quality.compare(measures, reference)
    return image_quality.faults(measures, LIMITS, night, reference["day_luma"])


@pytest.mark.parametrize("fault", list(PICTURES))
def test_each_fault_alone_and_its_sound_twin(fault):
    assert diagnosed(PICTURES[fault]) == ([fault] if fault else [])


def test_every_kind_has_a_picture_and_a_name_in_the_report():
    assert set(PICTURES) - {None} == set(image_quality.FAULTS)


def test_a_camera_turned_the_same_scene_dimmer_is_not_a_scene_change():
    assert diagnosed(frames(lambda image: image * 0.75)) == []
    assert diagnosed(frames(lambda image: np.roll(image, 90, axis=1))) == ["scene_change"]  # turned by 90 of 256 px


def test_without_reference_colour_is_judged_by_its_greyest_pixels():
    """A warm scene (every colour reddened) still has grey-ish pixels; a cast tints even the greyest."""
    no_reference = {"reference_edges": None, "day_tint": None}
    warm = frames(lambda image: image * [1.0, 0.85, 0.7])
    cast = frames(lambda image: grey(image) * [1.0, 0.75, 0.35])
    found = {}
    for name, shots in (("warm", warm), ("cast", cast)):
        measures = image_quality.measure(shots)
        measures |= image_quality.compare(measures, no_reference)
        found[name] = image_quality.faults(measures, LIMITS)
        if name == "cast":  # a grey L becomes (L, 0.75 L, 0.35 L): red − green 0.25 L, yellow − blue 0.525 L,
            assert measures["cast"] == pytest.approx(np.hypot(0.25, 0.525) / 0.779, abs=0.01)  # luma 0.779 L
    assert found == {"warm": [], "cast": ["colour_cast"]}


def test_night_pictures_are_greyscale_by_design_and_too_dark_against_the_day():
    infrared = frames(lambda image: grey(image) * 0.6)  # luma about 76: 0.6 of the day's
    assert diagnosed(infrared, night=True) == []
    assert diagnosed(infrared, night=False) == ["greyscale"]
    # 0.25 of the day's brightness (about 29) is below 0.3 of it; by day it would be below 40 anyway
    assert diagnosed(frames(lambda image: grey(image) * 0.25), night=True) == ["too_dark"]


def test_measures_on_hand_made_frames():
    """Two 4×4 frames, left half black and right half white, the second shifted by one column."""
    first = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    first[:, :, 2:] = 255
    second = np.zeros_like(first)
    second[:, :, 1:] = 255
    m = image_quality.measure(np.concatenate([first, second]))
    # luma: frame means 127.5 and 191.25 → 159.375; std per frame 127.5 and 110.42 → mean 118.96.
    assert m["luma"] == pytest.approx(159.375, abs=0.01)
    assert m["contrast"] == pytest.approx((127.5 + 255 * np.sqrt(3) / 4) / 2, abs=0.01)
    assert m["motion"] == 255  # cells of one pixel here: column 1 went from black to white
    assert m["chroma"] == 0 and m["cast"] == 0 and m["tint"] == [0, 0]  # grey: every channel equal


def test_noise_and_stripes_measure_grey_levels():
    flat = np.full((H, W, 3), 128.0)
    assert image_quality.measure(frames(lambda image: flat))["noise"] == 0
    assert image_quality.measure(frames())["stripes"] < LIMITS["image_stripes"] / 2  # rectangles: nothing repeats
    # A band of 10 grey levels, period 12 px, on flat grey, cut to whole levels: rows 128 133 136 138 136 133
    # 128 123 119 118 119 123, steps +5 +3 +2 −2 −3 −5 −5 −4 −1 +1 +4 +5; limited to ±1 they are a square wave
    # (six up, six down) of fundamental 4/π, which as brightness (÷ a step's gain 2 sin(π/12)) is 2.46 levels.
    banded = image_quality.measure(frames(lambda image: flat + 10 * np.sin(2 * np.pi * ROWS / 12)))
    assert banded["stripes"] == pytest.approx(4 / np.pi / (2 * np.sin(np.pi / 12)), abs=0.05)
    noisy = image_quality.measure(frames(lambda image: flat + NOISE[..., :1]))  # grey noise: luma σ 8 too
    # the flattest fifth of the cells' estimates lies a little under σ (each cell holds ~60 pixels)
    assert 6.5 < noisy["noise"] < 8.5


def test_edge_maps_of_the_same_view_match_and_a_flat_one_is_not_compared():
    edges = image_quality.measure(frames())["edges"]
    assert image_quality.similarity(edges, edges) == pytest.approx(1)
    assert np.isnan(image_quality.similarity(edges, np.ones_like(edges)))
    assert np.isnan(image_quality.similarity(edges, edges[:10]))


def history(day: dt.date, faults: list[str], night: bool = False, edges=(1.0, 2.0), luma=100.0,
            tint=(0.1, 0.0)) -> dict:
    return {"date": day, "channel_id": "c", "night": night, "luma": luma, "tint": list(tint), "edges": list(edges),
            "image_faults": faults}


def test_the_reference_is_the_latest_sound_day_and_its_daytime_colour():
    rows = [history(dt.date(2026, 11, 1), [], edges=(1, 1)), history(dt.date(2026, 11, 3), [], night=True, edges=(3, 3), luma=20),
            history(dt.date(2026, 11, 2), [], edges=(2, 2), luma=120, tint=(0.2, 0.1)),
            history(dt.date(2026, 11, 4), ["scene_change"], edges=(4, 4))]
    got = image_quality.references(pl.DataFrame(rows)).row(0, named=True)
    assert got["reference_edges"] == [3, 3]  # the 3rd: latest sound, by night too; the 4th was faulty
    assert got["day_luma"] == 120 and got["day_tint"] == pytest.approx([0.2, 0.1])  # the 2nd: latest sound by day


def test_the_lake_reference_reads_only_earlier_days_within_the_window(tmp_path):
    """Days written out of order: the 19th's reference is the 18th, whatever was written after it."""
    lake, schema = Lake(tmp_path), {k: v for k, v in image_quality.DIAGNOSIS_SCHEMA.items()}
    for day, edges in ((dt.date(2026, 11, 21), (9, 9)), (dt.date(2026, 11, 18), (8, 8)),
                       (dt.date(2026, 10, 1), (7, 7)), (dt.date(2026, 11, 17), (6, 6))):
        row = history(day, [], edges=edges)
        row.pop("date")
        lake.write("silver", "image_diagnosis", {"date": day.isoformat(), "banner": BANNER},
                   pl.DataFrame([row], schema={k: schema[k] for k in row}))
    keys = {"date": "2026-11-19", "banner": BANNER}
    assert image_quality.reference(lake, keys, LIMITS)["reference_edges"].to_list() == [[8, 8]]
    assert image_quality.reference(lake, {**keys, "date": "2026-10-02"}, LIMITS)["reference_edges"].to_list() == [[7, 7]]
    assert image_quality.reference(lake, {**keys, "date": "2026-12-31"}, LIMITS).height == 0  # 30 days of nothing


def test_diagnose_samples_a_daytime_segment_and_judges_it_against_the_reference(tmp_path):
    """Two sound segments of one camera, the longer one at night: the daytime one is sampled; the same
    picture as reference gives similarity 1 and no fault. The picture: a 64×48 corner of the simulator's
    (conftest's scene of 8-px blocks repeats every 8 px, as stripes do)."""
    cam = camera_id(1)
    corner = lambda frame: simulated.picture(None, frame)[:48, :64]  # noqa: E731
    night_path = encode_segment(tmp_path / "01-00-00.mp4", 1200, corner)
    day_path = encode_segment(tmp_path / "09-00-00.mp4", 600, corner)
    at = lambda hour: dt.datetime.combine(DAY, dt.time(hour), LOCAL_TZ)  # noqa: E731
    files = pl.DataFrame({"channel_id": [cam, cam], "path": [str(night_path), str(day_path)],
                          "start_at": [at(1), at(9)], "span_s": [1200.0, 600.0], "problem": [None, None]})
    first = image_quality.diagnose(files, BANNER, LIMITS).row(0, named=True)
    assert (first["path"], first["night"], first["frames"], first["scene"], first["image_faults"]) == (
        str(day_path), False, 3, None, [])
    reference = image_quality.references(pl.DataFrame([first]).with_columns(date=pl.lit(DAY)))
    second = image_quality.diagnose(files, BANNER, LIMITS, reference).row(0, named=True)
    assert second["scene"] == pytest.approx(1) and second["cast_shift"] == pytest.approx(0, abs=1e-6)
    assert second["image_faults"] == []
    assert np.asarray(second["edges"]).size > 0


def test_large_keyframes_are_scaled_to_the_working_width(tmp_path):
    """A 1280×720 segment of two keyframes is read back 640×360; one that is not a video reads as nothing."""
    path = tmp_path / "hd.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=1)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.options = {"preset": "ultrafast", "g": "1"}
        for index in range(2):
            frame = av.VideoFrame.from_ndarray(np.full((720, 1280, 3), 60 * index, dtype=np.uint8), format="rgb24")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    assert image_quality.keyframes(path).shape == (2, 360, 640, 3)
    (tmp_path / "text.mp4").write_bytes(b"not a video")
    assert image_quality.keyframes(tmp_path / "text.mp4").shape[0] == 0


def test_the_simulators_pictures_show_each_kind_as_the_diagnosis_sees_it(tmp_path):
    """The simulator's segments (degradations.py at its STRENGTH, encoded as the media server writes them)
    are diagnosed as their own fault and nothing else; the camera's sound picture is the reference only
    for the faults that come after sound days (a colour cast, a turned view)."""
    def shots(fault):
        path = tmp_path / f"{fault}.mp4"
        path.write_bytes(simulated.segment_bytes(1800, "mp4", fault))
        return image_quality.keyframes(path)

    sound = shots(None)
    day = image_quality.measure(sound)
    reference = {"reference_edges": day["edges"], "day_luma": day["luma"], "day_tint": day["tint"]}
    found = {}
    for fault in (None, *image_quality.FAULTS):
        pictures = shots(fault)
        measures = image_quality.measure(pictures)
        measures |= image_quality.compare(measures, reference if fault in simulated.ONSET_FAULTS + (None,) else {})
        found[fault] = image_quality.faults(measures, LIMITS)
    assert found == {fault: [fault] if fault else [] for fault in (None, *image_quality.FAULTS)}


def test_a_turned_view_or_a_colour_cast_comes_on_thursday_and_is_put_right_on_monday():
    wednesday, thursday, sunday, monday = (dt.date(2026, 11, day) for day in (25, 26, 29, 30))
    assert [simulated.shown("scene_change", day) for day in (wednesday, thursday, sunday, monday)] == [
        None, "scene_change", "scene_change", None]
    assert simulated.shown("colour_cast", wednesday) is None and simulated.shown("colour_cast", thursday) == "colour_cast"
    assert simulated.shown("blur", monday) == "blur" and simulated.shown(None, thursday) is None


def test_a_band_on_one_side_of_the_picture_is_texture_not_interference():
    """The same 10-level band of period 12 px: across the whole width it is stripes, over the left half only
    (a fence, a row of windows) the right half's strips do not show it, so it is not."""
    cols = np.arange(W)[None, :, None]
    assert diagnosed(frames(lambda image: image + 10 * np.sin(2 * np.pi * ROWS / 12) * (cols < W // 2))) == []
    assert diagnosed(frames(lambda image: image + 10 * np.sin(2 * np.pi * ROWS / 12))) == ["stripes"]


def test_a_faint_band_over_a_busy_scene_is_found_by_its_small_steps():
    """A busy scene (a rock face, foliage: 2000 rectangles up to 32 px) under a band of only 4 grey levels,
    period 24 px. The scene's own edges fill the rows' brightness profiles at every period (the band's peak
    read 0 there), but each step between rows counts at most one grey level: an edge no more than one of the
    band's small steps (≤ 2π · 4 / 24 ≈ 1 level), which alone repeat alike over the whole width."""
    busy = frames(count=2000, size=32)
    banded = frames(lambda image: image + 4 * np.sin(2 * np.pi * ROWS / 24), count=2000, size=32)
    assert diagnosed(busy, reference_shots=busy) == []
    assert diagnosed(banded, reference_shots=busy) == ["stripes"]


def test_bands_keep_blur_from_being_judged():
    """Bands are smooth brightness steps a re-blur keeps, so a striped picture reads soft: only stripes."""
    sound = image_quality.measure(frames()) | {"scene": 1.0, "cast_shift": 0.0}
    soft = sound | {"sharpness": LIMITS["image_blur_sharpness"] - 0.1}
    assert image_quality.faults(soft, LIMITS) == ["blur"]
    assert image_quality.faults(soft | {"stripes": LIMITS["image_stripes"] + 1}, LIMITS) == ["stripes"]


def test_the_degradations_do_what_their_names_say():
    """Hand-worked: a flat grey 100 stays 100 under blur; washing towards white keeps 0.2 of the distance to
    255 (100 → 224); a 10-level band of period 4 down the rows reads 0, +10, 0, −10; the occluder covers about
    its share of the frame (a quarter ellipse from the corner)."""
    flat, rng = np.full((36, 64, 3), 100.0, dtype=np.float32), np.random.default_rng(0)
    assert np.allclose(degradations.DEGRADE["blur"](flat, 2.0, rng), 100)
    assert np.allclose(degradations.DEGRADE["too_bright"](flat, 0.2, rng), 224)
    assert np.allclose(degradations.DEGRADE["stripes"](flat, (0, 10, 4), rng)[:4, 0, 0], [100, 110, 100, 90], atol=1e-4)
    for share in (0.25, 0.4):
        assert degradations.occluder((360, 640), share).mean() == pytest.approx(share, abs=0.03)
