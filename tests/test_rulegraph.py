"""The canonical rule graph: the same graph whatever order Snakemake meets the jobs in, and refusals in words.
(make lint compares docs/rulegraph.dot with what snakemake --rulegraph prints now.)"""

import io
import random

import pytest

from analysis import rulegraph
from analysis.rulegraph import RulegraphError, canonical_rulegraph
from tests.conftest import ROOT

HEADER = """digraph snakemake_dag {
    graph[bgcolor=white, margin=0];
    node[shape=box, style=rounded, fontname=sans,                 fontsize=10, penwidth=2];
    edge[penwidth=2, color=grey];"""
RULES = {"all": "0.00", "clean_raw_data": "0.15", "fit_model": "0.32", "publish_table": "0.50",
         "manifest": "0.44"}
EDGES = [("clean_raw_data", "fit_model"), ("fit_model", "publish_table"), ("publish_table", "all"),
         ("clean_raw_data", "all"), ("publish_table", "manifest"), ("manifest", "all")]


def snakemake_dot(seed: int) -> str:
    """The graph as Snakemake might print it: rules numbered in some order, edges in some order."""
    rng = random.Random(seed)
    names = list(RULES)
    rng.shuffle(names)
    number = {name: index for index, name in enumerate(names)}
    edges = EDGES[:]
    rng.shuffle(edges)
    lines = [HEADER]
    lines += [f'\t{number[name]}[label = "{name}", color = "{RULES[name]} 0.6 0.85", style="rounded"];'
              for name in names]
    lines += [f"\t{number[source]} -> {number[target]}" for source, target in edges]
    return "\n".join(lines) + "\n}            \n"


def labelled_graph(dot: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Rules (name -> colour) and edges by name, read independently of analysis.rulegraph."""
    labels, colours, edges = {}, {}, set()
    for line in dot.splitlines():
        line = line.strip()
        if "[label = " in line:
            number, rest = line.split("[label = ", 1)
            name = rest.split('"')[1]
            labels[number] = name
            colours[name] = rest.split('color = "')[1].split('"')[0]
        elif " -> " in line:
            edges.add(tuple(line.split(" -> ")))
    return colours, {(labels[source], labels[target]) for source, target in edges}


def test_canonical_form_does_not_depend_on_the_order_snakemake_printed():
    forms = {canonical_rulegraph(snakemake_dot(seed)) for seed in range(20)}
    assert len(forms) == 1


def test_canonical_form_keeps_every_rule_edge_and_colour():
    original = snakemake_dot(3)
    canonical = canonical_rulegraph(original)
    assert labelled_graph(canonical) == labelled_graph(original)
    assert labelled_graph(canonical)[1] == set(EDGES)
    assert canonical.startswith(HEADER + "\n")
    assert canonical.endswith("\n}\n")  # trailing blanks Snakemake leaves are dropped


def test_canonical_form_numbers_rules_alphabetically():
    canonical = canonical_rulegraph(snakemake_dot(7))
    numbered = [line.split('"')[1] for line in canonical.splitlines() if "[label = " in line]
    assert numbered == sorted(RULES)
    assert '\t0[label = "all"' in canonical


def test_canonical_form_is_its_own_canonical_form():
    canonical = canonical_rulegraph(snakemake_dot(1))
    assert canonical_rulegraph(canonical) == canonical


def test_a_single_rule_without_edges():
    dot = HEADER + '\n\t0[label = "all", color = "0.00 0.6 0.85", style="rounded"];\n}\n'
    assert canonical_rulegraph(dot) == dot


@pytest.mark.parametrize(("dot", "words"), [
    ("", "Not a Snakemake rule graph"),
    ("Building DAG of jobs...\nWorkflowError: ...\n", "Not a Snakemake rule graph"),
    (HEADER + "\n}\n", "has no rules"),
    (HEADER + '\n\t0[label = "all"];\n\t0[label = "fit_model"];\n}\n', "node 0 is defined twice"),
    (HEADER + '\n\t0[label = "all"];\n\t1[label = "all"];\n}\n', "names a rule twice"),
    (HEADER + '\n\t0[label = "all"];\n\t1 -> 0\n}\n', "undefined nodes: 1"),
    (HEADER + '\n\t0[label = "all"];\n\tsubgraph cluster {\n}\n', "line 6: neither a rule nor an edge"),
])
def test_refuses_what_is_not_a_rule_graph(dot, words):
    with pytest.raises(RulegraphError, match=words):
        canonical_rulegraph(dot)


def run_main(monkeypatch, capsys, stdin: str, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = rulegraph.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_passes_on_the_current_graph_and_fails_on_a_stale_one(tmp_path, monkeypatch, capsys):
    committed = tmp_path / "rulegraph.dot"
    code, _, _ = run_main(monkeypatch, capsys, snakemake_dot(0), "--output", str(committed))
    assert code == 0
    assert committed.read_text() == canonical_rulegraph(snakemake_dot(0))
    code, out, _ = run_main(monkeypatch, capsys, snakemake_dot(5), "--check", str(committed))
    assert (code, out.strip()) == (0, f"{committed} is the workflow's rule graph.")

    changed = snakemake_dot(5).replace("manifest", "manifests")
    code, _, err = run_main(monkeypatch, capsys, changed, "--check", str(committed))
    assert code == 1
    assert "run `make rulegraph`" in err
    assert '-\t3[label = "manifest"' in err and '+\t3[label = "manifests"' in err


def test_a_missing_committed_graph_is_stale(tmp_path, monkeypatch, capsys):
    code, _, err = run_main(monkeypatch, capsys, snakemake_dot(0), "--check", str(tmp_path / "absent.dot"))
    assert code == 1
    assert "is not the workflow's rule graph now" in err


def test_failed_snakemake_leaves_the_committed_graph_as_it_was(tmp_path, monkeypatch, capsys):
    committed = tmp_path / "rulegraph.dot"
    committed.write_text("the committed graph\n")
    code, _, err = run_main(monkeypatch, capsys, "", "--output", str(committed))
    assert code == 2
    assert "Not a Snakemake rule graph" in err
    assert committed.read_text() == "the committed graph\n"


def test_committed_graph_is_canonical():
    """docs/rulegraph.dot is in canonical form (make lint checks that it is also current)."""
    committed = (ROOT / "docs" / "rulegraph.dot").read_text()
    assert canonical_rulegraph(committed) == committed
    assert "all" in labelled_graph(committed)[0]
