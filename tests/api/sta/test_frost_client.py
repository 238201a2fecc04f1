"""A real SensorThings client, Fraunhofer IOSB's ``frost-sta-client`` (PyPI), reads our
``/sta/v1.1`` over HTTP (uvicorn on loopback): Things with filters and expands, their
Datastreams, and the Observations that were ingested from simulated uplinks (#18)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.sta.conftest import StaEnv
from tests.api.sta.test_sta_api import expected_series
from tests.api.test_installer_browser import serve

pytestmark = pytest.mark.integration


@pytest.fixture
def sta_url(sta_any: StaEnv) -> Iterator[tuple[StaEnv, str]]:
    app = sta_any.client.app
    for base in serve(app):  # type: ignore[arg-type]
        yield sta_any, f"{base}/sta/v1.1"


def test_frost_client_reads_things_datastreams_and_observations(
    sta_url: tuple[StaEnv, str],
) -> None:
    import frost_sta_client as fsc

    env, url = sta_url
    expected = expected_series(env)
    service = fsc.SensorThingsService(url)

    things = list(service.things().query().list())
    assert sorted(t.id for t in things) == sorted(d.dev_eui.upper() for d in env.public)

    wyk = service.things().query().filter("properties/site eq 'Wyk'").expand("Datastreams").list()
    wyk_things = list(wyk)
    assert {t.name for t in wyk_things} == {"Messstelle 0", "Messstelle 2", "Messstelle 4"}
    for t in wyk_things:
        assert t.datastreams is not None and len(t.datastreams.entities) >= 1

    thing = service.things().find(env.public[0].dev_eui.upper())
    assert thing.name == "Messstelle 0"
    streams = list(thing.get_datastreams().query().list())
    assert streams
    for ds in streams:
        quantity = ds.properties["quantity"]
        sensor = ds.properties.get("sensor", "")
        want = expected[(thing.id, quantity, sensor)]
        assert ds.unit_of_measurement is not None
        # paged with $top=7: the client follows @iot.nextLink to the end
        obs = list(ds.get_observations().query().top(7).orderby("phenomenonTime", "ASC").list())
        assert [o.result for o in obs] == pytest.approx([v for _, v in want])
        newest = ds.get_observations().query().top(1).orderby("phenomenonTime", "DESC").list()
        assert [o.result for o in newest.entities] == pytest.approx([want[-1][1]])


def test_frost_client_sees_no_private_device(sta_url: tuple[StaEnv, str]) -> None:
    import frost_sta_client as fsc
    from requests.exceptions import HTTPError

    env, url = sta_url
    service = fsc.SensorThingsService(url)
    for dev in env.private:
        with pytest.raises(HTTPError):
            service.things().find(dev.dev_eui.upper())
    names = {t.name for t in service.things().query().list()}
    assert "geheim" not in names
