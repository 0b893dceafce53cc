"use strict";
// The dashboard: reads the API, redraws on every `update` server-sent event (or every 5 s when
// the event stream is unavailable). No framework, no build step, nothing fetched from elsewhere.

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const $ = (id) => document.getElementById(id);

async function api(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : response.statusText;
    throw Object.assign(new Error(detail), { status: response.status });
  }
  return body;
}

function tokens(amount) {
  // Exact decimal string from the API, grouped for reading; never parsed as a float.
  const [whole, frac = ""] = amount.tokens.split(".");
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${grouped}${frac ? "." + frac.slice(0, 6) : ""} ZKAI`;
}

function setAmount(id, amount) {
  const el = $(id);
  el.textContent = tokens(amount);
  el.dataset.wei = amount.wei;
}

function short(address) {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

function cell(row, text, opts = {}) {
  const td = document.createElement("td");
  if (opts.code) {
    const code = document.createElement("code");
    code.textContent = text;
    code.title = opts.title || text;
    td.append(code);
  } else {
    td.textContent = text;
  }
  if (opts.num) td.className = "num";
  if (opts.wei !== undefined) td.dataset.wei = opts.wei;
  row.append(td);
  return td;
}

function fillTable(id, items, render) {
  const body = $(id).querySelector("tbody");
  const rows = items.map((item) => {
    const tr = document.createElement("tr");
    render(tr, item);
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(tr, "None yet");
    td.colSpan = $(id).querySelectorAll("thead th").length;
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

const SVG = "http://www.w3.org/2000/svg";

function barChart(id, buckets, value, label) {
  const width = 320, height = 140, pad = 18;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  const values = buckets.map(value);
  const max = Math.max(1, ...values.map((v) => v || 0));
  const title = document.createElementNS(SVG, "title");
  title.textContent = buckets.length
    ? `${label}: ` + buckets.map((b, i) => `${new Date(b.start * 1000).toLocaleTimeString()} ${values[i] ?? 0}`).join(", ")
    : `${label}: no data yet`;
  svg.append(title);
  const step = buckets.length ? (width - 2 * pad) / buckets.length : 0;
  values.forEach((v, i) => {
    const h = ((v || 0) / max) * (height - 2 * pad);
    const rect = document.createElementNS(SVG, "rect");
    rect.setAttribute("class", "bar");
    rect.setAttribute("x", String(pad + i * step + step * 0.1));
    rect.setAttribute("y", String(height - pad - h));
    rect.setAttribute("width", String(Math.max(1, step * 0.8)));
    rect.setAttribute("height", String(h));
    rect.dataset.value = String(v ?? 0);
    svg.append(rect);
  });
  const top = document.createElementNS(SVG, "text");
  top.setAttribute("x", "2");
  top.setAttribute("y", "12");
  top.textContent = `max ${max.toLocaleString()}`;
  svg.append(top);
  $(id).replaceChildren(svg);
}

function shortId(id) {
  return `${id.slice(0, 10)}…${id.slice(-6)}`;
}

const DETAILED_QUERIES = 5;

function line(text, className, title) {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  if (title) span.title = title;
  return span;
}

function slashCell(tr, slash) {
  // A slash and the acknowledgement that justified it: the Ack's round, its signature
  // (shortened; whole in the tooltip) and the ack signer it recovers to.
  const td = cell(tr, slash == null ? "–" : "");
  td.classList.add("slash");
  if (slash == null) return;
  td.dataset.wei = slash.amount.wei;
  td.append(line(`${tokens(slash.amount)} (${slash.reason})`, "slash-amount"));
  const ack = slash.ack;
  if (ack == null) {
    // Sent through another contract: the slash is on-chain, its Ack is not in the calldata.
    td.append(line("Ack unavailable", "ack-unavailable", slash.evidence_detail || ""));
    return;
  }
  const about = (x) => `round ${x.round}, T ${x.input_transcript}, O ${x.output_transcript}\n${x.signature}\nsigned by ${x.signer}`;
  const el = line(`Ack r${ack.round} ${short(ack.signature)} by ${short(ack.signer)}`, "ack", about(ack));
  Object.assign(el.dataset, { round: String(ack.round), signature: ack.signature, signer: ack.signer });
  td.append(el);
  if (slash.second_ack != null) {
    // An equivocation: the second Ack of the same round, with other transcripts.
    const other = slash.second_ack;
    const second = line(`and ${short(other.signature)}, same round`, "ack second-ack", about(other));
    Object.assign(second.dataset, { round: String(other.round), signature: other.signature, signer: other.signer });
    td.append(second);
  }
}

async function refresh() {
  const [stats, token, nodes, contributors, queries, series, rounds, models] = await Promise.all([
    api("/api/stats"),
    api("/api/token"),
    api("/api/nodes?limit=200"),
    api("/api/contributors?limit=200"),
    api("/api/queries?limit=20"),
    api("/api/stats/timeseries?buckets=24"),
    // Training rounds live in the round store (Redis), not in the chain index: optional here.
    api("/api/training/rounds?limit=20").catch(() => null),
    api("/api/models?limit=200"),
  ]);
  const details = await Promise.all(
    queries.items.slice(0, DETAILED_QUERIES).map((q) => api(`/api/queries/${q.query_id}`)),
  );
  setAmount("total-staked", stats.total_staked);
  setAmount("paid-for-rounds", stats.credits);
  setAmount("node-earnings", stats.node_earnings);
  setAmount("rewards-distributed", stats.rewards_distributed);
  setAmount("total-supply", token.total_supply);
  setAmount("treasury-balance", token.treasury_balance);
  $("query-count").textContent = String(stats.queries);
  $("query-count").dataset.value = String(stats.queries);
  $("mean-gas").textContent = stats.mean_verification_gas == null ? "–" : stats.mean_verification_gas.toLocaleString();

  fillTable("nodes", nodes.items, (tr, n) => {
    tr.dataset.address = n.address;
    cell(tr, short(n.address), { code: true, title: n.address });
    cell(tr, n.status);
    cell(tr, n.endpoint, { code: true }).classList.add("endpoint");
    cell(tr, n.parts.map((p) => `${p.model_id}/${p.part}`).join(", ") || "–").classList.add("parts");
    cell(tr, tokens(n.stake), { num: true, wei: n.stake.wei }).classList.add("stake");
    cell(tr, `${n.claims}/${n.assignments}`, { num: true }).classList.add("claims");
    cell(tr, String(n.rounds_claimed), { num: true });
    cell(tr, tokens(n.earnings), { num: true, wei: n.earnings.wei }).classList.add("earnings");
    cell(tr, `${tokens(n.slashed)} (${n.slash_count})`, { num: true, wei: n.slashed.wei }).classList.add("slashed");
  });
  const parts = models.items.flatMap((m) =>
    (m.current ? m.current.parts : []).map((p) => ({ model: m, part: p })),
  );
  fillTable("models", parts, (tr, { model, part }) => {
    tr.dataset.model = String(model.model_id);
    tr.dataset.part = String(part.part);
    cell(tr, `${model.model_id} v${model.current_version}${model.active ? "" : " (inactive)"}`);
    cell(tr, String(part.part), { num: true });
    cell(tr, tokens(part.price_per_round), { num: true, wei: part.price_per_round.wei });
    cell(tr, String(part.shares), { num: true });
    cell(tr, String(part.max_rounds), { num: true });
    cell(tr, short(part.verifier), { code: true, title: part.verifier });
    cell(tr, part.key_matches ? "matches" : "does not match the verifier").classList.add("key");
  });
  fillTable("contributors", contributors.items, (tr, c) => {
    tr.dataset.address = c.address;
    cell(tr, short(c.address), { code: true, title: c.address });
    cell(tr, tokens(c.allocated), { num: true, wei: c.allocated.wei });
    cell(tr, tokens(c.claimed), { num: true, wei: c.claimed.wei }).classList.add("claimed");
    cell(tr, tokens(c.unclaimed), { num: true, wei: c.unclaimed.wei }).classList.add("unclaimed");
    cell(tr, c.unclaimed.wei !== "0" ? "unclaimed rewards" : "all claimed").classList.add("claim-status");
  });
  if (rounds === null) {
    fillTable("training", [], () => {});
    $("training").querySelector("tbody td").textContent = "Round store unavailable";
  } else {
    fillTable("training", rounds.items.slice().reverse(), (tr, r) => {
      tr.dataset.roundId = r.round_id;
      cell(tr, r.round_id, { code: true });
      cell(tr, `${r.model_name} v${r.base_version}`);
      cell(tr, r.state);
      cell(tr, String(r.accepted), { num: true });
      cell(tr, String(r.rejected), { num: true });
      const v = r.result;
      cell(tr, v == null ? "–" : v.accepted ? `new version v${v.version}, epoch ${v.epoch}` : `rejected: ${v.reason}`);
      cell(tr, v == null ? "–" : tokens(v.pool), { num: true });
    });
  }
  fillTable("queries", queries.items, (tr, q) => {
    tr.dataset.queryId = q.query_id;
    cell(tr, shortId(q.query_id), { code: true, title: q.query_id });
    cell(tr, `${q.model_id} v${q.model_version}`);
    cell(tr, q.status).classList.add("query-status");
    cell(tr, String(q.parts), { num: true });
    cell(tr, `${q.claimed_count}/${q.assignment_count}`, { num: true });
    cell(tr, String(q.rounds_claimed), { num: true });
    cell(tr, q.forward_passes == null ? "–" : String(q.forward_passes), { num: true }).classList.add("tokens");
    cell(tr, tokens(q.escrow), { num: true, wei: q.escrow.wei });
    cell(tr, tokens(q.credits), { num: true, wei: q.credits.wei }).classList.add("cost");
    cell(tr, tokens(q.refund), { num: true, wei: q.refund.wei });
    cell(tr, q.verification_gas == null ? "–" : q.verification_gas.toLocaleString(), { num: true });
  });
  const assignments = details.flatMap((q) => q.assignments);
  fillTable("assignments", assignments, (tr, a) => {
    tr.dataset.queryId = a.query_id;
    tr.dataset.node = a.node;
    cell(tr, shortId(a.query_id), { code: true, title: a.query_id });
    cell(tr, String(a.part), { num: true });
    cell(tr, short(a.node), { code: true, title: a.node });
    cell(tr, a.rounds == null ? `–/${a.budget}` : `${a.rounds}/${a.budget}`, { num: true }).classList.add("rounds");
    cell(tr, tokens(a.price_per_round), { num: true, wei: a.price_per_round.wei });
    cell(tr, tokens(a.credit), { num: true, wei: a.credit.wei });
    cell(tr, tokens(a.payout), { num: true, wei: a.payout.wei });
    slashCell(tr, a.slash);
  });
  barChart("chart-queries", series.buckets, (b) => b.queries, "Queries per interval");
  barChart("chart-gas", series.buckets, (b) => b.mean_verification_gas, "Mean gas per verification");

  const status = $("status");
  status.textContent = `Indexed up to block ${stats.indexed_block}`;
  status.dataset.block = String(stats.indexed_block);
}

async function lookup(event) {
  event.preventDefault();
  const out = $("lookup-result");
  const address = $("lookup-address").value.trim();
  if (!ADDRESS.test(address)) {
    out.innerHTML = '<p class="error">Enter 0x followed by 40 hexadecimal digits.</p>';
    return;
  }
  try {
    const a = await api(`/api/accounts/${address}`);
    const lines = [`Balance: ${tokens(a.balance)}`];
    if (a.node) lines.push(`Node (${a.node.status}) at ${a.node.endpoint}: stake ${tokens(a.node.stake)}, earned ${tokens(a.node.earnings)}, ${a.node.claims} of ${a.node.assignments} assignments claimed`);
    if (a.contributor) lines.push(`Contributor: claimed ${tokens(a.contributor.claimed)}, unclaimed ${tokens(a.contributor.unclaimed)}`);
    if (a.queries_made) lines.push(`Queries made: ${a.queries_made}`);
    if (a.models_owned.length) lines.push(`Models owned: ${a.models_owned.join(", ")}`);
    const list = document.createElement("ul");
    for (const line of lines) {
      const li = document.createElement("li");
      li.textContent = line;
      list.append(li);
    }
    out.replaceChildren(list);
  } catch (error) {
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = error.status === 404 ? "No activity for this address." : error.message;
    out.replaceChildren(p);
  }
}

function safeRefresh() {
  refresh().catch((error) => {
    $("status").textContent = `Cannot reach the API: ${error.message}`;
  });
}

function live() {
  let timer = null;
  const poll = () => { if (!timer) timer = setInterval(safeRefresh, 5000); };
  if (!("EventSource" in window)) return poll();
  const source = new EventSource("/api/stream");
  source.addEventListener("update", safeRefresh);
  source.addEventListener("error", poll);
  source.addEventListener("open", () => { if (timer) { clearInterval(timer); timer = null; } });
}

document.addEventListener("DOMContentLoaded", () => {
  $("lookup-form").addEventListener("submit", lookup);
  safeRefresh();
  live();
});
