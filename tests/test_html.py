"""The static HTML leaderboard: self-contained, small, sortable and filterable in a real browser."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from _report_fixture import SCHEMES, fill_store, one_row_store
from harness.html import find_chromium, render_html
from harness.leaderboard import leaderboard
from harness.report import write_report
from harness.store import Store


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("html")
    fill_store(root / "run").close()
    fill_store(root / "run", task="traffic", schemes={k: SCHEMES[k] for k in ("none", "null_embedding")}).close()
    paths = write_report(root / "run", root / "out", html=True)
    assert paths[-1] == root / "out" / "index.html"
    return paths[-1]


def _order(dom: str) -> list[str]:
    body = dom.split('id="leaderboard"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr data-row="([^"]+)" data-task="([^"]+)"', body)


def _expected(page: Path, column: str, descending: bool) -> list[tuple[str, str]]:
    """The order the data say: leaderboard means of the attack-free rows, ties kept in page order."""
    board = leaderboard(Store(page.parent.parent / "run").results())
    board = board[board["attack"] == "none"]
    value = {(r["scheme"], r["task"]): r[column] for _, r in board.iterrows()}
    start = _order(page.read_text())
    return sorted(start, key=lambda k: -value[k] if descending else value[k])


def test_page_is_self_contained_and_small(page):
    text = page.read_text()
    assert page.stat().st_size < 5_000_000
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text, re.I)
    assert "@import" not in text and "url(http" not in text
    assert text.count("data:image/png;base64,") == 10  # 5 plots per task, two tasks
    for needle in ("Compare with the paper", "98.72 → 19.02", "code version: test-0001", "✓ robust", "⚠ forged",
                   'id="filter-task"', 'id="filter-profile"', 'data-key="nc_acc_after@piracy/paper"'):
        assert needle in text
    # default order: task, then none first, then the other schemes alphabetically
    assert re.search(r"<details class=note><summary>Runs in this store \(\d+: ", text)  # provenance, collapsed
    assert _order(text)[:4] == [("none", "digit"), ("adi", "digit"), ("null_embedding", "digit"), ("uchida", "digit")]


def test_render_html_alone_without_curves(tmp_path):
    store = one_row_store(tmp_path / "run", "bench run x")
    out = render_html(store, tmp_path / "out")
    text = out.read_text()
    assert out == tmp_path / "out" / "index.html" and "No curves in this store." in text
    assert _order(text) == [("none", "digit")] and "<code>bench run x</code>" in text
    assert "– unverified" not in text.split('id="leaderboard"')[1].split("</table>")[0]  # no attack columns
    assert "No row of this store matches a published row." in text


browser = pytest.mark.skipif(not Path("/usr/bin/chromium").exists() and find_chromium() is None,
                             reason="chromium not installed")


@pytest.mark.browser
@browser
def test_fragment_sort_and_filter_in_chromium(page):
    from harness.html import dump_dom

    dom = dump_dom(page, "sort=nc_acc_before:desc")
    assert 'data-sort="nc_acc_before:desc"' in dom
    assert _order(dom) == _expected(page, "nc_acc_before", descending=True) != _order(page.read_text())
    dom = dump_dom(page, "task=traffic&sort=wm_acc:asc")
    rows = re.findall(r'<tr data-row="[^"]+" data-task="(\w+)" data-profile="\w+"( style="display: none;")?', dom)
    assert {t for t, hidden in rows if not hidden} == {"traffic"} and any(hidden for _, hidden in rows)


@pytest.mark.browser
@browser
def test_header_click_sorts_in_chromium(page):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from harness.html import CHROMIUM_FLAGS

    driver_path = shutil.which("chromedriver")
    if driver_path is None:
        pytest.skip("chromedriver not installed (Debian: chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = find_chromium()
    for flag in CHROMIUM_FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={page.parent.parent / 'chrome-profile'}")
    driver = webdriver.Chrome(options=opts, service=Service(driver_path))
    try:
        driver.get(page.resolve().as_uri())
        rows = lambda: [(r.get_attribute("data-row"), r.get_attribute("data-task"))  # noqa: E731
                        for r in driver.find_elements(By.CSS_SELECTOR, "#leaderboard tbody tr")]
        before = rows()
        header = driver.find_element(By.CSS_SELECTOR, '#leaderboard th[data-key="nc_acc_before"]')
        header.click()
        assert rows() == _expected(page, "nc_acc_before", descending=False) != before
        assert header.get_attribute("aria-sort") == "ascending"
        header.click()
        assert rows() == _expected(page, "nc_acc_before", descending=True)
        driver.find_element(By.CSS_SELECTOR, '#leaderboard th[data-key="scheme"]').click()
        assert [s for s, _ in rows()] == sorted(s for s, _ in before)
    finally:
        driver.quit()
