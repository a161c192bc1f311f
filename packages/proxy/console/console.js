// The Switchboard web console: plain JavaScript over the admin API (/v1/...), no build step.

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const { dataset, ...rest } = props;
  const node = Object.assign(document.createElement(tag), rest);
  if (dataset) Object.assign(node.dataset, dataset);
  for (const child of children) node.append(child);
  return node;
};
let services = [];

async function api(path) {
  const response = await fetch(path, { headers: { accept: "application/json" } });
  const body = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function shown(value) {
  // A decoded Any: {type, value} or {type, base64, error}.
  if (value && typeof value === "object" && "base64" in value) return `${value.type}: not decodable (${value.error})\nbase64: ${value.base64}`;
  if (value && typeof value === "object" && "value" in value) return JSON.stringify(value.value, null, 2);
  return JSON.stringify(value, null, 2);
}

function ms(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  return seconds < 0.001 ? `${(seconds * 1e6).toFixed(0)} µs` : `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms`;
}

function sparkline(values) {
  const width = 120;
  const height = 24;
  const max = Math.max(1, ...values);
  const points = values.map((v, i) => `${((i / Math.max(1, values.length - 1)) * width).toFixed(1)},${(height - 1 - (v / max) * (height - 2)).toFixed(1)}`);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", points.join(" "));
  svg.append(line);
  return svg;
}

async function refreshStatus() {
  try {
    const status = await api("/v1/status");
    $("version").textContent = `proxy ${status.version} · ${status.store}`;
    const pill = $("uf-status");
    const up = status.userFunction.connected && status.ready;
    pill.textContent = `user function ${status.userFunction.target}: ${status.userFunction.connected ? (status.ready ? "connected" : "discovering") : "disconnected"}`;
    pill.className = `pill ${up ? "up" : "down"}`;
  } catch (error) {
    $("uf-status").textContent = `proxy unreachable: ${error.message}`;
    $("uf-status").className = "pill down";
  }
}

async function refreshStats() {
  let stats;
  try {
    stats = await api("/v1/stats");
  } catch {
    return;
  }
  const rows = stats.methods.map((m) => {
    const last = m.seconds[m.seconds.length - 1];
    const window = m.seconds.slice(-10);
    const calls = window.reduce((n, s) => n + s.calls, 0);
    const errors = window.reduce((n, s) => n + s.errors, 0);
    const rate = last ? last.calls : 0;
    const row = el(
      "tr",
      { dataset: { method: `${m.service}/${m.method}` } },
      el("td", { textContent: `${m.service.split(".").pop()}/${m.method}`, title: `${m.service}/${m.method}` }),
      el("td", { className: "num calls", textContent: String(rate) }),
      el("td", { className: "num", textContent: ms(last?.p50) }),
      el("td", { className: "num", textContent: ms(last?.p99) }),
      el("td", { className: `num${errors > 0 ? " err" : ""}`, textContent: calls === 0 ? "–" : `${((100 * errors) / calls).toFixed(1)} %` }),
      el("td", {}, sparkline(m.seconds.map((s) => s.calls))),
    );
    return row;
  });
  const body = $("stats").tBodies[0];
  if (rows.length === 0) return;
  body.replaceChildren(...rows);
}

async function loadServices() {
  try {
    services = (await api("/v1/services")).services;
  } catch (error) {
    $("services").replaceChildren(el("li", { className: "error", textContent: error.message }));
    setTimeout(loadServices, 1000);
    return;
  }
  $("services").replaceChildren(
    ...services.map((s) =>
      el(
        "li",
        { dataset: { service: s.name } },
        el("strong", { textContent: s.name }),
        " ",
        el("span", { className: "kind", textContent: s.kind }),
        el(
          "div",
          { className: "methods" },
          ...s.methods.map((m) => el("div", { textContent: `${m.name} (${m.httpRoutes.map((r) => `${r.method} ${r.path}`).join(", ")})` })),
        ),
      ),
    ),
  );
  const stateful = services.filter((s) => s.kind !== "action");
  const select = $("entity-service");
  select.replaceChildren(...stateful.map((s) => el("option", { value: s.name, textContent: `${s.name} (${s.kind})` })));
}

let listCursor = null;
async function searchEntities(append) {
  const service = $("entity-service").value;
  if (!service) return;
  const prefix = $("entity-prefix").value;
  const query = new URLSearchParams({ prefix, limit: "50" });
  if (append && listCursor) query.set("after", listCursor);
  const list = $("entity-list");
  try {
    const page = await api(`/v1/entities/${encodeURIComponent(service)}?${query}`);
    const items = page.entities.map((id) =>
      el("li", {}, el("a", { href: `#/entity/${encodeURIComponent(service)}/${encodeURIComponent(id)}`, textContent: id })),
    );
    if (append) list.append(...items);
    else list.replaceChildren(...(items.length > 0 ? items : [el("li", { className: "muted", textContent: "no entities" })]));
    listCursor = page.next;
    $("entity-more").hidden = page.next === null;
  } catch (error) {
    list.replaceChildren(el("li", { className: "error", textContent: error.message }));
  }
}

let eventsCursor = null;
async function loadEvents(service, id, append) {
  const from = append && eventsCursor ? eventsCursor : 1;
  const page = await api(`/v1/entities/${encodeURIComponent(service)}/${encodeURIComponent(id)}/events?from=${from}&limit=100`);
  const items = page.events.map((e) =>
    el(
      "li",
      { dataset: { seq: String(e.seq) } },
      el("div", { className: "head", textContent: `#${e.seq} · ${e.event.type}${e.writtenAt ? ` · ${new Date(e.writtenAt).toLocaleString()}` : ""}` }),
      el("pre", { textContent: shown(e.event) }),
    ),
  );
  if (append) $("event-timeline").append(...items);
  else $("event-timeline").replaceChildren(...items);
  eventsCursor = page.next;
  $("events-more").hidden = page.next === null;
}

async function showEntity(service, id) {
  $("home").hidden = true;
  $("entity").hidden = false;
  $("entity-title").textContent = `${service} / ${id}`;
  $("entity-meta").textContent = "";
  $("entity-state").textContent = "loading…";
  $("events").hidden = true;
  try {
    const entity = await api(`/v1/entities/${encodeURIComponent(service)}/${encodeURIComponent(id)}`);
    if (entity.kind === "event-sourced") {
      $("entity-meta").textContent =
        `event-sourced · sequence number ${entity.sequenceNumber}${entity.snapshot ? ` · snapshot at ${entity.snapshot.seq}` : " · no snapshot"}`;
      $("entity-state").textContent = entity.snapshot ? shown(entity.snapshot.state) : "(no snapshot: the state is the events below, replayed)";
      $("events").hidden = false;
      await loadEvents(service, id, false);
    } else {
      $("entity-meta").textContent = `${entity.kind}${entity.state?.type ? ` · ${entity.state.type}` : ""}`;
      $("entity-state").textContent = shown(entity.state);
    }
  } catch (error) {
    $("entity-state").textContent = error.message;
    $("entity-state").className = "error";
  }
}

function route() {
  const match = /^#\/entity\/([^/]+)\/(.+)$/.exec(location.hash);
  $("entity-state").className = "";
  if (match) {
    void showEntity(decodeURIComponent(match[1]), decodeURIComponent(match[2]));
  } else {
    $("home").hidden = false;
    $("entity").hidden = true;
  }
}

$("entity-search").addEventListener("submit", (event) => {
  event.preventDefault();
  void searchEntities(false);
});
$("entity-more").addEventListener("click", () => void searchEntities(true));
$("events-more").addEventListener("click", () => {
  const match = /^#\/entity\/([^/]+)\/(.+)$/.exec(location.hash);
  if (match) void loadEvents(decodeURIComponent(match[1]), decodeURIComponent(match[2]), true);
});
window.addEventListener("hashchange", route);

void loadServices();
void refreshStatus();
void refreshStats();
setInterval(() => {
  void refreshStatus();
  void refreshStats();
}, 1000);
route();
