"""Physical constants and conventions shared by every layer. Each is defined here once, with its unit."""

# WGS84, as hard-coded in autoRIFT's geogrid.cpp (e^2 there is rounded to 13 digits; keep it for parity).
WGS84_SEMI_MAJOR_AXIS_M = 6378137.0
WGS84_ECCENTRICITY_SQUARED = 0.0066943799901

SPEED_OF_LIGHT_M_S = 299_792_458.0

SECONDS_PER_DAY = 86_400.0
# Geogrid and the ITS_LIVE products use a 365-day year everywhere; 365.25 appears nowhere upstream.
DAYS_PER_YEAR = 365.0
SECONDS_PER_YEAR = DAYS_PER_YEAR * SECONDS_PER_DAY

# The repeat time hyp3-autorift's s1_correction spoofed (secondary = reference + 1 day).
SPOOFED_DT_SECONDS = SECONDS_PER_DAY
# The longest repeat time accepted by default (Sentinel-1 pairs used for velocities are days to months apart;
# 4 years leaves room for long-baseline studies), and the environment variable that changes it, in days.
DEFAULT_MAX_DT_DAYS = 4 * DAYS_PER_YEAR
MAX_DT_DAYS_ENV = 'HYP3_S1_M11M12_MAX_DT_DAYS'

NODATA_OUT = -32767
CHIP_SIZE_X0_M = 240.0

# Search-range scaling with dt (autoRIFT Geogrid defaults, srs_* attributes).
SEARCH_RANGE_DT_UNITY_DAYS = 182.0
SEARCH_RANGE_MAX_SCALE = 5.0
SEARCH_RANGE_MAX_M_PER_YR = 20000.0
SEARCH_RANGE_MIN_M_PER_YR = 0.0

# GDAL's prefix for files read over HTTP; the velocity granules record the parameter file without it.
VSICURL_PREFIX = '/vsicurl/'

DEFAULT_PARAMETER_FILE = (
    '/vsicurl/https://its-live-data.s3.amazonaws.com/autorift_parameters/v001/autorift_landice_0120m.shp'
)

# Slant-range pixel size of Sentinel-1 IW SLCs (c / 2 / 64.345238 MHz range sampling rate): the dr of
# dr_to_vr_factor = dr x 365 / dt_days in every IW velocity granule.
S1_IW_RANGE_PIXEL_SIZE_M = 2.329562114715323

# The autoRIFT radar Geogrid version whose algorithm the project's own engine reproduces bit for bit.
AUTORIFT_ALGORITHM_VERSION = '1.6.0'
