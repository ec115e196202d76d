"""Sentinel-1 metadata: granule names, SAFE annotation (local or remote), orbits, bursts, and the pair's dt."""
