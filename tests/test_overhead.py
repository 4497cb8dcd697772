"""Machinery kept off the data's path: `xl` starts without Dagster or GX (the run history's: test_storage.py)."""

import subprocess
import sys


def test_the_command_line_starts_without_dagster_or_great_expectations():
    probe = ("import sys, xl_pipelines.cli as cli; cli.parser().format_help(); "
             "print(sorted(m for m in ('dagster', 'great_expectations', 'polars', 'duckdb') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
