"""Whether a report's data is complete (core/data_quality.py): holes in the times of day that
normally have rides, at the edges of the gap allowed and of the usual times; ingestion's lag
against its limit; and the report's email saying so first."""

from __future__ import annotations

import datetime as dt

from deleton.core import data_quality as quality
from deleton.core.data_quality import DataCheck
from deleton.core.periods import day_period
from deleton.core.report_figures import Headline
from deleton.mail.report_email import compose_report

UTC = dt.UTC
DAY = dt.datetime(2026, 11, 30, tzinfo=UTC)
FIFTEEN = dt.timedelta(minutes=15)


def at(hour: int, minute: int = 0) -> dt.datetime:
    return DAY.replace(hour=hour, minute=minute)


def slots(first: dt.datetime, last: dt.datetime) -> frozenset[int]:
    """The quarter hours from ``first`` up to ``last``."""
    return frozenset(range(quality.slot_of(first), quality.slot_of(last)))


Span = tuple[dt.datetime, dt.datetime]


def gaps(holes: list[Span], usual: frozenset[int]) -> list[Span]:
    return quality.gaps_in_usual_times(holes, usual, quality.slot_of, FIFTEEN)


def test_usual_times_are_those_ridden_on_half_the_days_or_more() -> None:
    assert quality.usual_slots({36: 4, 37: 3, 38: 8}, 8) == {36, 38}
    assert quality.usual_slots({36: 1}, 0) == frozenset()


def test_a_hole_in_usual_times_is_a_gap_only_longer_than_allowed() -> None:
    open_hours = slots(at(6), at(22))
    assert gaps([(at(12, 30), at(13, 30))], open_hours) == [(at(12, 30), at(13, 30))]
    assert gaps([(at(12), at(12, 15))], open_hours) == []  # 15 min: allowed
    assert gaps([(at(12), at(12, 15, ) + dt.timedelta(seconds=1))], open_hours) == [
        (at(12), at(12, 15) + dt.timedelta(seconds=1))]  # fmt: skip
    # the night is no gap: only the part within the usual times counts
    assert gaps([(at(21, 30), at(23, 59))], open_hours) == [(at(21, 30), at(22))]
    assert gaps([(at(21, 50), at(23, 59))], open_hours) == []  # 10 min of it usual
    # a hole across an unusual quarter hour in the middle is two parts, each judged alone
    lunch = open_hours - {quality.slot_of(at(13))}
    assert gaps([(at(12, 40), at(13, 40))], lunch) == [
        (at(12, 40), at(13)),
        (at(13, 15), at(13, 40)),
    ]


def check(**values: object) -> DataCheck:
    figures: dict[str, object] = {"bikes_sending": 950, "readings": 10, "rides": 20,
                                  "summarised": 19, "dead_letters": 0, "lag_s": 3.0,
                                  "bikes_known": 1000, "offline": 12}  # fmt: skip
    return DataCheck(**{**figures, **values})  # type: ignore[arg-type]


def test_the_data_is_incomplete_with_a_gap_or_ingestion_behind_and_says_so() -> None:
    complete = check()
    assert not complete.incomplete and complete.reasons(lambda t: t) == []
    assert complete.summarised_share == 0.95
    assert complete.availability == 950 / 988  # the offline are not counted as available
    assert not check(lag_s=300.0).incomplete and check(lag_s=300.5).incomplete
    behind = check(lag_s=42 * 60.0).reasons(lambda t: t)
    assert behind == ["ingestion was 42 min behind when this report was made (more than 5 min)"]
    hole = check(gaps=[(at(12, 30), at(13, 30))])
    london = hole.reasons(lambda t: t + dt.timedelta(hours=1))  # as a zone an hour ahead
    assert london == ["no reading from 13:30 to 14:30 (60 min), at times of day that normally"
                      " have rides"]  # fmt: skip


def test_an_incomplete_reports_email_says_so_in_its_subject_and_first() -> None:
    period = day_period(DAY.date(), UTC)
    lines = [Headline("Rides", "12", "+1")]
    fine = compose_report("a@x.example", ["b@x.example"], period, lines, b"%PDF", "r.pdf", False)
    assert fine["Subject"] == f"Deleton daily report: {period.label}"
    reasons = ["no reading from 12:30 to 13:30 (60 min)"]
    flagged = compose_report("a@x.example", ["b@x.example"], period, lines, b"%PDF", "r.pdf",
                             False, reasons)  # fmt: skip
    assert flagged["Subject"] == f"Incomplete: Deleton daily report: {period.label}"
    body = flagged.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert body.index("incomplete: no reading from 12:30 to 13:30") < body.index("Rides")


def test_a_day_of_many_gaps_names_a_few_and_counts_the_rest() -> None:
    holes = [(at(h), at(h, 30)) for h in range(6, 22)]  # sixteen half hours without a reading
    said = check(gaps=holes).reasons(lambda t: t)
    assert len(said) == quality.GAPS_NAMED + 1
    assert said[-1] == "and 12 more such gaps, 360 min in all"
