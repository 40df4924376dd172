"""The HTML view of a trace (``netsim trace --html FILE``): one self-contained page to step
through what the cores decided, and see the pages and skbs change.

Model
-----
The input is the data ``netsim trace --json`` writes (schema version 1): the title, the
scenario, the user actions (``steps``), the events (``TraceEvent.as_dict()`` plus ``step``)
and one picture of the pages and skbs per event (``frames[0]`` before the first event,
``frames[k]`` right after event ``k``).  The page is a viewer of that data and nothing else:

* the data is embedded, as JSON, in a ``<script type="application/json">`` whose every ``<``,
  ``>`` and ``&`` is written as a JSON ``\\u`` escape, so no string in it (a reason saying
  ``</script>``) can end the element early; the script reads it back with ``JSON.parse``;
* the CSS, the script and the SVG are inline: the file opens from disk, offline, in any
  browser, and fetches nothing;
* a step redraws only the current frame (the page bars, the skbs, the event panel); the
  timeline is built once, and again only when the "decisions only" filter changes, so a trace
  of a few thousand events stays quick.

What it shows for the current event: its kind, the function that decided (``where``), the
reason and the fields; each live page as a bar whose width is the page's size, the byte ranges
skb frags hold coloured by skb (one colour per label, the same in every frame, with a legend),
the fragment allocators' cursors as markers, and the refcount split as
``ref N = H holders + bias B`` (page_frag_cache's prepaid references) or ``+ 1 of page_frag``;
each skb with its queue, ``len``/``data_len``/``headlen``/``truesize``, a ruler of its linear
buffer (headroom | data | tailroom) and where its frags point.  The "decisions only" filter
keeps the kinds of ``netsim.stats.trace.DECISION_KINDS``; the page-refcount and
prepare/commit bookkeeping is then skipped by Prev/Next and the slider.
"""

from __future__ import annotations

import html
import json
import pathlib
import re
from collections.abc import Mapping

from ..stats.trace import DECISION_KINDS

__all__ = ["render_html", "write_html"]

#: The ``version`` of the trace data this view reads.
SCHEMA_VERSION = 1


def write_html(data: Mapping[str, object], path: str | pathlib.Path) -> None:
    """Write the HTML view of ``data`` (the ``netsim trace --json`` object) to ``path``."""
    pathlib.Path(path).write_text(render_html(data), encoding="utf-8")


def render_html(data: Mapping[str, object]) -> str:
    """The HTML view of ``data`` (the ``netsim trace --json`` object), as one page.

    Raises :class:`ValueError` if ``data`` is not schema version 1 or its ``frames`` do not
    number one more than its ``events``."""
    _check(data)
    title = html.escape(str(data.get("title") or "netsim trace"))
    parts = {
        "TITLE": title,
        "SCENARIO": _scenario_html(data.get("scenario")),
        "STYLE": _STYLE,
        "DECISIONS": _script_json(sorted(DECISION_KINDS)),
        "SCRIPT": _SCRIPT,
        "DATA": _script_json(data),
    }
    # one pass over the template: what is put in (a title saying "@SCRIPT@") is never rescanned
    return re.sub(r"@([A-Z]+)@", lambda m: parts[m.group(1)], _PAGE)


def _check(data: Mapping[str, object]) -> None:
    version = data.get("version")
    if version != SCHEMA_VERSION:
        raise ValueError(
            f"trace data version {version!r}: this view reads version {SCHEMA_VERSION}"
        )
    events, frames = data.get("events"), data.get("frames")
    if not isinstance(events, list) or not isinstance(frames, list):
        raise ValueError("trace data needs an 'events' list and a 'frames' list")
    if len(frames) != len(events) + 1:
        raise ValueError(
            f"trace data has {len(frames)} frames for {len(events)} events "
            "(one before the first event, one after each)"
        )
    if not isinstance(data.get("steps", []), list):
        raise ValueError("trace data's 'steps' must be a list")


