"""data/raw/README.md documents every file and column that analysis/contract.py enforces."""

import re

from analysis.contract import RAW_FILES
from tests.conftest import ROOT


def test_every_contract_column_is_documented():
    text = (ROOT / "data" / "raw" / "README.md").read_text()
    documented = set(re.findall(r"`([a-z0-9_.]+)`", text))
    ranges = re.findall(r"`(k6_\d)` \.\. `(k6_\d)`|`(ghq_[a-z])` \.\. `(ghq_[a-z])`", text)
    assert ranges, "item ranges k6_1 .. k6_6 and ghq_a .. ghq_l are documented as ranges"
    for spec in RAW_FILES:
        assert f"`{spec.name}`" in text, spec.name
        for column in spec.column_names:
            is_item = column.startswith(("k6_", "ghq_"))
            assert is_item or column in documented, f"{spec.name}: {column} is not documented"
