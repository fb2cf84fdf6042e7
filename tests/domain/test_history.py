"""A card's history: raw seconds, roll-up buckets, retention, downsampling and chart geometry."""

from __future__ import annotations

from app.domain.history import (
    BUCKET_SECONDS,
    RAW_SECONDS,
    Band,
    History,
    Point,
    Row,
    Series,
    chart,
    downsample,
    summarize,
)

T0 = 1_700_000_040  # a bucket boundary (divisible by 60)


def test_a_newer_point_in_the_same_second_replaces_the_older() -> None:
    series = Series(86400)
    series.add(T0 + 0.2, 1.0)
    series.add(T0 + 0.7, 5.0)
    series.add(T0 + 0.5, 9.0)  # late: older than 0.7, so it does not replace it
    assert series.points(900) == [Point(T0, 5.0, 5.0, 5.0)]


def test_a_bucket_rolls_up_min_max_last_and_count_of_every_point() -> None:
    series = Series(86400)
    for offset, value in ((0, 3.0), (10, -2.0), (59, 7.0), (30, 100.0)):
        series.add(T0 + offset, value)
    assert series.points(3600) == [Point(T0, -2.0, 100.0, 7.0)]
    (row,) = [r for r in series.all_rows("m") if r.res == BUCKET_SECONDS]
    assert row == Row("m", BUCKET_SECONDS, T0, -2.0, 100.0, 7.0, 4, T0 + 59)


def test_ranges_up_to_15_minutes_are_raw_seconds_longer_ones_are_buckets() -> None:
    series = Series(86400)
    for second in range(0, 1200, 1):
        series.add(T0 + second, float(second))
    raw = series.points(900)
    assert len(raw) == 900 and raw[0].ts == T0 + 300 and raw[-1] == Point(T0 + 1199, 1199, 1199, 1199)
    assert [p.ts for p in series.points(3600)] == [T0 + 60 * i for i in range(20)]
    assert series.points(3600)[0] == Point(T0, 0.0, 59.0, 59.0)


def test_raw_seconds_older_than_15_minutes_and_buckets_past_retention_are_dropped() -> None:
    series = Series(3600)
    series.add(T0, 1.0)
    series.add(T0 + RAW_SECONDS + 1, 2.0)
    assert sorted(series.raw) == [T0 + RAW_SECONDS + 1]
    series.add(T0 + 3600 + BUCKET_SECONDS, 3.0)
    assert sorted(series.buckets) == [T0 + 900, T0 + 3660]


def test_a_late_point_older_than_what_is_kept_is_not_stored() -> None:
    series = Series(3600)
    series.add(T0 + 4000, 1.0)
    series.add(T0, 2.0)
    assert sorted(series.raw) == [T0 + 4000] and sorted(series.buckets) == [T0 + 3960]


def test_per_card_retention_overrides_the_default() -> None:
    history = History(86400, {"short": 1800})
    assert history.retention("short") == 1800 and history.retention("other") == 86400


def test_take_changes_hands_each_changed_row_once_and_removed_cards() -> None:
    history = History()
    history.add("a", T0, 1.0)
    rows, removed, trims = history.take_changes()
    assert sorted((r.res, r.ts) for r in rows) == [(1, T0), (BUCKET_SECONDS, T0)] and removed == []
    assert trims == [("a", T0 - RAW_SECONDS, T0 - 86400 - BUCKET_SECONDS)]
    assert history.take_changes() == ([], [], [])
    history.remove("a")
    assert history.take_changes() == ([], ["a"], [])


def test_restore_from_rows_gives_the_same_points() -> None:
    history = History()
    for second in range(0, 200, 3):
        history.add("a", T0 + second, float(second % 7))
    copy = History()
    copy.restore(history.series["a"].all_rows("a"))
    for seconds in (900, 3600, 86400):
        assert copy.points("a", seconds) == history.points("a", seconds)


