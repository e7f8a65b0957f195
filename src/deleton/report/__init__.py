"""Service: the daily executive report, a PDF emailed once per period (``deleton report``, and
daily inside ``deleton up``)."""