def _script_json(value: object) -> str:
    """``value`` as JSON that is safe inside ``<script type="application/json">``: ``<`` only
    occurs inside JSON strings, where ``\\u003c`` means the same, so ``</script>`` and
    ``<!--`` cannot appear."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _scenario_html(scenario: object) -> str:
    if not isinstance(scenario, Mapping) or not scenario:
        return ""
    items = "".join(
        f"<div><dt>{html.escape(str(key))}</dt><dd>{html.escape(_show(value))}</dd></div>"
        for key, value in scenario.items()
    )
    return f'<dl id="scenario">{items}</dl>'


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, list | tuple):
        return ", ".join(_show(v) for v in value)
    return str(value)


_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@TITLE@</title>
<style>
@STYLE@
</style>
</head>
<body>
<header>
<h1 id="title">@TITLE@</h1>
@SCENARIO@
</header>
<nav id="controls" aria-label="step through the events">
<button type="button" id="prev" aria-label="previous event">&#9664; Prev</button>
<input type="range" id="slider" min="0" max="0" value="0" step="1" aria-label="event">
<button type="button" id="next" aria-label="next event">Next &#9654;</button>
<label><input type="checkbox" id="decisions-only"> decisions only</label>
<span id="position"></span>
<span class="hint">keys: &larr; &rarr; Home End</span>
</nav>
<section id="current" data-seq="0" aria-live="polite"></section>
<main>
<div id="state">
<section id="pages-section">
<h2>Pages <span class="count" id="pages-count"></span></h2>
<svg id="pages" role="img" aria-label="the live pages of the current frame"
 viewBox="0 0 900 40"></svg>
<div id="legend"></div>
</section>
<section id="skbs-section">
<h2>skbs <span class="count" id="skbs-count"></span></h2>
<div id="skbs"></div>
</section>
</div>
<aside id="timeline-section">
<h2>Events</h2>
<ol id="timeline"></ol>
</aside>
</main>
<noscript><p>This page draws the trace with JavaScript; the data is in the
<code>trace-data</code> script element.</p></noscript>
<script type="application/json" id="trace-data">@DATA@</script>
<script type="application/json" id="decision-kinds">@DECISIONS@</script>
<script>
@SCRIPT@
</script>
</body>
</html>
"""

