"""OGC SensorThings API v1.1, read-only, over the registry and the time-series store."""
