"""Read raw files into one typed polars LazyFrame, fingerprinting every file on the way."""
