"""Draft a new dataset's spec and rules from its raw files (`moshu init`): sample, profile, suggest, write."""
