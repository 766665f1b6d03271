"""`python -m sim`: replay golden traces through the RTL blocks and report bit-exactness, cycles and
lane utilisation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from golden.errors import UserError


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        raise UserError(message)


def build_parser() -> Parser:
    parser = Parser(prog="python -m sim", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    b = sub.add_parser("blocks", help="run traces through the blocks in Amaranth's simulator; JSON and markdown")
    b.add_argument("traces", nargs="+", help="trace files (.npz, egru-trace v1)")
    b.add_argument("--blocks", nargs="+", default=["router", "accumulate", "influence"], help="default: all three")
    b.add_argument("--lanes", type=int, nargs="+", default=[4, 8], help="lane counts (default 4 8)")
    b.add_argument("--samples", type=int, help="samples per trace (default: all)")
    b.add_argument("--out", required=True, help="folder for blocks.json and blocks.md")
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def cmd_blocks(args: argparse.Namespace) -> int:
    from sim.blocks import blocks_report, markdown, write_report

    report = blocks_report(args.traces, args.lanes, args.samples, args.blocks, progress=not args.no_progress)
    write_report(report, Path(args.out))
    print(markdown(report), end="")
    print(f"wrote {args.out}/blocks.json and blocks.md")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return {"blocks": cmd_blocks}[args.command](args)
    except UserError as exc:
        print(f"sim: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
