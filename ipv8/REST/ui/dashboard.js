// txipv8 dashboard: polls the node's REST API and draws tables and SVG charts.
// Everything the API returns comes from the network and is hostile: it only ever reaches the page through
// textContent and SVG attributes, never as HTML.
"use strict";

(function () {
  const KEY_STORAGE = "txipv8.apiKey";
  const POLL_MS = 2000;
  const HISTORY = 150; // samples kept per series (5 minutes at one sample every 2 s)
  const MAX_MESSAGE_SERIES = 64; // message types followed at most (the least busy are forgotten first)
  const CHARTED_MESSAGES = 8; // message types drawn (the busiest)
  const METRICS = ["bytes_up", "bytes_down", "num_up", "num_down"];
  const SVG_NS = "http://www.w3.org/2000/svg";

  const state = {
    timer: null,
    traffic: new Map(), // overlay label -> [{t, bytes_up, bytes_down, num_up, num_down}]
    messages: new Map(), // "overlay message" label -> the same
    messagesSampled: null, // when the message figures were last sampled
    lag: [],
    started: Date.now(),
  };

  const $ = (id) => document.getElementById(id);

  // -- API access ---------------------------------------------------------------------------------------

  function apiKey() {
    return window.sessionStorage.getItem(KEY_STORAGE) || "";
  }

  class Unauthorized extends Error {}

  async function api(path, options) {
    const headers = { Accept: "application/json" };
    const key = apiKey();
    if (key) headers["X-Api-Key"] = key;
    const init = Object.assign({ headers: headers, cache: "no-store", credentials: "omit" }, options || {});
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, init);
    if (response.status === 401) throw new Unauthorized("the API key was refused");
    if (response.status === 404) return null; // the overlay behind the route is not loaded
    if (!response.ok) throw new Error(path + " answered " + response.status);
    return response.json();
  }

  // -- small DOM helpers --------------------------------------------------------------------------------

  function cell(text, numeric) {
    const td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (numeric) td.className = "num";
    return td;
  }

  function fillTable(id, rows) {
    const body = $(id).tBodies[0];
    const fresh = document.createElement("tbody");
    for (const row of rows) {
      const tr = document.createElement("tr");
      for (const value of row) tr.appendChild(value instanceof Node ? value : cell(value, typeof value === "number"));
      fresh.appendChild(tr);
    }
    body.replaceWith(fresh);
  }

  function fillFigures(id, pairs) {
    const list = $(id);
    list.replaceChildren();
    for (const [name, value] of pairs) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = String(value);
      list.append(dt, dd);
    }
  }

  function svg(name, attributes) {
    const element = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes || {})) element.setAttribute(key, String(value));
    return element;
  }

  function bytes(n) {
    if (typeof n !== "number") return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }

  function ago(s) {
    if (typeof s !== "number") return "never";
    return s < 1 ? "just now" : s.toFixed(0) + " s ago";
  }

  function count(n) {
    if (typeof n !== "number") return "";
    return n >= 10000 ? (n / 1000).toFixed(1) + " k" : String(Math.round(n));
  }

  function seconds(s) {
    if (typeof s !== "number") return "–";
    if (s < 1) return (s * 1000).toFixed(1) + " ms";
    return s.toFixed(1) + " s";
  }

  // -- charts -------------------------------------------------------------------------------------------

  // A peer-count bar: filled to the number of peers, with a tick at the walker target, scaled to max peers.
  function peerBar(peers, target, max) {
    const scale = Math.max(max > 0 ? max : 0, target, peers, 1);
    const wrap = document.createElement("span");
    wrap.className = "bar";
    const picture = svg("svg", { viewBox: "0 0 120 10", width: 120, height: 10, role: "img" });
    picture.appendChild(svg("rect", { class: "bar-fill", x: 0, y: 0, height: 10,
                                      width: (120 * Math.min(peers, scale) / scale).toFixed(1) }));
    if (target > 0) {
      const x = (120 * Math.min(target, scale) / scale).toFixed(1);
      picture.appendChild(svg("line", { class: "bar-target", x1: x, x2: x, y1: 0, y2: 10 }));
    }
    const title = svg("title");
    title.textContent = peers + " peers, walker target " + target + ", max " + (max < 0 ? "none" : max);
    picture.appendChild(title);
    wrap.appendChild(picture);
    const td = document.createElement("td");
    td.append(wrap, " " + target + " / " + (max < 0 ? "∞" : max));
    return td;
  }

  // A line chart of several series of {t, v} samples (t in ms), drawn into the element `id`.
  // `floor` is the smallest top of the value axis (a flat line of zeros still gets a sensible scale); `width`
  // is that of the drawing, close to the width on screen so that the axis labels keep their shape.
  function lineChart(id, series, format, height, floor, width) {
    height = height || 220;
    width = width || 800;
    const left = width >= 600 ? 70 : 56, bottom = 20, top = 8;
    const all = [].concat(...series.map((s) => s.points));
    const chart = svg("svg", { viewBox: "0 0 " + width + " " + height, preserveAspectRatio: "none", role: "img",
                               "data-points": all.length });
    chart.setAttribute("aria-label", series.map((s) => s.name).join(", "));
    const t0 = all.length ? Math.min(...all.map((p) => p.t)) : 0;
    const t1 = all.length ? Math.max(...all.map((p) => p.t), t0 + 1) : 1;
    const vmax = Math.max(floor || 1, ...all.map((p) => p.v));
    const x = (t) => left + (width - left - 4) * (t - t0) / (t1 - t0);
    const y = (v) => height - bottom - (height - bottom - top) * v / vmax;
    chart.appendChild(svg("line", { class: "axis", x1: left, x2: width, y1: height - bottom, y2: height - bottom }));
    chart.appendChild(svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: height - bottom }));
    const label = (text, ax, ay) => {
      const node = svg("text", { class: "axis-label", x: ax, y: ay, "text-anchor": "end" });
      node.textContent = text;
      chart.appendChild(node);
    };
    label(format(vmax), left - 4, top + 10);
    label(format(0), left - 4, height - bottom);
    label(((t1 - t0) / 1000).toFixed(0) + " s", width - 4, height - 4);
    series.forEach((s, index) => {
      if (!s.points.length) return;
      const points = s.points.map((p) => x(p.t).toFixed(1) + "," + y(p.v).toFixed(1)).join(" ");
      const line = svg("polyline", { class: "series s" + (index % 8), points: points, "data-series": s.name,
                                     "data-last": s.points[s.points.length - 1].v });
      const title = svg("title");
      title.textContent = s.name;
      line.appendChild(title);
      chart.appendChild(line);
    });
    $(id).replaceChildren(chart);
  }

  function legend(id, names) {
    $(id).replaceChildren(...names.map((name, index) => {
      const item = document.createElement("span");
      item.className = "s" + (index % 8);
      item.textContent = name;
      return item;
    }));
  }

  function remember(history, value, now) {
    history.push({ t: now, v: value });
    if (history.length > HISTORY) history.shift();
  }

  // One sample of the four traffic figures of `figures` for the series `label` of `histories`. A series that
  // is new since the sample at time `before` (a message type seen for the first time) had zeros then: its line
  // starts there rather than being a lone, invisible point.
  function rememberTraffic(histories, label, figures, now, before) {
    if (!histories.has(label)) {
      const start = [];
      if (typeof before === "number") {
        const zeros = { t: before };
        for (const metric of METRICS) zeros[metric] = 0;
        start.push(zeros);
      }
      histories.set(label, start);
    }
    const history = histories.get(label);
    const sample = { t: now };
    for (const metric of METRICS) sample[metric] = Number(figures[metric]) || 0;
    history.push(sample);
    if (history.length > HISTORY) history.shift();
  }

  function latestTotal(history) {
    const last = history[history.length - 1] || {};
    return (last.bytes_up || 0) + (last.bytes_down || 0);
  }

  // Four charts (bytes and packets, up and down) of the series `names` of `histories`, and their legend.
  function trafficCharts(prefix, histories, names) {
    for (const metric of METRICS) {
      const series = names.map((name) => ({
        name: name, points: histories.get(name).map((sample) => ({ t: sample.t, v: sample[metric] })) }));
      lineChart(prefix + "-" + metric, series, metric.startsWith("bytes") ? bytes : count, 140, 1, 300);
    }
    legend(prefix + "-legend", names);
  }

  // -- panels -------------------------------------------------------------------------------------------

  function overlayLabel(overlay) {
    return overlay.overlay_name + " " + String(overlay.id).slice(0, 8);
  }

  function showOverlays(data, now) {
    const overlays = (data && data.overlays) || [];
    const silent = [];
    fillTable("overlays-table", overlays.map((overlay) => {
      const stats = overlay.statistics || {};
      const target = (overlay.strategies || []).reduce((sum, s) => sum + (s.target_peers || 0), 0);
      const peers = (overlay.peers || []).length;
      // All zeros: statistics are off for it ({} means the node keeps none at all: nothing to switch on).
      if ("bytes_up" in stats && stats.bytes_up === 0 && stats.bytes_down === 0 && stats.num_up === 0) {
        silent.push(overlay.overlay_name);
      }
      const name = cell(overlay.overlay_name);
      name.title = "id " + overlay.id;
      return [name, peers, peerBar(peers, target, overlay.max_peers),
              (overlay.strategies || []).map((s) => s.name).join(", "), overlay.global_time,
              bytes(stats.bytes_up), bytes(stats.bytes_down), stats.num_up, stats.num_down];
    }));
    $("stats-off").hidden = silent.length === 0;
    $("silent-overlays").textContent = silent.join(", ");
    const seen = new Set();
    for (const overlay of overlays) {
      const label = overlayLabel(overlay);
      seen.add(label);
      rememberTraffic(state.traffic, label, overlay.statistics || {}, now);
    }
    for (const label of [...state.traffic.keys()]) if (!seen.has(label)) state.traffic.delete(label);
    trafficCharts("traffic", state.traffic, [...state.traffic.keys()]);
    return overlays;
  }

  function endpoint(address) {
    if (!address) return "";
    return (address.family === "IPv6" ? "[" + address.ip + "]" : address.ip) + ":" + address.port;
  }

  // "How it was found": from the origin record of /debug/peers.
  function foundCell(origin) {
    if (!origin) return cell("unknown");
    let text;
    if (origin.how === "introduced") {
      text = "introduced by " + String(origin.introduced_by || "?").slice(0, 8) + "…" + (origin.via ? " (" + origin.via + ")" : "");
    } else if (origin.how === "bootstrap") {
      text = "bootstrap" + (origin.introducer ? " (tracker " + endpoint(origin.introducer) + ")" : "");
    } else if (origin.how === "walked") {
      text = "we walked to it";
    } else if (origin.how === "contacted-us") {
      text = "it contacted us";
    } else if (origin.how === "snapshot") {
      text = "saved snapshot";
    } else {
      text = String(origin.how);
    }
    const td = cell(text);
    td.dataset.how = String(origin.how);
    const details = [];
    if (origin.introduced_by) details.push("introducer " + origin.introduced_by);
    if (origin.introducer) details.push("at " + endpoint(origin.introducer));
    if (typeof origin.age === "number") details.push("learnt " + ago(origin.age));
    td.title = details.join(", ");
    return td;
  }

  // "NAT-punched or direct": whether a puncture went between us before we reached the peer.
  function natCell(origin) {
    if (!origin) return cell("unknown");
    const labels = { received: "punched (it punctured)", sent: "punched (we punctured)", both: "punched (both)" };
    const td = cell(origin.nat === "punched" ? labels[origin.puncture] || "punched" : "direct");
    td.dataset.nat = String(origin.nat);
    if (origin.nat === "punched") td.classList.add("nat-punched");
    return td;
  }

  function showPeers(data) {
    const peers = (data && data.peers) || [];
    $("peer-count").textContent = "(" + peers.length + ")";
    fillTable("peers-table", peers.map((peer) => {
      const addresses = peer.addresses || [];
      const mid = cell(String(peer.mid).slice(0, 16) + "…");
      mid.classList.add("mono");
      mid.title = peer.mid;
      return [mid, [...new Set(addresses.map(endpoint))].join(" "),
              [...new Set(addresses.map((a) => a.scope))].join("/"),
              [...new Set(addresses.map((a) => a.family))].join("/"),
              foundCell(peer.origin), natCell(peer.origin),
              ago(peer.last_response_ago),
              seconds(peer.median_ping), (peer.overlays || []).join(", ")];
    }));
  }

  function showMessages(data, now) {
    const rows = [];
    const seen = new Set();
    for (const entry of (data && data.statistics) || []) {
      for (const [overlay, messages] of Object.entries(entry)) {
        for (const [message, figures] of Object.entries(messages)) {
          rows.push([overlay, message, figures.num_up, figures.num_down, bytes(figures.bytes_up),
                     bytes(figures.bytes_down)]);
          const label = overlay + " " + message;
          if (seen.has(label)) continue; // two overlays of one class: the first one is charted
          seen.add(label);
          rememberTraffic(state.messages, label, figures, now, state.messagesSampled);
        }
      }
    }
    fillTable("messages-table", rows);
    state.messagesSampled = now;
    // The history is bounded twice: samples per series, and series (gone ones first, then the least busy).
    for (const label of [...state.messages.keys()]) if (!seen.has(label)) state.messages.delete(label);
    const busiest = [...state.messages.keys()].sort(
      (a, b) => latestTotal(state.messages.get(b)) - latestTotal(state.messages.get(a)));
    for (const label of busiest.slice(MAX_MESSAGE_SERIES)) state.messages.delete(label);
    trafficCharts("message", state.messages, busiest.slice(0, CHARTED_MESSAGES));
  }

  function showDrops(data) {
    const rows = [];
    if (data) {
      for (const overlay of data.overlays || []) {
        for (const [reason, count] of Object.entries(overlay.drops || {})) rows.push([overlay.overlay_name, reason, count]);
      }
      for (const [reason, count] of Object.entries((data.endpoint && data.endpoint.drops) || {})) {
        rows.push(["endpoint", reason, count]);
      }
    }
    fillTable("drops-table", rows.length ? rows : [["—", "nothing dropped", 0]]);
  }

  function showReactor(data, now) {
    if (!data) return;
    const lag = data.lag || {};
    fillFigures("reactor-figures", [["lag (last)", seconds(lag.last)], ["lag (mean)", seconds(lag.mean)],
                                    ["lag (max)", seconds(lag.max)],
                                    ["pending delayed calls", (data.delayed_calls || {}).count],
                                    ["overlays with tasks", (data.task_managers || []).length]]);
    if (typeof lag.last === "number") remember(state.lag, lag.last, now);
    lineChart("lag-chart", [{ name: "reactor lag", points: state.lag }], seconds, 110, 0.01);
  }

  function showDHT(data) {
    $("panel-dht").hidden = !data;
    if (!data) return;
    const statistics = data.statistics || {};
    const pairs = [["node", String(statistics.peer_id || "").slice(0, 16)], ["tokens", statistics.num_tokens]];
    for (const endpoint of statistics.endpoints || []) {
      pairs.push([endpoint.endpoint + " routing table", endpoint.routing_table_size + " nodes in " +
                  endpoint.routing_table_buckets + " buckets"]);
      pairs.push([endpoint.endpoint + " stored keys", endpoint.num_keys_in_store]);
    }
    fillFigures("dht-figures", pairs);
  }

  function showTunnels(circuits, relays, exits) {
    fillTable("circuits-table", ((circuits && circuits.circuits) || []).map((c) => [
      c.circuit_id, c.type, c.state, c.actual_hops + "/" + c.goal_hops, bytes(c.bytes_up), bytes(c.bytes_down)]));
    fillTable("relays-table", ((relays && relays.relays) || []).map((r) => [
      r.circuit_from, r.circuit_to, r.direction, r.is_rendezvous ? "yes" : "no", bytes(r.bytes_up), bytes(r.bytes_down)]));
    fillTable("exits-table", ((exits && exits.exits) || []).map((e) => [
      e.circuit_from, e.enabled ? "yes" : "no", e.is_introduction ? "yes" : "no", e.is_rendezvous ? "yes" : "no",
      bytes(e.bytes_up), bytes(e.bytes_down)]));
  }

  function showIdentity(data) {
    $("panel-identity").hidden = !data;
    if (!data) return;
    $("pseudonyms").replaceChildren(...(data.names || []).map((name) => {
      const item = document.createElement("li");
      item.textContent = name;
      return item;
    }));
  }

  // -- polling ------------------------------------------------------------------------------------------

  function setStatus(text, isError) {
    $("status").textContent = text;
    $("status").classList.toggle("error", Boolean(isError));
  }

  async function refresh() {
    const now = Date.now();
    const [overlays, statistics, peers, drops, reactor, dht] = await Promise.all([
      api("/overlays"), api("/overlays/statistics"), api("/debug/peers"), api("/debug/drops"),
      api("/debug/reactor?limit=1"), api("/dht/statistics")]);
    const loaded = showOverlays(overlays, now).map((overlay) => overlay.overlay_name);
    showPeers(peers);
    showMessages(statistics, now);
    showDrops(drops);
    showReactor(reactor, now);
    showDHT(dht);
    const tunnels = loaded.some((name) => /Tunnel/.test(name));
    $("panel-tunnel").hidden = !tunnels;
    if (tunnels) {
      showTunnels(...await Promise.all([api("/tunnel/circuits"), api("/tunnel/relays"), api("/tunnel/exits")]));
    }
    // /identity sets the identity machinery up on first use: only ask when an identity overlay runs anyway.
    const identity = loaded.some((name) => /Identity|Attestation/.test(name));
    showIdentity(identity ? await api("/identity") : null);
    document.body.dataset.updated = String(now);
    setStatus("updated " + new Date(now).toLocaleTimeString() + " · " + loaded.length + " overlays");
  }

  async function poll() {
    try {
      await refresh();
    } catch (error) {
      if (error instanceof Unauthorized) {
        showLogin(apiKey() ? "The API key was refused." : "");
        return;
      }
      setStatus("update failed: " + error.message, true);
    }
    state.timer = window.setTimeout(poll, POLL_MS);
  }

  function stopPolling() {
    if (state.timer !== null) window.clearTimeout(state.timer);
    state.timer = null;
  }

  function showLogin(message) {
    stopPolling();
    window.sessionStorage.removeItem(KEY_STORAGE);
    $("dashboard").hidden = true;
    $("logout").hidden = true;
    // Nothing the API answered may stay on the page once the key is gone.
    for (const table of document.querySelectorAll("#dashboard tbody")) table.replaceChildren();
    state.traffic.clear();
    state.messages.clear();
    state.messagesSampled = null;
    for (const chart of document.querySelectorAll("#dashboard .chart, #dashboard .legend")) chart.replaceChildren();
    state.lag = [];
    $("login").hidden = false;
    $("login-error").hidden = !message;
    $("login-error").textContent = message || "";
    setStatus("API key needed");
    $("api-key").focus();
  }

  async function start() {
    // Probe one route first: without a valid key (when the node has one) the dashboard is never shown.
    try {
      await api("/overlays");
    } catch (error) {
      if (error instanceof Unauthorized) {
        showLogin(apiKey() ? "The API key was refused." : "");
      } else {
        setStatus("the node does not answer: " + error.message, true);
        state.timer = window.setTimeout(start, POLL_MS);
      }
      return;
    }
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("logout").hidden = !apiKey();
    stopPolling();
    poll();
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      window.sessionStorage.setItem(KEY_STORAGE, $("api-key").value);
      $("api-key").value = "";
      start();
    });
    $("logout").addEventListener("click", () => showLogin(""));
    $("enable-stats").addEventListener("click", async () => {
      try {
        await api("/overlays/statistics", { method: "POST", body: JSON.stringify({ enable: true, all: true }) });
      } catch (error) {
        setStatus("could not switch statistics on: " + error.message, true);
      }
    });
    start();
  });
})();
