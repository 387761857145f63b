"""Check notebook 07's reward-model playground in a real browser (headless Chromium + JupyterLab).

    .venv/bin/python tools/browser_check.py                 # test-size checkpoints, ~/.cache/rlhf_edu
    RLHF_EDU_CACHE=/tmp/rlhf RLHF_EDU_BROWSER=1 .venv/bin/python -m pytest -q tests/browser -p no:cacheprovider

What it does: trains (or loads) the test-size tokenizer and reward model, writes a two-cell
notebook holding the playground cells of notebook 07 into a temporary folder, starts JupyterLab
there (its own port and token), opens the notebook in headless Chromium, runs all cells from the
Run menu, types two tweets into the playground's text box and checks that the score shown
changes (and that VADER, a fixed word list, calls the second one negative). It saves a
screenshot to figures/browser_reward_playground.png.

Needs Debian's ``chromium`` and ``chromium-driver`` (apt-get install -y chromium chromium-driver) and
Selenium (pip install selenium); no browser is downloaded. Exit status 0 on success.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "figures" / "browser_reward_playground.png"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FIRST_TWEET = "Today I feel great, my friends are the best"  # the playground's default text
SECOND_TWEET = "I hate this, worst day ever, so sad and angry"

# The playground cells of notebook 07 (the same calls; the notebook has loaded rm and tok before).
CELLS = [
    "from rlhf_edu import widgets\n"
    "from rlhf_edu.sentiment import judge, pipeline\n"
    "tok = pipeline.tokenizer()\n"
    "rm, _ = pipeline.reward_model()",
    "widgets.reward_playground(rm, tok, judge=judge.vader_compound)",
]

SCORE = re.compile(r"reward-model score:\s*([+-]\d+\.\d+)")
VADER = re.compile(r"VADER compound:\s*([+-]\d+\.\d+)")


def available() -> str | None:
    """None when the check can run here, else why not."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            return f"{path} not found (apt-get install -y chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


def _notebook(cells: list[str]) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
            "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None,
                       "outputs": [], "source": src} for i, src in enumerate(cells)]}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"jupyter lab did not answer at {url} within {timeout:.0f} s")


def _driver(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    # Without the background-networking flags Chromium's own connections fail on a closed network.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--window-size=1400,1200", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def _panel_text(driver) -> str:
    from selenium.webdriver.common.by import By

    pres = driver.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output .widget-html pre")
    return pres[0].text if pres else ""


def _wait(what: str, fn, timeout: float, poll: float = 0.5):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = fn()
        except Exception:  # the page is still being built: try again
            value = None
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def _run_all(driver) -> None:
    """Run > Run All Cells, through the menu as a student would."""
    from selenium.webdriver.common.by import By

    menu = _wait("the Run menu", lambda: next(e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-MenuBar-item")
                                              if e.text.strip() == "Run"), 300)
    menu.click()
    item = _wait("Run All Cells", lambda: next(e for e in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-item")
                                               if e.text.strip().startswith("Run All Cells")), 30)
    item.click()


def _type(driver, box, text: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box.click()
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text, Keys.ENTER)  # continuous_update=False: Enter sends the value to the kernel


def check(screenshot: pathlib.Path = SCREENSHOT, timeout: float = 600.0, log=print) -> dict:
    """Run the whole check; returns the scores read from the page. Raises on any failure."""
    from selenium.webdriver.common.by import By

    reason = available()
    if reason:
        raise RuntimeError(reason)
    env = dict(os.environ, RLHF_EDU_SIZE=os.environ.get("RLHF_EDU_SIZE", "test"), MPLBACKEND="Agg",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.monotonic()
    # Train or load the checkpoints first, here, so the browser only waits for loading.
    subprocess.run([sys.executable, "-c", CELLS[0]], env=env, check=True, cwd=ROOT)
    times = {"checkpoints": time.monotonic() - t0}
    log(f"checkpoints ready ({env['RLHF_EDU_SIZE']} size) in {times['checkpoints']:.0f} s")

    work = pathlib.Path(tempfile.mkdtemp(prefix="rlhf_browser_"))
    (work / "reward_playground.ipynb").write_text(json.dumps(_notebook(CELLS), indent=1))
    port, token = _free_port(), secrets.token_hex(16)
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={work}", "--LabApp.news_url=None",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),  # containers run as root
        env=env, cwd=work, stdout=open(work / "server.log", "wb"), stderr=subprocess.STDOUT)
    driver = None
    try:
        _wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", server, timeout)
        driver = _driver(str(work / "chromium-profile"))
        driver.get(f"http://127.0.0.1:{port}/lab/tree/reward_playground.ipynb?token={token}")
        _wait("the notebook", lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell"), timeout)
        _wait("the kernel", lambda: "Python" in driver.find_element(By.CSS_SELECTOR, ".jp-KernelName").text, timeout)
        t1 = time.monotonic()
        _run_all(driver)
        box = _wait("the playground's text box",
                    lambda: driver.find_element(By.CSS_SELECTOR, ".jp-OutputArea-output .widget-text input"), timeout)
        first = _wait("the first score", lambda: SCORE.search(_panel_text(driver)), timeout)
        times["run all -> widget"] = time.monotonic() - t1
        score1 = float(first.group(1))
        log(f"first tweet {FIRST_TWEET!r}: reward-model score {score1:+.3f}")

        t2 = time.monotonic()
        _type(driver, box, SECOND_TWEET)
        def second_shown():
            text = _panel_text(driver)
            return text if SECOND_TWEET in text and SCORE.search(text) else None

        shown = _wait("the score of the second tweet", second_shown, timeout)
        times["type -> new score"] = time.monotonic() - t2
        score2, vader2 = float(SCORE.search(shown).group(1)), float(VADER.search(shown).group(1))
        log(f"second tweet {SECOND_TWEET!r}: reward-model score {score2:+.3f}, VADER {vader2:+.3f}")
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", box)
        time.sleep(1)  # let the new picture draw before the screenshot
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
        log(f"screenshot: {screenshot}")
        if score2 == score1:
            raise AssertionError(f"the score did not change ({score1:+.3f} for both tweets)")
        if not vader2 < 0:
            raise AssertionError(f"VADER should call {SECOND_TWEET!r} negative, shown {vader2:+.3f}")
        times["total"] = time.monotonic() - t0
        log("times: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
        return {"score_first": score1, "score_second": score2, "vader_second": vader2, "seconds": times}
    except Exception:
        if driver is not None:
            driver.save_screenshot(str(work / "failure.png"))
            log(f"failed; page screenshot {work / 'failure.png'}, server log {work / 'server.log'}")
        raise
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        if sys.exc_info()[0] is None:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--screenshot", type=pathlib.Path, default=SCREENSHOT)
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds to wait for each step (server, notebook, kernel, each score)")
    args = ap.parse_args(argv)
    result = check(args.screenshot, args.timeout)
    print(f"OK: the score changed from {result['score_first']:+.3f} to {result['score_second']:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
