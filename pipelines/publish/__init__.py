"""Immutable, content-addressed dataset versions: fingerprints, manifests and atomic publishing."""
