"""core.geo: WGS-84 to GCJ-02 against published conversions, and the rule's edges."""

import pytest

from core.geo import outside_mainland_china, to_gcj02, wgs84_to_gcj02
from customers.churn import distance_km


@pytest.mark.parametrize(("wgs84", "gcj02", "within_m"), [
    # Beijing, the example every GCJ-02 library documents (wandergis/coordtransform's README).
    ((39.915, 116.404), (39.91640428150164, 116.41024449916938), 0.01),
    # Guangdong cities from gcoord's fixture of map-provider conversions (rounded to 1e-7 degrees).
    ((22.7888255, 115.3702248), (22.7861903, 115.3751647), 1.0),   # Shanwei, next to Shenzhen
    ((23.7463448, 114.6962648), (23.7436914, 114.7009627), 1.0),   # Heyuan
])
def test_published_conversions(wgs84, gcj02, within_m):
    converted = wgs84_to_gcj02(*wgs84)
    assert distance_km(*converted, *gcj02) * 1000 <= within_m


def test_in_shenzhen_the_two_datums_are_about_600_metres_apart():
    civic_centre_wgs84 = (22.543096, 114.057865)
    gcj = wgs84_to_gcj02(*civic_centre_wgs84)
    assert (round(gcj[0], 6), round(gcj[1], 6)) == (22.540379, 114.062979)
    assert 590 <= distance_km(*civic_centre_wgs84, *gcj) * 1000 <= 620


def test_outside_mainland_china_nothing_moves_and_gcj02_is_kept_as_it_is():
    assert outside_mainland_china(51.5, -0.12) and wgs84_to_gcj02(51.5, -0.12) == (51.5, -0.12)
    assert to_gcj02(22.54, 114.06, datum="gcj02") == (22.54, 114.06)
    with pytest.raises(ValueError):
        to_gcj02(22.54, 114.06, datum="bd09")
