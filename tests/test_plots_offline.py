"""`dvc plots show` draws its charts without network (.dvc/plots/offline.html).

The repository's committed reports are rendered by the real `dvc plots show` (which
reads plots.html_template from .dvc/config) and the page is opened in headless
Chromium with every connection refused (a proxy on a closed port, no name resolution).
Every chart must draw marks on its canvas and every image must load; a control page
that loads vega from the CDN, as DVC's default page does, must fail in that browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = pytest.mark.slow

# Per chart: pixels of its canvas that are not blank (ink: axes, text and marks; a chart
# that failed has no canvas) and those in colour (marks: axes and text are grey/black).
_INK = """
const out = [];
for (const div of document.querySelectorAll('body > div[id]')) {
  const canvas = div.querySelector('canvas');
  const img = div.querySelector('img');
  let ink = 0, colour = 0;
  if (canvas && canvas.width > 0) {
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] === 0 || d[i] + d[i + 1] + d[i + 2] >= 700) continue;
      ink++;
      if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) colour++;
    }
  }
  out.push({id: div.id, canvas: !!canvas, ink: ink, colour: colour, img: img ? img.naturalWidth : null});
}
return out;
"""


def _need_browser() -> None:
    """Skip without a browser, except under CI, where a missing browser is a failure."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {', '.join(missing)} missing: the offline plots test must run")
        pytest.skip(f"needs {', '.join(missing)}")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--proxy-server=127.0.0.1:9",  # every request goes to a closed port
        "--proxy-bypass-list=<-loopback>",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # and no name resolves
        "--allow-file-access-from-files",
        "--window-size=1400,1000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait_for_charts(driver: object, expected: int) -> list[dict]:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def drawn(d: object) -> list[dict] | bool:
        rows = d.execute_script(_INK)  # type: ignore[attr-defined]
        charts = [r for r in rows if r["img"] is None]
        return rows if len(charts) >= expected and all(r["colour"] > 0 for r in charts) else False

    try:
        return WebDriverWait(driver, 30, poll_frequency=0.5).until(drawn)  # type: ignore[arg-type]
    except TimeoutException:  # report what was drawn; the asserts say what is missing
        return driver.execute_script(_INK)  # type: ignore[attr-defined,no-any-return]


def test_cdn_page_cannot_load_vega_in_this_browser(browser: object, tmp_path: Path) -> None:
    """The control: the browser really is offline, so a CDN page gets no vega."""
    page = tmp_path / "cdn.html"
    page.write_text(
        '<!DOCTYPE html><html><head><script src="https://cdn.jsdelivr.net/npm/vega@5.20.2"></script>'
        "</head><body>cdn</body></html>"
    )
    browser.get(page.as_uri())  # type: ignore[attr-defined]
    assert browser.execute_script("return typeof vega") == "undefined"  # type: ignore[attr-defined]


def test_dvc_plots_show_draws_every_chart_offline(browser: object, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    dvc = Path(sys.executable).with_name("dvc")
    shown = subprocess.run(
        [str(dvc), "plots", "show", "--json", "-o", str(tmp_path / "json")],  # -o: its images stay out of the repo
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    definitions = json.loads(shown)["data"]
    charts = [name for name, items in definitions.items() if items and items[0]["type"] == "vega"]
    images = [name for name, items in definitions.items() if items and items[0]["type"] == "image"]
    assert len(charts) >= 5 and images
    subprocess.run([str(dvc), "plots", "show", "-o", str(out)], cwd=REPO, check=True, capture_output=True, text=True)
    html = (out / "index.html").read_text()
    assert "cdn.jsdelivr.net" not in html and "<script src=" not in html  # the offline page, not DVC's default
    browser.get((out / "index.html").as_uri())  # type: ignore[attr-defined]
    rows = _wait_for_charts(browser, len(charts))
    drawn = [r for r in rows if r["img"] is None]
    assert len(drawn) == len(charts), rows
    assert all(r["canvas"] and r["ink"] > 500 and r["colour"] > 100 for r in drawn), rows
    pictures = [r for r in rows if r["img"] is not None]
    assert len(pictures) == len(images) and all(r["img"] > 0 for r in pictures), rows
    # the large images come after every chart
    order = [r["img"] is not None for r in rows]
    assert order == sorted(order), rows
