// vixmon's risk page: draws what /api/v1/events pushes (hand-drawn SVG, no library, no build).
// Every number comes from the daemon; this file formats and positions, never computes risk.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function s(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const fmt = {
  usd(x) {
    if (x === null || x === undefined) return "—";
    const v = Math.round(x);
    return (v < 0 ? "−$" : "$") + Math.abs(v).toLocaleString("en-US");
  },
  num(x, d = 2) {
    return x === null || x === undefined ? "—" : Number(x).toLocaleString("en-US", {
      minimumFractionDigits: d, maximumFractionDigits: d });
  },
  pct(x, d = 1) { return x === null || x === undefined ? "—" : (x * 100).toFixed(d) + "%"; },
  age(s) { return s === null || s === undefined ? "" : s < 90 ? s.toFixed(0) + " s" : (s / 60).toFixed(0) + " min"; },
  time(ns) { return ns ? new Date(ns / 1e6).toISOString().replace("T", " ").slice(0, 19) + " UTC" : ""; },
};

function signClass(x) { return x === null || x === undefined ? "" : x < 0 ? "neg" : "pos"; }

// linear scale with its domain and range kept for the tests (data attributes on the <svg>)
function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  const f = (x) => r0 + (x - d0) * (r1 - r0) / span;
  f.domain = [d0, d1]; f.range = [r0, r1];
  return f;
}

function ticks(lo, hi, n) {
  const raw = (hi - lo) / Math.max(n, 1);
  const mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => st >= raw) || raw;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

function path(xs, ys, x, y) {
  let d = "", pen = false;
  for (let i = 0; i < xs.length; i++) {
    if (ys[i] === null || ys[i] === undefined) { pen = false; continue; }
    d += (pen ? "L" : "M") + x(xs[i]).toFixed(1) + "," + y(ys[i]).toFixed(1);
    pen = true;
  }
  return d;
}

// ---- risk profile -------------------------------------------------------------------------------

const H = 340, M = { l: 64, r: 16, t: 14, b: 30 };

// drawn at the container's own width (within bounds), so text keeps its size on a phone
function profileChart(p, W) {
  const c = p.curves;
  const xs = c.spx;
  const ys = [c.expiry_pnl_usd, c.expiry_pnl_hedged_usd, c.today_pnl_usd, c.today_pnl_hedged_usd]
    .flat().filter((v) => v !== null);
  let lo = Math.min(0, ...ys), hi = Math.max(0, ...ys);
  const pad = (hi - lo) * 0.08 || 1;
  lo -= pad; hi += pad;
  const x = scale(xs[0], xs[xs.length - 1], M.l, W - M.r);
  const y = scale(lo, hi, H - M.b, M.t);
  const svg = s("svg", {
    class: "chart profile", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `Risk profile of ${p.structure || p.book}`,
    "data-book": p.book, "data-structure": p.structure || "",
    "data-x0": x.domain[0], "data-x1": x.domain[1], "data-px0": x.range[0], "data-px1": x.range[1],
  });
  const band = (k, cls) => {
    const b = p.bands["sigma" + k];
    if (!b || b[0] === null) return;
    svg.append(s("rect", { class: cls, x: x(b[0]), y: M.t, width: Math.max(0, x(b[1]) - x(b[0])),
      height: H - M.b - M.t, "data-band": "sigma" + k, "data-lo": b[0], "data-hi": b[1] }));
  };
  band(2, "band2"); band(1, "band1");
  for (const v of ticks(lo, hi, 5)) {
    svg.append(s("line", { class: "axis", x1: M.l, x2: W - M.r, y1: y(v), y2: y(v) }));
    svg.append(s("text", { x: M.l - 6, y: y(v) + 4, "text-anchor": "end" }, fmt.usd(v)));
  }
  for (const v of ticks(xs[0], xs[xs.length - 1], Math.max(3, Math.floor(W / 110)))) {
    svg.append(s("text", { x: x(v), y: H - M.b + 16, "text-anchor": "middle" }, v.toLocaleString("en-US")));
  }
  svg.append(s("line", { class: "zero", x1: M.l, x2: W - M.r, y1: y(0), y2: y(0) }));
  svg.append(s("path", { class: "expiry plain", d: path(xs, c.expiry_pnl_usd, x, y), "data-curve": "expiry" }));
  svg.append(s("path", { class: "today plain", d: path(xs, c.today_pnl_usd, x, y), "data-curve": "today" }));
  svg.append(s("path", { class: "expiry", d: path(xs, c.expiry_pnl_hedged_usd, x, y), "data-curve": "expiry_hedged" }));
  svg.append(s("path", { class: "today", d: path(xs, c.today_pnl_hedged_usd, x, y), "data-curve": "today_hedged" }));
  if (p.forward !== null) {
    svg.append(s("line", { class: "forward", x1: x(p.forward), x2: x(p.forward), y1: M.t, y2: H - M.b,
      "data-forward": p.forward }));
    svg.append(s("text", { x: x(p.forward) + 4, y: M.t + 10 }, "F " + fmt.num(p.forward)));
  }
  for (const [kind, cls] of [["expiry", "be plain"], ["expiry_hedged", "be"]]) {
    for (const side of ["lower", "upper"]) {
      const v = p.breakevens[kind][side];
      if (v === null || v < xs[0] || v > xs[xs.length - 1]) continue;
      svg.append(s("circle", { class: cls, cx: x(v).toFixed(2), cy: y(0).toFixed(2), r: 5,
        "data-breakeven": side, "data-kind": kind, "data-value": v },
        s("title", {}, `${side} break-even ${kind === "expiry" ? "(hedge excluded)" : "(hedge included)"}: ${fmt.num(v)}`)));
      if (kind === "expiry_hedged") {
        svg.append(s("text", { x: x(v), y: y(0) - 9, "text-anchor": "middle" }, fmt.num(v, 0)));
      }
    }
  }
  return svg;
}

