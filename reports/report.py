#!/usr/bin/python3
"""Entry point: llamascope report IN... -o DIR (see llamascope_report/cli.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from llamascope_report.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
