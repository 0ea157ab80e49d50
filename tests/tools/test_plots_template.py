"""The committed offline plots page: what DVC fills, and the library versions DVC's page asks for."""

from __future__ import annotations

import re
from pathlib import Path

from dvc_render.vega import VegaRenderer

from tools.plots_template import OUT, PACKAGES

REPO = Path(__file__).resolve().parents[2]


def test_config_names_the_committed_page() -> None:
    config = (REPO / ".dvc" / "config").read_text()
    assert re.search(r"^\[plots\]\n\s+html_template = plots/offline.html$", config, re.M)
    assert OUT == REPO / ".dvc" / "plots" / "offline.html" and OUT.is_file()


def test_page_inlines_the_versions_dvc_asks_for_and_loads_nothing() -> None:
    page = OUT.read_text(encoding="utf-8")
    # DVC fills {plot_divs} (required) and {refresh_tag}; without {scripts} it adds no CDN tag
    assert page.count("{plot_divs}") == 1 and page.count("{refresh_tag}") == 1 and "{scripts}" not in page
    assert "<script src" not in page and "http://" not in page.split("<script>")[0]
    cdn = dict(re.findall(r"npm/([a-z-]+)@([\d.]+)", VegaRenderer.SCRIPTS))
    assert {name: version for name, version, _, _ in PACKAGES} == cdn
    for name, version, _, _ in PACKAGES:
        assert f"<!-- {name}@{version} -->\n    <script>" in page
    assert page.count("<script>") == len(PACKAGES) == page.count("</script>")
