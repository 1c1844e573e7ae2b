#!/usr/bin/env python3
"""Scores secret scanners on the labelled corpus (crates/shipgate-scan/tests/fixtures/secrets).

Usage: scan_accuracy.py LABELS TOOL=REPORT...   (TOOL is shipgate, gitleaks or detect-secrets)

A finding counts for the label whose file it names and whose line range holds its line; several
findings on one label count once. Any other finding is a false positive (findings on the same
file and line count once). Precision = hits / (hits + false positives); recall = hits / labels.
"""

import json
import sys
from collections import defaultdict


def load_labels(path):
    labels = defaultdict(list)
    for line in open(path, encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        file, first, last, rule = line.rstrip("\n").split("\t")
        labels[file].append((int(first), int(last), rule))
    return labels


def normalise(path):
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path


def findings(tool, report):
    """(file, line) pairs from each tool's JSON report, paths relative to the corpus root."""
    data = json.load(open(report, encoding="utf-8"))
    if tool == "shipgate":
        return [(normalise(f["location"]["path"]), f["location"]["line"], f["rule"]) for f in data]
    if tool == "gitleaks":
        return [(normalise(f["File"]), f["StartLine"], f["RuleID"]) for f in data or []]
    if tool == "detect-secrets":
        out = []
        for file, results in data["results"].items():
            for result in results:
                out.append((normalise(file), result["line_number"], result["type"]))
        return out
    raise SystemExit(f"unknown tool {tool}")


def score(labels, found):
    hit = set()
    false_positives = set()
    for file, line, rule in found:
        match = next(
            ((file, first) for first, last, _ in labels.get(file, []) if first <= line <= last), None
        )
        if match:
            hit.add(match)
        else:
            false_positives.add((file, line, rule))
    total = sum(len(v) for v in labels.values())
    tp, fp = len(hit), len(false_positives)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / total if total else 0.0
    missed = [
        (file, first, rule)
        for file, entries in labels.items()
        for first, _, rule in entries
        if (file, first) not in hit
    ]
    return tp, fp, total, precision, recall, sorted(false_positives), sorted(missed)


def main():
    labels = load_labels(sys.argv[1])
    print(f"{'tool':<16}{'labels':>8}{'found':>8}{'false+':>8}{'precision':>11}{'recall':>8}")
    details = []
    for argument in sys.argv[2:]:
        tool, report = argument.split("=", 1)
        tp, fp, total, precision, recall, false_positives, missed = score(labels, findings(tool, report))
        print(f"{tool:<16}{total:>8}{tp:>8}{fp:>8}{precision:>11.3f}{recall:>8.3f}")
        details.append((tool, false_positives, missed))
    # The same figures per part of the corpus: rule cases are each rule's own examples, project
    # files are shaped like real repositories; decoys are split the same way.
    def part(path):
        return "/".join(path.split("/")[:2])

    print(f"\n{'tool':<16}{'part':<22}{'labels':>8}{'found':>8}{'false+':>8}")
    for argument in sys.argv[2:]:
        tool, report = argument.split("=", 1)
        found = findings(tool, report)
        for name in sorted({part(file) for file in labels} | {part(file) for file, _, _ in found}):
            sub_labels = {file: entries for file, entries in labels.items() if part(file) == name}
            sub_found = [finding for finding in found if part(finding[0]) == name]
            tp, fp, total, *_ = score(sub_labels, sub_found)
            print(f"{tool:<16}{name:<22}{total:>8}{tp:>8}{fp:>8}")
    for tool, false_positives, missed in details:
        print(f"\n{tool}: {len(false_positives)} false positives, {len(missed)} missed")
        for file, line, rule in false_positives[:200]:
            print(f"  false+ {file}:{line} ({rule})")
        for file, line, rule in missed[:400]:
            print(f"  missed {file}:{line} ({rule})")


if __name__ == "__main__":
    main()
