"""lorawan-monitor: municipal LoRaWAN sensor data, from network server to OpenData."""

__version__ = "0.1.0"
