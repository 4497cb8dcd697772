"""The simulated city's camera registry: every device of every banner, drawn once per run from the seed.

A camera keeps its ID, name and attributes for the whole run; only what it does each day (status.py) varies.
Draws are vectorised per banner; one Python loop per device then assembles the records.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from xl_pipelines.banners import Banner, BannerConfig
from xl_pipelines.school_zones import DEFAULT_FILE as DEFAULT_ZONES
from xl_pipelines.school_zones import load_school_zones
from xl_pipelines.settings import ConfigError
from xl_pipelines.simulator.platforms import Platform, platform_of
from xl_pipelines.simulator.seeding import stream

DIRECTORY, NVR, CAMERA, IP_CAMERA, PLATFORM = "216", "118", "131", "132", "200"
CHANNEL_TYPES = (CAMERA, IP_CAMERA)
UNREGISTERED_SERIALS = 900_000  # serials from here on are never registered (for the unregistered-camera fault)
NVR_CHANNEL_SHARE = 0.2  # cameras recorded through an NVR (type 131); the rest are IP cameras (132)
TOWN_SUFFIXES = ("镇", "苏木")  # places outside the seat, filed under the rural directory

# Each manufacturer's models by role: (bullet or half-dome, dome/PTZ, checkpoint, NVR).
MODELS = {
    "Hikvision": (("DS-2CD3T47WDV3-L", "DS-2CD2346FWD-IS"), "DS-2DE4425IW-DE", "iDS-2CD9396-BIS", "DS-8632N-I8"),
    "Dahua": (("DH-IPC-HFW2433M-A-LED", "DH-IPC-HDW2433T-A"), "DH-SD49425XB-HNR", "DH-ITC237-PW6M", "DHI-NVR5864-4KS2"),
    "Uniview": (("IPC2124LB-SF40KM-G", "IPC3614SR3-ADF28KM-G"), "IPC6322SR-X22P-C", "HC121@TS8CR-Z", "NVR308-64E-B"),
}
MANUFACTURER_SHARES = (0.5, 0.35, 0.15)

INDUSTRIES = ("00", "01", "04", "11")  # road / community public security, traffic, education
INDUSTRY_SHARES = (0.45, 0.35, 0.12, 0.08)
TRAFFIC, EDUCATION = 2, 3  # indexes into INDUSTRIES
GRASSROOTS = ("00", "01", "02", "03", "04", "05", "06", "07", "08")
GRASSROOTS_SHARES = (0.6,) + (0.05,) * 8
FUNCTION_TYPES = (None, "01", "02", "03", "04")  # none, face, person, motor-vehicle, non-motor checkpoint
FUNCTION_SHARES = (0.85, 0.06, 0.015, 0.06, 0.015)

DIRECTIONS = ("东", "南", "西", "北", "东北", "东南", "西北", "西南")
SPOTS = ("东门", "西门", "南门", "北门", "正门", "停车场", "出入口", "广场")
ROADSIDE = ("门前", "东侧", "西侧", "路口")
CROSS, PLACE, ROAD, SCHOOL = range(4)  # kinds of site a camera is named after


@dataclass(frozen=True)
class Device:
    """One catalog entry as the platform registers it; None means the platform leaves the field out."""

    device_id: str
    name: str
    type_code: str
    parent_id: str
    civil_code: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    owner: str | None = None
    address: str | None = None
    longitude: float | None = None
    latitude: float | None = None
    status_dialect: int = 0  # index into catalog.STATUS_DIALECTS: a few devices say ONLINE/OFFLINE or OK
    ptz_type: int | None = None
    position_type: int | None = None
    room_type: int | None = None
    use_type: int | None = None
    supply_light_type: int | None = None
    direction_type: int | None = None
    resolution: str | None = None
    point_type: int | None = None
    function_type: str | None = None
    install_time: str | None = None
    management_unit: str | None = None
    contact_info: str | None = None
    record_save_days: int | None = None


@dataclass(frozen=True)
class BannerRegistry:
    banner: Banner
    platform: Platform
    platform_id: str
    devices: tuple[Device, ...]  # catalog order: directories, each NVR followed by its channels, IP cameras
    channels: tuple[Device, ...]  # the cameras status polls report on, in poll-row order


def split_cameras(total: int, weights: list[float]) -> list[int]:
    """Largest-remainder split of `total` by `weights`, so the parts always add up to the total."""
    exact = np.asarray(weights) * total / sum(weights)
    parts = np.floor(exact).astype(int)
    by_remainder = np.argsort(-(exact - parts), kind="stable")
    parts[by_remainder[: total - parts.sum()]] += 1
    return parts.tolist()


def build_city(config: BannerConfig, cameras: int, seed: int) -> list[BannerRegistry]:
    """Every banner's registry, `cameras` channels in all, in the order of the banner configuration."""
    weights = [b.weight for b in config.banners]
    counts = split_cameras(cameras, weights)
    if min(counts) < 1:  # a banner without a camera has no platform to simulate
        # at sum / min weight cameras every banner's exact share is at least one: the smallest count is at most that
        bound = math.ceil(sum(weights) / min(weights)) if min(weights) > 0 else 0
        least = next((n for n in range(max(cameras, 1), bound + 1) if min(split_cameras(n, weights)) >= 1), None)
        raise ConfigError(f"{cameras} cameras leave a banner without any"
                          + (f": simulate at least {least}" if least else ": a banner's weight is not above 0"))
    return [_build_banner(config, banner, n, seed) for banner, n in zip(config.banners, counts, strict=True)]


