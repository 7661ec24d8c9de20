"""What users declare: dataset specs and quality rules, parsed once into frozen pydantic models."""

from pipelines.spec import models as _models
from pipelines.spec.enrich import Enrich as _Enrich

_models.DatasetSpec.model_rebuild(_types_namespace={"Enrich": _Enrich})