function legend() {
  const item = (cls, text) => h("span", {}, h("i", { class: cls }), text);
  return h("div", { class: "legend" },
    item("l-expiry", "at expiry (solid: hedge included, dashed: excluded)"),
    item("l-today", "today, T+0"), item("l-band1", "±1σ / ±2σ expected move"),
    item("l-fwd", "forward"), item("l-be", "break-even"));
}

function renderProfiles(doc) {
  const list = document.getElementById("profile-list");
  const width = Math.round(Math.max(340, Math.min(1000, list.clientWidth || 800)));
  const out = [];
  for (const p of doc.profiles || []) {
    const title = p.structure ? `${p.book} · ${p.structure}` : `${p.book} · ${(p.condors || []).join(", ")}`;
    if (p.error) { out.push(h("div", { class: "profile" }, h("h3", {}, title), h("p", { class: "error" }, p.error))); continue; }
    const be = p.breakevens.expiry_hedged, raw = p.breakevens.expiry;
    out.push(h("div", { class: "profile", "data-book": p.book },
      h("h3", {}, `${title} — expiry ${p.expiry}`),
      p.valid ? null : h("p", { class: "error" }, p.reason),
      profileChart(p, width), legend(),
      h("div", { class: "scroll" }, h("table", {},
        h("tr", {}, h("th", {}, ""), h("th", {}, "lower BE"), h("th", {}, "upper BE"), h("th", {}, "forward"),
          h("th", {}, "1σ move"), h("th", {}, "credit"), h("th", {}, "hedge P&L")),
        h("tr", {}, h("td", {}, "hedge included"), h("td", {}, fmt.num(be.lower)), h("td", {}, fmt.num(be.upper)),
          h("td", {}, fmt.num(p.forward)), h("td", {}, fmt.num(p.expected_move_points)),
          h("td", {}, fmt.usd(p.credit_usd)), h("td", { class: signClass(p.hedge.overlay_usd) }, fmt.usd(p.hedge.overlay_usd))),
        h("tr", {}, h("td", {}, "hedge excluded"), h("td", {}, fmt.num(raw.lower)), h("td", {}, fmt.num(raw.upper)),
          h("td", {}, ""), h("td", {}, ""), h("td", {}, ""), h("td", {}, "")))),
    ));
  }
  list.replaceChildren(...out);
}

// ---- VX term structure ----------------------------------------------------------------------------