def centre_prefix(config: BannerConfig, code: str) -> str:
    """The ID prefix a banner's platform files its devices under: a configured longer prefix, else its code."""
    own = sorted(p for p, unit in config.id_prefixes.items() if unit == code and len(p) > len(code))
    return own[0] if own else code


def _build_banner(config: BannerConfig, banner: Banner, n: int, seed: int) -> BannerRegistry:
    platform = platform_of(banner)
    rng = stream(seed, "registry", banner.code)
    prefix = centre_prefix(config, banner.code)
    if len(prefix) not in (6, 8):
        raise ValueError(f"centre prefix {prefix!r} of {banner.code} must have 6 or 8 digits")
    centre8 = prefix if len(prefix) == 8 else prefix + "00"
    platform_id = f"{centre8}00{PLATFORM}0000001"

    serials = iter(range(1, UNREGISTERED_SERIALS))

    def new_id(centre: str, industry: str, type_code: str, network: str) -> str:
        return f"{centre}{industry}{type_code}{network}{next(serials):06d}"

    has_towns = any(p.endswith(TOWN_SUFFIXES) for p in platform.places)
    directories = [
        Device(new_id(centre8, "00", DIRECTORY, "0"), f"{platform.short}{area}监控", DIRECTORY, platform_id)
        for area in (("城区", "乡镇") if has_towns else ("城区",))
    ]

    draws = _draw_cameras(rng, banner, platform, n)
    devices: list[Device] = list(directories)
    channels: list[Device] = []
    nvr_id = ""
    for i, (site, attrs) in enumerate(zip(draws.sites, draws.attributes, strict=True)):
        centre = prefix + draws.grassroots[i] if len(prefix) == 6 else prefix
        directory = directories[-1 if site.is_town else 0].device_id
        behind_nvr = draws.group[i] >= 0
        if behind_nvr and (i == 0 or draws.group[i - 1] != draws.group[i]):
            nvr_id = new_id(centre, "00", NVR, draws.network[i])
            devices.append(
                Device(
                    nvr_id, f"{site.place_name}NVR", NVR, directory, civil_code=centre[:6],
                    manufacturer=attrs["manufacturer"], model=MODELS[attrs["manufacturer"]][3],
                    owner=platform.owner, address=site.address,
                    longitude=attrs["longitude"], latitude=attrs["latitude"],
                )
            )
        type_code = CAMERA if behind_nvr else IP_CAMERA
        camera = Device(
            new_id(centre, draws.industry[i], type_code, draws.network[i]), site.camera_name, type_code,
            nvr_id if behind_nvr else directory, civil_code=centre[:6], owner=platform.owner,
            address=site.address, management_unit=site.management_unit, **attrs,
        )
        devices.append(camera)
        channels.append(camera)
    return BannerRegistry(banner, platform, platform_id, tuple(devices), tuple(channels))


@dataclass(frozen=True)
class _Site:
    place_name: str  # e.g. 开鲁县人民广场: what the NVR recording all cameras there is named after
    spot: str  # the camera's own corner of it, e.g. 西门
    address: str
    management_unit: str
    is_town: bool

    @property
    def camera_name(self) -> str:
        return self.place_name + self.spot


