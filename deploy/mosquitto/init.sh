#!/bin/sh
# Container entrypoint: write the password file from the environment, then run mosquitto.
# Passwords are stored hashed (mosquitto_passwd); the file is rewritten on every start,
# so changing a password in .env and restarting the container is enough.
set -eu
: "${MQTT_USERNAME:?MQTT_USERNAME not set}"
: "${MQTT_PASSWORD:?MQTT_PASSWORD not set}"
PASSWD=/mosquitto/data/passwd
rm -f "$PASSWD"
touch "$PASSWD"
chmod 0600 "$PASSWD"
mosquitto_passwd -b "$PASSWD" "$MQTT_USERNAME" "$MQTT_PASSWORD"
if [ -n "${MQTT_PUBLISHER_USERNAME:-}" ]; then
  mosquitto_passwd -b "$PASSWD" "$MQTT_PUBLISHER_USERNAME" "${MQTT_PUBLISHER_PASSWORD:?MQTT_PUBLISHER_PASSWORD not set}"
fi
chown mosquitto:mosquitto "$PASSWD" /mosquitto/data
exec mosquitto -c /mosquitto/config/mosquitto.conf
