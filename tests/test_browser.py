"""The built book as readers see it, driven in a real browser (Debian's Chromium + Playwright).

Skipped, with the command to run, where Chromium is missing; `.ci/run` installs it.
Screenshots of every page at a desktop and a phone width go to _build/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import socketserver
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import ASSIGNMENTS, ROOT, secret_lines

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip(
        "Debian's Chromium is not installed: run `apt-get install -y chromium` "
        "(CI's .ci/run does) to run the browser tests",
        allow_module_level=True,
    )
playwright = pytest.importorskip("playwright.sync_api")

SCREENSHOTS = ROOT / "_build" / "screenshots"
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def toc_pages() -> list[str]:
    toc = (ROOT / "_toc.yml").read_text()
    return [f"{doc}.html" for doc in re.findall(r"(?:root|file):\s*(\S+)", toc)]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(built_site):
    httpd = socketserver.ThreadingTCPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(built_site))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Visit:
    """One page load with every console message and request recorded."""

    def __init__(self, browser, server, path, viewport="desktop"):
        self.page = browser.new_page(viewport=VIEWPORTS[viewport])
        self.errors, self.requests, self.failures = [], [], []
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"{m.type}: {m.text} ({m.location.get('url')})")
                if m.type == "error"
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("requestfailed", lambda r: self.failures.append(f"{r.url}: {r.failure}"))
        self.page.on(
            "response",
            lambda r: (
                self.failures.append(f"{r.url}: HTTP {r.status}") if r.status >= 400 else None
            ),
        )
        self.server = server
        self.page.goto(f"{server}/{path}", wait_until="networkidle")

    def external(self):
        host = urlparse(self.server).netloc
        return [
            u
            for u in self.requests
            if urlparse(u).scheme not in ("blob", "data") and urlparse(u).netloc != host
        ]


@pytest.mark.parametrize("path", toc_pages())
def test_page_loads_offline_without_errors(browser, server, path):
    visit = Visit(browser, server, path)
    visit.page.wait_for_timeout(500)
    assert not visit.external(), f"{path} requests outside the book: {visit.external()}"
    assert not visit.failures, f"{path}: failed requests {visit.failures}"
    assert not visit.errors, f"{path}: console errors {visit.errors}"
    for name in VIEWPORTS:
        shot = Visit(browser, server, path, viewport=name) if name != "desktop" else visit
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot.page.screenshot(
            path=str(SCREENSHOTS / f"{Path(path).stem}-{name}.png"), full_page=True
        )
        shot.page.close()


VISIBLE_TEXT = """() => {
  const main = document.querySelector('main') || document.body;
  const copy = main.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, mjx-container, .MathJax').forEach(e => e.remove());
  return copy.textContent;
}"""


@pytest.mark.parametrize("path", toc_pages())
def test_math_is_rendered_by_mathjax(browser, server, path):
    visit = Visit(browser, server, path)
    page = visit.page
    has_math = page.locator(".math").count() > 0
    if has_math:
        page.wait_for_selector("mjx-container", state="attached", timeout=15000)
        assert page.locator("mjx-container").count() >= page.locator("div.math").count()
    text = page.evaluate(VISIBLE_TEXT)
    assert "$$" not in text and "\\begin" not in text and "\\frac" not in text, (
        f"raw TeX left in {path}"
    )
    page.close()


# Every MathJax formula in the text column either fits inside the column (and inside the
# admonition it sits in, if any) or sits in a box that scrolls sideways and itself ends inside
# the column. A formula cut off by an `overflow: hidden` box, or running past the edge of the
# page, fails. MathJax 3 (CHTML) cannot break a formula across lines, so on a phone a long
# formula must scroll (book/_static/course.css).
CLIPPED_MATH = """() => {
  const slack = 1;   // px of rounding
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const clipped = [];
  let checked = 0;
  for (const m of document.querySelectorAll('article mjx-container')) {
    if (m.parentElement.closest('mjx-container')) continue;
    const r = m.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;               // not displayed
    checked += 1;
    const column = m.closest('article');
    const boxes = [column, m.closest('.admonition')].filter(Boolean);
    const right = Math.min(...boxes.map(e => e.getBoundingClientRect().right));
    let ok = r.right <= right + slack;
    for (let e = m; !ok && e && e !== column; e = e.parentElement) {
      ok = scrolls(e) && e.getBoundingClientRect().right <= right + slack;
    }
    if (!ok) {
      const kind = m.getAttribute('display') === 'true' ? 'display' : 'inline';
      const text = (m.querySelector('mjx-assistive-mml') || m).textContent.slice(0, 40);
      clipped.push(`${kind} math "${text}" ends at ${Math.round(r.right)} px, its column at ${Math.round(right)} px`);
    }
  }
  return {checked, clipped};
}"""


def wait_for_mathjax(page) -> None:
    """Wait until MathJax has typeset every formula in the article."""
    if page.locator(".math").count():
        page.wait_for_selector("mjx-container", state="attached", timeout=15000)
        page.wait_for_function(
            "() => document.querySelectorAll('article mjx-container').length"
            " >= document.querySelectorAll('article .math').length",
            timeout=15000,
        )


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("path", toc_pages())
def test_no_formula_is_cut_off_at_the_right_edge(browser, server, path, viewport):
    page = Visit(browser, server, path, viewport=viewport).page
    wait_for_mathjax(page)
    result = page.evaluate(CLIPPED_MATH)
    assert page.locator("article .math").count() == 0 or result["checked"] > 0
    assert not result["clipped"], (
        f"{path} at {VIEWPORTS[viewport]['width']} px: {result['clipped']}"
    )
    page.close()


# An inline formula as narrow as its column shows no scrollbar of its own (issue 18): only one
# really wider than its column may scroll. A box has a horizontal scrollbar when it may scroll
# sideways (overflow-x auto or scroll) and its content is wider than it (scrollWidth >
# clientWidth); where scrollbars are classic (Windows, most Linux desktops) the bar then sits under
# the formula and pushes the lines apart, even when the content is too wide by a fraction of a
# pixel. MathJax's screen-reader copy of each formula (mjx-assistive-mml) used to widen nearly
# every inline formula this way (book/_static/course.css). A formula "fits" when its rendering
# (mjx-math, which never shrinks) is no wider than the content box of the block it sits in.
SPURIOUS_SCROLLBARS = """() => {
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const found = [];
  let fitting = 0;
  for (const m of document.querySelectorAll('article mjx-container:not([display="true"])')) {
    if (m.parentElement.closest('mjx-container')) continue;
    const r = m.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;               // not displayed
    let block = m.parentElement;
    while (/^(inline|contents)/.test(getComputedStyle(block).display)) block = block.parentElement;
    const style = getComputedStyle(block);
    const column = block.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    const width = (m.querySelector('mjx-math') || m).getBoundingClientRect().width;
    if (width > column) continue;                                 // really wider: it may scroll
    fitting += 1;
    for (let e = m; e && e !== block; e = e.parentElement) {
      if (scrolls(e) && e.scrollWidth > e.clientWidth) {
        const text = (m.querySelector('mjx-assistive-mml') || m).textContent.slice(0, 40);
        found.push(`"${text}" (${width.toFixed(1)} px wide, column ${Math.round(column)} px): `
                   + `its <${e.tagName.toLowerCase()}> scrolls ${e.scrollWidth} px in ${e.clientWidth} px`);
        break;
      }
    }
  }
  return {fitting, found};
}"""


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("path", toc_pages())
def test_no_inline_formula_that_fits_shows_a_scrollbar(browser, server, path, viewport):
    page = Visit(browser, server, path, viewport=viewport).page
    wait_for_mathjax(page)
    result = page.evaluate(SPURIOUS_SCROLLBARS)
    inline = page.locator("article span.math").count()
    assert inline == 0 or result["fitting"] > 0, f"{path}: no inline formula was measured"
    assert not result["found"], (
        f"{path} at {VIEWPORTS[viewport]['width']} px: {len(result['found'])} of "
        f"{result['fitting']} inline formulas that fit their column show a scrollbar: "
        + "; ".join(result["found"][:10])
    )
    page.close()


def test_the_course_stylesheet_is_loaded(browser, server):
    page = Visit(browser, server, "book/02-elman.html").page
    assert page.locator("link[href*='_static/course.css']").count() == 1
    page.close()


def test_chapters_show_goals_time_and_prev_next(browser, server):
    for assignment in ASSIGNMENTS:
        page = Visit(browser, server, f"book/{assignment}.html").page
        body = page.inner_text("main")
        assert "Learning goals" in body and "Estimated time" in body
        assert page.locator(".prev-next-area a").count() >= 1
        assert page.locator("a.left-prev").count() + page.locator("a.right-next").count() == 2
        page.close()


def test_every_widget_renders_and_its_slider_changes_the_figure(browser, server):
    page = Visit(browser, server, "book/02-elman.html").page
    page.wait_for_selector(".widget-slider .noUi-handle", timeout=15000)
    sliders = page.locator(".widget-slider")
    assert sliders.count() >= 1
    assert page.locator(".jupyter-widgets").count() >= 3
    shown = """() => Array.from(document.querySelectorAll('.widget-image'))
                 .filter(e => e.offsetParent !== null).map(e => e.src)"""
    for i in range(sliders.count()):
        before = page.evaluate(shown)
        assert len(before) == 1, "exactly one frame is visible"
        sliders.nth(i).locator(".noUi-handle").focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(300)
        after = page.evaluate(shown)
        assert len(after) == 1 and after != before, "moving the slider must change the figure"
    page.close()


def test_every_figure_has_alt_text(browser, server):
    for path in toc_pages():
        page = Visit(browser, server, path).page
        missing = page.evaluate("""() => Array.from(document.querySelectorAll('main img'))
            .filter(i => !(i.getAttribute('alt') || '').trim() && !i.closest('.jupyter-widgets'))
            .map(i => i.src.slice(0, 80))""")
        assert not missing, f"{path}: images without alt text {missing}"
        page.close()


def test_exercise_download_links_serve_nbgrader_notebooks(browser, server):
    for assignment, name in ASSIGNMENTS.items():
        page = Visit(browser, server, f"book/{assignment}.html").page
        links = page.locator(f"a[href$='{name}.ipynb']")
        assert links.count() >= 1, f"{assignment}: no download link"
        for i in range(links.count()):
            href = links.nth(i).get_attribute("href")
            response = page.request.get(f"{server}/book/{href}")
            assert response.ok, href
            nb = json.loads(response.text())
            assert any("nbgrader" in c.get("metadata", {}) for c in nb["cells"])
        page.close()


def test_search_finds_a_chapter_two_term(browser, server):
    page = Visit(browser, server, "search.html?q=unrolling").page
    page.wait_for_function("() => /Search finished/.test(document.body.innerText)", timeout=15000)
    results = page.locator("#search-results li a")
    assert any("Elman" in results.nth(i).inner_text() for i in range(results.count()))
    page.close()


def test_no_page_shows_solution_code_or_hidden_tests(browser, server):
    secrets = [line for a in ASSIGNMENTS for line in secret_lines(a)]
    for path in toc_pages():
        page = Visit(browser, server, path).page
        text = page.inner_text("body")
        leaked = [line for line in secrets if line in text]
        assert not leaked, f"{path} shows {leaked}"
        page.close()


def test_header_button_downloads_the_exercise_not_the_markdown(browser, server):
    for assignment, name in ASSIGNMENTS.items():
        page = Visit(browser, server, f"book/{assignment}.html").page
        hrefs = page.evaluate(
            "() => Array.from(document.querySelectorAll('.article-header-buttons a'))"
            ".map(a => a.getAttribute('href'))"
        )
        assert any(h and h.endswith(f"/{name}.ipynb") for h in hrefs), hrefs
        assert not page.locator("a[href*='_sources/']").count(), "a link offers the Markdown source"
        page.close()


def test_exercise_sections_say_numpy_only(browser, server):
    """The graded functions of chapters 1-2 are NumPy-only (graded code that uses torch scores 0)."""
    for assignment in [a for a in ASSIGNMENTS if a.startswith(("01-", "02-"))]:
        page = Visit(browser, server, f"book/{assignment}.html").page
        section = page.locator("section#exercises")
        assert section.count() == 1, f"{assignment}: no Exercises section"
        text = " ".join(section.inner_text().split())
        assert "NumPy only" in text, f"{assignment}: the Exercises section must say NumPy only"
        assert not re.search(r"NumPy \(or PyTorch\)|or PyTorch\)|PyTorch is allowed", text), (
            f"{assignment}: the Exercises section allows PyTorch in graded code"
        )
        page.close()
