"""The workflow's rule graph in a canonical form, so the committed picture can be checked against the code.

`snakemake --rulegraph` prints Graphviz DOT whose node numbers follow the order Snakemake met the jobs in,
and whose edges come in an order that changed between runs here. Neither says anything about the workflow,
so the canonical form numbers the rules in alphabetical order and lists the edges sorted; the header, each
rule's label, colour and style are kept as Snakemake wrote them. `make rulegraph` writes docs/rulegraph.dot
(and its SVG) from it; `make lint` checks the committed file against what the code prints now:

    snakemake --rulegraph --quiet all | python -m analysis.rulegraph --output docs/rulegraph.dot
    snakemake --rulegraph --quiet all | python -m analysis.rulegraph --check docs/rulegraph.dot
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

from analysis import io

NODE = re.compile(r'^\s*(?P<id>\d+)\[label = "(?P<label>[^"]+)"(?P<attributes>[^\]]*)\];\s*$')
EDGE = re.compile(r"^\s*(?P<source>\d+) -> (?P<target>\d+)\s*$")
OPENING = "digraph snakemake_dag {"
CLOSING = "}"
# Where the graph can differ between machines with the same code (workflow/rules/common.smk, REPORT_PDF).
MACHINE_DEPENDENT = (
    "report_pdf and brief_pdf are in the graph only where Chromium is installed: make browser"
)


class RulegraphError(ValueError):
    """Snakemake's output is not a rule graph this module can read."""


def canonical_rulegraph(dot: str) -> str:
    """The rule graph in `dot` (as `snakemake --rulegraph` prints it) with rules numbered alphabetically and
    edges sorted. Refuses, naming the line, anything that is not a header line, a rule or an edge."""
    lines = [line.rstrip() for line in dot.splitlines() if line.strip()]
    if not lines or lines[0] != OPENING or lines[-1] != CLOSING:
        raise RulegraphError(f"Not a Snakemake rule graph: it should open with {OPENING!r} and end with "
                             f"{CLOSING!r} (did snakemake --rulegraph fail? Its messages are above).")
    header, nodes, edges = [], {}, []
    for number, line in enumerate(lines[1:-1], start=2):
        if match := NODE.match(line):
            if match["id"] in nodes:
                raise RulegraphError(f"Rule graph line {number}: node {match['id']} is defined twice.")
            nodes[match["id"]] = (match["label"], match["attributes"])
        elif match := EDGE.match(line):
            edges.append((match["source"], match["target"]))
        elif not nodes and not edges:
            header.append(line)
        else:
            raise RulegraphError(f"Rule graph line {number}: neither a rule nor an edge: {line.strip()!r}")
    if not nodes:
        raise RulegraphError("The rule graph has no rules.")
    labels = [label for label, _ in nodes.values()]
    if len(set(labels)) != len(labels):
        raise RulegraphError("The rule graph names a rule twice.")
    unknown = sorted({end for edge in edges for end in edge} - nodes.keys())
    if unknown:
        raise RulegraphError(f"The rule graph has edges from or to undefined nodes: {', '.join(unknown)}.")
    order = sorted(nodes, key=lambda node: nodes[node][0])
    renumbered = {node: index for index, node in enumerate(order)}
    node_lines = [f'\t{renumbered[node]}[label = "{nodes[node][0]}"{nodes[node][1]}];' for node in order]
    edge_lines = [f"\t{source} -> {target}"
                  for source, target in sorted({(renumbered[s], renumbered[t]) for s, t in edges})]
    return "\n".join([OPENING, *header, *node_lines, *edge_lines, CLOSING]) + "\n"


def stale_message(committed_path: str | Path, committed: str, current: str) -> str:
    """Why the committed graph is not the current one: a diff, and how to update it."""
    diff = difflib.unified_diff(committed.splitlines(), current.splitlines(), str(committed_path),
                                "snakemake --rulegraph now", lineterm="")
    return (f"{committed_path} is not the workflow's rule graph now: run `make rulegraph` and commit "
            f"{committed_path} with its SVG ({MACHINE_DEPENDENT}).\n" + "\n".join(diff))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m analysis.rulegraph",
        description="Read `snakemake --rulegraph` output on standard input; write it in canonical form, or "
                    "check a committed file against it.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--output", metavar="DOT", help="write the canonical rule graph here")
    action.add_argument("--check", metavar="DOT", help="exit 1 unless this file is the canonical rule graph")
    args = parser.parse_args(argv)
    try:
        current = canonical_rulegraph(sys.stdin.read())
    except RulegraphError as err:
        print(f"python -m analysis.rulegraph: {err}", file=sys.stderr)
        return 2
    if args.output:
        io.write_text(current, args.output)  # atomic: a failed run leaves the committed file as it was
        return 0
    path = Path(args.check)
    committed = path.read_text(encoding="utf-8") if path.exists() else ""
    if committed != current:
        print(stale_message(path, committed, current), file=sys.stderr)
        return 1
    print(f"{path} is the workflow's rule graph.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
