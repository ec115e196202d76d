"""Correct an archive of ITS_LIVE V2 Sentinel-1 granules: plan (a table), submit to HyP3, follow, repair on Dask.

Sits above `products/` and beside `workflows/`; only the campaign workflow imports it.
"""
