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


def dead_rows(browser):
    # The message ids of the dead-letter rows, read in one step (see ready_count).
    return browser.execute_script(
        "return [...document.querySelectorAll('#dead tbody tr')].map((tr) => tr.dataset.messageId);")


def click(browser, css):
    # Found and clicked in one go, again if the table was rebuilt meanwhile.
    from selenium.common.exceptions import StaleElementReferenceException

    WebDriverWait(browser, 15, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda b: b.find_element("css selector", css).click() or True)


def text_of(browser, css):
    return browser.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)


def answer_confirmation(browser, accept):
    from selenium.webdriver.support import expected_conditions

    WebDriverWait(browser, 15).until(expected_conditions.alert_is_present())
    alert = browser.switch_to.alert
    question = alert.text
    alert.accept() if accept else alert.dismiss()
    return question


def test_a_dead_letter_requeued_from_its_queue_page_runs(sqlite_broker, live_server, browser):
    ran = []
    failing = [True]

    @dramatiq.actor(broker=sqlite_broker, queue_name="dash", max_retries=0)
    def flaky(n):
        if failing[0]:
            raise RuntimeError("not yet")
        ran.append(n)

    worker = dramatiq.Worker(sqlite_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        message = flaky.send(5)
        sqlite_broker.join("dash", timeout=10_000)
        server = live_server(create_app(sqlite_broker, refresh=0.1))
        browser.get(server.url + "/")
        wait = WebDriverWait(browser, 15)
        click(browser, 'tr[data-queue="dash"] a')  # the queues page links to each queue's
        wait.until(lambda b: dead_rows(b) == [message.message_id])
        assert browser.title == "dramatiq — queue dash"
        assert text_of(browser, "#dead tbody tr td.failure") == "RuntimeError: not yet"
        assert text_of(browser, "#dead tbody tr td.call summary") == "flaky(5)"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "queue-dead-letters.png"))

        failing[0] = False
        # Asked first; a no leaves it where it is.
        click(browser, "#dead tbody tr button.requeue")
        assert answer_confirmation(browser, accept=False) == "Requeue message %s?" % message.message_id
        wait.until(lambda b: text_of(b, "#notice") == "nothing done")
        assert dead_rows(browser) == [message.message_id] and ran == []
        click(browser, "#dead tbody tr button.requeue")
        answer_confirmation(browser, accept=True)
        wait.until(lambda b: text_of(b, "#notice") == "requeued 1")
        sqlite_broker.join("dash", timeout=10_000)
        assert ran == [5]
        wait.until(lambda b: dead_rows(b) == [])
        wait.until(lambda b: text_of(b, "#counts td.dead") == "0")
    finally:
        worker.stop()


def test_dead_letters_deleted_from_the_queue_page_are_gone(sqlite_broker, live_server, browser):
    @dramatiq.actor(broker=sqlite_broker, queue_name="dash", max_retries=0)
    def broken(n):
        raise RuntimeError("broken")

    worker = dramatiq.Worker(sqlite_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        messages = [broken.send(n) for n in range(3)]
        sqlite_broker.join("dash", timeout=10_000)
    finally:
        worker.stop()
    server = live_server(create_app(sqlite_broker, refresh=0.1))
    browser.get(server.url + "/queues/dash")
    wait = WebDriverWait(browser, 15)
    wait.until(lambda b: sorted(dead_rows(b)) == sorted(m.message_id for m in messages))
    # One selected, deleted; then the rest at once.
    click(browser, 'tr[data-message-id="%s"] input.pick' % messages[1].message_id)
    click(browser, "#delete-selected")
    assert answer_confirmation(browser, accept=True) == "Delete 1 selected dead letters?"
    wait.until(lambda b: text_of(b, "#notice") == "deleted 1")
    wait.until(lambda b: sorted(dead_rows(b)) == sorted([messages[0].message_id, messages[2].message_id]))
    click(browser, "#delete-all")
    assert answer_confirmation(browser, accept=True) == "Delete every dead letter of dash?"
    wait.until(lambda b: text_of(b, "#notice") == "deleted 2")
    wait.until(lambda b: dead_rows(b) == [])
    assert sqlite_broker.get_dead_letters("dash") == []
    browser.save_screenshot(str(ARTIFACTS / "queue-emptied.png"))


def test_a_read_only_queue_page_offers_no_action(sqlite_broker, live_server, browser):
    @dramatiq.actor(broker=sqlite_broker, queue_name="dash", max_retries=0)
    def broken():
        raise RuntimeError("broken")

    worker = dramatiq.Worker(sqlite_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        message = broken.send()
        sqlite_broker.join("dash", timeout=10_000)
    finally:
        worker.stop()
    server = live_server(create_app(sqlite_broker, read_only=True, refresh=0.1))
    browser.get(server.url + "/queues/dash")
    WebDriverWait(browser, 15).until(lambda b: dead_rows(b) == [message.message_id])
    buttons = browser.find_elements("css selector", "button")
    assert buttons and not any(button.is_displayed() for button in buttons)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "queue-read-only.png"))


