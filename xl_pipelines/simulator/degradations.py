"""The image faults as well-defined transformations of a sound picture: one definition of each, used by the
simulator's segments (recordings.py) and by the diagnosis' benchmark on real photographs (bench/vqd.py).

Pictures are RGB float32 arrays (h, w, 3) on the 0–255 scale, not yet clipped. Each DEGRADE function takes
the picture, the fault's strength and a random generator (for noise) and returns the degraded picture.
Frozen (the same frame repeated) and scene change (another framing, view()) are about the sequence and the
framing, not one picture; their entries say so.
"""

from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as the diagnosis reads brightness


def luma(image: np.ndarray) -> np.ndarray:
    """Brightness (h, w, 1)."""
    return (image @ LUMA)[..., None]


def gaussian(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation `sigma` pixels, separable, edges repeated."""
    radius = max(1, int(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2).astype(np.float32)
    kernel /= kernel.sum()
    for axis in (0, 1):
        pad = [(0, 0)] * image.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(image, pad, mode="edge")
        image = sum(k * np.take(padded, range(i, i + image.shape[axis]), axis=axis) for i, k in enumerate(kernel))
    return image


def stripes(image: np.ndarray, axis: int, amplitude: float, period: float) -> np.ndarray:
    """Sinusoidal interference bars: horizontal bands (axis 0, varying down the rows) or vertical ones (1)."""
    wave = amplitude * np.sin(2 * np.pi * np.arange(image.shape[axis], dtype=np.float32) / period)
    return image + (wave[:, None, None] if axis == 0 else wave[None, :, None])


def occluder(shape: tuple[int, ...], share: float) -> np.ndarray:
    """A dark out-of-focus object close to the lens from the lower left, covering `share` of the frame (up to
    about 0.45; a larger one is cut by the top edge): a mask (1 covered), a quarter ellipse π/4 · rx · ry of
    the frame with a soft edge, (h, w, 1)."""
    h, w = shape[:2]
    rows, cols = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    radius = np.sqrt(share * 4 / np.pi * h / w)  # rx = radius of the width, ry = radius · w / h of the height
    distance = np.hypot((1 - rows) * h / w, cols) / radius
    return np.clip((1.05 - distance) * 10, 0, 1)[..., None].astype(np.float32)


def occlusion(image: np.ndarray, share: float) -> np.ndarray:
    """The occluder over the picture: grey level 18 to 24 where covered."""
    mask = occluder(image.shape, share)
    return image * (1 - mask) + (18 + 6 * mask) * mask


def view(world: np.ndarray, size: tuple[int, int], dx: float = 0, dy: float = 0, angle: float = 0) -> np.ndarray:
    """A camera's framing of `size` (h, w) around the world picture's centre moved by (dx, dy) of the framing's
    size and turned by `angle` degrees; bilinear sampling, whole-array. Scene change is another view()."""
    h, w = world.shape[:2]
    vh, vw = size
    rows, cols = np.mgrid[0:vh, 0:vw].astype(np.float32)
    rows, cols = rows - vh / 2, cols - vw / 2
    turn = np.deg2rad(angle)
    y = h / 2 + dy * vh + rows * np.cos(turn) + cols * np.sin(turn)
    x = w / 2 + dx * vw - rows * np.sin(turn) + cols * np.cos(turn)
    y, x = np.clip(y, 0, h - 1.001), np.clip(x, 0, w - 1.001)
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[..., None], (x - x0)[..., None]
    return ((world[y0, x0] * (1 - fx) + world[y0, x0 + 1] * fx) * (1 - fy)
            + (world[y0 + 1, x0] * (1 - fx) + world[y0 + 1, x0 + 1] * fx) * fy)


DEGRADE = {  # kind → (picture, strength, rng) → picture; strength as the bench's CASES and STRENGTH spell it
    "signal_loss": lambda image, colour, rng: np.broadcast_to(np.asarray(colour, dtype=np.float32), image.shape),
    "blur": lambda image, sigma, rng: gaussian(image, sigma),
    "too_bright": lambda image, kept, rng: 255 - (255 - image) * kept,  # washed towards white
    "too_dark": lambda image, gain, rng: image * gain,  # under-exposed
    "greyscale": lambda image, share, rng: luma(image) * share + image * (1 - share),
    "colour_cast": lambda image, gains, rng: image * np.asarray(gains, dtype=np.float32),
    "noise": lambda image, sigma, rng: image + rng.normal(0, sigma, image.shape).astype(np.float32),
    "stripes": lambda image, bars, rng: stripes(image, *bars),  # (axis, amplitude, period px)
    "low_contrast": lambda image, kept, rng: image * kept + 150 * (1 - kept),  # haze: spread × kept, towards 150
    "occlusion": lambda image, share, rng: occlusion(image, share),
}
STRENGTH = {  # the simulator's one strength per kind, within the bench's range (bands of 8 px: its picture is 90 rows)
    "signal_loss": (16, 16, 16), "blur": 3.5, "too_bright": 0.22, "too_dark": 0.16, "greyscale": 1.0,
    "colour_cast": (1.0, 0.8, 0.45), "noise": 10.0, "stripes": (0, 12, 8), "low_contrast": 0.2, "occlusion": 0.4,
    "scene_change": (0.3, 0.1, 8.0),  # view(): moved by 0.3 of the width, 0.1 of the height, turned 8°
}