_STYLE = """\
:root { color-scheme: light; --fg: #1d232a; --muted: #5c6670; --line: #d5dae0; --hit: #d6336c;
  --bg-soft: #f4f6f8; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
body { margin: 0; color: var(--fg); background: #fff; font-size: 14px; }
header { padding: 10px 16px 4px; }
h1 { font-size: 18px; margin: 0 0 6px; font-family: ui-monospace, monospace; }
h2 { font-size: 15px; margin: 8px 0 6px; }
h2 .count { font-weight: normal; color: var(--muted); font-size: 13px; }
dl#scenario { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 0; }
dl#scenario div { display: flex; gap: 4px; }
dl#scenario dt { color: var(--muted); }
dl#scenario dd { margin: 0; font-family: ui-monospace, monospace; }
nav#controls { position: sticky; top: 0; z-index: 2; display: flex; align-items: center;
  gap: 10px; padding: 8px 16px; background: #fff; border-bottom: 1px solid var(--line); }
nav#controls input[type=range] { flex: 1; min-width: 120px; }
nav#controls .hint { color: var(--muted); font-size: 12px; }
#position { font-family: ui-monospace, monospace; min-width: 14ch; }
button { font: inherit; padding: 3px 10px; cursor: pointer; }
#current { margin: 8px 16px; padding: 8px 12px; border-left: 4px solid var(--hit);
  background: var(--bg-soft); min-height: 3.6em; }
#current .head { font-weight: 600; }
#current .kind { font-family: ui-monospace, monospace; color: var(--hit); }
#current .where, .fields { font-family: ui-monospace, monospace; }
#current .reason { margin: 3px 0; }
#current .reason.none { color: var(--muted); font-style: italic; }
#current .meta { color: var(--muted); font-size: 12px; }
main { display: flex; gap: 16px; padding: 0 16px 16px; align-items: flex-start; }
#state { flex: 3; min-width: 0; }
#timeline-section { flex: 2; min-width: 260px; position: sticky; top: 48px; }
svg#pages { width: 100%; height: auto; display: block; font-family: ui-monospace, monospace;
  font-size: 12px; }
svg#pages rect.page { fill: #eef1f4; stroke: #8a949e; }
svg#pages g.hit rect.page { stroke: var(--hit); stroke-width: 2.5; }
svg#pages line.tick { stroke: #c3cad2; stroke-dasharray: 2 2; }
svg#pages rect.range { stroke: #fff; stroke-width: 0.5; }
svg#pages rect.range.hit { stroke: var(--hit); stroke-width: 2; }
svg#pages text.ref { font-weight: 600; }
svg#pages .cursor { stroke: #1d232a; fill: #1d232a; }
svg#pages text.cursor-label { fill: #3b4650; stroke: none; }
svg#pages text.range-label { fill: #fff; font-size: 11px; pointer-events: none; }
#legend { display: flex; flex-wrap: wrap; gap: 4px 12px; margin: 4px 0; font-size: 12px; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px;
  vertical-align: -1px; margin-right: 4px; }
#skbs { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 8px; }
.skb { border: 1px solid var(--line); border-radius: 4px; padding: 6px 8px; }
.skb.hit { border-color: var(--hit); box-shadow: 0 0 0 1px var(--hit); }
.skb h3 { font-size: 13px; margin: 0 0 4px; font-family: ui-monospace, monospace; }
.skb .queue { color: var(--muted); font-weight: normal; }
.skb .nums, .skb .frags { font-family: ui-monospace, monospace; font-size: 12px; }
.skb .frags { margin: 4px 0 0; padding: 0; list-style: none; }
.ruler { display: flex; height: 10px; margin: 5px 0 2px; border: 1px solid #8a949e; }
.ruler .headroom { background: #dfe3e8; }
.ruler .data { background: #5a7fa8; }
.ruler .tailroom { background: #f1f3f5; }
.ruler-text { font-size: 11px; color: var(--muted); font-family: ui-monospace, monospace; }
.empty { color: var(--muted); font-style: italic; }
ol#timeline { list-style: none; margin: 0; padding: 0; max-height: calc(100vh - 110px);
  overflow-y: auto; border: 1px solid var(--line); font-family: ui-monospace, monospace;
  font-size: 12px; }
ol#timeline li { padding: 1px 6px; cursor: pointer; white-space: nowrap; overflow: hidden;
  text-overflow: ellipsis; }
ol#timeline li.ev:hover { background: var(--bg-soft); }
ol#timeline li.step { background: #e7ebef; font-family: system-ui, sans-serif; font-weight: 600;
  position: sticky; top: 0; }

ol#timeline .seq { color: var(--muted); display: inline-block; min-width: 4ch; text-align: right;
  margin-right: 6px; }
ol#timeline .k { display: inline-block; min-width: 13ch; }
ol#timeline li.decision .k { font-weight: 700; }
ol#timeline .brief { color: var(--muted); }
ol#timeline li.ev.current { background: #ffe3ec; outline: 1px solid var(--hit);
  outline-offset: -1px; }
ol#timeline li.step .count { font-weight: normal; color: var(--muted); margin-left: 8px; }
"""