function renderCurve(doc) {
  const curve = ((doc.snapshot || {}).rules || {}).curve;
  const box = document.getElementById("curve-chart"), text = document.getElementById("curve-text");
  if (!curve) { box.replaceChildren(h("p", { class: "muted" }, "no curve yet")); text.textContent = ""; return; }
  const settles = doc.curve_settlements || {};
  const pts = curve.points || [], wks = curve.weeklies || [];
  const all = [...pts, ...wks];
  const prices = all.map((p) => p.price).concat(all.map((p) => settles[p.symbol]).filter((v) => v !== undefined));
  if (curve.vix !== null && curve.vix !== undefined) prices.push(curve.vix);
  if (!prices.length) {
    const old = curve.stale_points || [];
    const msg = curve.status === "stale"
      ? `VX futures stale: no fresh quote since ${fmt.time(curve.last_quote_ns)}` +
        (old.length ? ` (last curve: ${old.map((p) => `${p.symbol} ${p.price}`).join(", ")})` : "")
      : "no futures quoted yet";
    box.replaceChildren(h("p", { class: "muted", "data-curve-status": curve.status || "" }, msg));
    text.textContent = "";
    return;
  }
  const w = 400, ht = 220, m = { l: 40, r: 10, t: 10, b: 28 };
  const maxDays = Math.max(30, ...all.map((p) => p.days));
  const lo = Math.min(...prices) - 1, hi = Math.max(...prices) + 1;
  const x = scale(0, maxDays, m.l, w - m.r), y = scale(lo, hi, ht - m.b, m.t);
  const svg = s("svg", { class: "chart curve", viewBox: `0 0 ${w} ${ht}`, role: "img", "aria-label": "VX futures curve" });
  for (const v of ticks(lo, hi, 4)) {
    svg.append(s("line", { class: "axis", x1: m.l, x2: w - m.r, y1: y(v), y2: y(v) }));
    svg.append(s("text", { x: m.l - 4, y: y(v) + 4, "text-anchor": "end" }, v.toFixed(1)));
  }
  for (const v of ticks(0, maxDays, 5)) svg.append(s("text", { x: x(v), y: ht - m.b + 14, "text-anchor": "middle" }, v + "d"));
  svg.append(s("path", { class: "vxm", d: path(pts.map((p) => p.days), pts.map((p) => p.price), x, y) }));
  for (const p of pts) {
    svg.append(s("circle", { class: "pt", cx: x(p.days), cy: y(p.price), r: 4, "data-symbol": p.symbol, "data-price": p.price },
      s("title", {}, `${p.symbol} ${p.expiry}: ${p.price} (${p.source}, ${fmt.age(p.age_s)} old)`)));
  }
  for (const p of wks) {
    svg.append(s("rect", { class: "wk", x: x(p.days) - 3, y: y(p.price) - 3, width: 6, height: 6, "data-symbol": p.symbol },
      s("title", {}, `weekly ${p.symbol} ${p.expiry}: ${p.price}`)));
  }
  for (const p of all) {
    const st = settles[p.symbol];
    if (st !== undefined) svg.append(s("circle", { class: "settle", cx: x(p.days), cy: y(st), r: 6 },
      s("title", {}, `${p.symbol} previous settlement ${st}`)));
  }
  if (curve.vix !== null && curve.vix !== undefined) {
    svg.append(s("circle", { class: "spot", cx: x(0), cy: y(curve.vix), r: 5, "data-vix": curve.vix },
      s("title", {}, `VIX ${curve.vix}`)));
    svg.append(s("text", { x: x(0) + 8, y: y(curve.vix) + 4 }, "VIX " + fmt.num(curve.vix)));
  }
  box.replaceChildren(svg, h("div", { class: "legend" },
    h("span", {}, "● monthlies  ■ weeklies  ○ previous settlement  ● VIX spot")));
  const c = curve.contango;
  text.replaceChildren(c === null || c === undefined ? "Contango: unknown (fewer than two monthlies)" :
    h("span", { class: c > 0 ? "pos" : "neg", id: "curve-state", "data-contango": c },
      c > 0 ? `Contango: M2 is ${fmt.pct(c, 2)} above M1` : `Backwardation: M2 is ${fmt.pct(-c, 2)} below M1`));
}

// ---- layers and plan ------------------------------------------------------------------------------

const openDetails = new Set();  // a re-render keeps what the reader opened

function keepOpen(id, details) {
  details.open = openDetails.has(id);
  details.addEventListener("toggle", () => { if (details.open) openDetails.add(id); else openDetails.delete(id); });
  return details;
}

