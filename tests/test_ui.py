"""What a user sees in the Prefect UI: the leak flow's pages, opened in headless Chromium.

The leak test (tests/test_leak.py) proves masking on what the server stores. Users look at
the UI, which renders that data its own way (log rows, parameter trees, event JSON). This
runs the same leak flow twice against the session's server, served with its UI: as plain
Prefect (the control) and with prefect-secrets. It then opens, in Debian's `chromium`
driven by selenium, the pages a user opens:
- the flow run's logs;
- the subflow run's parameters;
- the failed task run, with its state message;
- the events page, and the failed task run's event in raw form;
- the Secret block's page.

It asserts that no plaintext is in the rendered text or the page's HTML, and that
`********` shows where the value would have been. The control shows the scan sees a
plaintext when the UI shows one.

Screenshots of every page go to `tests/artifacts/ui/` (or `$PREFECT_SECRETS_UI_SCREENSHOTS`),
which `.ci/run` keeps as CI artifacts. The README shows the two logs pages side by side.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prefect_secrets._core.names import block_name
from tests.support.leak_runs import MASK, LeakRuns, Run, Secrets
from tests.support.servers import PrefectServer

REQUIRE_ENV = "PREFECT_SECRETS_REQUIRE_CHROMIUM"
# Read at import: the autouse `isolated_env` fixture removes PREFECT_SECRETS_* variables.
CHROMIUM_REQUIRED = os.environ.get(REQUIRE_ENV) == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

SCREENSHOTS = Path(
    os.environ.get("PREFECT_SECRETS_UI_SCREENSHOTS") or Path(__file__).parent / "artifacts" / "ui"
)
#: The V2 UI's log list renders only the rows on screen: a tall window shows them all.
WINDOW = (1400, 3200)
RENDER_TIMEOUT = 60.0
#: (UI base, tab) -> the `?tab=` value that opens it in that UI.
TAB_QUERIES: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, driven through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM and CHROMEDRIVER):
        message = (
            "the UI test needs chromium and chromedriver (Debian: apt-get install chromium "
            "chromium-driver; .ci/run installs them)"
        )
        if CHROMIUM_REQUIRED:
            pytest.fail(message + f"; {REQUIRE_ENV}=1")
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(RENDER_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


def available_uis(server: PrefectServer) -> dict[str, str]:
    """{UI version: its base path} of the UIs this server serves: V1 (`/`), and V2
    (`/v2`) on Prefect releases that ship it, where `/` opens it by default."""
    response = httpx.get(f"{server.origin}/ui-settings", timeout=30)
    response.raise_for_status()
    settings = response.json()
    bases = {
        version: (settings.get(f"{version}_base_url") or ("/" if version == "v1" else "/v2"))
        for version in settings.get("available_uis") or ["v1"]
    }
    return {version: base.rstrip("/") for version, base in bases.items()}


def rendered_text(browser: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(browser.find_element(By.TAG_NAME, "body").text)


def wait_for(browser: Any, ready: Callable[[str], bool], what: str) -> str:
    """The page's rendered text once `ready` holds for it (and a moment to settle)."""
    text = settled(browser, ready, RENDER_TIMEOUT)
    if text is None:
        raise AssertionError(f"{browser.current_url}: {what} not rendered in {RENDER_TIMEOUT} s")
    return text


def open_tab(browser: Any, label: str, ready: Callable[[str], bool]) -> str | None:
    """Open the tab labelled `label` and wait until `ready` holds for the page; its text,
    or None when the page has no such tab."""
    from selenium.webdriver.common.by import By

    candidates = browser.find_elements(
        By.XPATH,
        f"//*[@role='tab' or self::button or self::a][normalize-space(.)='{label}']"
        f" | //*[normalize-space(text())='{label}']",
    )
    for element in candidates:
        if not element.is_displayed():
            continue
        element.click()
        text = settled(browser, ready, 10)
        if text is not None:
            return text
    return None


def settled(browser: Any, ready: Callable[[str], bool], seconds: float) -> str | None:
    """The page's rendered text once `ready` holds for it, or None after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready(rendered_text(browser)):
            time.sleep(0.4)  # what renders next to it settles
            return rendered_text(browser)
        time.sleep(0.25)
    return None


def shot(browser: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    browser.save_screenshot(str(path))
    return path


def shot_top(browser: Any, name: str, height: int) -> Path:
    """The top `height` pixels of the page, at 60 % (the README's side-by-side images)."""
    import base64

    picture = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"clip": {"x": 0, "y": 0, "width": WINDOW[0], "height": height, "scale": 0.6}},
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    path.write_bytes(base64.b64decode(picture["data"]))
    return path


def api_get(server: PrefectServer, path: str) -> dict[str, Any]:
    response = httpx.get(f"{server.api_url}/{path}", timeout=30)
    response.raise_for_status()
    return dict(response.json())


def failed_task_event(server: PrefectServer, run: Run) -> dict[str, Any]:
    response = httpx.post(
        f"{server.api_url}/events/filter",
        json={
            "filter": {"any_resource": {"id": [f"prefect.task-run.{run.failed_task_run_id}"]}},
            "limit": 50,
        },
        timeout=30,
    )
    response.raise_for_status()
    events = [e for e in response.json()["events"] if e["event"] == "prefect.task-run.Failed"]
    assert events, "the server has no Failed event for the failed task run"
    return dict(events[0])


