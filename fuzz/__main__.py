"""``python -m fuzz``: run fuzz targets with a time budget and print the report."""

from __future__ import annotations

import argparse
import json
import sys
import time

from fuzz.harness import replay, supervise, table
from fuzz.targets import ALL, TARGETS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    p.add_argument("--target", default="all", help=f"one of {', '.join(TARGETS)} or all "
                                                   f"(comma-separated for several)")
    p.add_argument("--budget", type=float, default=60.0,
                   help="seconds per target (default %(default)s)")
    p.add_argument("--cases", type=int, default=1000, help="cases per target")
    p.add_argument("--seed", type=int, default=None,
                   help="the run's seed (default: from the clock; printed)")
    p.add_argument("--start", type=int, default=0, help="first case number")
    p.add_argument("--jobs", type=int, default=1, help="worker processes per target")
    p.add_argument("--memory-mb", type=int, default=3072,
                   help="address-space limit of each worker (0: none)")
    p.add_argument("--json", metavar="FILE", help="also write the reports as JSON")
    p.add_argument("--replay", type=int, metavar="CASE",
                   help="run one case in this process and show it")
    args = p.parse_args(argv)
    seed = args.seed if args.seed is not None else int(time.time()) % 100_000
    names = list(ALL) if args.target == "all" else args.target.split(",")
    if args.replay is not None:
        return replay(names[0], seed, args.replay)
    reports = []
    for name in names:
        print(f"fuzz {name}: seed {seed}, cases {args.start}..{args.start + args.cases - 1}, "
              f"budget {args.budget:g} s, {args.jobs} job(s)", file=sys.stderr, flush=True)
        checkpoint = f"{args.json}.{name}.partial" if args.json else None
        reports.append(supervise(name, seed=seed, cases=args.cases, budget=args.budget,
                                 jobs=args.jobs, start=args.start, memory_mb=args.memory_mb,
                                 progress=True, checkpoint=checkpoint))
    print(table(reports))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([r.to_json() for r in reports], f, indent=1)
    return 1 if any(r.findings() for r in reports) else 0


if __name__ == "__main__":
    raise SystemExit(main())
