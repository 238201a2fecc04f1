"""SensorThings API v1.1 (#18), following the read-only parts of OGC's abstract test suite
(OGC 18-088 annex A): entity control information, navigation, each query option, the
dataArray format, error responses for bad queries. Data: simulated uplinks ingested for
real into a real SQLite store (and a real influxd where Observations are read)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

import pytest

from simulator.fleet import SimMessage
from storage.sqlite import from_ns
from tests.api.sta.conftest import StaEnv

pytestmark = pytest.mark.integration
BASE = "/sta/v1.1"
ENTITY_SETS = (
    "Things",
    "Locations",
    "HistoricalLocations",
    "Datastreams",
    "Sensors",
    "ObservedProperties",
    "Observations",
    "FeaturesOfInterest",
)


def get(env: StaEnv, url: str, status: int = 200) -> Any:
    path = urlsplit(url)
    r = env.client.get(
        path.path + (f"?{path.query}" if path.query else "") if "://" in url else url
    )
    assert r.status_code == status, (url, r.status_code, r.text[:300])
    return r.json()


def expected_series(env: StaEnv) -> dict[tuple[str, str, str], list[tuple[int, float]]]:
    """(DevEUI, quantity, sensor) -> [(time_ns, value)] of what the simulator sent."""
    by_device = {d.name: d.dev_eui.upper() for d in env.fleet}  # TTS: the device id
    by_device.update({d.dev_eui.lower(): d.dev_eui.upper() for d in env.fleet})  # ChirpStack
    out: dict[tuple[str, str, str], list[tuple[int, float]]] = defaultdict(list)
    m: SimMessage
    for m in env.messages:
        for e in m.expected:
            out[(by_device[m.device], e.quantity, e.sensor)].append((e.time_ns, e.value))
    for v in out.values():
        v.sort()
    return out


# -- A.1 entity control information and the service root ------------------------------------


def test_root_lists_the_entity_sets_and_conformance(sta: StaEnv) -> None:
    root = get(sta, BASE)
    assert [v["name"] for v in root["value"]] == list(ENTITY_SETS)
    assert all(v["url"].endswith(f"{BASE}/{v['name']}") for v in root["value"])
    conf = root["serverSettings"]["conformance"]
    assert "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel" in conf
    assert "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array" in conf


@pytest.mark.parametrize("entity_set", ENTITY_SETS[:-2] + ("FeaturesOfInterest",))
def test_control_information_and_self_links_resolve(sta: StaEnv, entity_set: str) -> None:
    coll = get(sta, f"{BASE}/{entity_set}")
    assert coll["value"], entity_set
    for e in coll["value"][:3]:
        assert isinstance(e["@iot.id"], str)
        again = get(sta, e["@iot.selfLink"])
        assert again["@iot.id"] == e["@iot.id"]
        for k, v in e.items():
            if k.endswith("@iot.navigationLink"):
                body = get(sta, v)
                assert "value" in body or "@iot.id" in body


# -- only public devices, whatever the query --------------------------------------------------


def test_only_public_devices_appear(sta: StaEnv) -> None:
    public = {d.dev_eui.upper() for d in sta.public}
    private = {d.dev_eui.upper() for d in sta.private}
    things = get(sta, f"{BASE}/Things?$top=1000")["value"]
    assert {t["@iot.id"] for t in things} == public
    streams = get(sta, f"{BASE}/Datastreams?$top=1000")["value"]
    assert streams and all(s["@iot.id"].split(".")[0] in public for s in streams)
    for eui in private:
        assert get(sta, f"{BASE}/Things('{eui}')", 404)["code"] == 404
        body = get(sta, f"{BASE}/Things?$filter=properties/devEui eq '{eui}'")
        assert body["value"] == []
        body = get(sta, f"{BASE}/Observations?$filter=Datastream/@iot.id eq '{eui}.temperature'")
        assert body["value"] == []
    names = {t["name"] for t in things}
    assert "geheim" not in names


# -- A.2 navigation -----------------------------------------------------------------------------


def test_navigation_thing_to_observations_and_back(sta_any: StaEnv) -> None:
    env = sta_any
    expected = expected_series(env)
    thing = env.public[0].dev_eui.upper()
    streams = get(env, f"{BASE}/Things('{thing}')/Datastreams")["value"]
    assert streams
    for ds in streams:
        q = ds["properties"]["quantity"]
        sensor = ds["properties"].get("sensor", "")
        want = expected[(thing, q, sensor)]
        obs = get(env, f"{BASE}/Datastreams('{ds['@iot.id']}')/Observations?$top=1000&$count=true")
        assert obs["@iot.count"] == len(want)
        got = [(o["phenomenonTime"], o["result"]) for o in obs["value"]]
        assert [r for _, r in got] == pytest.approx([v for _, v in want])
        assert obs["value"][0]["phenomenonTime"] == from_ns(want[0][0]).isoformat().replace(
            "+00:00", "Z"
        )
        one = obs["value"][0]
        assert get(env, one["@iot.selfLink"])["result"] == one["result"]
        back = get(env, f"{one['@iot.selfLink']}/Datastream/Thing")
        assert back["@iot.id"] == thing
        assert get(env, f"{BASE}/Datastreams('{ds['@iot.id']}')/Sensor")["@iot.id"]
        assert get(env, f"{BASE}/Datastreams('{ds['@iot.id']}')/ObservedProperty")["@iot.id"] == q


def test_property_value_and_ref(sta: StaEnv) -> None:
    thing = sta.public[1]
    eui = thing.dev_eui.upper()
    assert get(sta, f"{BASE}/Things('{eui}')/name") == {"name": "Messstelle 1"}
    r = sta.client.get(f"{BASE}/Things('{eui}')/name/$value")
    assert r.status_code == 200 and r.text == "Messstelle 1"
    refs = get(sta, f"{BASE}/Things('{eui}')/Datastreams/$ref")["value"]
    assert refs and all(set(x) == {"@iot.selfLink"} for x in refs)


def test_location_is_geojson_and_thing_has_it(sta: StaEnv) -> None:
    eui = sta.public[0].dev_eui.upper()
    [loc] = get(sta, f"{BASE}/Things('{eui}')/Locations")["value"]
    assert loc["encodingType"] == "application/geo+json"
    lon, lat = loc["location"]["coordinates"]
    assert (round(lat, 4), round(lon, 4)) == (54.6925, 8.5672)
    [hl] = get(sta, f"{BASE}/Things('{eui}')/HistoricalLocations")["value"]
    assert hl["time"].endswith("Z")


# -- A.3 query options ----------------------------------------------------------------------------


def test_top_skip_count_and_next_link(sta: StaEnv) -> None:
    first = get(sta, f"{BASE}/Things?$top=2&$count=true")
    assert first["@iot.count"] == 5 and len(first["value"]) == 2
    seen = [t["@iot.id"] for t in first["value"]]
    page = first
    while "@iot.nextLink" in page:
        page = get(sta, page["@iot.nextLink"])
        seen.extend(t["@iot.id"] for t in page["value"])
    assert sorted(seen) == sorted(d.dev_eui.upper() for d in sta.public)
    assert get(sta, f"{BASE}/Things?$top=0&$count=true") == {"@iot.count": 5, "value": []}
    big = get(sta, f"{BASE}/Things?$top=100000")
    assert len(big["value"]) == 5  # capped at the server's limit, not an error


def test_select_and_orderby(sta: StaEnv) -> None:
    body = get(sta, f"{BASE}/Things?$select=name,@iot.id&$orderby=name desc")
    names = [t["name"] for t in body["value"]]
    assert names == sorted(names, reverse=True)
    assert all(set(t) == {"name", "@iot.id"} for t in body["value"])
    by_site = get(sta, f"{BASE}/Things?$orderby=properties/site asc,name desc&$select=name")
    assert [t["name"] for t in by_site["value"]] == [
        "Messstelle 3",
        "Messstelle 1",
        "Messstelle 4",
        "Messstelle 2",
        "Messstelle 0",
    ]


@pytest.mark.parametrize(
    ("flt", "names"),
    [
        ("properties/site eq 'Wyk'", {"Messstelle 0", "Messstelle 2", "Messstelle 4"}),
        ("properties/site ne 'Wyk' and startswith(name, 'Mess')", {"Messstelle 1", "Messstelle 3"}),
        (
            "substringof('stelle 3', name) or name eq 'Messstelle 0'",
            {"Messstelle 0", "Messstelle 3"},
        ),
        ("not (properties/site eq 'Wyk')", {"Messstelle 1", "Messstelle 3"}),
        ("length(name) gt 12", set()),
        ("length(name) eq 12", {f"Messstelle {i}" for i in range(5)}),
        ("tolower(properties/site) eq 'amrum'", {"Messstelle 1", "Messstelle 3"}),
        (
            "st_within(Locations/location, geography'POLYGON((8.5 54.6, 8.7 54.6, 8.7 54.8,"
            " 8.5 54.8, 8.5 54.6))')",
            {"Messstelle 0", "Messstelle 2", "Messstelle 4"},
        ),
        (
            "geo.intersects(Locations/location, geography'POLYGON((8.2 54.5, 8.4 54.5, 8.4 54.7,"
            " 8.2 54.7, 8.2 54.5))')",
            {"Messstelle 1", "Messstelle 3"},
        ),
        (
            "geo.distance(Locations/location, geography'POINT(8.5672 54.6925)') lt 0.002",
            {"Messstelle 0"},
        ),
        ("Datastreams/ObservedProperty/@iot.id eq 'temperature'", None),
    ],
)
def test_filter_on_things(sta: StaEnv, flt: str, names: set[str] | None) -> None:
    r = sta.client.get(f"{BASE}/Things", params={"$filter": flt, "$select": "name"})
    assert r.status_code == 200, r.text
    got = {t["name"] for t in r.json()["value"]}
    if names is None:  # computed from the streams themselves
        want = set()
        for t in get(sta, f"{BASE}/Things?$expand=Datastreams")["value"]:
            if any(d["properties"]["quantity"] == "temperature" for d in t["Datastreams"]):
                want.add(t["name"])
        assert want and got == want
    else:
        assert got == names


def test_expand_nested_with_its_own_options(sta_any: StaEnv) -> None:
    env = sta_any
    expected = expected_series(env)
    body = get(
        env,
        f"{BASE}/Things?$expand=Datastreams($expand=Observations($top=1;"
        "$orderby=phenomenonTime desc);$select=name,properties,@iot.id),Locations&$top=100",
    )
    assert len(body["value"]) == 5
    for t in body["value"]:
        assert "Datastreams@iot.navigationLink" not in t and "Locations" in t
        for ds in t["Datastreams"]:
            assert set(ds) >= {"name", "properties", "Observations"}
            [latest] = ds["Observations"]
            key = (t["@iot.id"], ds["properties"]["quantity"], ds["properties"].get("sensor", ""))
            assert latest["result"] == pytest.approx(expected[key][-1][1])


def test_observation_filters_run_in_the_store(sta_any: StaEnv) -> None:
    env = sta_any
    expected = expected_series(env)
    key = next(
        k for k in expected if k[1] == "temperature" and k[0] == env.public[0].dev_eui.upper()
    )
    ds = ".".join(x for x in key if x)
    series = expected[key]
    lo_ns, hi_ns = series[5][0], series[15][0]
    lo = from_ns(lo_ns).isoformat().replace("+00:00", "Z")
    hi = from_ns(hi_ns).isoformat().replace("+00:00", "Z")
    median = sorted(v for _, v in series)[len(series) // 2]
    flt = f"phenomenonTime ge {lo} and phenomenonTime lt {hi} and result ge {median}"
    r = env.client.get(
        f"{BASE}/Datastreams('{ds}')/Observations",
        params={"$filter": flt, "$count": "true", "$orderby": "phenomenonTime desc", "$top": "3"},
    )
    assert r.status_code == 200, r.text
    want = [v for t, v in series if lo_ns <= t < hi_ns and v >= median]
    body = r.json()
    assert body["@iot.count"] == len(want)
    assert [o["result"] for o in body["value"]] == pytest.approx(list(reversed(want))[:3])
    if len(want) > 3:
        assert "$skip=3" in body["@iot.nextLink"]


def test_data_array(sta: StaEnv) -> None:
    expected = expected_series(sta)
    key = next(k for k in expected if k[0] == sta.public[0].dev_eui.upper())
    ds = ".".join(x for x in (key[0], key[1], key[2]) if x)
    r = sta.client.get(
        f"{BASE}/Datastreams('{ds}')/Observations",
        params={"$resultFormat": "dataArray", "$select": "phenomenonTime,result", "$top": "1000"},
    )
    assert r.status_code == 200, r.text
    [group] = r.json()["value"]
    assert group["components"] == ["phenomenonTime", "result"]
    assert group["dataArray@iot.count"] == len(expected[key])
    assert [row[1] for row in group["dataArray"]] == pytest.approx([v for _, v in expected[key]])
    assert group["Datastream@iot.navigationLink"].endswith(f"Datastreams('{ds}')")


def test_ids_are_stable_across_restarts(sta: StaEnv) -> None:
    """A new app on the same registry and store gives the same ids (portals store links)."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from lorawan_monitor.health import ServiceState
    from lorawan_monitor.settings import load_settings

    before = get(sta, f"{BASE}/Datastreams?$top=1000&$select=@iot.id")["value"]
    app = create_app(load_settings(), store=sta.store, registry=sta.registry, state=ServiceState())
    with TestClient(app) as other:
        after = other.get(f"{BASE}/Datastreams?$top=1000&$select=@iot.id").json()["value"]
    assert before == after and before


