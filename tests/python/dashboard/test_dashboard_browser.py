"""The queues page in a real browser: Debian's chromium, headless, driven
by Selenium through chromium-driver (scripts/setup.sh installs both). A
screenshot of each page is kept in build-artifacts/dashboard/."""

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

import dramatiq
from dramatiq.dashboard import create_app

from .conftest import ARTIFACTS


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,800"):
        options.add_argument(argument)
    # The Debian driver, named: Selenium would otherwise look for one online.
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def ready_count(browser, queue_name):
    # Read in the page, in one step: each event rebuilds the table, so an
    # element found in one call may be gone by the next.
    return browser.execute_script(
        "const cell = document.querySelector(arguments[0]); return cell ? cell.textContent : null;",
        'tr[data-queue="%s"] td.ready' % queue_name)


def test_the_queues_page_follows_sends_and_processing(sqlite_broker, live_server, browser):
    ran = []

    @dramatiq.actor(broker=sqlite_broker, queue_name="dash")
    def work(n):
        ran.append(n)

    server = live_server(create_app(sqlite_broker, refresh=0.1))
    browser.get(server.url + "/")
    assert browser.title == "dramatiq — queues"
    wait = WebDriverWait(browser, 15)
    wait.until(lambda b: ready_count(b, "dash") == "0")
    for n in range(3):
        work.send(n)
    wait.until(lambda b: ready_count(b, "dash") == "3")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "queues.png"))

    worker = dramatiq.Worker(sqlite_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        sqlite_broker.join("dash", timeout=10_000)
        wait.until(lambda b: ready_count(b, "dash") == "0")
    finally:
        worker.stop()
    assert sorted(ran) == [0, 1, 2]
