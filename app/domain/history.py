"""A card's history: raw points for the last minutes, roll-ups for the last day, and the
geometry of the charts drawn from them. Pure: no clock, no I/O, so every process folding the
same events holds the same history, and a hub stores it as plain rows.

- Raw points: one per second (`RAW_SECONDS`, 15 min); a newer point within the same second
  replaces the older one.
- Roll-ups: `BUCKET_SECONDS` (1 min) buckets of min / max / last / count, kept for the
  card's retention (`LIVEDASH_HISTORY_SECONDS`, or the card's `history` in the dashboard file).
  A roll-up counts every point that arrived, including those a newer one replaced in the raw
  series: it says what happened, not what is drawn.

Time is the card's own: a range ends at the card's newest point, never at the wall clock. A
chart rendered once per event then reads the same in every process and every replay, and a
card that went quiet still shows what it last saw (its stale badge says it is old).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from app.domain.board import Card
from app.domain.model import Fact, MetricRemoved, MetricUpdated

RAW_SECONDS = 900
BUCKET_SECONDS = 60
RANGES: dict[str, int] = {"15m": 900, "1h": 3600, "6h": 21600, "24h": 86400}
"""The ranges the detail page and the API offer, by their name in `?range=`."""
SPARK_RANGE = "15m"
SPARK_POINTS = 120
"""At most this many points drawn in a card's sparkline (downsampled past it)."""
SPARK_WIDTH, SPARK_HEIGHT = 120, 30
"""The sparkline's viewBox: one unit per drawn point across; CSS sizes it."""


class Point(NamedTuple):
    """One drawn point: the start of its second or bucket, and what fell in it."""

    ts: int
    min: float
    max: float
    last: float


class Row(NamedTuple):
    """A stored row: a raw second (`res` 1) or a roll-up bucket (`res` `BUCKET_SECONDS`).

    `last_ts` is the time of the point `last` came from, so a late point never overrides a
    newer one's `last`.
    """

    name: str
    res: int
    ts: int
    min: float
    max: float
    last: float
    samples: int
    """How many points fell in it (the count of the roll-up)."""
    last_ts: float


class Columns(NamedTuple):
    """Points as four lists of equal length, oldest first."""

    ts: list[int]
    min: list[float]
    max: list[float]
    last: list[float]


class Changes(NamedTuple):
    """History to write: `rows` to upsert, `removed` cards, `trims` (name, raw seconds up to
    this one dropped, buckets up to this one dropped)."""

    rows: list[Row]
    removed: list[str]
    trims: list[tuple[str, int, int]]


class _Cell:
    """A mutable second or bucket."""

    __slots__ = ("count", "last", "last_ts", "max", "min")

    def __init__(self, value: float, ts: float, count: int = 1) -> None:
        self.min = self.max = self.last = value
        self.last_ts = ts
        self.count = count


