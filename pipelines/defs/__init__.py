"""The Dagster adapter: a thin layer that turns loaded specs into assets, checks, jobs and schedules."""
