"""data/raw/README.md documents every file and column that analysis/contract.py enforces, every rule the
cleaning log counts, and the contract's bounds."""

import ast
import re

from analysis import cleaning, contract
from analysis.contract import LA_FUNDING, RAW_FILES
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
