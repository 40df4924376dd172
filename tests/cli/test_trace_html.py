"""The HTML view of a trace (``netsim.cli.trace_html``): the page on its own (one file, nothing
fetched, the data embedded safely, every event in it), then the page in a real headless browser
(selenium driving Debian's chromium and chromedriver): no console errors, the pages drawn as
bars, and Next / the timeline / the slider / the keys / the decisions-only filter change the
event shown and the state drawn.  The browser tests skip, saying why, where selenium, chromium
or chromedriver is missing; ``.ci/run`` installs them."""

from __future__ import annotations

import html
import html.parser
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from netsim.cli.trace_html import render_html, write_html

if TYPE_CHECKING:
    from selenium.webdriver import Chrome as WebDriver

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# -- a hand-written trace, following the schema ------------------------------------------------
#
# tcp, page_frag_cache: write 1 takes a page and puts 100 B in skb1's frag 0; write 2 merges
# 100 B more into it; the skb is cloned and transmitted; an empty read; the ACK frees both.

PFN = 0x1000
BIAS_FULL = 32769
QUEUE = "tcp :40000->:5000 sk_write_queue[0]"
RTX = "tcp :40000->:5000 tcp_rtx_queue[0]"
CACHE = "task main#1 task_frag"


def _page(
    *, refcount: int, holders: int, bias: int | None, offset: int | None, ranges: list[Any]
) -> dict[str, object]:
    cursors = (
        []
        if offset is None
        else [
            {
                "name": CACHE,
                "allocator": "page_frag_cache",
                "offset": offset,
                "bias": bias,
                "size": None,
            }
        ]
    )
    return {
        "pfn": PFN,
        "order": 3,
        "size": 32768,
        "refcount": refcount,
        "holders": holders,
        "allocator_share": bias,
        "share": None if bias is None else "bias",
        "owner": "page_frag_cache",
        "ranges": ranges,
        "cursors": cursors,
    }


def _range(skb: str, end: int, queue: str = QUEUE) -> dict[str, object]:
    return {"start": 0, "end": end, "skb": skb, "frag": 0, "queue": queue}


def _skb(label: str, length: int, *, queue: str = QUEUE, cloned: bool = False) -> dict[str, object]:
    frags = [{"pfn": PFN, "offset": 0, "len": length}] if length else []
    return {
        "label": label,
        "queue": queue,
        "len": length,
        "data_len": length,
        "headlen": 0,
        "truesize": 1160,
        "headroom": 320,
        "data": 0,
        "tailroom": 64,
        "end": 384,
        "cloned": cloned,
        "nr_frags": len(frags),
        "frags": frags,
    }


def _frame(pages: list[dict[str, object]], skbs: list[dict[str, object]]) -> dict[str, object]:
    return {"pages": pages, "skbs": skbs}


def _event(
    seq: int, kind: str, where: str, reason: str, step: int, **fields: int | str
) -> dict[str, object]:
    return {
        "seq": seq,
        "time": seq / 1000,
        "kind": kind,
        "where": where,
        "reason": reason,
        "fields": fields,
        "step": step,
    }


