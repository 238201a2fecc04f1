"""Every user tag reaches every point (#11 point 2): keys sorting after ``~`` (``über``)
were missing from ``lorawan_uplink``, because its tag string was built as the part
"before ``~``" of a split; reserved and empty keys never reach the wire."""

from __future__ import annotations

from ingest.pipeline import Pipeline
from storage.lineprotocol import parse_line
from storage.registry_base import DeviceMeta
from tests.ingest.test_hostile_writer import _uplink


def test_tags_after_tilde_reach_lorawan_uplink_and_readings() -> None:
    meta = DeviceMeta(tags={"über": "Brücke", "zone": "Nord", "time": "x", "": "y", "~k": "v"})
    r = Pipeline(meta_lookup=lambda _k: meta).process(_uplink(1, "App"))
    points = [parse_line(ln) for ln in r.points]
    assert {p.measurement for p in points} >= {"lorawan_uplink", "temperature"}
    for p in points:
        assert p.tags["über"] == "Brücke", p.measurement
        assert p.tags["~k"] == "v" and p.tags["zone"] == "Nord"
        assert "time" not in p.tags and "" not in p.tags
