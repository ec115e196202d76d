"""Pure, vectorised geometry: WGS84, orbits, zero-Doppler radar geometry and map projections. No file I/O."""
