"""The twelve image-fault kinds (DOMAIN.md), in the order every table and report lists them, with the names
the platforms give them. Kept apart from image_quality (PyAV, NumPy) so the gold models, the report and the
worklist can name the kinds without loading a decoder."""

FAULT_NAMES = {  # kind → (Chinese, English)
    "signal_loss": ("信号丢失", "signal loss"), "frozen": ("画面冻结", "frozen"), "blur": ("图像模糊", "blur"),
    "too_bright": ("画面过亮", "too bright"), "too_dark": ("画面过暗", "too dark"),
    "greyscale": ("黑白图像", "greyscale"), "colour_cast": ("偏色", "colour cast"), "noise": ("噪声", "noise"),
    "stripes": ("条纹干扰", "stripes"), "low_contrast": ("对比度低", "low contrast"), "occlusion": ("遮挡", "occlusion"),
    "scene_change": ("场景变更", "scene change"),
}
FAULTS = tuple(FAULT_NAMES)
