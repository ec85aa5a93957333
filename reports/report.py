#!/usr/bin/python3
"""Entry point: llamascope report IN... -o DIR (see llamascope_report/cli.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if __name__ == "__main__":
    try:
        from llamascope_report.cli import main
    except ImportError as e:  # matplotlib or numpy missing: say which interpreter lacks what
        print(f"llamascope: error: the report needs matplotlib and numpy ({sys.executable}: {e}); "
              "install python3-matplotlib python3-numpy or set LLAMASCOPE_PYTHON", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
