"""data/raw/README.md documents every file and column that analysis/contract.py enforces, every rule the
cleaning log counts, the contract's bounds, and each source column of the variable registry with its range."""

import ast
import re

import pytest

from analysis import cleaning, contract
from analysis.contract import LA_FUNDING, RAW_FILES
from analysis.variables import REGISTRY
from tests.conftest import ROOT

DOC = ROOT / "data" / "raw" / "README.md"


def test_every_contract_column_is_documented():
    text = DOC.read_text()
    documented = set(re.findall(r"`([a-z0-9_.]+)`", text))
    ranges = re.findall(r"`(k6_\d)` \.\. `(k6_\d)`|`(ghq_[a-z])` \.\. `(ghq_[a-z])`", text)
    assert ranges, "item ranges k6_1 .. k6_6 and ghq_a .. ghq_l are documented as ranges"
    for spec in (*RAW_FILES, LA_FUNDING):
        assert f"`{spec.name}`" in text, spec.name
        for column in spec.column_names:
            is_item = column.startswith(("k6_", "ghq_"))
            assert is_item or column in documented, f"{spec.name}: {column} is not documented"


def counted_rules() -> list[str]:
    """Every rule analysis/cleaning.py counts (CleaningLog.record's third argument); of a rule made from an
    f-string, its fixed parts."""
    tree = ast.parse((ROOT / "analysis" / "cleaning.py").read_text())
    rules = list(cleaning.RULES.values())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "record" and len(node.args) >= 3:
            rule = node.args[2]
            if isinstance(rule, ast.Constant):
                rules.append(rule.value)
            elif isinstance(rule, ast.JoinedStr):
                rules += [part.value.strip() for part in rule.values if isinstance(part, ast.Constant)]
    return rules


def test_every_counted_rule_is_documented():
    text = " ".join(DOC.read_text().split())  # the document wraps lines
    rules = counted_rules()
    assert len(rules) > 15
    for rule in rules:
        assert rule in text, f"cleaning-log rule {rule!r} is not in data/raw/README.md"


def test_the_contract_bounds_are_documented():
    text = " ".join(DOC.read_text().split())
    assert f"from {contract.DEFLATOR_LOW} to {contract.DEFLATOR_HIGH}" in text
    assert f"{contract.DEFLATOR_MAX_YEARLY_CHANGE:.0%} a year" in text
    assert f"£{contract.MONEY_LIMIT:,} or more" in text
    assert f"pattern `{contract.LA_CODE_PATTERN.replace('|', chr(92) + '|')}`" in text


def readme_row(file_name: str, column: str) -> str:
    """The content cell of `column` in the README's table for `file_name`."""
    section = DOC.read_text().split(f"## `{file_name}`", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith(f"| `{column}` |")]
    assert len(rows) == 1, f"{file_name}: column {column} has {len(rows)} rows in data/raw/README.md"
    return rows[0].split("|")[2].strip()


def documents_range(row: str, column) -> bool:
    """The row states the contract's range: `low-high`, `0/1`, every whole number's meaning (`1 none, 2 ...`),
    or every category (`urban` or `rural`)."""
    if column.kind == "category":
        return all(f"`{level}`" in row for level in column.levels)
    low, high = f"{column.low:g}", f"{column.high:g}"
    if f"{low}-{high}" in row or (low, high) == ("0", "1") and "0/1" in row:
        return True
    return column.kind == "code" and all(
        re.search(rf"(^|, ){value} \w", row) for value in range(int(column.low), int(column.high) + 1))


@pytest.mark.parametrize("variable", [v for v in REGISTRY if v.source], ids=lambda v: v.name)
def test_every_registry_source_column_is_documented_with_its_range(variable):
    """The README states each covariate's source column as the contract bounds it, and the value an
    indicator marks (analysis/variables.py: source, marks, source_words)."""
    row = readme_row(variable.source_file.name, variable.source)
    assert documents_range(row, variable.column), f"{variable.source}: {row!r} does not state its range"
    if variable.marks is not None:
        assert variable.source_words in row, f"{variable.source}: {variable.source_words!r} not in {row!r}"
        assert str(variable.marks) in variable.source_words


def test_the_range_check_catches_a_wrong_range():
    column = contract.Column("income_band", "code", 1, 5)
    assert documents_range("1-5", column) and documents_range("1 a, 2 b, 3 c, 4 d, 5 e", column)
    assert not documents_range("1-4", column) and not documents_range("1 a, 2 b, 3 c, 4 d", column)
    assert not documents_range("0/1", contract.Column("x", "code", 0, 2))
