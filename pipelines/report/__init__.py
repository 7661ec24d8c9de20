"""Human-facing renderings of a version: the HTML quality report and Great Expectations Data Docs."""
