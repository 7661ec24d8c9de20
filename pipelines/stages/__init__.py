"""The four stages of a run, each a plain function: ingest -> validate -> publish -> register."""

from pipelines.stages.ingest import Ingested, ingest
from pipelines.stages.publish import Published, publish
from pipelines.stages.register import register
from pipelines.stages.validate import Validated, validate

__all__ = ["Ingested", "Published", "Validated", "ingest", "publish", "register", "validate"]
