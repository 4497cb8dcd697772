"""Quality gates: suites and thresholds (data, in this folder) and their wiring into Dagster checks."""
