// The tunesdk serve dashboard: a client of the native API (/tunesdk/v1).
//
// Rules this file keeps:
// - every text from the server (run ids, models, log messages, errors) goes into the page through
//   textContent / text nodes, never innerHTML;
// - the API key lives in sessionStorage and travels only in the Authorization header (EventSource
//   cannot send headers, so the event stream is read with fetch and parsed here; a key in a URL
//   would end up in access logs and proxies);
// - the server's Content-Security-Policy allows only this file and the vendored uPlot.
"use strict";

(function () {
  const API = "/tunesdk/v1";
  const KEY_STORAGE = "tunesdk.apiKey";
  const STATUSES = ["created", "validating", "uploading", "queued", "running", "completed",
    "failed", "cancelled", "damaged"];
  const TERMINAL = new Set(["completed", "failed", "cancelled"]);
  const TERMINAL_EVENTS = new Set(["completed", "failed", "cancelled"]);
  const MAX_LOG_LINES = 500;
  const LIST_REFRESH_MS = 5000;
  const COLORS = ["#2563eb", "#dc2626", "#059669", "#9333ea", "#d97706", "#0891b2"];

  const view = document.getElementById("view");
  const announcer = document.getElementById("announcer");
  const forgetKey = document.getElementById("forget-key");

  // what the current view started (timers, streams, charts); stopped when the route changes
  let cleanups = [];
  // bumped on every route change: a view whose request returns after the user moved on stops
  let routeToken = 0;

  // ---- small DOM helpers (text only: no HTML parsing of data) --------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") el.textContent = String(value);
      else if (name === "onclick") el.addEventListener("click", value);
      else if (name === "onsubmit") el.addEventListener("submit", value);
      else if (name === "onchange") el.addEventListener("change", value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }

  function announce(text) {
    announcer.textContent = "";
    window.setTimeout(() => { announcer.textContent = text; }, 50);
  }

  function runHref(id) {
    return "#/runs/" + encodeURIComponent(id);
  }

  function fmtNumber(value) {
    if (typeof value !== "number" || !isFinite(value)) return value === null || value === undefined ? "–" : String(value);
    if (Number.isInteger(value)) return String(value);
    const abs = Math.abs(value);
    if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
    return String(Number(value.toPrecision(5)));
  }

  function age(iso) {
    const then = Date.parse(iso);
    if (isNaN(then)) return "–";
    const s = Math.max(0, Math.round((Date.now() - then) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  }

  function timeEl(iso) {
    return h("time", { datetime: iso || "", title: iso || "" }, age(iso));
  }

  function statusBadge(status) {
    return h("span", { class: "status status-" + String(status).replace(/[^a-z]/g, "") }, status || "unknown");
  }

  // ---- the API --------------------------------------------------------------------------------

  class NeedsKey extends Error {}

  function authHeaders(extra) {
    const headers = Object.assign({}, extra || {});
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (key) headers["Authorization"] = "Bearer " + key;
    return headers;
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch (e) { /* not JSON */ }
    return response.status + " " + response.statusText;
  }

  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = authHeaders(Object.assign({ Accept: "application/json" }, opts.headers || {}));
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers["Content-Type"] = "application/json";
      delete opts.json;
    }
    const response = await fetch(API + path, opts);
    if (response.status === 401) throw new NeedsKey(await errorText(response));
    if (!response.ok) throw new Error(await errorText(response));
    return response.status === 204 ? null : response.json();
  }

  // list endpoints answer {"data": [...]} (OpenAI's list shape); a bare array is accepted too
  function items(body) {
    if (Array.isArray(body)) return body;
    if (body && Array.isArray(body.data)) return body.data;
    if (body && Array.isArray(body.runs)) return body.runs;
    if (body && Array.isArray(body.events)) return body.events;
    return [];
  }

  function runId(run) {
    return run.id || run.run_id;
  }

  function runModel(run) {
    if (typeof run.model === "string") return run.model;
    if (run.model && typeof run.model === "object") return run.model.base_model || run.model.model_id || run.model.path || "";
    return run.base_model || (run.job && run.job.model) || "";
  }

  // Reads the run's server-sent events with fetch (headers allowed), resuming with Last-Event-ID
  // after a dropped connection so that no event is lost or repeated. Stops after a terminal event.
  function streamEvents(id, onEvent, onState) {
    const controller = new AbortController();
    let last = 0;
    let ended = false;

    function dispatch(block) {
      let data = "";
      let seqText = null;
      let kind = "message";
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") data += (data ? "\n" : "") + value;
        else if (field === "id") seqText = value;
        else if (field === "event") kind = value;
      }
      if (kind === "end") { ended = true; return; } // the server's last word after a terminal event
      if (!data) return;
      let event;
      try { event = JSON.parse(data); } catch (e) { return; }
      if (!event || typeof event !== "object" || !event.type) return;
      const seq = typeof event.seq === "number" ? event.seq : Number(seqText);
      if (seq && seq <= last) return; // already shown
      if (seq) last = seq;
      onEvent(event);
      if (TERMINAL_EVENTS.has(event.type)) ended = true;
    }

    async function loop() {
      let delay = 500;
      while (!controller.signal.aborted && !ended) {
        try {
          const headers = authHeaders({ Accept: "text/event-stream" });
          if (last) headers["Last-Event-ID"] = String(last);
          const response = await fetch(API + "/runs/" + encodeURIComponent(id) + "/events/stream",
            { headers, signal: controller.signal, cache: "no-store" });
          if (response.status === 401) { onState("needs-key"); return; }
          if (response.status === 204) { ended = true; break; } // ended, nothing left to send
          if (!response.ok) throw new Error(await errorText(response));
          onState("live");
          delay = 500;
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              dispatch(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
            }
          }
        } catch (e) {
          if (controller.signal.aborted) return;
        }
        if (ended) break;
        onState("reconnecting");
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5000);
      }
      if (ended) onState("ended");
    }

    loop();
    return () => controller.abort();
  }

  // ---- curves from events ---------------------------------------------------------------------

  // step -> value maps per series; `reward` only when the run reports rewards (GRPO)
  function newCurves() {
    return { train: new Map(), eval: new Map(), reward: new Map() };
  }

  function addToCurves(curves, event) {
    if (event.type === "progress") {
      if (typeof event.train_loss === "number") curves.train.set(event.step, event.train_loss);
      if (typeof event.reward_mean === "number") curves.reward.set(event.step, event.reward_mean);
      return true;
    }
    if (event.type === "evaluation" && typeof event.eval_loss === "number") {
      curves.eval.set(event.step, event.eval_loss);
      return true;
    }
    return false;
  }

  // uPlot wants one sorted x array and one y array per series (null where a series has no point)
  function aligned(maps) {
    const steps = new Set();
    for (const m of maps) for (const step of m.keys()) steps.add(step);
    const xs = Array.from(steps).sort((a, b) => a - b);
    return [xs, ...maps.map((m) => xs.map((x) => (m.has(x) ? m.get(x) : null)))];
  }

  function makeChart(container, seriesDefs, yLabel) {
    const width = () => Math.max(240, container.clientWidth || 600);
    const opts = {
      width: width(),
      height: container.clientWidth < 500 ? 220 : 300,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { label: yLabel }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      series: [{ label: "step" }, ...seriesDefs.map((s, i) => ({
        label: s.label,
        stroke: s.color || COLORS[i % COLORS.length],
        width: 2,
        dash: s.dash,
        spanGaps: true,
        points: { show: s.points || false, size: 5 },
      }))],
    };
    const empty = [[], ...seriesDefs.map(() => [])];
    const chart = new window.uPlot(opts, empty, container);
    const resize = new ResizeObserver(() => chart.setSize({ width: width(), height: opts.height }));
    resize.observe(container);
    return {
      chart,
      set(data) { chart.setData(data); },
      destroy() { resize.disconnect(); chart.destroy(); },
    };
  }

  // ---- the API key ----------------------------------------------------------------------------

  function updateKeyButton() {
    forgetKey.hidden = !sessionStorage.getItem(KEY_STORAGE);
  }

  forgetKey.addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    updateKeyButton();
    route();
  });

  function renderKeyForm(message) {
    routeToken++;
    stopView();
    clear(view);
    const input = h("input", { id: "api-key", type: "password", name: "api-key", autocomplete: "off", required: true, spellcheck: "false" });
    const form = h("form", {
      class: "card key-form",
      onsubmit: (e) => {
        e.preventDefault();
        const key = input.value.trim();
        if (!key) return;
        sessionStorage.setItem(KEY_STORAGE, key);
        updateKeyButton();
        route();
      },
    },
    h("h1", { text: "API key needed" }),
    h("p", {}, "This server needs an API key. It is kept in this tab only (sessionStorage) and sent as an Authorization header."),
    message ? h("p", { class: "error", role: "alert" }, message) : null,
    h("label", { for: "api-key" }, "API key"),
    input,
    h("button", { type: "submit", class: "primary" }, "Use key"));
    view.append(form);
    input.focus();
  }

  // ---- views ----------------------------------------------------------------------------------

  function stopView() {
    for (const stop of cleanups) {
      try { stop(); } catch (e) { /* ignore */ }
    }
    cleanups = [];
  }

  function showError(err, where) {
    if (err instanceof NeedsKey) {
      renderKeyForm(sessionStorage.getItem(KEY_STORAGE) ? "That key was not accepted: " + err.message : null);
      return;
    }
    (where || view).append(h("p", { class: "error", role: "alert" }, String(err.message || err)));
  }

  function hashQuery() {
    const hash = location.hash || "#/";
    const q = hash.indexOf("?");
    return new URLSearchParams(q < 0 ? "" : hash.slice(q + 1));
  }

  function setNav(current) {
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.getAttribute("data-nav") === current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  // The run list: status, backend, model, age; filtered by status and backend (in the URL).
  async function renderList() {
    setNav("runs");
    document.title = "Runs · tunesdk";
    const mine = routeToken;
    const query = hashQuery();
    const status = query.get("status") || "";
    const backend = query.get("backend") || "";

    const statusSelect = h("select", { id: "filter-status", name: "status" },
      h("option", { value: "" }, "any status"),
      STATUSES.map((s) => h("option", { value: s, selected: s === status }, s)));
    const backendSelect = h("select", { id: "filter-backend", name: "backend" },
      h("option", { value: "" }, "any backend"));
    const applyFilters = () => {
      const params = new URLSearchParams();
      if (statusSelect.value) params.set("status", statusSelect.value);
      if (backendSelect.value) params.set("backend", backendSelect.value);
      const text = params.toString();
      location.hash = "#/" + (text ? "?" + text : "");
    };
    statusSelect.addEventListener("change", applyFilters);
    backendSelect.addEventListener("change", applyFilters);

    const count = h("p", { class: "muted", id: "run-count", "aria-live": "polite" });
    const tbody = h("tbody");
    const table = h("table", { class: "runs responsive", id: "runs" },
      h("caption", { class: "visually-hidden" }, "Runs, newest first"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Run"),
        h("th", { scope: "col" }, "Status"),
        h("th", { scope: "col" }, "Backend"),
        h("th", { scope: "col" }, "Model"),
        h("th", { scope: "col" }, "Created"))),
      tbody);

    clear(view);
    view.append(
      h("div", { class: "heading" }, h("h1", {}, "Runs"), count),
      h("form", { class: "filters", onsubmit: (e) => e.preventDefault(), "aria-label": "Filter runs" },
        h("div", { class: "field" }, h("label", { for: "filter-status" }, "Status"), statusSelect),
        h("div", { class: "field" }, h("label", { for: "filter-backend" }, "Backend"), backendSelect)),
      h("div", { class: "table-wrap" }, table));

    const knownBackends = new Set(backend ? [backend] : []);
    function fillBackends() {
      const chosen = backendSelect.value || backend;
      while (backendSelect.options.length > 1) backendSelect.remove(1);
      for (const name of Array.from(knownBackends).sort()) {
        backendSelect.append(h("option", { value: name, selected: name === chosen }, name));
      }
    }
    fillBackends();
    api("/backends").then((body) => {
      for (const b of items(body)) if (b && (b.name || typeof b === "string")) knownBackends.add(b.name || b);
      fillBackends();
    }).catch(() => { /* the filter still offers the backends seen in runs */ });

    // pages of 100, newest first; "Show more" adds a page, the refresh reloads as many as shown
    const PAGE = 100;
    let wanted = PAGE;
    const more = h("button", { type: "button", id: "more-runs", hidden: true }, "Show more runs");
    more.addEventListener("click", () => { wanted += PAGE; load(); });
    view.append(more);

    let loading = false;
    async function load() {
      if (loading) return;
      loading = true;
      const runs = [];
      let hasMore = false;
      try {
        let after = null;
        while (runs.length < wanted) {
          const params = new URLSearchParams({ limit: String(PAGE) });
          if (status) params.set("status", status);
          if (backend) params.set("backend", backend);
          if (after) params.set("after", after);
          const body = await api("/runs?" + params.toString());
          const batch = items(body);
          runs.push(...batch);
          hasMore = Boolean(body && body.has_more);
          if (!hasMore || !batch.length) break;
          after = runId(batch[batch.length - 1]);
        }
      } catch (err) {
        if (mine !== routeToken) return;
        stopView();
        showError(err);
        return;
      } finally {
        loading = false;
      }
      clear(tbody);
      for (const run of runs) {
        const id = runId(run);
        if (run.backend) knownBackends.add(run.backend);
        tbody.append(h("tr", { "data-run-id": id },
          h("td", { "data-label": "Run" }, h("a", { href: runHref(id) }, id)),
          h("td", { "data-label": "Status" }, statusBadge(run.status),
            run.problem ? h("span", { class: "problem wrap" }, " " + run.problem) : null),
          h("td", { "data-label": "Backend" }, run.backend || "–"),
          h("td", { "data-label": "Model", class: "wrap" }, runModel(run) || "–"),
          h("td", { "data-label": "Created" }, timeEl(run.created_at))));
      }
      if (!runs.length) {
        tbody.append(h("tr", {}, h("td", { colspan: "5", class: "muted" },
          status || backend ? "No runs match these filters." : "No runs yet. Create one with the openai SDK, POST /tunesdk/v1/runs or `tunesdk run`.")));
      }
      count.textContent = (runs.length === 1 ? "1 run" : runs.length + " runs") + (hasMore ? " shown, more below" : "");
      more.hidden = !hasMore;
      fillBackends();
    }

    await load();
    if (mine !== routeToken) return;
    const timer = setInterval(() => { if (!document.hidden) load(); }, LIST_REFRESH_MS);
    cleanups.push(() => clearInterval(timer));
  }

  function describeEvent(e) {
    switch (e.type) {
      case "status": return "status → " + e.status + (e.message ? ": " + e.message : "");
      case "progress": {
        const parts = ["step " + e.step + (e.total_steps ? "/" + e.total_steps : "")];
        if (typeof e.train_loss === "number") parts.push("loss " + fmtNumber(e.train_loss));
        if (typeof e.reward_mean === "number") parts.push("reward " + fmtNumber(e.reward_mean));
        if (typeof e.learning_rate === "number") parts.push("lr " + fmtNumber(e.learning_rate));
        if (typeof e.percent === "number") parts.push(fmtNumber(e.percent) + "%");
        return parts.join(", ");
      }
      case "evaluation": return "eval at step " + e.step + (typeof e.eval_loss === "number" ? ": loss " + fmtNumber(e.eval_loss) : "");
      case "checkpoint": return "checkpoint at step " + e.step + (e.path || e.provider_id ? ": " + (e.path || e.provider_id) : "");
      case "log": return (e.level && e.level !== "info" ? e.level + ": " : "") + e.message;
      case "completed": return "completed" + (e.model ? ": " + modelUri(e.model) : "");
      case "failed": return "failed: " + e.error;
      case "cancelled": return "cancelled" + (e.checkpoint ? " (kept " + e.checkpoint + ")" : "");
      default: return e.type;
    }
  }

  function modelUri(model) {
    if (!model) return "";
    if (typeof model === "string") return model;
    if (model.uri) return model.uri;
    if (model.path) return "local:" + model.path;
    if (model.provider && model.model_id) return model.provider + ":" + model.model_id;
    return JSON.stringify(model);
  }

  function metricsList(metrics) {
    const dl = h("dl", { class: "metrics", id: "metrics" });
    const entries = Object.entries(metrics || {});
    if (!entries.length) dl.append(h("div", {}, h("dt", {}, "metrics"), h("dd", {}, "none yet")));
    for (const [name, value] of entries) {
      dl.append(h("div", {}, h("dt", {}, name), h("dd", {}, fmtNumber(value))));
    }
    return dl;
  }

  // The plan: the options this backend drops (what the user should know) in view, every
  // option's fate in a disclosure (a plan has ~40 rows)
  function planSection(plan) {
    const rows = (plan && Array.isArray(plan.rows)) ? plan.rows : (Array.isArray(plan) ? plan : []);
    if (!rows.length) return h("p", { class: "muted" }, "No plan recorded.");
    const show = (v) => (v === null || v === undefined ? "–" : typeof v === "string" ? v : JSON.stringify(v));
    const count = (fate) => rows.filter((r) => r.status === fate).length;
    const dropped = rows.filter((r) => r.status === "dropped" && r.user_set);
    const table = h("div", { class: "table-wrap" }, h("table", { class: "plan responsive", id: "plan" },
      h("caption", { class: "visually-hidden" }, "What happens to every option on this backend"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Option"), h("th", { scope: "col" }, "Value"),
        h("th", { scope: "col" }, "Fate"), h("th", { scope: "col" }, "Native"),
        h("th", { scope: "col" }, "Why"))),
      h("tbody", {}, rows.map((r) => h("tr", { class: "fate-" + String(r.status).replace(/[^a-z]/g, "") + (r.user_set ? " user-set" : "") },
        h("td", { "data-label": "Option" }, h("code", {}, r.option)),
        h("td", { "data-label": "Value", class: "wrap" }, show(r.value)),
        h("td", { "data-label": "Fate" }, r.status),
        h("td", { "data-label": "Native", class: "wrap" }, r.native ? r.native + (r.native_value !== undefined && r.native_value !== null ? " = " + show(r.native_value) : "") : "–"),
        h("td", { "data-label": "Why", class: "wrap" }, r.reason || ""))))));
    return h("div", {},
      dropped.length
        ? h("div", { id: "plan-dropped" }, h("p", {}, "Options you set that " + (plan.backend || "this backend") + " drops:"),
          h("ul", {}, dropped.map((r) => h("li", {}, h("code", {}, r.option), " = " + show(r.value) + ": " + (r.reason || "not supported")))))
        : h("p", { id: "plan-dropped" }, "Every option you set is honoured."),
      h("details", { id: "plan-details" },
        h("summary", {}, "All " + rows.length + " options (" + count("mapped") + " mapped, " + count("defaulted") + " defaulted, " + count("dropped") + " dropped)"),
        table));
  }

  // A run: header, Cancel, live curve, metrics, checkpoints, plan, event log.
  async function renderRun(id) {
    setNav("runs");
    document.title = id + " · tunesdk";
    const mine = routeToken;
    let run;
    try {
      run = await api("/runs/" + encodeURIComponent(id));
    } catch (err) {
      if (mine !== routeToken) return;
      clear(view);
      view.append(h("p", {}, h("a", { href: "#/" }, "← All runs")));
      showError(err);
      return;
    }
    if (mine !== routeToken) return;
    let status = run.status;
    const badge = h("span", { id: "run-status" }, statusBadge(status));
    const streamState = h("span", { class: "muted", id: "stream-state" }, "");
    const cancelButton = h("button", { type: "button", id: "cancel", class: "danger", disabled: TERMINAL.has(status) }, "Cancel run");
    const cancelNote = h("span", { class: "muted", id: "cancel-note", "aria-live": "polite" });
    // Delete: only once the run has ended, and only after a second, explicit confirmation
    const deleteButton = h("button", { type: "button", id: "delete", class: "danger", hidden: !TERMINAL.has(status), "aria-controls": "delete-confirmation", "aria-expanded": "false" }, "Delete run");
    const confirmYes = h("button", { type: "button", id: "delete-confirm", class: "danger" }, "Delete permanently");
    const confirmNo = h("button", { type: "button", id: "delete-keep" }, "Keep it");
    const confirmBox = h("div", { class: "confirm", id: "delete-confirmation", role: "group", "aria-labelledby": "delete-question", hidden: true },
      h("p", { id: "delete-question" }, "Delete run " + id + " with its events and outputs (the trained model included)? This cannot be undone."),
      confirmYes, confirmNo);
    const chartBox = h("div", { class: "chart", id: "chart" });
    const chartCaption = h("figcaption", { id: "chart-caption", class: "muted" }, "No points yet.");
    const figure = h("figure", { class: "card chart-card", "data-points": "0", id: "loss-figure" },
      h("h2", { id: "chart-title" }, "Loss"), chartBox, chartCaption);
    let metricsBox = metricsList(run.metrics);
    const metricsCard = h("section", { class: "card", "aria-labelledby": "metrics-title" }, h("h2", { id: "metrics-title" }, "Metrics"), metricsBox);
    const checkpointsList = h("ul", { id: "checkpoints", class: "plain" });
    const logList = h("ol", { id: "event-log", class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0", "aria-label": "Event log" });
    const modelLine = h("p", { id: "run-model", class: "wrap" });

    function setModel(model) {
      clear(modelLine);
      if (model) modelLine.append(h("strong", {}, "Model: "), h("code", {}, modelUri(model)));
    }
    setModel((run.result && run.result.model) || null);

    function setStatus(next) {
      if (!next || next === status) return;
      status = next;
      clear(badge);
      badge.append(statusBadge(status));
      cancelButton.disabled = TERMINAL.has(status);
      deleteButton.hidden = !TERMINAL.has(status);
      announce("Run " + status);
    }

    deleteButton.addEventListener("click", () => {
      confirmBox.hidden = false;
      deleteButton.setAttribute("aria-expanded", "true");
      confirmNo.focus(); // the safe choice has the focus: Enter alone never deletes
    });
    confirmNo.addEventListener("click", () => {
      confirmBox.hidden = true;
      deleteButton.setAttribute("aria-expanded", "false");
      deleteButton.focus();
    });
    confirmYes.addEventListener("click", async () => {
      confirmYes.disabled = true;
      cancelNote.textContent = "Deleting…";
      try {
        await api("/runs/" + encodeURIComponent(id), { method: "DELETE" });
        announce("Run " + id + " deleted");
        location.hash = "#/";
      } catch (err) {
        confirmYes.disabled = false;
        confirmBox.hidden = true;
        cancelNote.textContent = "Delete failed: " + (err.message || err);
      }
    });

    cancelButton.addEventListener("click", async () => {
      cancelButton.disabled = true;
      cancelNote.textContent = "Cancelling…";
      try {
        const body = await api("/runs/" + encodeURIComponent(id) + "/cancel", { method: "POST" });
        if (body && body.status) setStatus(body.status);
        cancelNote.textContent = "Cancel requested.";
      } catch (err) {
        cancelButton.disabled = TERMINAL.has(status);
        cancelNote.textContent = "Cancel failed: " + (err.message || err);
      }
    });

    clear(view);
    view.append(
      h("p", {}, h("a", { href: "#/" }, "← All runs")),
      h("div", { class: "heading run-heading" },
        h("h1", { class: "wrap" }, id),
        h("div", { class: "run-actions" }, cancelButton, deleteButton, cancelNote)),
      confirmBox,
      h("dl", { class: "facts" },
        h("div", {}, h("dt", {}, "Status"), h("dd", {}, badge, " ", streamState)),
        h("div", {}, h("dt", {}, "Backend"), h("dd", {}, run.backend || "–")),
        h("div", {}, h("dt", {}, "Base model"), h("dd", { class: "wrap" }, runModel(run) || "–")),
        h("div", {}, h("dt", {}, "Created"), h("dd", {}, timeEl(run.created_at)))),
      modelLine,
      h("p", {}, h("a", { href: "#/compare?a=" + encodeURIComponent(id) }, "Compare with another run")),
      figure,
      h("div", { class: "grid" },
        metricsCard,
        h("section", { class: "card", "aria-labelledby": "checkpoints-title" }, h("h2", { id: "checkpoints-title" }, "Checkpoints"), checkpointsList)),
      h("section", { class: "card", "aria-labelledby": "log-title" }, h("h2", { id: "log-title" }, "Events"), logList),
      h("section", { class: "card", "aria-labelledby": "plan-title" }, h("h2", { id: "plan-title" }, "Plan"), planSection(run.plan)));

    // the chart: reward for RL runs (their loss is ~0), else train and eval loss
    const curves = newCurves();
    let chart = null;
    let mode = null;
    let drawPending = false;
    const liveMetrics = Object.assign({}, run.metrics || {});

    function draw() {
      drawPending = false;
      const wantReward = curves.reward.size > 0;
      const nextMode = wantReward ? "reward" : "loss";
      if (!chart || mode !== nextMode) {
        if (chart) chart.destroy();
        mode = nextMode;
        document.getElementById("chart-title").textContent = wantReward ? "Reward" : "Loss";
        chart = wantReward
          ? makeChart(chartBox, [{ label: "mean reward" }, { label: "train loss", dash: [4, 4] }], "reward")
          : makeChart(chartBox, [{ label: "train loss" }, { label: "eval loss", points: true }], "loss");
      }
      const maps = wantReward ? [curves.reward, curves.train] : [curves.train, curves.eval];
      chart.set(aligned(maps));
      const points = maps.reduce((n, m) => n + m.size, 0);
      figure.setAttribute("data-points", String(points));
      const main = wantReward ? curves.reward : curves.train;
      const steps = Array.from(main.keys());
      const lastStep = steps.length ? Math.max(...steps) : null;
      chartCaption.textContent = lastStep === null
        ? "No points yet."
        : (wantReward ? "Mean reward " : "Train loss ") + fmtNumber(main.get(lastStep)) + " at step " + lastStep +
          (curves.eval.size && !wantReward ? "; " + curves.eval.size + " evaluations" : "") + ".";
    }
    function scheduleDraw() {
      if (!drawPending) { drawPending = true; requestAnimationFrame(draw); }
    }
    draw();
    cleanups.push(() => { if (chart) chart.destroy(); });

    function updateMetrics(e) {
      let changed = false;
      if (e.type === "progress") {
        liveMetrics.steps = e.step; changed = true;
        if (typeof e.train_loss === "number") liveMetrics.train_loss = e.train_loss;
        if (typeof e.epoch === "number") liveMetrics.epoch = e.epoch;
        if (typeof e.reward_mean === "number") liveMetrics.reward = e.reward_mean;
      } else if (e.type === "evaluation" && typeof e.eval_loss === "number") {
        liveMetrics.eval_loss = e.eval_loss; changed = true;
      } else if (e.type === "completed" && e.metrics) {
        Object.assign(liveMetrics, e.metrics); changed = true;
      }
      if (changed) scheduleMetrics();
    }

    // one re-render per frame however many events arrive (a long run replays thousands)
    let metricsPending = false;
    function renderMetrics() {
      metricsPending = false;
      const next = metricsList(liveMetrics);
      metricsBox.replaceWith(next);
      metricsBox = next;
    }
    function scheduleMetrics() {
      if (!metricsPending) { metricsPending = true; requestAnimationFrame(renderMetrics); }
    }

    function onEvent(e) {
      if (addToCurves(curves, e)) scheduleDraw();
      updateMetrics(e);
      if (e.type === "status") setStatus(e.status);
      else if (TERMINAL_EVENTS.has(e.type)) setStatus(e.type);
      if (e.type === "completed") setModel(e.model);
      if (e.type === "checkpoint") {
        checkpointsList.append(h("li", {}, "step " + e.step + ": ", h("code", { class: "wrap" }, e.path || e.provider_id || "")));
      }
      pendingLines.push(e);
      if (pendingLines.length > MAX_LOG_LINES) pendingLines.shift();
      if (!logPending) { logPending = true; requestAnimationFrame(flushLog); }
    }

    // log lines are added once per frame (a replay of thousands of events stays fast)
    let pendingLines = [];
    let logPending = false;
    function flushLog() {
      logPending = false;
      // follow the newest line unless the reader scrolled up to read older ones
      const atBottom = logList.scrollHeight - logList.scrollTop - logList.clientHeight < 24;
      const lines = document.createDocumentFragment();
      for (const e of pendingLines) {
        const time = e.time ? new Date(e.time) : null;
        lines.append(h("li", { class: "event event-" + String(e.type).replace(/[^a-z]/g, "") + (e.level ? " level-" + String(e.level).replace(/[^a-z]/g, "") : ""), "data-seq": e.seq },
          h("time", { datetime: e.time || "" }, time && !isNaN(time) ? time.toLocaleTimeString() : ""),
          " ", h("span", { class: "event-type" }, e.type), " ", h("span", { class: "event-text" }, describeEvent(e))));
      }
      pendingLines = [];
      logList.append(lines);
      while (logList.children.length > MAX_LOG_LINES) logList.removeChild(logList.firstChild);
      if (atBottom) logList.scrollTop = logList.scrollHeight;
    }

    function onStreamState(state) {
      const words = { live: "· live", reconnecting: "· reconnecting…", ended: "", "needs-key": "" };
      streamState.textContent = words[state] || "";
      if (state === "needs-key") renderKeyForm(null);
      if (state === "ended") {
        // the final metrics and model as the server summarizes them
        api("/runs/" + encodeURIComponent(id)).then((fresh) => {
          setStatus(fresh.status);
          if (fresh.metrics && Object.keys(fresh.metrics).length) {
            Object.assign(liveMetrics, fresh.metrics);
            scheduleMetrics();
          }
          if (fresh.result && fresh.result.model) setModel(fresh.result.model);
        }).catch(() => {});
      }
    }
    cleanups.push(streamEvents(id, onEvent, onStreamState));
  }

  // Two runs' curves on one chart: pick them from the run list.
  async function renderCompare() {
    setNav("compare");
    document.title = "Compare · tunesdk";
    const query = hashQuery();
    const a = query.get("a") || "";
    const b = query.get("b") || "";
    const mine = routeToken;
    let runs;
    try {
      runs = items(await api("/runs?limit=100"));
    } catch (err) {
      if (mine !== routeToken) return;
      clear(view);
      showError(err);
      return;
    }
    if (mine !== routeToken) return;
    // the runs named in the URL stay choosable even when older than the newest 100
    for (const id of [a, b]) {
      if (id && !runs.some((r) => runId(r) === id)) runs.push({ id, status: "older run" });
    }
    const choose = (name, label, chosen) => h("div", { class: "field" },
      h("label", { for: "compare-" + name }, label),
      h("select", { id: "compare-" + name, name },
        h("option", { value: "" }, "choose a run"),
        runs.map((r) => h("option", { value: runId(r), selected: runId(r) === chosen }, runId(r) + " (" + r.status + ")"))));
    const form = h("form", {
      class: "filters",
      onsubmit: (e) => {
        e.preventDefault();
        const params = new URLSearchParams();
        const va = form.querySelector("#compare-a").value;
        const vb = form.querySelector("#compare-b").value;
        if (va) params.set("a", va);
        if (vb) params.set("b", vb);
        location.hash = "#/compare?" + params.toString();
      },
    }, choose("a", "Run A", a), choose("b", "Run B", b), h("button", { type: "submit", class: "primary" }, "Compare"));
    const chartBox = h("div", { class: "chart", id: "compare-chart" });
    const caption = h("figcaption", { class: "muted", id: "compare-caption" }, a && b ? "Loading…" : "Choose two runs.");
    const figure = h("figure", { class: "card chart-card", id: "compare-figure", "data-points": "0" }, h("h2", { id: "compare-title" }, "Curves"), chartBox, caption);
    clear(view);
    view.append(h("h1", {}, "Compare runs"), form, figure);
    if (!a || !b) return;

    // both runs exist (a 404 shows here, not as a stream that keeps reconnecting)
    try {
      await Promise.all([a, b].map((id) => api("/runs/" + encodeURIComponent(id))));
      if (mine !== routeToken) return;
    } catch (err) {
      if (mine !== routeToken) return;
      caption.textContent = "";
      showError(err, figure);
      return;
    }
    // live: each run's event stream from its first event on, redrawn once per frame; a run
    // still training keeps adding points until its final event
    const curves = [newCurves(), newCurves()];
    const states = ["", ""];
    const state = h("p", { class: "muted", id: "compare-state", "aria-live": "polite" }, "");
    figure.append(state);
    let chart = null;
    let reward = null;
    let drawPending = false;
    function draw() {
      drawPending = false;
      if (mine !== routeToken) return;
      const [ca, cb] = curves;
      const wantReward = ca.reward.size > 0 || cb.reward.size > 0;
      if (!chart || reward !== wantReward) {
        if (chart) chart.destroy();
        reward = wantReward;
        const defs = reward
          ? [{ label: "A reward", color: COLORS[0] }, { label: "B reward", color: COLORS[1] }]
          : [{ label: "A train loss", color: COLORS[0] }, { label: "B train loss", color: COLORS[1] },
            { label: "A eval loss", color: COLORS[0], dash: [4, 4], points: true },
            { label: "B eval loss", color: COLORS[1], dash: [4, 4], points: true }];
        document.getElementById("compare-title").textContent = reward ? "Mean reward" : "Loss";
        chart = makeChart(chartBox, defs, reward ? "reward" : "loss");
      }
      const maps = reward ? [ca.reward, cb.reward] : [ca.train, cb.train, ca.eval, cb.eval];
      chart.set(aligned(maps));
      figure.setAttribute("data-points", String(maps.reduce((n, m) => n + m.size, 0)));
      caption.textContent = "A: " + a + " (" + (reward ? ca.reward.size : ca.train.size) + " points). B: " + b + " (" + (reward ? cb.reward.size : cb.train.size) + " points).";
    }
    function scheduleDraw() {
      if (!drawPending) { drawPending = true; requestAnimationFrame(draw); }
    }
    draw();
    cleanups.push(() => { if (chart) chart.destroy(); });
    [a, b].forEach((id, i) => {
      cleanups.push(streamEvents(id, (e) => { if (addToCurves(curves[i], e)) scheduleDraw(); }, (next) => {
        if (next === "needs-key") { renderKeyForm(null); return; }
        states[i] = next;
        const live = states.some((st) => st === "live" || st === "reconnecting");
        state.textContent = live ? "Live: new points appear as the runs train." : "";
      }));
    });
  }

  // ---- routing --------------------------------------------------------------------------------

  function route() {
    routeToken++;
    stopView();
    updateKeyButton();
    const hash = location.hash || "#/";
    const path = hash.slice(1).split("?")[0];
    const runMatch = path.match(/^\/runs\/(.+)$/);
    let rendering;
    if (runMatch) rendering = renderRun(decodeURIComponent(runMatch[1]));
    else if (path === "/compare") rendering = renderCompare();
    else rendering = renderList();
    Promise.resolve(rendering).catch((err) => showError(err));
  }

  let lastPath = null;
  window.addEventListener("hashchange", () => {
    const path = (location.hash || "#/").slice(1).split("?")[0];
    route();
    // move focus to the new view for keyboard and screen reader users (not on filter changes)
    if (path !== lastPath) view.focus({ preventScroll: false });
    lastPath = path;
  });
  lastPath = (location.hash || "#/").slice(1).split("?")[0];
  route();
})();