def test_the_workers_page_shows_what_each_worker_runs(sqlite_broker, live_server, browser):
    import threading

    started, release = threading.Event(), threading.Event()

    @dramatiq.actor(broker=sqlite_broker, queue_name="dash")
    def crunch():
        started.set()
        assert release.wait(15)

    server = live_server(create_app(sqlite_broker, refresh=0.1))
    browser.get(server.url + "/")
    click(browser, 'nav a[href="workers"]')
    wait = WebDriverWait(browser, 15)
    wait.until(lambda b: text_of(b, "#notice") == "no worker is running")
    assert browser.title == "dramatiq — workers"
    worker = dramatiq.Worker(sqlite_broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        message = crunch.send()
        assert started.wait(15)
        item = '#workers li[data-message-id="%s"]' % message.message_id
        wait.until(lambda b: (text_of(b, item) or "").startswith("crunch on dash for "))
        assert text_of(browser, "#workers td.busy") == "1 of 2"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "workers.png"))
        release.set()
        wait.until(lambda b: text_of(b, "#workers td.processed") == "1")
        assert text_of(browser, "#workers li.idle") == "idle"
    finally:
        release.set()
        worker.stop()
    wait.until(lambda b: text_of(b, "#notice") == "no worker is running")


def test_the_throughput_page_charts_what_the_workers_do(sqlite_broker, live_server, browser):
    @dramatiq.actor(broker=sqlite_broker, queue_name="dash")
    def quick(n):
        pass

    worker = dramatiq.Worker(sqlite_broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        server = live_server(create_app(sqlite_broker, refresh=0.2))
        browser.get(server.url + "/")
        click(browser, 'nav a[href="throughput"]')
        assert browser.title == "dramatiq — throughput"

        def charted(b):
            for n in range(20):
                quick.send(n)
            return b.execute_script(
                "const c = Chart.getChart('rates'), l = Chart.getChart('latency');"
                "return !!c && c.data.datasets[0].data.some((p) => p.y > 0)"
                " && l.data.datasets[0].data.some((p) => p.y !== null);")

        WebDriverWait(browser, 20).until(charted)
        from selenium.webdriver.support.ui import Select

        Select(browser.find_element("id", "minutes")).select_by_value("1")
        WebDriverWait(browser, 10).until(
            lambda b: b.execute_script("return Chart.getChart('rates').options.scales.x.min") == -1)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "throughput.png"))
    finally:
        worker.stop()


