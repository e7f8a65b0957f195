"""The pure core: records, the wire format, the tracker, alert rules, summaries, fleet status
and the simulated fleet. No I/O, no clock, no global randomness: callers pass them in. Imports
nothing outside ``core`` but the standard library, orjson and ``deleton.errors``."""
