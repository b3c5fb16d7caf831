"""python -m lpot.conf check CONF.yaml [...] | template NAME

check: validate each file; print the filled-in configuration (YAML) or the
problems (one 'file:line:column: path: message' per line, on stderr).
Exit status 1 when any file has problems.
template: print a shipped template (ptq, qat, pruning, graph_optimization, benchmark).
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from lpot import ConfigError
from lpot.conf.config import Config, template_names, template_path


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lpot.conf",
                                 description="Validate LPOT 1.x YAML configurations.")
    sub = ap.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="validate files and print the filled-in configuration")
    check.add_argument("files", nargs="+", metavar="CONF.yaml")
    check.add_argument("-q", "--quiet", action="store_true",
                       help="print nothing for valid files")
    tpl = sub.add_parser("template", help="print a shipped template")
    tpl.add_argument("name", choices=template_names())
    args = ap.parse_args(argv)

    if args.command == "template":
        with open(template_path(args.name), encoding="utf-8") as f:
            sys.stdout.write(f.read())
        return 0

    status = 0
    for path in args.files:
        try:
            cfg = Config(path, filename=path)
        except ConfigError as e:
            print(str(e), file=sys.stderr)
            status = 1
            continue
        except OSError as e:
            print(str(e), file=sys.stderr)
            status = 1
            continue
        if not args.quiet:
            if len(args.files) > 1:
                sys.stdout.write(f"# {path}\n")
            sys.stdout.write(cfg.to_yaml())
    return status


if __name__ == "__main__":
    sys.exit(main())