function renderLayers(doc) {
  const rows = [];
  const thresholds = (doc.config || {}).layer_gain_thresholds || [];
  const top = Math.max(...thresholds, 1) * 1.25;
  for (const l of doc.layers || []) {
    const bar = h("div", { class: "gainbar", "data-layer": l.name, "data-gain": l.gain_ratio });
    const fill = h("div", { class: "fill" });
    fill.style.width = Math.max(0, Math.min(1, (l.gain_ratio || 0) / top)) * 100 + "%";
    bar.append(fill);
    for (const t of l.thresholds) {
      const tick = h("div", { class: "tick" + (t.reached ? " reached" : ""), title: `threshold ${fmt.pct(t.threshold, 0)}` });
      tick.style.left = (t.threshold / top) * 100 + "%";
      bar.append(tick);
    }
    rows.push(h("div", { class: "layer" },
      h("div", {}, h("strong", {}, `${l.book} · ${l.name}`), " gain ",
        h("span", { class: signClass(l.gain_ratio) }, fmt.pct(l.gain_ratio)),
        " of thresholds ", thresholds.map((t) => fmt.pct(t, 0)).join(" / "),
        " · harvestable ", h("span", { class: signClass(l.harvestable_usd) }, fmt.usd(l.harvestable_usd)),
        l.stale ? h("span", { class: "badge bad" }, "stale") : null),
      bar));
  }
  document.getElementById("layer-list").replaceChildren(...rows);
  const plans = [];
  for (const [book, p] of Object.entries(doc.plans || {})) {
    if (p.error) { plans.push(h("p", { class: "muted" }, `${book}: ${p.error}`)); continue; }
    if (!p.plan) { plans.push(h("p", { class: "muted" }, `${book}: no plan — ${p.reason || ""}`)); continue; }
    const facts = Object.entries(p.plan).filter(([, v]) => v === null || typeof v !== "object");
    plans.push(h("div", { class: "plan", "data-book": book },
      h("p", {}, h("strong", {}, book + ": "), p.action || ""),
      keepOpen(book, h("details", {}, h("summary", {}, "the plan's numbers"),
        h("div", { class: "scroll" }, h("table", {}, facts.filter(([k]) => k !== "action_text").map(([k, v]) =>
          h("tr", {}, h("td", {}, k.replaceAll("_", " ")), h("td", {}, typeof v === "number" ? fmt.num(v) : String(v))))))))));
  }
  document.getElementById("plan").replaceChildren(...plans);
}

// ---- book ------------------------------------------------------------------------------------------

function heatColor(v, maxAbs) {
  if (v === null || v === undefined) return "#333";
  const a = Math.min(1, Math.abs(v) / (maxAbs || 1));
  return v < 0 ? `rgba(239,91,91,${0.15 + 0.85 * a})` : `rgba(57,192,127,${0.15 + 0.85 * a})`;
}

function stressTable(grid) {
  // scenarios come as spot shocks x a band of vol shifts around the spot-vol model's (issue 13)
  const shocks = [...new Set(grid.map((g) => g.spot_shock))].sort((a, b) => a - b);
  const byShock = shocks.map((sh) => grid.filter((g) => g.spot_shock === sh));
  const depth = Math.max(...byShock.map((c) => c.length));
  const maxAbs = Math.max(...grid.map((g) => Math.abs(g.pnl_usd || 0)));
  const rows = [];
  for (let i = 0; i < depth; i++) {
    rows.push(h("tr", {}, h("th", {}, ["lower vol", "model vol", "higher vol"][i] || `vol ${i + 1}`),
      byShock.map((col) => {
        const g = col[i];
        const td = h("td", { title: g ? `vol ${g.vol_shift > 0 ? "+" : ""}${g.vol_shift} pts · requirement ${fmt.usd(g.requirement_usd)} · coverage ${fmt.num(g.coverage)}` : "" },
          g ? fmt.usd(g.pnl_usd) : "—", g ? h("br") : null,
          g ? h("small", {}, (g.vol_shift > 0 ? "+" : "") + fmt.num(g.vol_shift, 1) + " vol") : null);
        td.style.background = heatColor(g ? g.pnl_usd : null, maxAbs);
        return td;
      })));
  }
  return h("div", { class: "scroll" }, h("table", { class: "heat", "data-scenarios": grid.length },
    h("tr", {}, h("th", {}, "SPX"), shocks.map((sh) => h("th", {}, (sh > 0 ? "+" : "") + fmt.pct(sh, 1)))), rows));
}

function renderBook(doc) {
  const out = [];
  for (const b of (doc.snapshot || {}).books || []) {
    const g = b.net_greeks || {};
    const stress = (b.rules || {}).stress || {};
    const legs = [...(b.condors || []), ...(b.layers || [])].flatMap((st) => st.legs || []);
    out.push(h("div", { class: "bookpanel", "data-book": b.name },
      h("h3", {}, `${b.name} · value ${fmt.usd(b.value_usd)}`),
      h("div", { class: "scroll" }, h("table", {},
        h("tr", {}, ["Δ SPX 1%", "Δ VIX 1%", "Γ SPX 1%", "vega / pt", "theta / day"].map((t) => h("th", {}, t))),
        h("tr", {}, [g.delta_spx_1pct_usd, g.delta_vix_1pct_usd, g.gamma_spx_1pct_usd, g.vega_usd, g.theta_usd]
          .map((v) => h("td", { class: signClass(v) }, fmt.usd(v)))))),
      h("p", {}, "Margin coverage ", h("strong", { id: "coverage-" + b.name }, fmt.num(stress.coverage)),
        ` · requirement ${fmt.usd(stress.requirement_usd)} (${stress.requirement_source || "—"})`,
        ` · worst scenario loss ${fmt.usd(stress.worst_scenario_loss_usd)}`),
      stress.grid && stress.grid.length ? stressTable(stress.grid) : h("p", { class: "muted" }, "no stress grid"),
      h("h3", {}, "Marks"),
      h("div", { class: "scroll" }, h("table", {},
        h("tr", {}, ["leg", "qty", "mark", "source", "age", "IV"].map((t) => h("th", {}, t))),
        legs.map((l) => h("tr", {}, h("td", {}, l.symbol), h("td", {}, l.quantity), h("td", {}, fmt.num(l.mid)),
          h("td", {}, h("span", { class: "badge " + (l.stale ? "bad" : l.source === "mid" ? "ok" : "wait") }, l.source)),
          h("td", {}, fmt.age(l.mark_age_s)), h("td", {}, l.iv === null ? "—" : fmt.pct(l.iv))))))));
  }
  document.getElementById("book-body").replaceChildren(...out);
}