class Series:
    """The history of one card."""

    __slots__ = ("buckets", "dirty", "low", "newest", "raw", "retention", "spark")

    def __init__(self, retention: int) -> None:
        self.retention = max(retention, RAW_SECONDS)
        self.raw: dict[int, _Cell] = {}
        self.buckets: dict[int, _Cell] = {}
        self.newest = -math.inf
        self.low = [math.inf, math.inf]
        """The oldest raw second and bucket held (late points arrive out of order)."""
        self.dirty: set[tuple[int, int]] = set()
        """(res, ts) of the rows changed since the store last took them."""
        self.spark: Chart | None = None
        """The sparkline of the current points, drawn once however many pages render it."""

    def add(self, ts: float, value: float) -> None:
        """Fold one point in (in any order: a late one lands in its own second and bucket)."""
        second = int(ts // 1)
        end = second if self.newest == -math.inf else int(self.newest // 1)
        if second <= end - self.retention:
            return  # older than anything kept
        cell = self.raw.get(second)
        if second <= end - RAW_SECONDS:
            pass  # too old for the raw series; its bucket still counts it
        elif cell is None:
            late = bool(self.raw) and second < next(reversed(self.raw))
            self.raw[second] = _Cell(value, ts)
            self.low[0] = min(self.low[0], second)
            if late:  # kept in time order, so reading a range never sorts
                self.raw = dict(sorted(self.raw.items()))
        elif ts >= cell.last_ts:  # a newer point in the same second replaces the older
            cell.min = cell.max = cell.last = value
            cell.last_ts = ts
            cell.count += 1
        start = second - second % BUCKET_SECONDS
        bucket = self.buckets.get(start)
        if bucket is None:
            late = bool(self.buckets) and start < next(reversed(self.buckets))
            self.buckets[start] = _Cell(value, ts)
            self.low[1] = min(self.low[1], start)
            if late:
                self.buckets = dict(sorted(self.buckets.items()))
        else:
            bucket.min = min(bucket.min, value)
            bucket.max = max(bucket.max, value)
            if ts >= bucket.last_ts:
                bucket.last, bucket.last_ts = value, ts
            bucket.count += 1
        self.spark = None
        if second in self.raw:
            self.dirty.add((1, second))
        self.dirty.add((BUCKET_SECONDS, start))
        if ts > self.newest:
            self.newest = ts
            self._trim()

    def _trim(self) -> None:
        end = int(self.newest // 1)
        raw_upto, bucket_upto = end - RAW_SECONDS, end - self.retention - BUCKET_SECONDS
        if self.low[0] <= raw_upto:  # rows at or before these are no longer kept
            self.raw = {s: c for s, c in self.raw.items() if s > raw_upto}
            self.low[0] = min(self.raw, default=math.inf)
        if self.low[1] <= bucket_upto:
            self.buckets = {s: c for s, c in self.buckets.items() if s > bucket_upto}
            self.low[1] = min(self.buckets, default=math.inf)

    def points(self, seconds: int) -> list[Point]:
        """The points of the last `seconds` up to the newest point, oldest first: raw seconds
        when the raw series covers the range, roll-up buckets otherwise."""
        return list(map(Point, *self.columns(seconds)))

    def columns(self, seconds: int) -> Columns:
        """`points` as four lists (ts, min, max, last): what drawing reads, without a tuple per point."""
        if not self.raw:
            return Columns([], [], [], [])
        since = int(self.newest // 1) - seconds
        if seconds <= RAW_SECONDS:
            cells, first = self.raw, since + 1
        else:
            cells, first = self.buckets, since - since % BUCKET_SECONDS  # the range's first bucket
        keys = list(cells)
        start = bisect.bisect_left(keys, first)
        held = list(cells.values())[start:] if start else list(cells.values())
        return Columns(keys[start:], [c.min for c in held], [c.max for c in held], [c.last for c in held])

    def rows(self, name: str, keys: Iterable[tuple[int, int]]) -> list[Row]:
        """Stored rows for (res, ts) keys; a key no longer held is left out."""
        out = []
        for res, ts in keys:
            cell = (self.raw if res == 1 else self.buckets).get(ts)
            if cell is not None:
                out.append(Row(name, res, ts, cell.min, cell.max, cell.last, cell.count, cell.last_ts))
        return out

    def all_rows(self, name: str) -> list[Row]:
        """Every row held, oldest first per resolution."""
        keys = [(1, s) for s in self.raw] + [(BUCKET_SECONDS, s) for s in self.buckets]
        return self.rows(name, keys)


class History:
    """Every card's series, by name; `retention(name)` from the settings and the dashboard file."""

    def __init__(self, default_retention: int = 86400, retention: dict[str, int] | None = None) -> None:
        self.default_retention = default_retention
        self.per_card = retention or {}
        self.series: dict[str, Series] = {}
        self.removed: set[str] = set()
        """Cards dropped since the store last took the changes."""

    def retention(self, name: str) -> int:
        """Seconds of roll-ups kept for `name` (never less than the raw 15 min)."""
        return max(self.per_card.get(name, self.default_retention), RAW_SECONDS)

    def add(self, name: str, ts: float, value: float) -> None:
        """Fold one point of card `name`."""
        series = self.series.get(name)
        if series is None:
            series = self.series[name] = Series(self.retention(name))
            self.removed.discard(name)
        series.add(ts, value)

    def apply(self, fact: Fact) -> None:
        """Fold a committed fact: a point adds to its card's history, a removal forgets it."""
        if isinstance(fact, MetricUpdated):
            self.add(fact.name, fact.ts, fact.value)
        elif isinstance(fact, MetricRemoved):
            self.remove(fact.name)

    def remove(self, name: str) -> None:
        """Forget a removed card's history."""
        if self.series.pop(name, None) is not None:
            self.removed.add(name)

    def points(self, name: str, seconds: int) -> list[Point]:
        """`Series.points` of `name` ([] for a card without history)."""
        series = self.series.get(name)
        return series.points(seconds) if series else []

    def spark(self, name: str, card: Card) -> Chart:
        """The card's sparkline: the last 15 min, at most `SPARK_POINTS`, its thresholds as bands.

        Drawn once per change of the series (the event's frame and every page then share it).
        """
        series = self.series.get(name)
        if series is None:
            return EMPTY_SPARK
        if series.spark is None:
            drawn = series.columns(RANGES[SPARK_RANGE])
            series.spark = draw(drawn, SPARK_WIDTH, SPARK_HEIGHT, card.warn, card.crit, card.bad)
        return series.spark

    def take_changes(self) -> Changes:
        """What changed since the last call, for a store to write: rows, removed cards, and
        for each changed card the times before which its stored rows are no longer kept."""
        changes = Changes([], sorted(self.removed), [])
        self.removed = set()
        for name, series in self.series.items():
            if series.dirty:
                changes.rows.extend(series.rows(name, series.dirty))
                series.dirty = set()
                end = int(series.newest // 1)
                changes.trims.append((name, end - RAW_SECONDS, end - series.retention - BUCKET_SECONDS))
        return changes

    def restore(self, rows: Iterable[Row]) -> None:
        """Start from stored rows (each its cell as stored), trimming to the retention."""
        self.series.clear()
        for row in rows:
            series = self.series.get(row.name)
            if series is None:
                series = self.series[row.name] = Series(self.retention(row.name))
            cell = _Cell(row.last, row.last_ts, row.samples)
            cell.min, cell.max = row.min, row.max
            (series.raw if row.res == 1 else series.buckets)[row.ts] = cell
            series.newest = max(series.newest, row.last_ts)
        for series in self.series.values():
            series.raw = dict(sorted(series.raw.items()))
            series.buckets = dict(sorted(series.buckets.items()))
            series.low = [min(series.raw, default=math.inf), min(series.buckets, default=math.inf)]
            series._trim()


def downsample(points: Sequence[Point], limit: int) -> list[Point]:
    """Exactly `limit` points when there are more: consecutive runs of nearly equal length
    merged (the first one's time, min of mins, max of maxes, the last one's last), so a spike
    survives however much is merged."""
    return list(map(Point, *downsample_columns(to_columns(points), limit)))


def to_columns(points: Sequence[Point]) -> Columns:
    """Points as `Columns`."""
    return Columns(
        [p.ts for p in points], [p.min for p in points], [p.max for p in points], [p.last for p in points]
    )


def downsample_columns(columns: Columns, limit: int) -> Columns:
    """`downsample` on columns (slices and the builtins' min and max: no loop in Python per point)."""
    count = len(columns.ts)
    if count <= limit:
        return columns
    ts, mins, maxs, lasts = columns
    bounds = [slot * count // limit for slot in range(limit + 1)]
    runs = list(itertools.pairwise(bounds))
    return Columns(
        [ts[a] for a, _ in runs],
        [min(mins[a:b]) for a, b in runs],
        [max(maxs[a:b]) for a, b in runs],
        [lasts[b - 1] for _, b in runs],
    )


class Summary(NamedTuple):
    """min, avg (of the drawn `last` values), max and last over a range."""

    min: float
    avg: float
    max: float
    last: float


def summarize(points: Sequence[Point]) -> Summary | None:
    """The figures shown beside a chart; None without points."""
    if not points:
        return None
    lasts = [p.last for p in points]
    return Summary(
        min(p.min for p in points), math.fsum(lasts) / len(lasts), max(p.max for p in points), lasts[-1]
    )


class Band(NamedTuple):
    """A threshold region of a chart, in chart coordinates (y grows downwards)."""

    level: str
    y: int
    height: int


class Chart(NamedTuple):
    """What the templates draw: an SVG polyline of `last`, a polygon of min..max, the bands."""

    width: int
    height: int
    drawn: int
    line: str
    area: str
    bands: list[Band]
    summary: Summary | None


def _half(value: float) -> float:
    # Halved before subtracting, so the span of 1e308 and -1e308 stays finite.
    return value / 2


def chart(
    points: Sequence[Point],
    width: int,
    height: int,
    warn: float | None = None,
    crit: float | None = None,
    bad: str = "high",
    limit: int = SPARK_POINTS,
    area: bool = False,
) -> Chart:
    """The geometry of `points` in a `width` x `height` box, integer coordinates.

    The y scale spans the points' min..max (a flat series sits in the middle); x spreads the
    points by time (a single point is a level line across the box). Threshold bands cover the part
    of the box where a value would be at warn or crit, clipped to the box.
    """
    return draw(to_columns(points), width, height, warn, crit, bad, limit, area)


def draw(
    columns: Columns,
    width: int,
    height: int,
    warn: float | None = None,
    crit: float | None = None,
    bad: str = "high",
    limit: int = SPARK_POINTS,
    area: bool = False,
) -> Chart:
    """`chart` on columns: what the sparkline and the detail chart call, once per change."""
    ts, mins, maxs, lasts = downsample_columns(columns, limit)
    if not ts:
        return Chart(width, height, 0, "", "", [], None)
    summary = Summary(min(mins), math.fsum(lasts) / len(lasts), max(maxs), lasts[-1])
    lo, hi = _half(summary.min), _half(summary.max)
    if hi == lo:  # flat: the line in the middle, bands still on the right side of it
        pad = max(abs(lo) / 10, 0.5)
        lo, hi = lo - pad, hi + pad
    scale = height / (hi - lo)
    first = ts[0]
    duration = ts[-1] - first
    if duration == 0:  # one point: a level line across the box, so it shows
        ts, mins, maxs, lasts = ts * 2, mins * 2, maxs * 2, lasts * 2
        xs = [0, width]
    else:
        xs = [round((t - first) * width / duration) for t in ts]

    def y(value: float) -> int:
        # Clamped to a box's height beyond either edge, so a far threshold stays a number.
        return round(height - max(-height, min(2 * height, (value / 2 - lo) * scale)))

    line = " ".join([f"{x},{y(v)}" for x, v in zip(xs, lasts, strict=True)])
    shape = ""
    if area:
        top = [f"{x},{y(v)}" for x, v in zip(xs, maxs, strict=True)]
        bottom = [f"{x},{y(v)}" for x, v in zip(reversed(xs), reversed(mins), strict=True)]
        shape = " ".join(top + bottom)

    def edge(value: float | None, default: int) -> int:
        return default if value is None else min(height, max(0, y(value)))

    if bad == "high":  # bad is up: critical above crit, warning between warn and crit
        spans = [("warning", edge(crit, 0), edge(warn, 0)), ("critical", 0, edge(crit, 0))]
    else:
        spans = [
            ("warning", edge(warn, height), edge(crit, height)),
            ("critical", edge(crit, height), height),
        ]
    bands = [
        Band(level, top_y, bottom_y - top_y)
        for (level, top_y, bottom_y), threshold in zip(spans, (warn, crit), strict=True)
        if threshold is not None and bottom_y > top_y
    ]
    return Chart(width, height, 1 if duration == 0 else len(ts), line, shape, bands, summary)


EMPTY_SPARK = Chart(SPARK_WIDTH, SPARK_HEIGHT, 0, "", "", [], None)
