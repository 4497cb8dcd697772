"""Dagster assets: thin wrappers that read the landing zone or the lake, call xl_pipelines, write the lake."""