function renderFeeds(doc) {
  const feeds = ((doc.status || {}).feeds || []).map((f) => {
    const age = f.last_quote_ts_ns && doc.ts_ns ? (doc.ts_ns - f.last_quote_ts_ns) / 1e9 : null;
    const stale = !f.connected || (age !== null && age > 60);
    const label = `${f.name}: ${f.connected ? "connected" : "down"}${f.delayed ? ", delayed" : ""}`;
    return h("span", { class: "badge " + (stale ? "bad" : f.delayed ? "wait" : "ok"), "data-feed": f.name }, label);
  });
  const dq = (((doc.snapshot || {}).rules || {}).data_quality) || {};
  if (dq.market_stale) feeds.push(h("span", { class: "badge bad" }, "market stale"));
  document.getElementById("feeds").replaceChildren(...feeds);
  document.getElementById("asof").textContent = "as of " + fmt.time(doc.ts_ns);
}

// ---- alerts ----------------------------------------------------------------------------------------

function renderAlerts(doc) {
  const a = doc.alerts || { firing: [], recent: [] };
  // a muted lower level (150% under 200%, contango low under backwardation) is folded into the
  // alert that mutes it: its fact is already in that summary ("also: ...")
  const shown = a.firing.filter((f) => !f.muted_by);
  const muted = (key) => a.firing.filter((f) => f.muted_by === key).map((f) => f.key);
  document.getElementById("firing").replaceChildren(...(shown.length ? shown.map((f) =>
    h("li", { "data-alert-key": f.key, "data-mutes": muted(f.key).join(" "), class: "sev-" + f.severity },
      h("strong", {}, f.severity + " "), f.summary || f.key, h("span", { class: "muted" }, " · since " + fmt.time(f.since_ns)),
      muted(f.key).length ? h("span", { class: "muted" }, " · mutes " + muted(f.key).length + " lower level(s)") : null))
    : [h("li", { class: "muted" }, "nothing firing")]));
  document.getElementById("recent").replaceChildren(...(a.recent.length ? a.recent.map((e) =>
    h("li", { "data-event-key": e.key, "data-status": e.status, class: "sev-" + e.severity },
      h("span", { class: "muted" }, fmt.time(e.ts_ns) + " "), h("strong", {}, e.status + " "), e.summary,
      e.delayed ? h("span", { class: "badge wait" }, "delayed data") : null))
    : [h("li", { class: "muted" }, "no events since the daemon started")]));
}

// ---- the stream ------------------------------------------------------------------------------------

function render(doc) {
  renderFeeds(doc); renderProfiles(doc); renderCurve(doc); renderLayers(doc); renderBook(doc); renderAlerts(doc);
  document.body.dataset.version = doc.ts_ns_text;
}

function connect() {
  const badge = document.getElementById("conn");
  const set = (state, text, cls) => { badge.dataset.state = state; badge.textContent = text; badge.className = "badge " + cls; };
  const es = new EventSource("/api/v1/events");
  es.onopen = () => set("live", "live", "ok");
  es.onerror = () => {
    // EventSource retries by itself; a refused stream (401) closes it: sign in again
    if (es.readyState === EventSource.CLOSED) { set("closed", "disconnected", "bad"); fetch("/api/v1/status").then((r) => { if (r.status === 401) window.location.assign("/login"); }); }
    else set("reconnecting", "reconnecting…", "wait");
  };
  es.addEventListener("state", (ev) => {
    try { render(JSON.parse(ev.data)); } catch (err) { set("error", "render error", "bad"); throw err; }
  });
}

connect();
