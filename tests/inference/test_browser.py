"""The upload page in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``)
against the real ``dfmask serve`` command. In CI (``CI=true``) a missing browser fails."""

from __future__ import annotations

import base64
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from inference_fixtures import FRAMES, Models, Videos
from server_utils import serve_command

from dfmask.inference.detector import Detector

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def _driver():  # type: ignore[no-untyped-def]
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = f"{CHROMIUM} / {CHROMEDRIVER} missing: `make setup` installs chromium chromium-driver"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1000,1400",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.mark.slow
def test_upload_page_shows_the_verdict_and_overlay(models: Models, videos: Videos, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    expected = Detector.load(model=models.ckpt, backend="torch", frames=FRAMES).predict(videos.face)
    upload = tmp_path / "clip.mp4"
    shutil.copy(videos.face, upload)
    uploads = tmp_path / "tmp"
    uploads.mkdir()
    driver = _driver()
    args = ("--model", str(models.ckpt), "--backend", "torch", "--frames", str(FRAMES))
    try:
        with serve_command(*args, tmp=uploads) as (url, _):
            driver.get(url + "/")
            # on a loaded machine the title can lag the navigation: wait for it, bounded
            WebDriverWait(driver, 60).until(lambda d: d.title.startswith("dfmask"))
            driver.find_element(By.ID, "file").send_keys(str(upload))
            driver.find_element(By.ID, "send").click()
            wait = WebDriverWait(driver, 180)
            wait.until(lambda d: d.find_element(By.ID, "verdict").text in ("FAKE", "REAL"))
            wait.until(lambda d: d.execute_script("return document.getElementById('overlay').naturalWidth") > 0)
            verdict = driver.find_element(By.ID, "verdict").text
            p_text = driver.find_element(By.ID, "pfake").text
            dots = driver.find_elements(By.CSS_SELECTOR, "#chart circle.frame")
            src = driver.find_element(By.ID, "overlay").get_attribute("src")
            shown_error = driver.find_element(By.ID, "error").is_displayed()
        assert verdict == expected.label
        assert p_text == f"{expected.p_fake:.3f}"
        assert len(dots) == len(expected.frames) > 0  # one dot per face crop in the chart
        assert not shown_error
        assert src is not None and src.startswith("data:image/png;base64,")
        sheet = cv2.imdecode(np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        assert sheet is not None and sheet.shape[1] == 240 * min(4, len({f.frame_idx for f in expected.frames}))
        # the heat overlay is drawn: JET's saturated colours appear, which the grey-ish face clip lacks
        hsv = cv2.cvtColor(sheet, cv2.COLOR_BGR2HSV)
        assert (hsv[..., 1] > 200).mean() > 0.001
        assert not [p for p in uploads.iterdir() if p.name.startswith("dfmask-serve-")]  # temp folders removed
    finally:
        driver.quit()


@pytest.mark.slow
def test_upload_page_shows_a_bad_file_error(models: Models, videos: Videos) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _driver()
    try:
        with serve_command("--model", str(models.ckpt), "--backend", "torch") as (url, _):
            driver.get(url + "/")
            driver.find_element(By.ID, "file").send_keys(str(videos.text))
            driver.find_element(By.ID, "send").click()
            WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "error").is_displayed())
            message = driver.find_element(By.ID, "error").text
        assert "not a video" in message and "415" in message
        assert not driver.find_element(By.ID, "result").is_displayed()
    finally:
        driver.quit()
