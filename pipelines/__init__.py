"""moshu: curate raw factory data into certified, versioned, SQL-queryable datasets."""

__version__ = "0.1.0"
