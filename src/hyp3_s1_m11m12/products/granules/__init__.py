"""ITS_LIVE V2 Sentinel-1 velocity granules: read their M11/M12 metadata (locally or remotely), classify, repair."""
