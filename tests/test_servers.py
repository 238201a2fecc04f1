"""The fixtures really start servers (and so can fail when a package is missing)."""

import paho.mqtt.client as mqtt
import pytest

from tests.servers import Influxd, Mosquitto

pytestmark = pytest.mark.integration


def test_influxd_answers_ping_and_queries(influxd: Influxd, influx_db: str) -> None:
    res = influxd.query("SHOW DATABASES", db=influx_db)
    names = [v[0] for v in res["results"][0]["series"][0]["values"]]
    assert influx_db in names


def test_mosquitto_accepts_mqtt_connections(mosquitto: Mosquitto) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    assert c.connect("127.0.0.1", mosquitto.port) == 0
    c.disconnect()