def test_a_running_message_cancelled_from_the_workers_page(sqlite_broker, live_server, browser):
    from .conftest import runs_until_cancelled

    endless, started, interrupted = runs_until_cancelled(sqlite_broker, "endless")
    worker = dramatiq.Worker(sqlite_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        message = endless.send()
        assert started.wait(15)
        # The workers table is rebuilt at each event: one a second leaves the
        # button in place long enough to be clicked on a loaded machine.
        server = live_server(create_app(sqlite_broker, refresh=1.0))
        browser.get(server.url + "/workers")
        button = '#workers li[data-message-id="%s"] button.cancel' % message.message_id
        wait = WebDriverWait(browser, 15)
        wait.until(lambda b: text_of(b, button) == "Cancel")
        click(browser, button)
        assert answer_confirmation(browser, accept=False) == "Cancel message %s (endless)?" % message.message_id
        wait.until(lambda b: text_of(b, "#notice") == "nothing done")
        assert not interrupted.is_set()
        click(browser, button)
        answer_confirmation(browser, accept=True)
        wait.until(lambda b: text_of(b, "#notice") == "cancelled " + message.message_id)
        assert interrupted.wait(15)
        wait.until(lambda b: text_of(b, "#workers li.idle") == "idle")
    finally:
        worker.stop()


def test_the_schedules_page_lists_each_schedule(sqlite_broker, live_server, browser):
    @dramatiq.actor(broker=sqlite_broker, queue_name="dash", periodic="*/5 * * * *")
    def every_five_minutes():
        pass

    server = live_server(create_app(sqlite_broker))
    browser.get(server.url + "/")
    click(browser, 'nav a[href="schedules"]')
    row = 'tr[data-schedule="every_five_minutes"]'
    WebDriverWait(browser, 15).until(lambda b: text_of(b, row + " td.cron") == "*/5 * * * *")
    assert browser.title == "dramatiq — schedules"
    assert text_of(browser, row + " td.last-run") == "–"
    assert text_of(browser, row + " td.next-run") not in (None, "–")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "schedules.png"))


def test_a_waiting_message_cancelled_from_its_queue_page_never_runs(sqlite_broker, live_server, browser):
    ran = []

    @dramatiq.actor(broker=sqlite_broker, queue_name="dash")
    def queued(n):
        ran.append(n)

    doomed, spared = queued.send(1), queued.send(2)
    later = queued.send_with_options(args=(3,), delay=3_600_000)
    server = live_server(create_app(sqlite_broker, refresh=0.1))
    browser.get(server.url + "/queues/dash")
    wait = WebDriverWait(browser, 15)
    waiting_ids = ("return [...document.querySelectorAll('#waiting tbody tr')]"
                   ".map((tr) => tr.dataset.messageId);")
    wait.until(lambda b: b.execute_script(waiting_ids) == [doomed.message_id, spared.message_id, later.message_id])
    assert text_of(browser, 'tr[data-message-id="%s"] td.state' % later.message_id).startswith("delayed until ")
    assert text_of(browser, 'tr[data-message-id="%s"] td.call' % doomed.message_id) == "queued(1)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "queue-waiting.png"))
    click(browser, 'tr[data-message-id="%s"] button.cancel' % doomed.message_id)
    assert answer_confirmation(browser, accept=True) == "Cancel message %s?" % doomed.message_id
    wait.until(lambda b: (text_of(b, "#notice") or "").startswith("cancelled " + doomed.message_id))
    worker = dramatiq.Worker(sqlite_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        wait.until(lambda b: b.execute_script(waiting_ids) == [later.message_id])
    finally:
        worker.stop()
    assert ran == [2]


def test_the_pages_on_redis_and_rabbitmq(server_broker, live_server, browser):
    # The same pages over a real server's broker: counts follow a send, a
    # dead letter requeued from its queue page runs.
    ran = []
    failing = [True]

    @dramatiq.actor(broker=server_broker, queue_name="dash", max_retries=0)
    def flaky(n):
        if failing[0]:
            raise RuntimeError("not yet")
        ran.append(n)

    server = live_server(create_app(server_broker, refresh=0.1))
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 20)
    wait.until(lambda b: ready_count(b, "dash") == "0")
    message = flaky.send(7)
    wait.until(lambda b: ready_count(b, "dash") == "1")
    worker = dramatiq.Worker(server_broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        server_broker.join("dash", timeout=20_000)
        click(browser, 'tr[data-queue="dash"] a')
        wait.until(lambda b: dead_rows(b) == [message.message_id])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / ("queue-%s.png" % type(server_broker).__name__)))
        failing[0] = False
        click(browser, "#dead tbody tr button.requeue")
        answer_confirmation(browser, accept=True)
        wait.until(lambda b: text_of(b, "#notice") == "requeued 1")
        server_broker.join("dash", timeout=20_000)
        wait.until(lambda b: dead_rows(b) == [])
    finally:
        worker.stop()
    assert ran == [7]
