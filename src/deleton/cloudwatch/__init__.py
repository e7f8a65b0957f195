"""Adapter: metrics for Amazon CloudWatch, as Embedded Metric Format lines on stdout."""