#: Every page the UI test opens; the control (plain Prefect) needs only those that show a
#: value unmasked (the events list and the block page show none, with or without us).
PAGES = (
    "flow-run-logs",
    "subflow-parameters",
    "failed-task-run",
    "events",
    "failed-task-event",
    "secret-block",
)
CONTROL_PAGES = ("flow-run-logs", "subflow-parameters", "failed-task-run", "failed-task-event")


def pages_of(
    browser: Any,
    server: PrefectServer,
    base: str,
    run: Run,
    secrets: Secrets,
    label: str,
    pages: tuple[str, ...] = PAGES,
) -> dict[str, str]:
    """{page: its rendered text and HTML} for `pages` of this run, as a user opens them, in
    the UI at `base`; each page's screenshot is saved as `<label>-<page>.png`."""
    seen: dict[str, str] = {}

    def visit(
        page: str,
        path: str,
        ready: Callable[[str], bool],
        tab: tuple[str, Callable[[str], bool]] | None = None,
    ) -> None:
        if page not in pages:
            return
        url = f"{server.origin}{base}/{path}"
        if tab is None:
            browser.get(url)
            text = wait_for(browser, ready, page)
        else:
            # Both UIs keep the open tab in the URL (`?tab=`), spelled as each UI spells
            # it (learnt once per UI and tab); clicking is the fallback.
            name, tab_ready = tab
            text = ""
            known = TAB_QUERIES.get((base, name))
            for query in [known] if known else [name, name.lower()]:
                browser.get(f"{url}?tab={query}")
                text = settled(browser, tab_ready, RENDER_TIMEOUT if known else 8) or ""
                if text:
                    TAB_QUERIES[(base, name)] = query
                    break
            if not text:
                browser.get(url)
                wait_for(browser, ready, page)
                text = open_tab(browser, name, tab_ready) or ""
            if not text:
                shot(browser, f"{label}-{page}-tab-not-open")
            assert text, f"{browser.current_url}: the {name} tab did not open"
        shot(browser, f"{label}-{page}")
        seen[page] = text + "\n" + str(browser.page_source)

    flow_run = api_get(server, f"flow_runs/{run.flow_run_id}")
    subflow_run = api_get(server, f"flow_runs/{run.subflow_run_id}")
    task_run = api_get(server, f"task_runs/{run.failed_task_run_id}")
    block = api_get(
        server, f"block_types/slug/secret/block_documents/name/{block_name(secrets.token_name)}"
    )
    event = failed_task_event(server, run)

    # The flow run opens on its logs; the marker is on every line the flow logged.
    visit(
        "flow-run-logs",
        f"runs/flow-run/{run.flow_run_id}",
        lambda body: flow_run["name"] in body and body.count("[marker-") >= 4,
    )
    shot_top(browser, f"{label}-flow-run-logs-top", 1600)
    visit(
        "subflow-parameters",
        f"runs/flow-run/{run.subflow_run_id}",
        lambda body: subflow_run["name"] in body,
        tab=("Parameters", lambda body: "marker" in body),
    )
    visit(
        "failed-task-run",
        f"runs/task-run/{run.failed_task_run_id}",
        lambda body: task_run["name"] in body and "auth failed" in body,
    )
    visit("events", "events", lambda body: "Failed" in body or "failed" in body)
    visit(
        "failed-task-event",
        f"events/event/{event['occurred'][:10]}/{event['id']}",
        lambda body: task_run["name"] in body,
        tab=("Raw", lambda body: "prefect.state-message" in body),
    )
    visit("secret-block", f"blocks/block/{block['id']}", lambda body: block["name"] in body)
    return seen


def test_the_ui_shows_masks_where_plain_prefect_shows_the_values(
    prefect_server: PrefectServer, leak_runs: LeakRuns, browser: Any
) -> None:
    assert prefect_server.ui, "the session's server must serve its UI for this test"
    plain, plain_run = leak_runs.plain_secrets, leak_runs.plain
    secrets, run = leak_runs.secrets, leak_runs.run

    uis = available_uis(prefect_server)
    for version, base in uis.items():
        plain_pages = pages_of(
            browser, prefect_server, base, plain_run, plain, f"{version}-plain", CONTROL_PAGES
        )
        pages = pages_of(browser, prefect_server, base, run, secrets, f"{version}-prefect-secrets")

        # The control: plain Prefect's pages show its values, so this scan sees a leak in
        # the UI when there is one.
        assert plain.token in plain_pages["flow-run-logs"], version
        assert plain.token in plain_pages["subflow-parameters"], version
        assert plain.token in plain_pages["failed-task-run"], version
        assert plain.token in plain_pages["failed-task-event"], version
        # With the library, no page holds a plaintext, and masks show where values were.
        leaked = {
            page: sum(text in content for text in secrets.plaintexts)
            for page, content in pages.items()
        }
        assert {page: n for page, n in leaked.items() if n} == {}, version
        for page in (
            "flow-run-logs",
            "subflow-parameters",
            "failed-task-run",
            "failed-task-event",
            "secret-block",
        ):
            assert MASK in pages[page], f"{version}: no {MASK} on the {page} page"
