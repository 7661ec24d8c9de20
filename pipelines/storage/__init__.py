"""Where moshu keeps its data of record: Delta tables on local disk or object storage."""
