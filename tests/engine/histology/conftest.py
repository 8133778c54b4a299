"""Fixtures of the histology tests: a small synthetic BreakHis-layout folder made from the CC0 region."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.histology.synthetic import write_breakhis_fixture


@pytest.fixture(scope="session")
def breakhis(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 subtypes x 2 patients x 4 magnifications x 3 images of 46x70 pixels (192 files), with BreakHis' quirks:
    sibling sections of one accession and one slide filed under two subtypes."""
    return write_breakhis_fixture(tmp_path_factory.mktemp("breakhis"))
