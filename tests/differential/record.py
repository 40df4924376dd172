"""Record the differential table from the live kernel, and keep docs/misuse.md in step.

    python3 tests/differential/record.py                  # every case, once; rewrite the table
    python3 tests/differential/record.py --repeat 20      # ... only if 20 runs agree
    python3 tests/differential/record.py CASE [CASE ...]  # just these (the rest stay)
    python3 tests/differential/record.py --docs           # docs/misuse.md from the table only
    python3 tests/differential/record.py --netsim [CASE]  # where netsim differs from the table
    python3 tests/differential/record.py --live-json      # the live results as JSON (the test)
    python3 tests/differential/record.py --no-netns ...   # stay in this network namespace

Real sockets — blocking ones behind trio's socket API, the reference netsim models (see
blocking.py) — run in a private network namespace holding only ``lo`` (as a netsim host does)
when the process may create one (root), else in the current one; either way each case is its
own ``trio.run`` on the real clock.  Cases that do not give the same answer on every run are
reported and not written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parents[1]))  # this checkout's netsim, not an installed one

import cases  # noqa: E402,F401  (registers the cases)
from divergences import DELIBERATE, KNOWN_DIVERGENCES  # noqa: E402
from harness import (  # noqa: E402
    DOCS,
    EXPECTED,
    dump_table,
    enter_private_netns,
    iter_cases,
    kernel_release,
    load_table,
    render_docs,
    run_linux,
    run_netsim,
    table_steps,
)


def _write_docs(table: dict[str, dict[str, Any]]) -> None:
    text = render_docs(table, KNOWN_DIVERGENCES, DELIBERATE)
    if DOCS.read_text() != text:
        DOCS.write_text(text)
        print(f"wrote {DOCS.relative_to(HERE.parents[1])}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs that must agree")
    parser.add_argument("--docs", action="store_true", help="only rewrite docs/misuse.md")
    parser.add_argument("--netsim", action="store_true", help="compare netsim with the table")
    parser.add_argument("--live-json", action="store_true", help="print live results as JSON")
    parser.add_argument(
        "--no-netns", action="store_true", help="stay in the current network namespace"
    )
    args = parser.parse_args(argv)
    selected = list(iter_cases(args.cases))

    if args.docs:
        _write_docs(load_table())
        return 0

    if args.netsim:
        table = load_table()
        differ = 0
        for c in selected:
            want = table_steps(table[c.name]) if c.name in table else None
            got = run_netsim(c)
            if got != want:
                differ += 1
                mark = " (known)" if c.name in KNOWN_DIVERGENCES else ""
                if c.name in DELIBERATE:
                    mark = (
                        " (deliberate)" if got == DELIBERATE[c.name].steps else " (!= deliberate)"
                    )
                print(f"== {c.name}{mark}")
                for i in range(max(len(got), len(want or []))):
                    w = want[i] if want and i < len(want) else ("", "")
                    g = got[i] if i < len(got) else ("", "")
                    flag = "  " if w == g else "!="
                    print(f"  {flag} {w[0] or g[0]:50} linux: {w[1]:28} netsim: {g[1]}")
        print(f"{len(selected) - differ}/{len(selected)} cases agree", file=sys.stderr)
        return 0

    where = "the current network namespace" if args.no_netns else enter_private_netns()
    release = kernel_release()

    if args.live_json:
        results = run_linux(selected)
        json.dump({"kernel": release, "where": where, "results": results}, sys.stdout)
        return 0

    print(f"recording on Linux {release}, in {where}", file=sys.stderr)
    runs = [run_linux(selected) for _ in range(args.repeat)]
    table = load_table() if args.cases else {}  # a full run drops cases that are gone
    unstable = []
    for c in selected:
        outcomes = [run[c.name] for run in runs]
        if any(o != outcomes[0] for o in outcomes[1:]):
            unstable.append(c.name)
            print(f"UNSTABLE {c.name}:", file=sys.stderr)
            for o in {json.dumps(o) for o in outcomes}:
                print(f"    {o}", file=sys.stderr)
            continue
        table[c.name] = {"kernel": release, "steps": [list(s) for s in outcomes[0]]}
    dump_table(table)
    print(f"wrote {EXPECTED.relative_to(HERE.parents[1])}: {len(table)} cases", file=sys.stderr)
    _write_docs(table)
    return 1 if unstable else 0


if __name__ == "__main__":
    sys.exit(main())
