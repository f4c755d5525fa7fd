#!/usr/bin/env python3
"""A verdict that survives a rerun: reads several bench/results/*.json files
(separate runs of bench/run.sh), judges each run's raw cells by report.py's
current targets, and calls a target met only when every run that measured it
met it.

usage: bench/verdicts.py RESULTS.json RESULTS.json [...] [--docs docs/benchmarks.md]

Prints one row per target: what each run measured, and the overall verdict
(met in all N runs / missed in k of N / measured in only some runs). With
--docs, writes the table between the 'verdicts' markers."""
import argparse
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402  (beside this file)


def load(path):
    """A run's targets, judged by today's report.py rules from its raw cells
    (so runs made before a target changed are held to the same bar)."""
    with open(path) as f:
        data = json.load(f)
    targets = [{"target": t[0], "measured": t[1], "verdict": t[2].strip("*")}
               for t in report.compute_targets(data.get("raw", []))]
    return os.path.basename(path), data.get("date", "?"), {t["target"]: t for t in targets}


def overall(cells, runs):
    measured = [c for c in cells if c is not None and c["verdict"] != "unknown"]
    if not measured:
        return "unknown (not decidable in any run)"
    missed = sum(c["verdict"] != "met" for c in measured)
    if len(measured) < runs:
        return f"measured in {len(measured)} of {runs} runs" + (f", missed in {missed}" if missed else ", met in each")
    if missed == 0:
        return f"**met** in all {runs} runs"
    return f"**missed** in {missed} of {runs} runs"


def table(runs):
    names = []
    for _, _, targets in runs:
        names += [n for n in targets if n not in names]
    header = ["target"] + [f"{name} ({date})" for name, date, _ in runs] + ["verdict"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    for n in names:
        cells = [targets.get(n) for _, _, targets in runs]
        shown = ["-" if c is None else f"{c['measured']} ({c['verdict']})" for c in cells]
        lines.append("| " + " | ".join([n] + shown + [overall(cells, len(runs))]) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+")
    ap.add_argument("--docs")
    args = ap.parse_args()
    if len(args.results) < 2:
        sys.exit("verdicts.py: give at least two results files (separate runs)")
    text = table([load(p) for p in args.results])
    print(text)
    if args.docs:
        with open(args.docs) as f:
            doc = f.read()
        pattern = re.compile(r"(<!-- BEGIN verdicts -->\n).*?(\n<!-- END verdicts -->)", re.S)
        if not pattern.search(doc):
            sys.exit(f"verdicts.py: {args.docs} has no 'verdicts' markers")
        with open(args.docs, "w") as f:
            f.write(pattern.sub(lambda m: m.group(1) + text + m.group(2), doc))


if __name__ == "__main__":
    main()
