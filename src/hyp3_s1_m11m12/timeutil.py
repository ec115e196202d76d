"""UTC times. The whole package uses naive datetimes that mean UTC, as the Sentinel-1 annotation does."""

from datetime import datetime, timezone


def parse_utc(value: str) -> datetime:
    """Parse an ISO-8601 time ('Z', an offset or none, meaning UTC) into a naive UTC datetime.

    Raises:
        ValueError: not an ISO-8601 time.
    """
    text = value.strip().removeprefix('UTC=')  # ESA EOF files write UTC=2021-04-01T05:25:19.000000
    parsed = datetime.fromisoformat(text.replace('Z', '+00:00'))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


def format_utc(value: datetime) -> str:
    """ISO-8601 with microseconds and a Z, e.g. 2021-04-01T05:26:22.396990Z."""
    return value.strftime('%Y-%m-%dT%H:%M:%S.%fZ')