def test_downsample_keeps_at_most_the_limit_and_every_spike() -> None:
    points = [Point(T0 + i, 0.0, 0.0, 0.0) for i in range(900)]
    points[451] = Point(T0 + 451, -5.0, 99.0, 1.0)
    drawn = downsample(points, 120)
    assert len(drawn) == 120 and [p.ts for p in drawn[:3]] == [T0, T0 + 7, T0 + 15]
    assert max(p.max for p in drawn) == 99.0 and min(p.min for p in drawn) == -5.0
    assert drawn[0].ts == T0 and drawn[-1].last == 0.0
    assert downsample(points[:5], 120) == points[:5]


def test_summary_is_min_avg_max_last() -> None:
    points = [Point(0, 1, 4, 2), Point(1, 0, 3, 3), Point(2, 2, 9, 7)]
    assert summarize(points) == (0, 4.0, 9, 7)
    assert summarize([]) is None


def test_chart_of_a_rising_series_spans_the_box() -> None:
    points = [Point(T0 + i, float(i), float(i), float(i)) for i in range(5)]
    drawn = chart(points, 100, 20)
    assert drawn.line == "0,20 25,15 50,10 75,5 100,0"
    assert drawn.drawn == 5 and drawn.bands == []


def test_a_flat_series_is_a_line_in_the_middle() -> None:
    points = [Point(T0 + i, 7.0, 7.0, 7.0) for i in range(3)]
    assert chart(points, 100, 20).line == "0,10 50,10 100,10"


def test_a_single_point_is_a_level_line_across_the_middle() -> None:
    single = chart([Point(T0, 3.0, 3.0, 3.0)], 100, 20, area=True)
    assert (single.line, single.area, single.drawn) == ("0,10 100,10", "0,10 100,10 100,10 0,10", 1)


def test_negative_values_scale_like_any_others() -> None:
    points = [Point(T0, -10.0, -10.0, -10.0), Point(T0 + 1, -30.0, -30.0, -30.0)]
    assert chart(points, 10, 20).line == "0,0 10,20"


def test_huge_values_stay_finite() -> None:
    points = [Point(T0, -1e308, -1e308, -1e308), Point(T0 + 1, 1e308, 1e308, 1e308)]
    assert chart(points, 10, 20).line == "0,20 10,0"
    flat = [Point(T0, 1e308, 1e308, 1e308)]
    assert chart(flat, 10, 20).line == "0,10 10,10"


def test_no_points_draw_nothing() -> None:
    empty = chart([], 100, 20)
    assert empty.drawn == 0 and empty.line == "" and empty.summary is None


def test_threshold_bands_for_bad_high_cover_warn_to_crit_and_above_crit() -> None:
    points = [Point(T0, 0.0, 0.0, 0.0), Point(T0 + 1, 100.0, 100.0, 100.0)]
    drawn = chart(points, 10, 100, warn=50, crit=80)
    assert drawn.bands == [Band("warning", 20, 30), Band("critical", 0, 20)]


def test_threshold_bands_for_bad_low_are_below() -> None:
    points = [Point(T0, 0.0, 0.0, 0.0), Point(T0 + 1, 100.0, 100.0, 100.0)]
    drawn = chart(points, 10, 100, warn=50, crit=20, bad="low")
    assert drawn.bands == [Band("warning", 50, 30), Band("critical", 80, 20)]


def test_a_threshold_above_every_value_draws_no_band_and_one_below_fills_the_box() -> None:
    points = [Point(T0, 0.0, 0.0, 0.0), Point(T0 + 1, 10.0, 10.0, 10.0)]
    assert chart(points, 10, 100, warn=500).bands == []
    assert chart(points, 10, 100, warn=-5).bands == [Band("warning", 0, 100)]


def test_the_area_runs_along_the_maxes_and_back_along_the_mins() -> None:
    points = [Point(T0, 0.0, 10.0, 5.0), Point(T0 + 1, 0.0, 10.0, 5.0)]
    assert chart(points, 10, 10, area=True).area == "0,0 10,0 10,10 0,10"
