"""Map datums. Every coordinate the platform stores or compares is GCJ-02 (docs/wechat.md,
Location): what WeChat's wx.getLocation({type: 'gcj02'}), Tencent and Amap maps give. A browser's
navigator.geolocation answers in WGS-84 (the W3C Geolocation API's datum, the phone's GPS), which
in mainland China lies a few hundred metres from the same spot in GCJ-02 — about 550 m in Shenzhen.
A position that comes in as WGS-84 is converted here, once, before it is compared with anything.

The conversion is the published GCJ-02 transform (Krasovsky 1940 ellipsoid and the standard
offset polynomials), accurate to about a metre; outside mainland China GCJ-02 is WGS-84 itself.
"""

import math

GCJ02, WGS84 = "gcj02", "wgs84"
DATUMS = (GCJ02, WGS84)

_A = 6378245.0  # Krasovsky 1940 semi-major axis, metres
_EE = 0.00669342162296594323  # its first eccentricity squared


def outside_mainland_china(latitude: float, longitude: float) -> bool:
    """The transform's own bounding box: beyond it both datums are the same."""
    return not (73.66 < longitude < 135.05 and 3.86 < latitude < 53.55)


def _offset_latitude(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_longitude(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(latitude: float, longitude: float) -> tuple[float, float]:
    """(latitude, longitude) in GCJ-02 of a WGS-84 position."""
    if outside_mainland_china(latitude, longitude):
        return latitude, longitude
    d_lat = _offset_latitude(longitude - 105.0, latitude - 35.0)
    d_lng = _offset_longitude(longitude - 105.0, latitude - 35.0)
    rad = latitude / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return latitude + d_lat, longitude + d_lng


def datum_param(value, *, code: str = "invalid_location") -> str:
    """The datum a request names in its `coordinate_system` (`gcj02` when absent); an unknown
    one is refused rather than guessed."""
    from core.errors import ValidationFailed

    datum = (value or GCJ02).strip().lower() if isinstance(value, str) or value is None else ""
    if datum not in DATUMS:
        raise ValidationFailed("坐标系只能是 gcj02 或 wgs84", code=code)
    return datum


def to_gcj02(latitude: float, longitude: float, *, datum: str) -> tuple[float, float]:
    """A position in the datum it came in (`gcj02` or `wgs84`), as GCJ-02."""
    if datum == WGS84:
        return wgs84_to_gcj02(latitude, longitude)
    if datum == GCJ02:
        return latitude, longitude
    raise ValueError(f"unknown datum {datum!r}")
