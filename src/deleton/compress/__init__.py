"""Service: every finished ride summarised into historical, old detail removed from daily
(``deleton compress``, and hourly inside ``deleton up``)."""
