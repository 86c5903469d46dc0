"""CLI command modules: each exposes ``command`` and is added to ``surveyapp`` automatically."""
