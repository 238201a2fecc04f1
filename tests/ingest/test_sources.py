"""Which sources a worker of ``ingest --workers N`` serves (#16): no servers needed; the
real split runs in tests/integration/test_sources_workers.py."""

from __future__ import annotations

import pytest

from ingest.sources import check_workers, for_worker, shares
from lorawan_monitor.errors import ConfigError
from lorawan_monitor.settings import load_settings


def _settings(**mqtt: str) -> object:
    return load_settings(
        mqtt=mqtt,
        sources=[
            {"name": "tts-umwelt", "kind": "tts", "host": "eu1.example", "port": 8883},
            {"name": "stadtwerke", "kind": "chirpstack", "host": "cs.example"},
            {"name": "fixed", "kind": "chirpstack", "host": "cs2.example", "client_id": "lm-x"},
            {"name": "own-group", "kind": "auto", "host": "cs3.example", "share_group": "g2"},
        ],
    )


def test_tts_sources_go_to_worker_one_the_others_to_every_worker_shared() -> None:
    s = load_settings(
        mqtt={"share_group": "lorawan-monitor", "client_id": "lm-host-2"},
        sources=_settings().sources,  # type: ignore[attr-defined]
    )
    assert [shares(x, s) for x in s.sources] == [False, True, True, True]
    one, two = for_worker(s, 1), for_worker(s, 2)
    assert [x.name for x in one.sources] == ["tts-umwelt", "stadtwerke", "fixed", "own-group"]
    assert [x.name for x in two.sources] == ["stadtwerke", "fixed", "own-group"]
    by = {x.name: x for x in two.sources}
    assert by["stadtwerke"].share_group == "lorawan-monitor"
    assert by["own-group"].share_group == "g2"  # the source's own group wins
    # a fixed client id becomes one per worker; the default one is per worker already
    assert by["fixed"].client_id == "lm-x-2" and by["stadtwerke"].client_id is None
    filters = by["stadtwerke"].mqtt(two.mqtt, "c").topic_filters()
    assert filters == ["$share/lorawan-monitor/application/+/device/+/event/+"]
    tts = one.sources[0]
    assert tts.share_group is None and tts.mqtt(one.mqtt, "c").protocol_version() == 4
    # the settings of a single ingest are not touched
    assert s.sources[1].share_group is None and s.sources[2].client_id == "lm-x"


def test_workers_refused_only_when_no_source_can_be_shared() -> None:
    only_tts = load_settings(
        sources=[{"name": "a", "kind": "tts"}, {"name": "b", "kind": "tts", "port": 1884}]
    )
    with pytest.raises(ConfigError, match=r"every source in LORAWAN_SOURCES \('a', 'b'\)"):
        check_workers(only_tts, 2)
    check_workers(only_tts, 1)
    check_workers(_settings(), 4)  # type: ignore[arg-type]
    forced = load_settings(sources=[{"name": "a", "kind": "chirpstack", "protocol": "3.1.1"}])
    with pytest.raises(ConfigError, match="MQTT 3.1.1"):
        check_workers(forced, 2)
