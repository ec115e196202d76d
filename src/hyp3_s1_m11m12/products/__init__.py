"""Products: the Geogrid GeoTIFFs' consumers, the conversion-matrix NetCDF and quick-looks."""