def sample_trace() -> dict[str, Any]:
    """14 events in 4 steps (one without events), 15 frames."""
    empty_skb1 = _skb("skb1", 0)
    fresh = _page(refcount=1, holders=0, bias=None, offset=None, ranges=[])
    prepaid = _page(refcount=BIAS_FULL, holders=0, bias=BIAS_FULL, offset=0, ranges=[])
    committed = _page(refcount=BIAS_FULL, holders=0, bias=BIAS_FULL - 1, offset=100, ranges=[])
    r100, r200 = [_range("skb1", 100)], [_range("skb1", 200)]
    frag100 = _page(refcount=BIAS_FULL, holders=1, bias=BIAS_FULL - 1, offset=100, ranges=r100)
    frag200 = _page(refcount=BIAS_FULL, holders=1, bias=BIAS_FULL - 1, offset=200, ranges=r200)
    both = [_range("skb1", 200), _range("skb2", 200, RTX)]
    cloned = _page(refcount=BIAS_FULL, holders=1, bias=BIAS_FULL - 1, offset=200, ranges=both)
    dropping = _page(refcount=BIAS_FULL, holders=0, bias=BIAS_FULL - 1, offset=200, ranges=[])
    freed = _page(refcount=BIAS_FULL - 1, holders=0, bias=BIAS_FULL - 1, offset=200, ranges=[])
    skb1_100, skb1_200 = _skb("skb1", 100), _skb("skb1", 200)
    skb1_c = _skb("skb1", 200, cloned=True)
    skb2 = _skb("skb2", 200, queue=RTX, cloned=True)
    sendmsg, nocache = "tcp_sendmsg_locked", "skb_add_frag_nocache"
    events = [
        _event(1, "new_skb", sendmsg, "the write queue is empty", 0, size_goal=32741),
        _event(2, "skb_alloc", "tcp_stream_alloc_skb", "", 0, skb="skb1"),
        _event(3, "page_alloc", "__alloc_pages", "", 0, pfn=PFN, order=3),
        _event(4, "page_ref_add", "page_ref_add", "", 0, pfn=PFN, ref=BIAS_FULL),
        _event(5, "refill", "page_frag_refill_prepare", "the cache is empty", 0, pfn=PFN),
        _event(6, "commit", "page_frag_refill_commit", "", 0, pfn=PFN, offset=0, len=100),
        _event(7, "new_frag", nocache, "no frag to merge into", 0, skb="skb1", pfn=PFN, len=100),
        _event(8, "commit_noref", "page_frag_refill_commit_noref", "", 1, pfn=PFN, len=100),
        _event(9, "coalesce", nocache, "contiguous in the same page", 1, skb="skb1", pfn=PFN),
        _event(10, "skb_clone", "tcp_transmit_skb", "", 1, skb="skb2", clone_of="skb1"),
        _event(11, "transmit", "tcp_write_xmit", "Nagle: nothing in flight", 1, skb="skb1"),
        _event(12, "skb_free", "tcp_clean_rtx_queue", "acknowledged", 3, skb="skb2"),
        _event(13, "skb_free", "tcp_clean_rtx_queue", "acknowledged", 3, skb="skb1"),
        _event(14, "put_page", "put_page", "", 3, pfn=PFN, ref=BIAS_FULL - 1),
    ]
    frames = [
        _frame([], []),
        _frame([], []),  # 1 new_skb
        _frame([], [empty_skb1]),  # 2 skb_alloc
        _frame([fresh], [empty_skb1]),  # 3 page_alloc
        _frame([prepaid], [empty_skb1]),  # 4 page_ref_add
        _frame([prepaid], [empty_skb1]),  # 5 refill
        _frame([committed], [empty_skb1]),  # 6 commit
        _frame([frag100], [skb1_100]),  # 7 new_frag
        _frame([frag100], [skb1_100]),  # 8 commit_noref
        _frame([frag200], [skb1_200]),  # 9 coalesce
        _frame([cloned], [skb1_c, skb2]),  # 10 skb_clone
        _frame([cloned], [skb1_c, skb2]),  # 11 transmit
        _frame([frag200], [skb1_200]),  # 12 skb_free skb2
        _frame([dropping], []),  # 13 skb_free skb1 (its frag's reference goes with 14)
        _frame([freed], []),  # 14 put_page
    ]
    return {
        "version": 1,
        "title": "netsim trace tcp --writes 100,100 --allocator page_frag_cache",
        "scenario": {
            "proto": "tcp",
            "family": 4,
            "allocator": "page_frag_cache",
            "writes": [100, 100],
            "more": False,
            "cork": True,
            "nodelay": False,
            "max_skb_frags": 17,
            "read": True,
        },
        "steps": [
            {"label": "write 1: send(100 B)", "first": 1, "last": 7},
            {"label": "write 2: send(100 B)", "first": 8, "last": 11},
            {"label": "read: recv() finds nothing", "first": 12, "last": 11},
            {"label": "ACK arrives", "first": 12, "last": 14},
        ],
        "events": events,
        "frames": frames,
    }


