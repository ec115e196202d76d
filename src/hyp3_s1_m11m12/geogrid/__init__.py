"""The Geogrid stage: map grid nodes to radar pixels and the conversion coefficients autoRIFT needs."""