def _nvr_groups(rng: np.random.Generator, n: int) -> np.ndarray:
    """Group index per camera (-1 = IP camera): the first ~20 % sit behind NVRs of 4 to 16 channels each."""
    behind = int(rng.binomial(n, NVR_CHANNEL_SHARE))
    sizes = rng.integers(4, 17, size=behind // 4 + 1)
    group = np.repeat(np.arange(sizes.size), sizes)[:behind]
    return np.concatenate([group, np.full(n - behind, -1)])


@dataclass(frozen=True)
class _Draws:
    """Per camera, in registry order: NVR group (-1 = none), site, ID parts, and the other Device fields."""

    group: list[int]
    sites: list[_Site]
    grassroots: list[str]
    network: list[str]
    industry: list[str]
    attributes: list[dict]


def _draw_cameras(rng: np.random.Generator, banner: Banner, platform: Platform, n: int) -> _Draws:
    """Column-wise draws for the banner's n cameras; cameras behind one NVR share its site, brand and network."""
    group = _nvr_groups(rng, n)
    behind = group >= 0
    first_of_group = np.arange(n)
    first_of_group[behind] = np.unique(group[behind], return_index=True)[1][group[behind]]

    def shared(values: np.ndarray) -> np.ndarray:
        return values[first_of_group]

    industry = shared(rng.choice(len(INDUSTRIES), size=n, p=INDUSTRY_SHARES))
    sites, longitude, latitude = _draw_sites(rng, banner, platform, industry, shared)
    columns = _draw_attributes(rng, industry, shared) | {"longitude": longitude, "latitude": latitude}
    return _Draws(
        group=group.tolist(),
        sites=sites,
        grassroots=[GRASSROOTS[g] for g in shared(rng.choice(len(GRASSROOTS), size=n, p=GRASSROOTS_SHARES))],
        network=["5" if police else "0" for police in shared(rng.random(n) < 0.1)],
        industry=[INDUSTRIES[i] for i in industry],
        attributes=[dict(zip(columns, values)) for values in zip(*columns.values())],
    )


def _draw_sites(
    rng: np.random.Generator, banner: Banner, platform: Platform, industry: np.ndarray, shared
) -> tuple[list[_Site], list[float | None], list[float | None]]:
    """Where each camera is: a named site (school for education, crossing for traffic) and its coordinates.

    Sites cluster: roads and schools around the banner's seat, places (towns) anywhere in its box.
    About 2 % of cameras carry an annotation fault (no coordinates, 0/0, or latitude and longitude swapped)
    for the annotation-accuracy indicator to find.
    """
    n = industry.size
    other = rng.choice((CROSS, PLACE, ROAD), size=n, p=(0.4, 0.35, 0.25))
    kind = shared(np.where(industry == EDUCATION, SCHOOL, np.where(industry == TRAFFIC, CROSS, other)))
    roads, places, schools = platform.roads, platform.places, platform.schools
    road_a = shared(rng.integers(len(roads), size=n))
    road_b = shared((road_a + 1 + rng.integers(len(roads) - 1, size=n)) % len(roads))
    place = shared(rng.integers(len(places), size=n))
    school = shared(rng.integers(len(schools), size=n))
    # the packaged zones, never XL_SCHOOL_ZONES: the same arguments give the same city
    zones = load_school_zones(str(DEFAULT_ZONES))[0].filter(pl.col("code") == banner.code)
    if zones.height:  # the banner's schools are its configured school zones (xl_pipelines/school_zones.yaml)
        schools, school = tuple(zones["name_zh"]), school % zones.height  # the same draws either way
    number = shared(rng.integers(1, 400, size=n))
    spot = rng.integers(len(SPOTS), size=n)
    direction = rng.integers(len(DIRECTIONS), size=n)
    roadside = rng.integers(len(ROADSIDE), size=n)
    sites = [
        _site(platform, banner, k, roads[a], roads[b], places[p], schools[s], num, SPOTS[sp], DIRECTIONS[d], ROADSIDE[r])
        for k, a, b, p, s, num, sp, d, r in zip(
            *(column.tolist() for column in (kind, road_a, road_b, place, school, number, spot, direction, roadside))
        )
    ]

    lon_min, lat_min, lon_max, lat_max = banner.bbox
    span = np.array([lon_max - lon_min, lat_max - lat_min])
    low = np.array([lon_min, lat_min])
    seat = low + span * rng.uniform(0.3, 0.7, size=2)
    road_xy = seat + rng.normal(0, 0.04, size=(len(roads), 2)) * span
    place_xy = low + span * rng.uniform(0.05, 0.95, size=(len(places), 2))
    school_xy = seat + rng.normal(0, 0.06, size=(len(schools), 2)) * span
    if zones.height:
        school_xy = zones.select("longitude", "latitude").to_numpy()
    anchor = np.select(
        [kind[:, None] == CROSS, kind[:, None] == PLACE, kind[:, None] == ROAD],
        [(road_xy[road_a] + road_xy[road_b]) / 2, place_xy[place], road_xy[road_a]],
        school_xy[school],
    )
    xy = np.clip(anchor + rng.normal(0, 0.004, size=(n, 2)), low + 1e-4, low + span - 1e-4).round(6).tolist()
    fault = rng.choice(4, size=n, p=(0.98, 0.007, 0.007, 0.006)).tolist()  # none, left out, 0/0, swapped
    coords = [((x, y), (None, None), (0.0, 0.0), (y, x))[f] for f, (x, y) in zip(fault, xy)]  # as `fault` numbers them
    return sites, [c[0] for c in coords], [c[1] for c in coords]


def _draw_attributes(rng: np.random.Generator, industry: np.ndarray, shared) -> dict[str, list]:
    """Device fields other than site and coordinates, one list per field (keys are Device field names)."""
    n = industry.size
    function = rng.choice(len(FUNCTION_TYPES), size=n, p=FUNCTION_SHARES)
    function = np.where((industry == TRAFFIC) & (rng.random(n) < 0.4), FUNCTION_TYPES.index("03"), function)
    ptz = rng.choice((1, 2, 3, 4), size=n, p=(0.15, 0.2, 0.6, 0.05))
    ptz = np.where(function > 0, 3, ptz)  # checkpoints are fixed bullets
    makers = list(MODELS)
    maker = [makers[m] for m in shared(rng.choice(len(MODELS), size=n, p=MANUFACTURER_SHARES))]
    model_pick = rng.integers(2, size=n)
    point = rng.choice((1, 2, 3), size=n, p=(0.1, 0.3, 0.6))
    save_days = np.where(rng.random(n) < np.where(point == 1, 0.4, 0.1), 90, 30)
    installed = dt.date(2015, 1, 1).toordinal() + rng.integers(0, 3650, size=n)
    landline = rng.random(n) < 0.7
    extension = rng.integers(0, 10**6, size=n)
    carrier, subscriber = rng.choice(("13", "15", "18"), size=n), rng.integers(10**8, 10**9, size=n)
    mobile = [f"{c}{s}" for c, s in zip(carrier, subscriber.tolist())]
    no_contact = (point == 1) & (rng.random(n) < 0.05)  # class-one points that miss a required field
    return {
        "manufacturer": maker,
        "model": [
            MODELS[m][2] if f else MODELS[m][1] if p == 1 else MODELS[m][0][pick]
            for m, f, p, pick in zip(maker, function, ptz, model_pick)
        ],
        "status_dialect": rng.choice(3, size=n, p=(0.97, 0.02, 0.01)).tolist(),
        "ptz_type": ptz.tolist(),
        "position_type": np.where(
            industry == EDUCATION, 8, np.where(industry == TRAFFIC, 10, rng.choice((2, 3, 4, 6, 9, 10), size=n))
        ).tolist(),
        "room_type": np.where(rng.random(n) < 0.85, 1, 2).tolist(),
        "use_type": np.where(industry == TRAFFIC, 2, np.where(rng.random(n) < 0.12, 3, 1)).tolist(),
        "supply_light_type": rng.choice((1, 2, 3, 9), size=n, p=(0.2, 0.5, 0.25, 0.05)).tolist(),
        "direction_type": rng.integers(1, 9, size=n).tolist(),
        "resolution": [("6/4/3", "5/4", "6/5/4/3")[r] for r in rng.choice(3, size=n, p=(0.7, 0.2, 0.1))],
        "point_type": point.tolist(),
        "function_type": [FUNCTION_TYPES[f] for f in function],
        "install_time": [f"{dt.date.fromordinal(d).isoformat()}T00:00:00" for d in installed.tolist()],
        "contact_info": [
            None if skip else f"0475-8{e:06d}" if land else m
            for skip, land, e, m in zip(no_contact, landline, extension.tolist(), mobile)
        ],
        "record_save_days": save_days.tolist(),
    }


def _site(
    platform: Platform, banner: Banner, kind: int, road_a: str, road_b: str, place: str, school: str,
    number: int, spot: str, direction: str, roadside: str,
) -> _Site:
    """Where one camera is, e.g. 科尔沁区建国路与明仁大街交叉口东北 or 开鲁县人民广场西门."""
    city = f"通辽市{banner.name_zh}"
    at, own_spot, unit = {
        CROSS: (f"{road_a}与{road_b}交叉口", direction, f"{platform.owner}{road_a[:2]}派出所"),
        PLACE: (place, spot, f"{platform.owner}{place[:2]}派出所"),
        ROAD: (f"{road_a}{number}号", roadside, f"{platform.owner}{road_a[:2]}派出所"),
        SCHOOL: (school, spot, f"{banner.name_zh}教育局"),
    }[kind]
    return _Site(platform.short + at, own_spot, city + at, unit, kind == PLACE and place.endswith(TOWN_SUFFIXES))