#: the decision events of sample_trace(), by seq
SAMPLE_DECISIONS = [1, 5, 7, 9, 10, 11, 12, 13]


def one_frame_trace() -> dict[str, Any]:
    """No events: one frame, with a page and an skb."""
    data = sample_trace()
    data["steps"], data["events"], data["frames"] = [], [], [data["frames"][9]]
    return data


def long_trace(n: int = 3000) -> dict[str, Any]:
    """``n`` events over 30 steps, alternating coalesce / put_page, on the sample's frames."""
    base = sample_trace()["frames"]
    events = [
        _event(
            seq,
            "coalesce" if seq % 2 else "put_page",
            "skb_add_frag_nocache",
            "contiguous",
            (seq - 1) * 30 // n,
            pfn=PFN,
            skb="skb1",
        )
        for seq in range(1, n + 1)
    ]
    per = n // 30
    steps = [
        {"label": f"write {i + 1}", "first": i * per + 1, "last": (i + 1) * per} for i in range(30)
    ]
    frames = [base[7 + seq % 5] for seq in range(n + 1)]
    return {
        "version": 1,
        "title": "long",
        "scenario": {},
        "steps": steps,
        "events": events,
        "frames": frames,
    }


# -- the page, without a browser ----------------------------------------------------------------


class _Scripts(html.parser.HTMLParser):
    """The ``<script>`` elements of a page: ``(attributes, text)``."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def _embedded(page: str) -> tuple[object, _Scripts]:
    parser = _Scripts()
    parser.feed(page)
    parser.close()
    data = [text for attrs, text in parser.scripts if attrs.get("id") == "trace-data"]
    assert len(data) == 1
    return json.loads(data[0]), parser


def test_page_is_one_file_that_fetches_nothing() -> None:
    page = render_html(sample_trace())
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page
    assert "https://" not in page
    assert re.search(r"""\b(?:src|href)\s*=""", page) is None
    assert "@import" not in page
    assert "url(" not in page
    _, parser = _embedded(page)
    assert "link" not in parser.tags
    assert "iframe" not in parser.tags
    assert [attrs.get("type") for attrs, _ in parser.scripts] == [
        "application/json",
        "application/json",
        None,  # the viewer, inline
    ]
    for element_id in ('id="pages"', 'id="current"', 'id="prev"', 'id="next"', 'id="slider"'):
        assert element_id in page
    assert "<svg" in page
    assert "<style>" in page


def test_page_embeds_every_event_and_frame() -> None:
    data = sample_trace()
    embedded, _ = _embedded(render_html(data))
    assert embedded == data
    assert isinstance(embedded, dict)
    assert [e["seq"] for e in embedded["events"]] == list(range(1, 15))


def test_page_shows_title_and_scenario_escaped() -> None:
    data = sample_trace()
    data["title"] = "netsim trace <b>tcp</b> & more"
    page = render_html(data)
    assert "<title>netsim trace &lt;b&gt;tcp&lt;/b&gt; &amp; more</title>" in page
    assert "<b>tcp</b>" not in page
    assert "<dt>allocator</dt><dd>page_frag_cache</dd>" in page
    assert "<dt>writes</dt><dd>100, 100</dd>" in page


@pytest.mark.parametrize(
    "nasty",
    [
        "a reason with </script><script>alert(1)</script> in it",
        "</SCRIPT >",
        "<!-- <script> -->",
        "@DATA@ @SCRIPT@ & \u2028 \u2029",
    ],
)
def test_data_cannot_close_its_script_element(nasty: str) -> None:
    data = sample_trace()
    data["events"][8]["reason"] = nasty
    data["frames"][9]["skbs"][0]["queue"] = nasty
    data["title"] = nasty
    page = render_html(data)
    assert page.lower().count("</script>") == 3
    assert f"<title>{html.escape(nasty)}</title>" in page
    embedded, parser = _embedded(page)
    assert embedded == data
    assert len(parser.scripts) == 3


def test_page_of_one_frame_and_no_events() -> None:
    data = one_frame_trace()
    embedded, _ = _embedded(render_html(data))
    assert embedded == data


def test_bad_data_is_refused() -> None:
    data = sample_trace()
    with pytest.raises(ValueError, match="version"):
        render_html({**data, "version": 2})
    with pytest.raises(ValueError, match="14 frames for 14 events"):
        render_html({**data, "frames": data["frames"][:-1]})
    with pytest.raises(ValueError, match="'events' list"):
        render_html({"version": 1, "frames": [{}]})


def test_write_html(tmp_path: Path) -> None:
    data = sample_trace()
    write_html(data, tmp_path / "t.html")
    write_html(data, str(tmp_path / "s.html"))
    assert (tmp_path / "t.html").read_text(encoding="utf-8") == render_html(data)
    assert (tmp_path / "s.html").read_text(encoding="utf-8") == render_html(data)


def _real_trace(tmp_path: Path) -> dict[str, Any]:
    """``netsim trace tcp --writes 100,100,40000 --json``, or a skip until that command exists."""
    pytest.importorskip(
        "netsim.cli.trace", reason="netsim.cli.trace (the `netsim trace` command) is not there yet"
    )
    from netsim.cli import main

    path = tmp_path / "trace.json"
    assert main(["trace", "tcp", "--writes", "100,100,40000", "--json", str(path)]) == 0
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_page_of_a_real_trace(tmp_path: Path) -> None:
    data = _real_trace(tmp_path)
    page = render_html(data)
    embedded, _ = _embedded(page)
    assert embedded == data
    assert len(data["events"]) > 0
    assert len(data["frames"]) == len(data["events"]) + 1


# -- the page in a headless browser ---------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """One headless chromium for the module's browser tests."""
    pytest.importorskip("selenium", reason="selenium is not installed (pip install selenium)")
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    if shutil.which(CHROMEDRIVER) is None:
        pytest.skip(f"{CHROMEDRIVER} is absent (apt-get install chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1000")
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver: WebDriver, tmp_path: Path, data: dict[str, Any]) -> None:
    path = tmp_path / "trace.html"
    write_html(data, path)
    _console(driver)  # drop what an earlier test left
    driver.get(path.as_uri())
    _no_console_errors(driver)


