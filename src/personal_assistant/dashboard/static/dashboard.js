// The health dashboard: reads the JSON health endpoints every few seconds and
// renders them. Plain DOM and SVG, no dependencies, no build step. Every text that
// comes from the server is inserted with textContent (never innerHTML), so a
// statement or a reason cannot inject markup.
"use strict";

(() => {
  const TOKEN_KEY = "pa-health-token";
  const HISTORY_KEY = "pa-dashboard-history-v1";
  const HISTORY_MS = 5 * 60 * 1000;
  const MIN_SPAN_MS = 30 * 1000;
  const OPTIMIZER_EVERY_MS = 60 * 1000;
  const REQUEST_TIMEOUT_MS = 15 * 1000;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const STATUS_LABEL = {
    pass: "✓ Pass", warn: "▲ Warn", fail: "✕ Fail", unknown: "? Unknown", locked: "🔒 Token needed",
  };
  const SEVERITY_LABEL = { critical: "‼ Critical", warning: "▲ Warning", info: "ℹ Info" };
  const RANK = { unknown: 0, locked: 0, pass: 1, warn: 2, fail: 3 };

  const params = new URLSearchParams(window.location.search);
  const refreshMs = 1000 * Math.min(60, Math.max(1, Number(params.get("refresh")) || 5));

  const state = {
    tokenRequired: false,
    paused: false,
    timer: null,
    optimizerAt: 0,
    optimizerBusy: false,
    recommendationsSignature: null,
    lastPool: null,
    history: loadHistory(),
  };

  // -- small DOM helpers -------------------------------------------------------------
  const $ = (selector, root = document) => root.querySelector(selector);

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "title") {
        node.setAttribute(key, value);
      } else node[key] = value;
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function svg(tag, attrs = {}) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    return node;
  }

  function fmtMs(value) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    if (value < 1) return value.toFixed(2);
    if (value < 100) return value.toFixed(1);
    return String(Math.round(value));
  }

  const fmtPct = (ratio) => (ratio === null || ratio === undefined ? "–" : `${Math.round(ratio * 100)}%`);
  const fmtInt = (value) => (value === null || value === undefined ? "–" : Number(value).toLocaleString("en"));

  function fmtTime(iso) {
    if (!iso) return "–";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
  }

  /** Replace a <dl> with [label, value, key] rows; ``key`` becomes data-key (for tests too). */
  function setFigures(dl, rows) {
    dl.replaceChildren(
      ...rows.map(([label, value, key]) =>
        el("div", { className: "figure" }, el("dt", { text: label }), el("dd", { text: value, "data-key": key })),
      ),
    );
  }

  function setStatus(card, status, reason) {
    card.dataset.status = status;
    $(".badge", card).textContent = STATUS_LABEL[status] || STATUS_LABEL.unknown;
    $(".reason", card).textContent = reason || "";
  }

  // -- fetching ----------------------------------------------------------------------
  function token() {
    return window.sessionStorage.getItem(TOKEN_KEY);
  }

  /** GET a JSON endpoint; never throws: {ok, status, body, error, unauthorized}. */
  async function getJSON(path, { detailed = true } = {}) {
    if (detailed && state.tokenRequired && !token()) return { ok: false, status: 0, locked: true };
    const headers = { Accept: "application/health+json, application/json" };
    // Sent to the open endpoints too: /health/database then adds its details (the
    // database's name, the blocked sessions) and never answers 401.
    if (token()) headers.Authorization = `Bearer ${token()}`;
    const controller = new AbortController();
    const timer = window.setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(path, { headers, cache: "no-store", signal: controller.signal });
    } catch (err) {
      const reason = err && err.name === "AbortError" ? "no answer in time" : "the app did not answer";
      return { ok: false, status: 0, error: reason };
    } finally {
      window.clearTimeout(timer);
    }
    if (response.status === 401) return { ok: false, status: 401, unauthorized: true };
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    const error = response.ok ? null : describeFailure(response.status, body);
    return { ok: response.ok, status: response.status, body, error };
  }

  function describeFailure(status, body) {
    if (body && typeof body.output === "string") return body.output;
    if (body && typeof body.detail === "string") return body.detail;
    return `HTTP ${status}`;
  }

  /** Status and reason of a health+json answer (or of the failure to get one). */
  function verdict(result) {
    if (result.locked) return ["locked", "enter the health token to see these figures"];
    if (result.unauthorized) return ["locked", "the token was refused"];
    const body = result.body;
    if (body && typeof body.status === "string" && body.status in RANK) {
      return [body.status, body.status === "pass" ? "" : body.output || ""];
    }
    return [result.status === 0 ? "unknown" : "fail", result.error || "no answer"];
  }

  // -- history (kept in session storage, so a reload keeps the last minutes) ----------
  function loadHistory() {
    try {
      const saved = JSON.parse(window.sessionStorage.getItem(HISTORY_KEY) || "null");
      if (saved && Array.isArray(saved.pool) && Array.isArray(saved.queries)) return saved;
    } catch (err) {
      // A corrupt entry is simply replaced.
    }
    return { pool: [], queries: [] };
  }

  function remember(series, sample) {
    const list = state.history[series];
    list.push(sample);
    const oldest = Date.now() - HISTORY_MS;
    while (list.length && list[0].t < oldest) list.shift();
    try {
      window.sessionStorage.setItem(HISTORY_KEY, JSON.stringify(state.history));
    } catch (err) {
      // Storage full or disabled: the charts still work for this page view.
    }
  }

  // -- charts (plain SVG) ------------------------------------------------------------
  const SERIES_STYLE = [
    { cls: "s1", dash: "", marker: "circle" },
    { cls: "s2", dash: "7 4", marker: "square" },
    { cls: "s3", dash: "2 3", marker: "triangle" },
  ];

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return step * power;
    return 10 * power;
  }

  function marker(kind, x, y, cls) {
    if (kind === "square") return svg("rect", { x: x - 4, y: y - 4, width: 8, height: 8, class: `mark ${cls}` });
    if (kind === "triangle") {
      return svg("polygon", { points: `${x},${y - 5} ${x + 5},${y + 4} ${x - 5},${y + 4}`, class: `mark ${cls}` });
    }
    return svg("circle", { cx: x, cy: y, r: 4, class: `mark ${cls}` });
  }

  /** Draw ``series`` ([{label, unit, points: [[t, v|null]]}]) into a <figure class=chart>. */
  function ago(ms) {
    const seconds = Math.round(ms / 1000);
    return seconds < 120 ? `−${seconds} s` : `−${Number((seconds / 60).toFixed(1))} min`;
  }

  const fmtAxis = (value) => String(Number(value.toPrecision(3)));

  function drawChart(figure, series, { fixedMax = null, format = fmtMs, axis = fmtAxis } = {}) {
    const chart = $("svg", figure);
    const width = Math.max(260, Math.round(chart.getBoundingClientRect().width) || 600);
    const height = 180;
    const pad = { left: 48, right: 12, top: 10, bottom: 24 };
    const now = Date.now();
    const oldest = Math.min(now, ...series.flatMap((s) => s.points.map((p) => p[0])));
    // The time axis grows with the history (30 s to 5 min), so a fresh page is not empty.
    const span = Math.min(HISTORY_MS, Math.max(MIN_SPAN_MS, now - oldest));
    const x0 = now - span;
    const values = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v !== null);
    const yMax = fixedMax || niceMax(Math.max(0, ...values));
    const xOf = (t) => pad.left + ((t - x0) / span) * (width - pad.left - pad.right);
    const yOf = (v) => height - pad.bottom - (v / yMax) * (height - pad.top - pad.bottom);

    chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
    chart.setAttribute("width", width);
    chart.setAttribute("height", height);
    const nodes = [];
    for (const fraction of [0, 0.5, 1]) {
      const y = yOf(yMax * fraction);
      nodes.push(svg("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid" }));
      const label = svg("text", { x: pad.left - 6, y: y + 4, class: "axis", "text-anchor": "end" });
      label.textContent = axis(yMax * fraction);
      nodes.push(label);
    }
    for (const [t, text] of [[x0, ago(span)], [now - span / 2, ago(span / 2)], [now, "now"]]) {
      const anchor = t === x0 ? "start" : t === now ? "end" : "middle";
      const label = svg("text", { x: xOf(t), y: height - 6, class: "axis", "text-anchor": anchor });
      label.textContent = text;
      nodes.push(label);
    }
    const legend = $(".legend", figure);
    const items = [];
    series.forEach((s, index) => {
      const style = SERIES_STYLE[index % SERIES_STYLE.length];
      // Gaps (null) split the line, so an outage shows as a break, not as zero.
      let run = [];
      const flush = () => {
        if (run.length > 1) {
          nodes.push(svg("polyline", { points: run.join(" "), class: `line ${style.cls}`, "stroke-dasharray": style.dash }));
        }
        run = [];
      };
      for (const [t, v] of s.points) {
        if (v === null || t < x0) flush();
        else run.push(`${xOf(t).toFixed(1)},${yOf(Math.min(v, yMax)).toFixed(1)}`);
      }
      flush();
      const last = s.points.length ? s.points[s.points.length - 1] : null;
      if (last && last[1] !== null) nodes.push(marker(style.marker, xOf(last[0]), yOf(Math.min(last[1], yMax)), style.cls));
      const key = svg("svg", { width: 34, height: 12, class: "key", "aria-hidden": "true" });
      key.append(svg("line", { x1: 1, x2: 22, y1: 6, y2: 6, class: `line ${style.cls}`, "stroke-dasharray": style.dash }));
      key.append(marker(style.marker, 28, 6, style.cls));
      const latest = last && last[1] !== null ? `${format(last[1])}${s.unit}` : "no data";
      items.push(el("li", {}, key, el("span", { text: `${s.label}: ` }), el("strong", { text: latest, "data-key": s.key })));
    });
    chart.replaceChildren(...nodes);
    chart.dataset.points = String(Math.max(0, ...series.map((s) => s.points.filter((p) => p[1] !== null).length)));
    legend.replaceChildren(...items);
  }

  function drawCharts() {
    const pool = state.history.pool;
    const queries = state.history.queries;
    const pct = (v) => `${Math.round(v)}`;
    drawChart($("#chart-pool-pressure"), [
      { label: "utilization", unit: "%", key: "chart.utilization", points: pool.map((s) => [s.t, s.util]) },
      { label: "checkouts that waited", unit: "%", key: "chart.waited", points: pool.map((s) => [s.t, s.waited]) },
    ], { fixedMax: 100, format: pct });
    drawChart($("#chart-pool-wait"), [
      { label: "checkout wait p95", unit: " ms", key: "chart.wait_p95", points: pool.map((s) => [s.t, s.waitP95]) },
    ]);
    drawChart($("#chart-latency"), [
      { label: "p50", unit: " ms", key: "chart.p50", points: queries.map((s) => [s.t, s.p50]) },
      { label: "p95", unit: " ms", key: "chart.p95", points: queries.map((s) => [s.t, s.p95]) },
      { label: "p99", unit: " ms", key: "chart.p99", points: queries.map((s) => [s.t, s.p99]) },
    ]);
  }

  // -- sections ----------------------------------------------------------------------
  function renderDatabase(result) {
    const card = $("#card-database");
    const [status, reason] = verdict(result);
    setStatus(card, status, reason);
    const db = result.body && result.body.database;
    const sessions = result.body && result.body.sessions;
    setFigures($(".figures", card), db
      ? [
        ["Round trip", `${fmtMs(db.response_time_ms)} ms`, "db.response_time_ms"],
        ["Server connections", `${db.connections} of ${db.max_connections}`, "db.connections"],
        ["Database", db.name, "db.name"],
        ["Server", db.server_version, "db.server_version"],
        ...(sessions && sessions.available ? [["Waiting on a lock", fmtInt(sessions.blocked), "db.blocked"]] : []),
      ]
      : []);
    return status;
  }

  // -- blocked and long-running sessions (from /health/database) -----------------------
  const fmtS = (seconds) => (seconds === null || seconds === undefined ? "–" : Number(seconds).toFixed(1));

  function statementCell(s) {
    if (s.statement) return { code: s.statement, title: s.fingerprint ? `fingerprint ${s.fingerprint}` : "" };
    return s.visible === false ? "not visible (another role)" : "–";
  }

  function showList(id, rows) {
    const shown = tableRows($(`#${id} tbody`), rows);
    $(`#${id}`).hidden = shown === 0;
    $(`#${id}-empty`).hidden = shown > 0;
  }

  function renderSessions(result) {
    const sessions = result.body && result.body.sessions;
    const message = $("#sessions-message");
    const lists = $("#session-lists");
    if (!sessions || !sessions.available) {
      setFigures($("#session-figures"), []);
      lists.hidden = true;
      message.hidden = false;
      message.textContent = sessions ? "The sessions could not be read: see the database card." : "Not known while the database does not answer.";
      return;
    }
    const limits = sessions.thresholds;
    setFigures($("#session-figures"), [
      ["Waiting on a lock", fmtInt(sessions.blocked), "sessions.blocked"],
      ["Longest wait", `${fmtS(sessions.longest_wait_s)} s`, "sessions.longest_wait_s"],
      ["Blocking others", fmtInt(sessions.blocking), "sessions.blocking"],
      [limits ? `Long-running (over ${limits.long_running_s} s)` : "Long-running", fmtInt(sessions.long_running), "sessions.long_running"],
    ]);
    if (!Array.isArray(sessions.blocked_sessions)) {
      lists.hidden = true;
      message.hidden = false;
      message.textContent = "🔒 Enter the health token to see which sessions wait, and on whom.";
      return;
    }
    lists.hidden = false;
    message.hidden = true;
    showList("blocked", sessions.blocked_sessions.map((s) => [
      String(s.pid), statementCell(s), s.lock ? `${s.lock.mode} on ${s.lock.relation || s.lock.type}` : "–",
      fmtS(s.waited_s), s.blocked_by.length ? s.blocked_by.join(", ") : "–",
    ]));
    const holder = (s) => [String(s.pid), statementCell(s), s.state || "not visible", fmtS(s.transaction_s)];
    showList("blockers", sessions.blocking_sessions.map((s) => [...holder(s), fmtS(s.state_s), fmtInt(s.blocking)]));
    showList("long-running", sessions.long_running_sessions.map(holder));
    const note = $("#sessions-note");
    note.hidden = !sessions.note;
    note.textContent = sessions.note || "";
  }

  function renderPool(result) {
    const card = $("#card-pool");
    const [status, reason] = verdict(result);
    setStatus(card, status, reason);
    const pool = result.body && result.body.pool;
    if (!pool) {
      setFigures($(".figures", card), []);
      if (!result.locked && !result.unauthorized) remember("pool", { t: Date.now(), util: null, waited: null, waitP95: null });
      return status;
    }
    const prev = state.lastPool;
    const checkouts = prev ? pool.total_checkouts - prev.total_checkouts : 0;
    const waited = prev && checkouts > 0 ? (100 * (pool.waited_checkouts - prev.waited_checkouts)) / checkouts : prev ? 0 : null;
    state.lastPool = pool;
    remember("pool", { t: Date.now(), util: 100 * pool.utilization, waited, waitP95: pool.checkout_wait_ms.p95 });

    setFigures($(".figures", card), [
      ["Checked out", `${pool.checked_out} of ${pool.capacity}`, "pool.card_checked_out"],
      ["Utilization", fmtPct(pool.utilization), "pool.card_utilization"],
      ["Timeouts (1 min)", fmtInt(pool.timeouts_last_minute), "pool.card_timeouts"],
    ]);
    const idle = pool.checked_in;
    setFigures($("#pool-figures"), [
      ["Checked out", fmtInt(pool.checked_out), "pool.checked_out"],
      ["Idle", fmtInt(idle), "pool.idle"],
      ["Overflow", `${pool.overflow} of ${pool.max_overflow}`, "pool.overflow"],
      ["Capacity", `${pool.capacity} (${pool.pool_size} + ${pool.max_overflow} overflow)`, "pool.capacity"],
      ["Utilization", fmtPct(pool.utilization), "pool.utilization"],
      ["Checkouts that waited", fmtPct(pool.wait_ratio), "pool.wait_ratio"],
      ["Checkout wait p95", `${fmtMs(pool.checkout_wait_ms.p95)} ms`, "pool.wait_p95"],
      ["Timeouts (last minute)", fmtInt(pool.timeouts_last_minute), "pool.timeouts_last_minute"],
      ["Connection reuse", fmtPct(pool.reuse_ratio), "pool.reuse_ratio"],
      ["Checkouts since start", fmtInt(pool.total_checkouts), "pool.total_checkouts"],
    ]);
    const capacity = Math.max(1, pool.capacity);
    const inPool = Math.max(0, pool.checked_out - pool.overflow);
    const share = (n) => `${Math.min(100, (100 * n) / capacity)}%`;
    const bar = $("#pool-bar");
    const [used, overflow, idleSeg] = bar.children;
    used.style.width = share(inPool);
    overflow.style.width = share(Math.min(pool.overflow, pool.checked_out));
    idleSeg.style.width = share(idle);
    bar.setAttribute("aria-label",
      `${pool.checked_out} of ${pool.capacity} connections checked out (${pool.overflow} overflow), ${idle} idle`);
    return status;
  }

  function tableRows(tbody, rows) {
    const headers = [...tbody.closest("table").querySelectorAll("th")].map((th) => th.textContent);
    tbody.replaceChildren(...rows.map((cells) => el("tr", {}, ...cells.map((cell, i) => {
      const td = el("td", { "data-label": headers[i] });
      if (cell && cell.code) {
        td.append(el("code", { text: cell.code, title: cell.title || "" }));
      } else {
        td.textContent = cell;
        if (typeof cell === "string" && /^[\d.,–x×]+$/.test(cell)) td.className = "num";
      }
      return td;
    }))));
    return rows.length;
  }

  function renderPerformance(result) {
    const card = $("#card-performance");
    const [status, reason] = verdict(result);
    setStatus(card, status, reason);
    const body = result.body;
    if (!body || !body.overall) {
      setFigures($(".figures", card), []);
      if (!result.locked && !result.unauthorized) remember("queries", { t: Date.now(), p50: null, p95: null, p99: null });
      return status;
    }
    const win = body.overall.window_ms;
    const has = win.count > 0;
    remember("queries", { t: Date.now(), p50: has ? win.p50 : null, p95: has ? win.p95 : null, p99: has ? win.p99 : null });
    const alerts = body.alerts || [];
    setFigures($(".figures", card), [
      ["p95 (window)", `${fmtMs(win.p95)} ms`, "perf.card_p95"],
      ["Active alerts", fmtInt(alerts.length), "perf.card_alerts"],
      ["Slow queries", fmtInt(body.slow_query_count), "perf.card_slow"],
    ]);
    const windowMin = body.window_s ? `${Math.round(body.window_s / 60)} min` : "window";
    setFigures($("#query-figures"), [
      [`Queries (${windowMin})`, fmtInt(win.count), "perf.window_count"],
      ["p50", `${fmtMs(win.p50)} ms`, "perf.p50"],
      ["p95", `${fmtMs(win.p95)} ms`, "perf.p95"],
      ["p99", `${fmtMs(win.p99)} ms`, "perf.p99"],
      ["max", `${fmtMs(win.max)} ms`, "perf.max"],
      [`Slow (over ${fmtMs(body.slow_query_ms)} ms)`, fmtInt(body.slow_query_count), "perf.slow_count"],
    ]);
    const slowest = body.slowest_statements || [];
    const shown = tableRows($("#slowest tbody"), slowest.map((s) => [
      { code: s.fingerprint }, { code: s.statement, title: s.statement }, fmtInt(s.calls),
      fmtMs(s.total_ms.p50), fmtMs(s.total_ms.p95), fmtMs(s.total_ms.p99), fmtMs(s.total_ms.max),
    ]));
    $("#slowest-empty").hidden = shown > 0;
    $("#slowest").hidden = shown === 0;

    $("#alerts").replaceChildren(...(alerts.length
      ? alerts.map((a) => el("li", { className: "alert" },
        el("strong", { text: `▲ ${String(a.kind || "alert").replaceAll("_", " ")}` }),
        el("span", { text: ` — ${a.message || ""}` }),
        a.since ? el("span", { className: "muted", text: ` (since ${new Date(a.since * 1000).toLocaleTimeString()})` }) : null))
      : [el("li", { className: "empty", text: "✓ No active alerts." })]));

    const comparison = (body.baseline && body.baseline.comparison) || [];
    const compared = tableRows($("#baseline tbody"), comparison.map((c) => [
      { code: c.fingerprint }, { code: c.statement, title: c.statement }, fmtMs(c.live_p95_ms),
      fmtMs(c.baseline_p95_ms), c.p95_ratio === null || c.p95_ratio === undefined ? "–" : `${c.p95_ratio.toFixed(1)}×`,
    ]));
    $("#baseline-empty").hidden = compared > 0;
    $("#baseline").hidden = compared === 0;
    return status;
  }

  function renderMigrations(result) {
    const card = $("#card-migrations");
    const [status, reason] = verdict(result);
    setStatus(card, status, reason);
    const body = result.body;
    if (!body || body.current_version === undefined) {
      setFigures($(".figures", card), []);
      return status;
    }
    const last = body.last_applied;
    setFigures($(".figures", card), [
      ["Version", String(body.current_version), "mig.card_version"],
      ["Pending", fmtInt(body.pending.length), "mig.card_pending"],
    ]);
    setFigures($("#migration-figures"), [
      ["Applied version", String(body.current_version), "mig.version"],
      ["Applied migrations", fmtInt(body.applied_count), "mig.applied_count"],
      ["Latest file", last ? last.file_name : "none", "mig.last_file"],
      ["Last applied", fmtTime(body.last_applied_at), "mig.last_applied_at"],
    ]);
    $("#pending").replaceChildren(...(body.pending.length
      ? body.pending.map((p) => el("li", {}, el("code", { text: p.file_name }), el("span", { text: ` — ${p.description}` })))
      : [el("li", { className: "empty", text: "✓ None pending." })]));
    $("#migration-problems-block").hidden = body.problems.length === 0;
    $("#migration-problems").replaceChildren(...body.problems.map((p) =>
      el("li", {}, el("code", { text: p.file_name }), el("span", { text: ` — ${p.state}` }))));
    return status;
  }

  // -- optimizer ---------------------------------------------------------------------
  async function copyText(text, button) {
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch (err) {
      // No clipboard API (plain http on another host): fall back to a selection.
      const area = el("textarea", { value: text, readOnly: true, className: "offscreen" });
      document.body.append(area);
      area.select();
      copied = document.execCommand("copy");
      area.remove();
    }
    button.textContent = copied ? "✓ Copied" : "Copy failed: select the SQL";
    window.setTimeout(() => { button.textContent = "Copy SQL"; }, 2000);
  }

  function recommendationItem(rec) {
    const where = [rec.schema && rec.table ? `${rec.schema}.${rec.table}` : rec.table, rec.index ? `index ${rec.index}` : null]
      .filter(Boolean).join(" · ");
    const costs = rec.estimated_cost_before !== null && rec.estimated_cost_before !== undefined
      ? el("p", { className: "muted", text: `estimated cost ${fmtInt(Math.round(rec.estimated_cost_before))} → ${fmtInt(Math.round(rec.estimated_cost_after))}` })
      : null;
    const code = el("code", { text: rec.sql });
    const copy = el("button", { type: "button", className: "copy", text: "Copy SQL", "aria-label": `Copy the SQL: ${rec.sql}` });
    copy.addEventListener("click", () => copyText(rec.sql, copy));
    return el("li", { className: "rec", "data-severity": rec.severity, "data-kind": rec.kind },
      el("div", { className: "rec-head" },
        el("span", { className: "sev", text: SEVERITY_LABEL[rec.severity] || rec.severity }),
        el("strong", { text: String(rec.kind).replaceAll("_", " ") }),
        where ? el("span", { className: "muted", text: where }) : null),
      el("p", { text: rec.reason }),
      costs,
      el("div", { className: "sql" }, el("pre", {}, code), copy));
  }

  async function refreshOptimizer() {
    if (state.optimizerBusy) return;
    state.optimizerBusy = true;
    const button = $("#analyse");
    button.disabled = true;
    button.textContent = "Analysing…";
    try {
      const result = await getJSON("/health/database/optimization");
      state.optimizerAt = Date.now();
      const error = $("#optimizer-error");
      if (result.locked || result.unauthorized) {
        error.hidden = false;
        error.textContent = "🔒 Enter the health token to see the recommendations.";
        return;
      }
      if (!result.ok || !result.body || !Array.isArray(result.body.recommendations)) {
        error.hidden = false;
        error.textContent = `✕ Optimizer unavailable: ${result.error || "no answer"} (showing the last analysis, if any)`;
        return;
      }
      error.hidden = true;
      const body = result.body;
      $("#optimizer-meta").textContent = `Analysed at ${fmtTime(body.generated_at)}: ${body.recommendations.length} recommendation(s).`;
      // Re-render only when the recommendations changed: replacing identical items
      // would reset a "✓ Copied" the operator just got, and move their focus.
      const signature = JSON.stringify(body.recommendations.map((r) => [r.kind, r.severity, r.sql, r.reason]));
      if (signature !== state.recommendationsSignature) {
        state.recommendationsSignature = signature;
        $("#recommendations").replaceChildren(...body.recommendations.map(recommendationItem));
      }
      $("#recommendations-empty").hidden = body.recommendations.length > 0;
      const notes = [...(body.unavailable || []).map((u) => `unavailable: ${u}`), ...(body.notes || [])];
      $("#optimizer-notes").replaceChildren(...notes.map((n) => el("li", { text: n })));
    } finally {
      state.optimizerBusy = false;
      button.disabled = false;
      button.textContent = "Analyse now";
    }
  }

  // -- the refresh cycle -------------------------------------------------------------
  function renderOverall(parts) {
    const worst = parts.reduce((a, b) => (RANK[b.status] > RANK[a.status] ? b : a), { status: "unknown" });
    const banner = $("#overall");
    const known = parts.filter((p) => RANK[p.status] > 0);
    const status = known.length ? worst.status : parts.some((p) => p.status === "locked") ? "locked" : "unknown";
    banner.dataset.status = status;
    $("#overall-badge").textContent = STATUS_LABEL[status];
    const bad = parts.filter((p) => p.status === "warn" || p.status === "fail");
    let text = "All checks pass.";
    if (status === "unknown") text = "No figures yet.";
    else if (bad.length) text = bad.map((p) => `${p.name}: ${p.status === "fail" ? "failing" : "warning"}`).join(" · ");
    if (parts.some((p) => p.status === "locked")) text += " Some figures need the health token.";
    $("#overall-text").textContent = text;
  }

  function checkToken(results) {
    if (results.some((r) => r.unauthorized)) {
      window.sessionStorage.removeItem(TOKEN_KEY);
      state.tokenRequired = true;
      showTokenPanel("The token was refused: enter it again.");
    }
  }

  async function refreshOnce() {
    const [database, pool, performance, migrations] = await Promise.all([
      getJSON("/health/database", { detailed: false }),
      getJSON("/health/database/pool"),
      getJSON("/health/database/performance"),
      getJSON("/health/database/migrations"),
    ]);
    checkToken([pool, performance, migrations]);
    renderSessions(database);
    renderOverall([
      { name: "database", status: renderDatabase(database) },
      { name: "pool", status: renderPool(pool) },
      { name: "performance", status: renderPerformance(performance) },
      { name: "migrations", status: renderMigrations(migrations) },
    ]);
    drawCharts();
    const updated = $("#updated");
    updated.dateTime = new Date().toISOString();
    updated.textContent = new Date().toLocaleTimeString();
    if (Date.now() - state.optimizerAt > OPTIMIZER_EVERY_MS && !(state.tokenRequired && !token())) {
      refreshOptimizer();
    }
  }

  async function refresh() {
    window.clearTimeout(state.timer);
    try {
      await refreshOnce();
    } finally {
      schedule(); // even if a surprising answer broke the rendering
    }
  }

  function schedule() {
    window.clearTimeout(state.timer);
    if (!state.paused) state.timer = window.setTimeout(refresh, refreshMs);
  }

  // -- token and controls ------------------------------------------------------------
  function showTokenPanel(message) {
    $("#token-panel").hidden = false;
    $("#token-error").textContent = message || "";
    $("#forget-token").hidden = true;
  }

  function bindControls() {
    $("#token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("#token-input").value.trim();
      if (!value) return;
      window.sessionStorage.setItem(TOKEN_KEY, value);
      $("#token-input").value = "";
      $("#token-panel").hidden = true;
      $("#forget-token").hidden = false;
      state.optimizerAt = 0;
      refresh();
    });
    $("#forget-token").addEventListener("click", () => {
      window.sessionStorage.removeItem(TOKEN_KEY);
      showTokenPanel("");
      refresh();
    });
    $("#pause").addEventListener("click", (event) => {
      state.paused = !state.paused;
      event.currentTarget.setAttribute("aria-pressed", String(state.paused));
      event.currentTarget.textContent = state.paused ? "Resume updates" : "Pause updates";
      if (state.paused) window.clearTimeout(state.timer);
      else refresh();
    });
    $("#analyse").addEventListener("click", () => refreshOptimizer());
    let resizeTimer = null;
    window.addEventListener("resize", () => {
      window.clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(drawCharts, 150);
    });
  }

  async function start() {
    $("#refresh-s").textContent = String(refreshMs / 1000);
    bindControls();
    const config = await getJSON("/dashboard/config", { detailed: false });
    state.tokenRequired = Boolean(config.body && config.body.token_required);
    if (state.tokenRequired && !token()) showTokenPanel("");
    else if (token()) $("#forget-token").hidden = false;
    drawCharts();
    refresh();
  }

  start();
})();
