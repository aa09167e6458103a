"""Independent check of the report's summary: every number sits in a span naming its source table cell,
and equals that cell (parsed back from the text, not re-formatted with the report's own code)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pandas as pd

# Words in the summary that contain digits but are names, not numbers.
NAMES_WITH_DIGITS = ("K6", "GHQ-12", "CR2")


class _Summary(HTMLParser):
    def __init__(self, section: str = "summary"):
        super().__init__()
        self.section = section
        self.depth = 0  # >0 inside <section id="<section>">
        self.fact = None
        self.facts: list[tuple[dict, str]] = []
        self.loose_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.depth:
            self.depth += 1 if tag not in ("br", "img") else 0
        elif tag == "section" and attrs.get("id") == self.section:
            self.depth = 1
        if self.depth and tag == "span" and attrs.get("class") == "fact":
            self.fact = (attrs, [])

    def handle_endtag(self, tag):
        if self.depth and tag == "span" and self.fact is not None:
            self.facts.append((self.fact[0], "".join(self.fact[1])))
            self.fact = None
        if self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            return
        if self.fact is not None:
            self.fact[1].append(data)
        else:
            self.loose_text.append(data)


def _number(text: str) -> float:
    return float(text.replace("\u2212", "-").replace(",", ""))


def _approximately(text: str, value: float) -> bool:
    """A projected number of mothers as shown ("3", "420", "1,800") against its exact value: within the
    rounding the brief promises (whole mothers below 10, to 10 below 1,000, two significant figures above)."""
    value, shown = abs(float(value)), abs(_number(text))
    allowed = 0.5 if value < 10 else 5.0 if value < 1000 else 0.05 * value
    return abs(shown - value) <= allowed + 1e-9


def check_summary(page: str, tables: dict[str, pd.DataFrame], section: str = "summary") -> int:
    """Assert the numbers of the page's <section id=`section`> equal the tables; return how many numbers
    were checked."""
    parser = _Summary(section)
    parser.feed(page)
    assert parser.facts, f"no {section} section with facts found"
    loose = " ".join(parser.loose_text)
    for name in NAMES_WITH_DIGITS:
        loose = loose.replace(name, "")
    assert not re.search(r"\d", loose), f"a number in the summary does not come from a table: {loose!r}"
    for attrs, text in parser.facts:
        table = tables[attrs["data-table"]]
        rows = table[table[attrs["data-key-column"]].astype(str) == attrs["data-key"]]
        assert len(rows) >= 1, attrs
        value = rows.iloc[0][attrs["data-column"]]
        kind = attrs["data-kind"]
        where = f"{attrs['data-table']}.{attrs['data-column']} ({attrs['data-key']})"
        if kind == "count":
            if str(value).startswith("<"):
                assert text == str(value), where
            else:
                assert _number(text) == int(float(value)), where
        elif kind in ("signed", "threshold"):
            assert abs(_number(text) - float(value)) <= 0.005 + 1e-12, where
        elif kind == "bound":  # an interval end: a number, or "unbounded" where it is infinite
            if text == "unbounded":
                assert abs(float(value)) == float("inf"), where
            else:
                assert abs(_number(text) - float(value)) <= 0.005 + 1e-12, where
        elif kind == "size":
            assert abs(_number(text) - abs(float(value))) <= 0.005 + 1e-12, where
        elif kind == "level":
            assert int(text) == round(100 * float(value)), where
        elif kind == "wave":
            assert str(value).endswith(f"_w{text}"), where
        elif kind in ("pct", "pct_signed"):
            assert abs(_number(text) - float(value)) <= 0.05 + 1e-12, where
        elif kind == "plain":
            assert _number(text) == float(value), where
        elif kind == "text":
            assert text == str(value), where
        elif kind in ("mothers", "signed_mothers"):
            assert _approximately(text.lstrip("\u2212"), value), where
            if kind == "signed_mothers" and text != "0":
                assert text.startswith("\u2212") == (float(value) < 0), where
        else:
            raise AssertionError(f"unknown kind {kind} at {where}")
    return len(parser.facts)
