"""Storage of record: Delta Lake tables of published and quarantined rows, on a local disk or object storage."""
