"""What users declare: dataset specs and quality rules, parsed once into frozen pydantic models."""
