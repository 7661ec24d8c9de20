"""What the stages after validation import, loaded ahead while the Great Expectations worker validates."""

from __future__ import annotations


def import_later_stages() -> None:
    """Import what publishing and registering a version load (matplotlib for the report's charts, the card's
    renderer), so that those imports leave the run's critical path when they can wait for the worker instead."""
    from huggingface_hub import repocard  # noqa: F401

    import pipelines.report.card
    import pipelines.report.html
    import pipelines.stages.publish
    import pipelines.stages.register  # noqa: F401
    from pipelines.report.charts import pyplot

    pyplot()