# -- error responses: a bad query is a 400 with a message, never a 500 -----------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"$filter": "name eq"},
        {"$filter": "name eq 'unterminated"},
        {"$filter": "nosuchfunction(name) eq 1"},
        {"$filter": "substringof(name) eq 1"},
        {"$filter": "st_within(Locations/location, geography'POLYGON((broken')"},
        {"$filter": "((name eq 'a')"},
        {"$top": "-1"},
        {"$top": "ten"},
        {"$skip": "x"},
        {"$count": "yes"},
        {"$orderby": "name sideways"},
        {"$expand": "Datastreams($top=1"},
        {"$expand": "Nonsense"},
        {"$resultFormat": "csv"},
        {"$foo": "1"},
    ],
)
def test_bad_queries_are_400_with_a_message(sta: StaEnv, query: dict[str, str]) -> None:
    r = sta.client.get(f"{BASE}/Things", params=query)
    assert r.status_code == 400, (query, r.status_code, r.text)
    body = r.json()
    assert body["code"] == 400 and body["type"] == "error" and body["message"]


@pytest.mark.parametrize(
    "path",
    [
        "Nonsense",
        "Things('nope')",
        "Things('x')/Datastreams",
        "Datastreams('a.b')/Observations",
        "Observations('x.y.1')",
        "Things/Datastreams",
    ],
)
def test_unknown_paths_are_404(sta: StaEnv, path: str) -> None:
    r = sta.client.get(f"{BASE}/{path}")
    assert r.status_code == 404, (path, r.text)
    assert r.json()["type"] == "error"


def test_observation_filter_that_cannot_run_in_the_store_is_refused(sta: StaEnv) -> None:
    eui = sta.public[0].dev_eui.upper()
    ds = get(sta, f"{BASE}/Things('{eui}')/Datastreams")["value"][0]["@iot.id"]
    r = sta.client.get(
        f"{BASE}/Datastreams('{ds}')/Observations", params={"$filter": "result gt 1 or result lt 0"}
    )
    assert r.status_code == 400 and "database" in r.json()["message"]
