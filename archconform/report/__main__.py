"""Command line: ``python -m archconform.report generate [options]``.

Generates the Allure HTML report (Allure Report 3 CLI from npm) from the results of a run,
keeping the history file between runs; see ``archconform.report.generate``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ArchconformError
from .generate import Paths, default_paths, find_root, generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archconform.report",
                                     description="archconform report tools")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="generate the Allure HTML report from allure-results",
                         description="Run `allure generate` (npm allure 3.x) on the results of a "
                                     "run, keeping the history between runs.")
    gen.add_argument("--reports-dir", type=Path, default=None,
                     help="the reports directory (default: reports/ in the checkout)")
    gen.add_argument("--results", type=Path, default=None,
                     help="Allure results (default: <reports-dir>/allure-results)")
    gen.add_argument("-o", "--output", type=Path, default=None,
                     help="report directory (default: <reports-dir>/allure-report)")
    gen.add_argument("--history", type=Path, default=None,
                     help="history file kept between runs (default: <reports-dir>/history.jsonl)")
    gen.add_argument("--name", default=None, help="report name shown in the report")
    args = parser.parse_args(argv)
    try:
        root = find_root()
        base = default_paths(args.reports_dir, root)
        paths = Paths(results=args.results or base.results, output=args.output or base.output,
                      history=args.history or base.history, root=root)
        index = generate(paths, name=args.name)
    except ArchconformError as exc:
        print(f"archconform report: {exc}", file=sys.stderr)
        return 2
    print(f"Allure report: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