def _console(driver: WebDriver) -> list[dict[str, Any]]:
    """The browser's console messages since the last call (``goog:loggingPrefs``)."""
    entries: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return entries


def _no_console_errors(driver: WebDriver) -> None:
    severe = [entry for entry in _console(driver) if entry["level"] == "SEVERE"]
    assert severe == []


def _seq(driver: WebDriver) -> int:
    return int(driver.find_element("id", "current").get_attribute("data-seq") or "-1")


def _count(driver: WebDriver, css: str) -> int:
    return len(driver.find_elements("css selector", css))


def _ref_text(driver: WebDriver) -> str:
    return str(driver.find_element("css selector", "#pages text.ref").text)


def _click(driver: WebDriver, element_id: str) -> None:
    driver.find_element("id", element_id).click()


def test_browser_steps_through_the_sample(browser: WebDriver, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    _open(browser, tmp_path, sample_trace())
    assert browser.title.startswith("netsim trace tcp")
    # frame 0: nothing yet
    assert _seq(browser) == 0
    assert _count(browser, "#pages rect.page") == 0
    assert browser.find_element("id", "prev").get_attribute("disabled") is not None
    # every event in the timeline, under its step's header (the empty step included)
    assert _count(browser, "#timeline li.ev") == 14
    headers = browser.find_elements("css selector", "#timeline li.step .label")
    assert [h.text for h in headers] == [
        "write 1: send(100 B)",
        "write 2: send(100 B)",
        "read: recv() finds nothing",
        "ACK arrives",
    ]
    # Next, Next, Next: the page_alloc of event 3 draws one page bar
    for expected in (1, 2, 3):
        _click(browser, "next")
        assert _seq(browser) == expected
    assert "page_alloc" in browser.find_element("id", "current").text
    assert _count(browser, "#pages rect.page") == 1
    assert browser.find_element("css selector", "#pages rect.page").get_attribute("data-pfn") == (
        str(PFN)
    )
    assert _ref_text(browser) == "ref 1 = 0 holders + 1 other"
    # the arrow keys: on to 6 (commit), where the cursor has moved but no frag holds the bytes
    body = browser.find_element("tag name", "body")
    ActionChains(browser).move_to_element(body).send_keys(Keys.ARROW_RIGHT * 3).perform()
    assert _seq(browser) == 6
    assert _count(browser, "#pages rect.range") == 0
    assert _ref_text(browser) == "ref 32769 = 0 holders + bias 32768 + 1 other"
    assert "offset 100, bias 32768" in browser.find_element("css selector", "#pages").text
    # Next: new_frag puts skb1's frag 0 over [0, 100) and the reference moves to a holder
    _click(browser, "next")
    assert _seq(browser) == 7
    ranges = browser.find_elements("css selector", "#pages rect.range")
    assert [(r.get_attribute("data-skb"), r.get_attribute("data-end")) for r in ranges] == [
        ("skb1", "100")
    ]
    assert _ref_text(browser) == "ref 32769 = 1 holder + bias 32768"
    assert "no frag to merge into" in browser.find_element("id", "current").text
    skb = browser.find_element("css selector", "#skbs .skb.hit")
    assert skb.get_attribute("data-label") == "skb1"
    assert "len 100" in skb.text
    assert "[0, 100)" in skb.text
    # clicking an event in the timeline: the clone shares skb1's range, on a lane of its own
    browser.find_element("css selector", '#timeline li[data-seq="10"]').click()
    assert _seq(browser) == 10
    assert "current" in (
        browser.find_element("css selector", '#timeline li[data-seq="10"]').get_attribute("class")
        or ""
    )
    assert _count(browser, "#timeline li.current") == 1
    ranges = browser.find_elements("css selector", "#pages rect.range")
    assert sorted((r.get_attribute("data-skb"), r.get_attribute("data-end")) for r in ranges) == [
        ("skb1", "200"),
        ("skb2", "200"),
    ]
    assert _count(browser, "#skbs .skb") == 2
    assert "skb2" in browser.find_element("id", "legend").text
    # Prev goes back one
    _click(browser, "prev")
    assert _seq(browser) == 9
    _no_console_errors(browser)


def test_browser_slider_and_decisions_only(browser: WebDriver, tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    _open(browser, tmp_path, sample_trace())
    slider = browser.find_element("id", "slider")
    assert slider.get_attribute("max") == "14"
    slider.send_keys(Keys.END)  # the slider's own keys, as a user drives it
    assert _seq(browser) == 14
    assert _count(browser, "#pages rect.range") == 0
    assert _ref_text(browser) == "ref 32768 = 0 holders + bias 32768"
    assert browser.find_element("id", "next").get_attribute("disabled") is not None
    slider.send_keys(Keys.HOME)
    assert _seq(browser) == 0
    slider.send_keys(Keys.ARROW_RIGHT)
    assert _seq(browser) == 1
    # decisions only: the bookkeeping leaves the timeline, Next and the slider skip it
    _click(browser, "decisions-only")
    assert _count(browser, "#timeline li.ev") == len(SAMPLE_DECISIONS)
    assert slider.get_attribute("max") == str(len(SAMPLE_DECISIONS))
    seen = [_seq(browser)]
    for _ in SAMPLE_DECISIONS[1:]:
        _click(browser, "next")
        seen.append(_seq(browser))
    assert seen == SAMPLE_DECISIONS
    slider.send_keys(Keys.HOME)
    slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    assert _seq(browser) == SAMPLE_DECISIONS[1]
    # and back to every event
    _click(browser, "decisions-only")
    assert _count(browser, "#timeline li.ev") == 14
    assert _seq(browser) == SAMPLE_DECISIONS[1]
    _click(browser, "next")
    assert _seq(browser) == SAMPLE_DECISIONS[1] + 1
    _no_console_errors(browser)


def test_browser_shows_a_nasty_reason_as_text(browser: WebDriver, tmp_path: Path) -> None:
    nasty = "</script><script>window.pwned = 1</script><!-- & <b>bold</b>"
    data = sample_trace()
    data["events"][8]["reason"] = nasty
    _open(browser, tmp_path, data)
    browser.find_element("css selector", '#timeline li[data-seq="9"]').click()
    assert nasty in browser.find_element("id", "current").text
    assert browser.execute_script("return window.pwned === undefined") is True
    assert _count(browser, "script") == 3
    assert _count(browser, "#current b") == 0
    _no_console_errors(browser)


def test_browser_one_frame_no_events(browser: WebDriver, tmp_path: Path) -> None:
    _open(browser, tmp_path, one_frame_trace())
    assert _seq(browser) == 0
    assert _count(browser, "#pages rect.page") == 1
    assert _count(browser, "#pages rect.range") == 1
    assert _count(browser, "#skbs .skb") == 1
    for element_id in ("prev", "next"):
        assert browser.find_element("id", element_id).get_attribute("disabled") is not None
    assert "no events" in browser.find_element("id", "current").text
    _no_console_errors(browser)


def test_browser_thousands_of_events(browser: WebDriver, tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    data = long_trace(3000)
    _open(browser, tmp_path, data)
    assert _count(browser, "#timeline li.ev") == 3000
    browser.find_element("id", "slider").send_keys(Keys.END)
    assert _seq(browser) == 3000
    _click(browser, "prev")
    assert _seq(browser) == 2999
    # a step is one frame's worth of nodes, not one per event
    assert _count(browser, "#pages *") < 30
    _click(browser, "decisions-only")
    assert _count(browser, "#timeline li.ev") == 1500
    assert _seq(browser) == 2999
    _no_console_errors(browser)


def test_browser_real_trace(browser: WebDriver, tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys

    data = _real_trace(tmp_path)
    _open(browser, tmp_path, data)
    assert _count(browser, "#timeline li.ev") == len(data["events"])
    seqs = []
    for _ in range(min(10, len(data["events"]))):
        _click(browser, "next")
        seqs.append(_seq(browser))
    assert seqs == [e["seq"] for e in data["events"][: len(seqs)]]
    browser.find_element("id", "slider").send_keys(Keys.END)
    assert _seq(browser) == data["events"][-1]["seq"]
    pages = data["frames"][-1]["pages"]
    assert _count(browser, "#pages rect.page") == len(pages)
    _no_console_errors(browser)


def test_sample_is_consistent() -> None:
    """The hand-written trace keeps the schema's own rules (so the browser tests test the page)."""
    data = sample_trace()
    assert len(data["frames"]) == len(data["events"]) + 1
    for i, step in enumerate(data["steps"]):
        assert all(e["step"] == i for e in data["events"][step["first"] - 1 : step["last"]])
    from netsim.stats.trace import DECISION_KINDS, TRACE_KINDS

    assert {e["kind"] for e in data["events"]} <= set(TRACE_KINDS)
    assert [e["seq"] for e in data["events"] if e["kind"] in DECISION_KINDS] == SAMPLE_DECISIONS
    for frame in data["frames"]:
        for page in frame["pages"]:
            share = page["allocator_share"] or 0
            assert page["holders"] + share <= page["refcount"]
    assert json.loads(json.dumps(data)) == data  # plain data, as the JSON file has it