_SCRIPT = r"""
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("trace-data").textContent);
  const DECISIONS = new Set(JSON.parse(document.getElementById("decision-kinds").textContent));
  const events = Array.isArray(DATA.events) ? DATA.events : [];
  const frames = Array.isArray(DATA.frames) ? DATA.frames : [];
  const steps = Array.isArray(DATA.steps) ? DATA.steps : [];
  const N = events.length;  // positions 0..N: frames[p] is the state after events[p - 1]

  const $ = (id) => document.getElementById(id);
  const svg = $("pages");
  const SVGNS = svg.namespaceURI;
  const current = $("current"), slider = $("slider"), timeline = $("timeline");
  const prevButton = $("prev"), nextButton = $("next"), decisionsBox = $("decisions-only");

  // --- small helpers -------------------------------------------------------------------------
  function h(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function s(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function hex(n) { return typeof n === "number" ? "0x" + n.toString(16) : String(n); }
  function showField(k, v) { return k === "pfn" ? hex(v) : String(v); }
  function fieldsText(fields) {
    return Object.keys(fields || {}).map((k) => k + "=" + showField(k, fields[k])).join(" ");
  }
  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }
  function hashOf(text) {
    let x = 0;
    for (let i = 0; i < text.length; i++) x = (x * 31 + text.charCodeAt(i)) >>> 0;
    return x;
  }
  const colours = new Map();
  function colourOf(label) {  // stable: from the label alone, the same in every frame
    let c = colours.get(label);
    if (c === undefined) {
      const m = /(\d+)$/.exec(label);
      const n = m ? Number(m[1]) : hashOf(label);
      c = "hsl(" + ((n * 137.508) % 360).toFixed(1) + ", 62%, " + (n % 2 ? 46 : 56) + "%)";
      colours.set(label, c);
    }
    return c;
  }
  function swatch(label) {
    const sw = h("span", "swatch");
    sw.style.background = colourOf(label);
    return sw;
  }
  function eventAt(pos) { return pos > 0 ? events[pos - 1] : null; }
  function seqAt(pos) { const e = eventAt(pos); return e ? e.seq : 0; }
  function isDecision(e) { return DECISIONS.has(e.kind); }

  let maxPageSize = 4096;
  for (const f of frames) {
    for (const p of f.pages || []) maxPageSize = Math.max(maxPageSize, p.size);
  }

  // --- which positions Prev/Next/the slider visit ----------------------------------------------
  let decisionsOnly = false;
  let visible = [];  // positions, ascending, 0 first
  function computeVisible() {
    visible = [0];
    for (let p = 1; p <= N; p++) if (!decisionsOnly || isDecision(events[p - 1])) visible.push(p);
    slider.max = String(visible.length - 1);
  }
  function visibleIndexAtOrBefore(pos) {  // binary search: the last visible position <= pos
    let lo = 0, hi = visible.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (visible[mid] <= pos) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  // --- the timeline: built once per filter, never per step -------------------------------------
  let items = new Map();  // position -> li
  function buildTimeline() {
    const out = document.createDocumentFragment();
    items = new Map();
    let nextStep = 0;
    function headersUpTo(last) {
      for (; nextStep <= last && nextStep < steps.length; nextStep++) {
        const st = steps[nextStep] || {};
        const count = st.last >= st.first ? st.last - st.first + 1 : 0;
        const li = h("li", "step");
        li.appendChild(h("span", "label", st.label || "step " + nextStep));
        li.appendChild(h("span", "count", count ? plural(count, "event") : "no events"));
        li.dataset.step = String(nextStep);
        out.appendChild(li);
      }
    }
    for (let p = 1; p <= N; p++) {
      const e = events[p - 1];
      if (typeof e.step === "number") headersUpTo(e.step);
      if (decisionsOnly && !isDecision(e)) continue;
      const li = h("li", "ev" + (isDecision(e) ? " decision" : ""));
      li.dataset.pos = String(p);
      li.dataset.seq = String(e.seq);
      li.appendChild(h("span", "seq", String(e.seq)));
      li.appendChild(h("span", "k", e.kind));
      li.appendChild(h("span", "brief", fieldsText(e.fields)));
      li.title = e.where + (e.reason ? ": " + e.reason : "");
      out.appendChild(li);
      items.set(p, li);
    }
    headersUpTo(steps.length - 1);
    if (N === 0) out.appendChild(h("li", "empty", "no events: the trace is one frame"));
    timeline.replaceChildren(out);
  }
  timeline.addEventListener("click", (ev) => {
    const li = ev.target.closest("li");
    if (!li) return;
    if (li.dataset.pos !== undefined) { go(Number(li.dataset.pos)); return; }
    if (li.dataset.step !== undefined) {  // a step header: its first shown event, else its end
      const st = steps[Number(li.dataset.step)] || {};
      if (!(st.last >= st.first)) return;
      let target = st.last;
      for (let p = st.first; p <= st.last; p++) if (items.has(p)) { target = p; break; }
      go(target);
    }
  });

  // --- the current event ---------------------------------------------------------------------
  function drawCurrent(pos) {
    const e = eventAt(pos);
    current.dataset.seq = String(seqAt(pos));
    current.dataset.kind = e ? e.kind : "";
    const parts = [];
    if (!e) {
      parts.push(h("div", "head", N ? "start: the state before the first event"
        : "no events: the state the trace recorded"));
    } else {
      const head = h("div", "head");
      head.appendChild(document.createTextNode("#" + e.seq + " "));
      head.appendChild(h("span", "kind", e.kind));
      head.appendChild(document.createTextNode(" in "));
      head.appendChild(h("span", "where", e.where));
      parts.push(head);
      parts.push(e.reason ? h("div", "reason", e.reason)
        : h("div", "reason none", "(bookkeeping: no choice to explain)"));
      parts.push(h("div", "fields", fieldsText(e.fields)));
      const st = typeof e.step === "number" ? steps[e.step] : null;
      const meta = "event " + pos + " of " + N + " \u00b7 t = " + Number(e.time).toFixed(6) +
        " s" + (st ? " \u00b7 step: " + st.label : "");
      parts.push(h("div", "meta", meta));
    }
    current.replaceChildren(...parts);
  }

  // --- the pages of the current frame, as bars --------------------------------------------------
  function lanesOf(ranges) {  // overlapping ranges (clones share frags) go on separate lanes
    const ends = [], lane = [];
    for (const r of ranges) {
      let i = 0;
      while (i < ends.length && ends[i] > r.start) i++;
      ends[i] = r.end;
      lane.push(i);
    }
    return { lane: lane, count: Math.max(1, ends.length) };
  }
  function refText(p) {
    let text = "ref " + p.refcount + " = " + plural(p.holders, "holder");
    let rest = p.refcount - p.holders;
    if (p.share === "bias") { text += " + bias " + p.allocator_share; rest -= p.allocator_share; }
    else if (p.share === "own") {
      text += " + " + p.allocator_share + " of page_frag"; rest -= p.allocator_share;
    }
    if (rest) text += (rest > 0 ? " + " : " - ") + Math.abs(rest) + " other";
    return text;
  }
  function drawPages(frame, e) {
    const W = 900, X0 = 8, BW = 880, scale = BW / maxPageSize;
    const f = (e && e.fields) || {};
    const hitPfn = typeof f.pfn === "number" ? f.pfn : null;
    const hitSkbs = new Set([f.skb, f.tail, f.clone_of].filter((x) => typeof x === "string"));
    const out = document.createDocumentFragment();
    const pages = frame.pages || [];
    let y = 4;
    for (const p of pages) {
      const g = s("g", { "class": "page-row" + (p.pfn === hitPfn ? " hit" : ""),
        "data-pfn": p.pfn });
      g.appendChild(s("text", { x: X0, y: y + 13, "class": "page-id" },
        "pfn " + hex(p.pfn) + " \u00b7 order " + p.order + " \u00b7 " + p.size + " B \u00b7 " +
        (p.owner ? "owner " + p.owner : "no owner")));
      g.appendChild(s("text", { x: X0 + BW, y: y + 13, "text-anchor": "end", "class": "ref" },
        refText(p)));
      y += 26;
      const ranges = p.ranges || [];
      const lanes = lanesOf(ranges);
      const laneH = lanes.count > 1 ? 14 : 24, barH = laneH * lanes.count;
      const width = Math.max(2, p.size * scale);
      const bar = s("rect", { x: X0, y: y, width: width, height: barH, "class": "page",
        "data-pfn": p.pfn });
      bar.appendChild(s("title", {}, "page " + hex(p.pfn) + ": " + p.size + " bytes"));
      g.appendChild(bar);
      for (let o = 4096; o < p.size; o += 4096) {  // the 4 KiB pages of a compound page
        const tx = X0 + o * scale;
        g.appendChild(s("line", { x1: tx, x2: tx, y1: y, y2: y + barH, "class": "tick" }));
      }
      ranges.forEach((r, i) => {
        const rx = X0 + r.start * scale, rw = Math.max(1, (r.end - r.start) * scale);
        const ry = y + lanes.lane[i] * laneH;
        const rect = s("rect", { x: rx, y: ry, width: rw, height: laneH,
          "class": "range" + (hitSkbs.has(r.skb) && (hitPfn === null || hitPfn === p.pfn)
            ? " hit" : ""),
          "data-skb": r.skb, "data-start": r.start, "data-end": r.end, fill: colourOf(r.skb) });
        rect.appendChild(s("title", {}, r.skb + " frag " + r.frag + ": [" + r.start + ", " +
          r.end + ") " + (r.end - r.start) + " B" + (r.queue ? " \u00b7 " + r.queue : "")));
        g.appendChild(rect);
        if (rw > 8 * (r.skb.length + 1)) {
          g.appendChild(s("text", { x: rx + 3, y: ry + laneH / 2 + 4, "class": "range-label" },
            r.skb));
        }
      });
      const top = y;
      y += barH;
      (p.cursors || []).forEach((c, i) => {
        const cx = X0 + Math.min(c.offset, p.size) * scale;
        g.appendChild(s("line", { x1: cx, x2: cx, y1: top - 3, y2: y + 3, "class": "cursor",
          "stroke-width": 2 }));
        g.appendChild(s("polygon", { points: (cx - 5) + "," + (top - 8) + " " + (cx + 5) + "," +
          (top - 8) + " " + cx + "," + (top - 1), "class": "cursor" }));
        let text = "\u25b2 " + c.name + ": offset " + c.offset;
        if (c.bias !== null && c.bias !== undefined) text += ", bias " + c.bias;
        if (c.size !== null && c.size !== undefined) text += ", size " + c.size;
        if (c.allocator) text += " (" + c.allocator + ")";
        const right = cx > X0 + BW / 2;
        g.appendChild(s("text", { x: cx, y: y + 14 + i * 14, "class": "cursor-label",
          "text-anchor": right ? "end" : "start" }, text));
      });
      y += 8 + 14 * (p.cursors || []).length + 8;
      out.appendChild(g);
    }
    if (!pages.length) {
      out.appendChild(s("text", { x: X0, y: y + 14, "class": "empty" }, "no live pages"));
      y += 22;
    }
    svg.replaceChildren(out);
    $("pages-count").textContent = plural(pages.length, "live page");
    svg.setAttribute("viewBox", "0 0 " + W + " " + Math.ceil(y + 4));
    return hitSkbs;
  }
  function drawLegend(frame) {
    const labels = new Set();
    for (const p of frame.pages || []) for (const r of p.ranges || []) labels.add(r.skb);
    for (const k of frame.skbs || []) labels.add(k.label);
    const legend = $("legend");
    const out = [];
    for (const label of labels) {
      const item = h("span", "legend-item");
      item.appendChild(swatch(label));
      item.appendChild(document.createTextNode(label));
      out.push(item);
    }
    out.push(h("span", "legend-item", "\u25bc allocator cursor: where its next fragment starts"));
    legend.replaceChildren(...out);
  }

  // --- the skbs of the current frame -----------------------------------------------------------
  function drawSkbs(frame, hitSkbs) {
    const box = $("skbs");
    const skbs = frame.skbs || [];
    $("skbs-count").textContent = String(skbs.length);
    if (!skbs.length) { box.replaceChildren(h("p", "empty", "no skbs")); return; }
    const out = [];
    for (const k of skbs) {
      const card = h("div", "skb" + (hitSkbs.has(k.label) ? " hit" : ""));
      card.dataset.label = k.label;
      const title = h("h3");
      title.appendChild(swatch(k.label));
      title.appendChild(document.createTextNode(k.label + " "));
      title.appendChild(h("span", "queue", (k.queue || "") + (k.cloned ? " \u00b7 cloned" : "")));
      card.appendChild(title);
      card.appendChild(h("div", "nums", "len " + k.len + " \u00b7 data_len " + k.data_len +
        " \u00b7 headlen " + k.headlen + " \u00b7 truesize " + k.truesize + " \u00b7 " +
        plural(k.nr_frags, "frag")));
      const ruler = h("div", "ruler");
      ruler.title = "linear buffer: " + k.end + " B";
      for (const part of ["headroom", "data", "tailroom"]) {
        const seg = h("div", part);
        seg.style.flexGrow = String(Math.max(0, k[part]));
        ruler.appendChild(seg);
      }
      card.appendChild(ruler);
      card.appendChild(h("div", "ruler-text", "headroom " + k.headroom + " | data " + k.data +
        " | tailroom " + k.tailroom + "  (end " + k.end + ")"));
      if ((k.frags || []).length) {
        const list = h("ul", "frags");
        k.frags.forEach((fr, i) => {
          list.appendChild(h("li", "", "frag " + i + " \u2192 page " + hex(fr.pfn) + " [" +
            fr.offset + ", " + (fr.offset + fr.len) + ") " + fr.len + " B"));
        });
        card.appendChild(list);
      }
      out.push(card);
    }
    box.replaceChildren(...out);
  }

  // --- stepping -------------------------------------------------------------------------------
  let pos = -1;
  function go(target) {
    target = Math.max(0, Math.min(N, target));
    const old = items.get(pos);
    if (old) old.classList.remove("current");
    pos = target;
    const frame = frames[pos] || {};
    const e = eventAt(pos);
    drawCurrent(pos);
    const hitSkbs = drawPages(frame, e);
    drawLegend(frame);
    drawSkbs(frame, hitSkbs);
    const index = visibleIndexAtOrBefore(pos);
    slider.value = String(index);
    $("position").textContent = "event " + seqAt(pos) + " / " + N;
    prevButton.disabled = pos === 0;
    nextButton.disabled = index === visible.length - 1;
    const li = items.get(pos);
    if (li) {
      li.classList.add("current");
      const top = li.offsetTop - timeline.offsetTop, bottom = top + li.offsetHeight;
      if (top < timeline.scrollTop + 20 || bottom > timeline.scrollTop + timeline.clientHeight) {
        timeline.scrollTop = Math.max(0, top - timeline.clientHeight / 3);
      }
    }
  }
  function step(delta) {
    const index = visibleIndexAtOrBefore(pos);
    if (delta < 0 && visible[index] < pos) { go(visible[index]); return; }
    const to = Math.max(0, Math.min(visible.length - 1, index + delta));
    go(visible[to]);
  }
  prevButton.addEventListener("click", () => step(-1));
  nextButton.addEventListener("click", () => step(1));
  slider.addEventListener("input", () => go(visible[Number(slider.value)]));
  decisionsBox.addEventListener("change", () => {
    decisionsOnly = decisionsBox.checked;
    computeVisible();
    buildTimeline();
    go(visible[visibleIndexAtOrBefore(pos)]);
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const t = ev.target;
    if (t && t.tagName === "INPUT" && t.type === "range") return;  // the slider moves itself
    if (ev.key === "ArrowRight") step(1);
    else if (ev.key === "ArrowLeft") step(-1);
    else if (ev.key === "Home") go(0);
    else if (ev.key === "End") go(visible[visible.length - 1]);
    else return;
    ev.preventDefault();
  });

  decisionsOnly = decisionsBox.checked;  // a reload may keep the box ticked
  computeVisible();
  buildTimeline();
  go(0);
})();
"""
