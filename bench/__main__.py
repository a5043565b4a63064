"""``python -m bench [--rounds N] [--only lint,apply,backfill,transport,protect,census]``: the README's table, measured in one run."""

from __future__ import annotations

import argparse
import compileall
import platform

from bench import apply, backfill, census, lint, protect, transport
from bench.common import REPO, server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default="lint,apply,backfill,transport,protect,census")
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    # Bytecode, as an installed package has it: with PYTHONDONTWRITEBYTECODE set (as on these
    # machines) an editable install would otherwise recompile nyxops on every measured start.
    compileall.compile_dir(str(REPO / "src" / "nyxops"), quiet=1)
    rows = []
    if "lint" in chosen:  # before the server starts: lint needs no database, and nothing else runs
        rows += lint.run(args.rounds)
    if "transport" in chosen:
        rows += transport.run(args.rounds)
    with server() as admin_url:
        if "apply" in chosen:
            rows += apply.run(args.rounds, admin_url)
        if "backfill" in chosen:
            rows += backfill.run(args.rounds, admin_url)
        if "protect" in chosen:
            rows += protect.run(args.rounds, admin_url)
        if "census" in chosen:
            rows += census.run(args.rounds, admin_url)
    print(f"\n{platform.node()}: {platform.processor() or platform.machine()}, rounds={args.rounds} (medians)\n")
    print("| benchmark | nyxops | against | ratio | target |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row.row())


if __name__ == "__main__":
    main()
