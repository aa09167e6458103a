"""The package is citable and licensed: CITATION.cff, LICENSE and the README's citing section agree with the
package metadata."""

from __future__ import annotations

import tomllib

import yaml

from tests.conftest import ROOT


def test_citation_file_is_valid_cff_and_matches_the_package():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert citation["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "type", "version", "license"):
        assert citation.get(key), key
    assert citation["version"] == project["version"]
    assert citation["license"] == project["license"]["text"] == "MIT"
    for reference in citation["references"]:
        assert reference["title"] and reference["authors"] and reference["year"]


def test_licence_and_citing_section_are_present():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## How to cite, and licences"):]
    for words in ("CITATION.cff", "CC0 1.0", "Open Government Licence", "`LICENSE`"):
        assert words in section, words
