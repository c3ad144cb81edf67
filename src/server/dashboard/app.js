// The dashboard of mysql-tablespace-recycling: a hash router over the REST API
// (#/clusters, #/clusters/NAME/fragmentation, #/plans, #/plans/ID, #/jobs, #/jobs/ID, #/new).
// No framework and no build step: elements are made with h(), text always goes in as text
// nodes, so a table or schema name can never become markup.
'use strict';

const TOKEN_KEY = 'recycler.token';
const WS_PROTOCOL = 'recycler.v1';
const WS_TOKEN_PREFIX = 'recycler.bearer.';
let token = sessionStorage.getItem(TOKEN_KEY);
// What the current page must stop when another one is shown (timers, sockets).
let cleanups = [];
// Which page is shown: a page's API calls answered after another page was opened never
// resolve, so a slow page cannot draw over the one the user went to.
let routeGen = 0;

// ---- helpers -------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children.flat()) {
    if (c !== undefined && c !== null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function bytes(b) {
  if (b === undefined || b === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Number(b);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + units[i];
}

function when(t) {
  if (!t) return '–';
  const d = new Date(t);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function pct(v) {
  return (Number(v) || 0).toFixed(1) + ' %';
}

function badge(text, kind) {
  return h('span', { class: 'badge ' + (kind || text) }, text);
}

function table(headers, rows, attrs) {
  return h('table', attrs || {},
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows));
}

function errorBox(e) {
  const details = e.details ? JSON.stringify(e.details) : '';
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, e.code ? `Error ${e.code}` : 'Error'), ' ', e.message,
    details && details !== '{}' ? h('pre', {}, details) : null);
}

function page(title, ...children) {
  const main = document.getElementById('main');
  main.replaceChildren(h('h1', {}, title), ...children.flat());
  return main;
}

function hex(text) {
  return Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, '0')).join('');
}

// ---- the API -------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.details = body && body.details;
  }
}

let asking = null;
function askToken(why) {
  if (asking) return asking;
  const dlg = document.getElementById('login');
  document.getElementById('login-why').textContent = why ||
    'This server needs an API token (server.auth_token).';
  // Nothing works without the token: Escape does not close the prompt.
  dlg.oncancel = (e) => e.preventDefault();
  asking = new Promise((resolve) => {
    const form = document.getElementById('login-form');
    form.onsubmit = () => {
      token = document.getElementById('login-token').value.trim();
      sessionStorage.setItem(TOKEN_KEY, token);
      document.getElementById('signout').hidden = false;
      asking = null;
      resolve();
    };
  });
  dlg.showModal();
  return asking;
}

async function api(method, path, body) {
  const gen = routeGen;
  const answer = await call(method, path, body);
  if (gen !== routeGen) return new Promise(() => {});
  return answer;
}

// One API call, asking for the token on a 401 (for any page: the header's health line).
async function call(method, path, body) {
  for (;;) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    let j = null;
    try { j = await r.json(); } catch (_) { /* not JSON */ }
    if (r.status === 401) {
      await askToken(j && j.message);
      continue;
    }
    if (!r.ok) throw new ApiError(r.status, j);
    return j.data;
  }
}

// The monitor's WebSocket: job_update messages to `onUpdate`; reconnects while the page lives.
function monitor(onUpdate, onState) {
  let ws = null;
  let closed = false;
  let retry = null;
  let wait = 1000;
  const open = () => {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/api/v1/ws/monitor';
    const protocols = token ? [WS_PROTOCOL, WS_TOKEN_PREFIX + hex(token)] : [WS_PROTOCOL];
    let opened = false;
    ws = new WebSocket(url, protocols);
    ws.onopen = () => { opened = true; wait = 1000; onState('live'); };
    ws.onmessage = (m) => {
      try { onUpdate(JSON.parse(m.data)); } catch (_) { /* not an update */ }
    };
    ws.onclose = () => {
      if (closed) return;
      onState('disconnected');
      // Refused before it opened: perhaps the token changed; a call asks for it again.
      if (!opened) call('GET', '/api/v1/recycle/jobs?limit=1').catch(() => {});
      retry = setTimeout(open, wait);
      wait = Math.min(wait * 2, 30000);
    };
  };
  open();
  cleanups.push(() => {
    closed = true;
    clearTimeout(retry);
    // Closing a socket still connecting makes the browser log an error: close it once open.
    if (ws.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close();
    else ws.close();
  });
}

function every(ms, f) {
  const t = setInterval(f, ms);
  cleanups.push(() => clearInterval(t));
}

// ---- clusters ------------------------------------------------------------------------------

function nodeLine(n) {
  // A node seen by earlier discoveries and not found now has no role.
  const role = n.role ? badge(n.role === 'master' ? 'primary' : 'replica', n.role) : badge('not found now', 'down');
  return h('div', { class: 'node', 'data-node': n.address },
    h('span', { class: 'addr' }, n.address), ' ', role, ' ',
    n.read_only === true ? badge('read_only', 'ro') : n.read_only === false ? badge('writable', 'rw') : null, ' ',
    n.lag_seconds !== null && n.lag_seconds !== undefined ? badge(`lag ${n.lag_seconds} s`, 'lag')
      : (n.master ? badge('lag unknown', 'warn') : null), ' ',
    n.protected ? h('span', { class: 'badge protected', title: n.protected }, `protected: ${n.protected}`) : null, ' ',
    n.status !== 'scanned' ? h('span', { class: 'badge down', title: n.error || '' }, `${n.status}${n.error ? ': ' + n.error : ''}`) : null, ' ',
    h('span', { class: 'muted' }, `${n.tables} tables · ${bytes(n.file_bytes)} · `),
    h('span', { class: 'reclaim' }, `${bytes(n.reclaimable_bytes)} reclaimable`));
}

function tree(nodes) {
  const byMaster = new Map();
  const known = new Set(nodes.map((n) => n.address));
  for (const n of nodes) {
    const m = n.master && known.has(n.master) ? n.master : '';
    if (!byMaster.has(m)) byMaster.set(m, []);
    byMaster.get(m).push(n);
  }
  const seen = new Set();
  const level = (m) => h('ul', { class: 'tree' }, (byMaster.get(m) || []).map((n) => {
    if (seen.has(n.address)) return null;
    seen.add(n.address);
    return h('li', {}, nodeLine(n), byMaster.has(n.address) ? level(n.address) : null);
  }));
  return level('');
}

async function clustersPage() {
  const render = async () => {
    const data = await api('GET', '/api/v1/clusters');
    if (!data.clusters.length) {
      page('Clusters', h('p', {}, 'No cluster is configured: add one to database.clusters in the server\'s config to have it scanned.'));
      return;
    }
    page('Clusters', data.clusters.map((c) => {
      const scan = c.last_scan;
      const button = h('button', {
        type: 'button',
        onclick: async () => {
          button.disabled = true;
          button.textContent = 'Scanning…';
          try {
            await api('POST', `/api/v1/clusters/${encodeURIComponent(c.name)}/scan`);
            await render();
          } catch (e) {
            button.disabled = false;
            button.textContent = 'Scan now';
            button.after(errorBox(e));
          }
        },
      }, 'Scan now');
      return h('section', { class: 'card cluster', 'data-cluster': c.name },
        h('h2', {}, c.name, ' ', h('span', { class: 'muted' }, `primary ${c.primary}`)),
        h('p', { class: 'stats' },
          h('span', { class: 'reclaim big' }, bytes(c.reclaimable_bytes)), ' reclaimable of ',
          bytes(c.file_bytes), ` in ${c.tables} tables · `,
          scan ? [`last scan ${when(scan.finished_at)} (${scan.duration_seconds.toFixed(1)} s) `, badge(scan.outcome)]
            : h('span', { class: 'muted' }, 'not scanned yet'),
          scan && scan.error ? h('span', { class: 'muted' }, ' ' + scan.error) : null),
        h('p', {}, button, ' ', h('a', { href: `#/clusters/${encodeURIComponent(c.name)}/fragmentation` }, 'Fragmentation →')),
        tree(c.nodes));
    }));
  };
  await render();
  every(15000, () => render().catch(() => {}));
}

// ---- fragmentation ---------------------------------------------------------------------------

const COLORS = ['#2f6fde', '#d9480f', '#2b8a3e', '#862e9c', '#e67700', '#0b7285', '#c2255c', '#5c940d'];

function historyChart(nodes) {
  const W = 720, H = 240, L = 70, R = 10, T = 10, B = 30;
  const pts = nodes.flatMap((n) => n.points);
  if (!pts.length) return h('p', { class: 'muted' }, 'No scan in this window yet.');
  const times = pts.map((p) => Date.parse(p.at));
  let t0 = Math.min(...times), t1 = Math.max(...times);
  if (t1 === t0) { t0 -= 30000; t1 += 30000; }
  const ymax = Math.max(1, ...pts.map((p) => p.reclaimable_bytes)) * 1.1;
  const x = (t) => L + (W - L - R) * (Date.parse(t) - t0) / (t1 - t0);
  const y = (v) => T + (H - T - B) * (1 - v / ymax);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': 'reclaimable bytes per node over time' });
  for (let i = 0; i <= 4; i++) {
    const v = ymax * i / 4;
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, bytes(v)));
  }
  svg.append(s('text', { x: L, y: H - 8, class: 'axis' }, when(new Date(t0).toISOString())),
    s('text', { x: W - R, y: H - 8, 'text-anchor': 'end', class: 'axis' }, when(new Date(t1).toISOString())));
  nodes.forEach((n, i) => {
    const c = COLORS[i % COLORS.length];
    const ok = n.points.filter((p) => p.status === 'scanned');
    svg.append(s('polyline', {
      points: ok.map((p) => `${x(p.at).toFixed(1)},${y(p.reclaimable_bytes).toFixed(1)}`).join(' '),
      fill: 'none', stroke: c, 'stroke-width': 2, 'data-node': n.address,
    }));
    for (const p of ok) {
      svg.append(s('circle', { cx: x(p.at).toFixed(1), cy: y(p.reclaimable_bytes).toFixed(1), r: 3, fill: c },
        s('title', {}, `${n.address} ${when(p.at)}: ${bytes(p.reclaimable_bytes)}`)));
    }
  });
  const legend = h('p', { class: 'legend' }, nodes.map((n, i) => {
    const sw = h('span', { class: 'swatch' });
    sw.style.background = COLORS[i % COLORS.length];
    return h('span', {}, sw, n.address, ' ');
  }));
  return h('div', {}, svg, legend);
}

function sortable(headers, rows) {
  // headers: [{label, key, num}]; rows: objects; returns a table sorted on header clicks.
  let key = headers.find((x) => x.sort)?.key || headers[0].key;
  let dir = -1;
  const tbody = h('tbody');
  const ths = headers.map((c) => h('th', {
    class: 'sortable', 'data-key': c.key,
    onclick: () => { dir = key === c.key ? -dir : (c.num ? -1 : 1); key = c.key; draw(); },
  }, c.label));
  const draw = () => {
    const sorted = [...rows].sort((a, b) => {
      const va = a[key], vb = b[key];
      return (typeof va === 'number' ? va - vb : String(va).localeCompare(String(vb))) * dir;
    });
    ths.forEach((th, i) => th.setAttribute('aria-sort', headers[i].key === key ? (dir > 0 ? 'ascending' : 'descending') : 'none'));
    tbody.replaceChildren(...sorted.map((r) => h('tr', {}, headers.map((c) => h('td', { class: c.num ? 'num' : '' }, c.show ? c.show(r[c.key]) : r[c.key])))));
  };
  draw();
  return h('table', { class: 'tables' }, h('thead', {}, h('tr', {}, ths)), tbody);
}

async function fragmentationPage(name, query) {
  const q = new URLSearchParams(query);
  const since = q.get('since') || '24h';
  const data = await api('GET', `/api/v1/clusters/${encodeURIComponent(name)}/fragmentation?${q.toString() || 'since=' + since}`);
  // The choices of the filters come from the unfiltered history.
  const all = q.get('node') || q.get('schema')
    ? await api('GET', `/api/v1/clusters/${encodeURIComponent(name)}/fragmentation?since=${encodeURIComponent(since)}`)
    : data;
  const nodeNames = all.nodes.map((n) => n.address);
  const schemas = [...new Set(all.tables.map((t) => t.schema))].sort();
  const go = (k, v) => {
    if (v) q.set(k, v); else q.delete(k);
    location.hash = `#/clusters/${encodeURIComponent(name)}/fragmentation?${q.toString()}`;
  };
  const chosen = { since, node: q.get('node') || '', schema: q.get('schema') || '' };
  const select = (k, label, options) => h('label', {}, label, ' ', h('select', { name: k, onchange: (e) => go(k, e.target.value) },
    options.map(([v, t]) => h('option', { value: v, selected: chosen[k] === v }, t))));
  const latest = data.tables.map((t) => {
    const p = t.points[t.points.length - 1];
    return {
      node: t.node, schema: t.schema, table: t.table, file: p.file_bytes, reclaim: p.reclaim_bytes,
      percent: p.file_bytes ? 100 * p.reclaim_bytes / p.file_bytes : 0, at: p.at,
    };
  });
  const nodeRows = data.nodes.map((n) => {
    const p = n.points[n.points.length - 1];
    return h('tr', {}, h('td', {}, n.address), h('td', {}, badge(p.status)), h('td', { class: 'num' }, p.tables),
      h('td', { class: 'num' }, bytes(p.file_bytes)), h('td', { class: 'num reclaim' }, bytes(p.reclaimable_bytes)), h('td', {}, when(p.at)));
  });
  page(`Fragmentation of ${name}`,
    h('p', { class: 'filters' },
      select('since', 'Since', [['1h', 'last hour'], ['24h', 'last 24 hours'], ['7d', 'last 7 days']]), ' ',
      select('node', 'Node', [['', 'all'], ...nodeNames.map((n) => [n, n])]), ' ',
      select('schema', 'Schema', [['', 'all'], ...schemas.map((n) => [n, n])]), ' ',
      h('a', { href: '#/clusters' }, '← Clusters')),
    h('h2', {}, 'Reclaimable bytes per node'), historyChart(data.nodes),
    h('h2', {}, 'Nodes at the last scan'),
    table(['Node', 'Status', 'Tables', 'File bytes', 'Reclaimable', 'Scanned'], nodeRows),
    h('h2', {}, `Tables (${latest.length})`),
    latest.length ? sortable([
      { label: 'Node', key: 'node' }, { label: 'Schema', key: 'schema' }, { label: 'Table', key: 'table' },
      { label: 'File size', key: 'file', num: true, show: bytes },
      { label: 'Reclaimable', key: 'reclaim', num: true, show: bytes, sort: true },
      { label: '% of file', key: 'percent', num: true, show: pct },
    ], latest) : h('p', { class: 'muted' }, 'No table above monitoring.metrics.min_table_mb was recorded.'));
}

// ---- plans ---------------------------------------------------------------------------------

async function plansPage() {
  const data = await api('GET', '/api/v1/plans?limit=100');
  page('Plans', h('p', {}, h('a', { href: '#/new', class: 'button' }, 'New plan'), ` ${data.total} saved`),
    data.plans.length ? table(['Plan', 'Created', 'Cluster', 'Seed', 'Mode', 'Nodes', 'Actions', 'Estimated reclaim'],
      data.plans.map((p) => h('tr', {},
        h('td', {}, h('a', { href: `#/plans/${encodeURIComponent(p.plan_id)}` }, p.plan_id)),
        h('td', {}, when(p.created_at)), h('td', {}, p.cluster_id), h('td', {}, p.seed), h('td', {}, p.mode),
        h('td', { class: 'num' }, p.summary.nodes), h('td', { class: 'num' }, p.summary.actions),
        h('td', { class: 'num reclaim' }, bytes(p.summary.estimated_reclaim_bytes)))), { class: 'plans' })
      : h('p', { class: 'muted' }, 'No plan yet.'));
}

function unified(text) {
  return h('pre', { class: 'diff' }, text.split('\n').map((l) =>
    h('span', { class: l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : l.startsWith('@@') ? 'hunk' : '' }, l + '\n')));
}

async function planPage(id) {
  const [plan, review, list, { clusters }] = await Promise.all([
    api('GET', `/api/v1/plans/${encodeURIComponent(id)}`),
    api('GET', `/api/v1/plans/${encodeURIComponent(id)}/review`),
    api('GET', '/api/v1/plans?limit=100'),
    api('GET', '/api/v1/clusters'),
  ]);
  const out = h('div', { id: 'diff-out' });
  const others = list.plans.filter((p) => p.plan_id !== id);
  const from = h('select', { id: 'diff-from' }, others.map((p) => h('option', { value: p.plan_id }, `${p.plan_id} (${p.cluster_id}, ${p.summary.actions} actions)`)));
  const diffButton = h('button', {
    type: 'button', disabled: !others.length,
    onclick: async () => {
      try {
        const d = await api('GET', `/api/v1/plans/${encodeURIComponent(id)}/diff?from=${encodeURIComponent(from.value)}`);
        out.replaceChildren(
          h('p', {}, d.changes ? badge('changes', 'warn') : badge('no changes', 'ok'), ` from ${d.from} to ${d.to}`),
          h('ul', { class: 'changes' }, [...d.other, ...d.added, ...d.removed, ...d.changed, ...d.estimates].map((l) => h('li', {}, l))),
          d.unified ? unified(d.unified) : null);
      } catch (e) { out.replaceChildren(errorBox(e)); }
    },
  }, 'Diff');
  const jobOut = h('div');
  // The job's login for the plan's nodes: a cluster of the server's config (the one whose
  // primary the plan was made from comes first), or a user and password typed here.
  const login = h('select', { id: 'job-login' },
    [...clusters].sort((a, b) => (b.primary === plan.cluster.seed) - (a.primary === plan.cluster.seed))
      .map((c) => h('option', { value: c.name }, `the login of cluster ${c.name} (${c.primary})`)),
    h('option', { value: '' }, 'this user and password:'));
  const user = h('input', { id: 'job-user', placeholder: 'user' });
  const password = h('input', { id: 'job-password', type: 'password', placeholder: 'password', autocomplete: 'off' });
  const typed = h('span', {}, ' ', user, ' ', password);
  const showTyped = () => { typed.hidden = login.value !== ''; };
  login.addEventListener('change', showTyped);
  showTyped();
  const jobButton = h('button', {
    type: 'button', class: 'primary',
    onclick: async () => {
      jobButton.disabled = true;
      const body = { plan_id: id, expect_digest: plan.digest };
      if (login.value) body.cluster = login.value;
      else body.credentials = { username: user.value, password: password.value };
      try {
        const j = await api('POST', '/api/v1/recycle/jobs', body);
        location.hash = `#/jobs/${encodeURIComponent(j.job_id)}`;
      } catch (e) { jobOut.replaceChildren(errorBox(e)); jobButton.disabled = false; }
    },
  }, 'Create a job from this plan');
  const actions = plan.nodes.flatMap((n) => n.actions.map((a) => h('tr', {},
    h('td', {}, n.address), h('td', {}, `${a.schema}.${a.table}`), h('td', { class: 'num' }, bytes(a.file_size_bytes)),
    h('td', { class: 'num reclaim' }, bytes(a.estimated_reclaim_bytes)), h('td', {}, a.estimate_method),
    h('td', {}, h('code', {}, a.statement)))));
  page(`Plan ${id}`,
    h('p', {}, `${plan.cluster.cluster_id} from ${plan.cluster.seed} · ${plan.settings.mode} · made ${when(plan.created_at)} · `,
      h('code', {}, plan.digest)),
    h('p', {}, h('label', {}, 'Run with ', login), typed, ' ', jobButton), jobOut,
    h('h2', {}, `Check: ${review.errors} error(s), ${review.warnings} warning(s)`),
    review.findings.length ? table(['Severity', 'Finding', 'Node', 'Table', 'Message'], review.findings.map((f) => h('tr', {},
      h('td', {}, badge(f.severity)), h('td', {}, f.name), h('td', {}, f.node || ''), h('td', {}, f.table || ''), h('td', {}, f.message))), { class: 'findings' })
      : h('p', {}, badge('no findings', 'ok')),
    h('h2', {}, 'Actions'),
    actions.length ? table(['Node', 'Table', 'File size', 'Estimated reclaim', 'Estimate', 'Statement'], actions, { class: 'actions' })
      : h('p', { class: 'muted' }, 'Nothing to do.'),
    h('h2', {}, 'The plan as show prints it'), h('pre', { class: 'rendered' }, review.text),
    h('h2', {}, 'Diff against another plan'),
    h('p', {}, h('label', {}, 'From ', from), ' ', diffButton), out);
}

// ---- new plan ------------------------------------------------------------------------------

async function newPage() {
  const clusters = (await api('GET', '/api/v1/clusters')).clusters;
  const out = h('div');
  const field = (label, input) => h('label', { class: 'field' }, h('span', {}, label), input);
  const inp = (name, attrs) => h('input', { name, ...(attrs || {}) });
  const source = h('select', { name: 'cluster' },
    clusters.map((c) => h('option', { value: c.name }, `${c.name} (${c.primary})`)),
    h('option', { value: '' }, 'another server: give its address and login'));
  const target = h('fieldset', { class: 'target' }, h('legend', {}, 'Target'),
    field('Host', inp('host', { placeholder: '10.0.0.1' })), field('Port', inp('port', { type: 'number', value: 3306 })),
    field('User', inp('username')), field('Password', inp('password', { type: 'password', autocomplete: 'off' })));
  const showTarget = () => { target.hidden = source.value !== ''; };
  source.addEventListener('change', showTarget);
  const list = (v) => v.split(',').map((x) => x.trim()).filter(Boolean);
  const form = h('form', {
    class: 'new',
    onsubmit: async (e) => {
      e.preventDefault();
      const f = new FormData(form);
      const config = {
        scope: f.get('scope'), mode: f.get('mode'),
        threshold_mb: Number(f.get('threshold_mb')), threshold_percent: Number(f.get('threshold_percent')),
        exclude_primary: f.get('exclude_primary') === 'on',
        databases: list(f.get('databases')), tables: list(f.get('tables')),
        exclude_databases: list(f.get('exclude_databases')), exclude_tables: list(f.get('exclude_tables')),
      };
      const body = { config };
      if (source.value) body.cluster = source.value;
      else body.target = { host: f.get('host'), port: Number(f.get('port')), username: f.get('username'), password: f.get('password') };
      out.replaceChildren(h('p', { class: 'muted' }, 'Planning… (discovery and a catalog scan of every eligible node)'));
      try {
        const plan = await api('POST', '/api/v1/plans', body);
        location.hash = `#/plans/${encodeURIComponent(plan.plan_id)}`;
      } catch (err) { out.replaceChildren(errorBox(err)); }
    },
  },
  field('Source', source), target,
  field('Scope', h('select', { name: 'scope' }, h('option', { value: 'cluster' }, 'cluster: every eligible node'), h('option', { value: 'node' }, 'node: the target only'))),
  field('Mode', h('select', { name: 'mode' }, h('option', { value: 'binlog-off' }, 'binlog-off: each node rebuilds its own tables'), h('option', { value: 'binlog-on' }, 'binlog-on: the rebuild replicates downstream'))),
  field('Databases', inp('databases', { placeholder: 'app_*, billing' })),
  field('Tables', inp('tables', { placeholder: 'all' })),
  field('Exclude databases', inp('exclude_databases')),
  field('Exclude tables', inp('exclude_tables')),
  field('Threshold (MiB)', inp('threshold_mb', { type: 'number', value: 100, min: 0 })),
  field('Threshold (%)', inp('threshold_percent', { type: 'number', value: 10, min: 0, max: 100, step: 'any' })),
  h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'exclude_primary', checked: true }), ' Never rebuild on the primary (exclude_primary)'),
  h('p', {}, h('button', { type: 'submit', class: 'primary' }, 'Make plan')));
  page('New plan', h('p', { class: 'muted' }, 'The plan is saved for review; nothing runs until a job is created from it.'), form, out);
  showTarget();
}

// ---- jobs ----------------------------------------------------------------------------------

function runState(rs) {
  if (!rs) return '';
  return rs.state === 'running' ? badge('running') : h('span', { class: 'badge ' + rs.state, title: rs.since || '' }, `${rs.state}: ${rs.reason}`);
}

function bar(progress) {
  const fill = h('span', { class: 'fill' });
  fill.style.width = Math.max(0, Math.min(100, progress)) + '%';
  return h('span', { class: 'bar', role: 'progressbar', 'aria-valuenow': progress.toFixed(1), 'aria-valuemin': 0, 'aria-valuemax': 100 }, fill);
}

async function jobsPage() {
  const rows = new Map();
  const tbody = h('tbody');
  const state = h('span', { class: 'muted' }, 'connecting…');
  const row = (j) => h('tr', { 'data-job': j.job_id },
    h('td', {}, h('a', { href: `#/jobs/${encodeURIComponent(j.job_id)}` }, j.job_id)),
    h('td', {}, j.kind || ''), h('td', {}, badge(j.status)), h('td', {}, j.phase || ''),
    h('td', {}, j.plan_id ? h('a', { href: `#/plans/${encodeURIComponent(j.plan_id)}` }, j.plan_id) : ''),
    h('td', {}, bar(j.progress), ' ', h('span', { class: 'pct' }, pct(j.progress))),
    h('td', { class: 'num' }, `${j.processed_tables}/${j.total_tables}`),
    h('td', { class: 'num' }, `${j.space_freed_mb} MiB`), h('td', {}, runState(j.run_state)),
    h('td', {}, when(j.created_at)));
  const put = (j) => {
    const old = rows.get(j.job_id);
    const merged = { ...(old ? old.data : {}), ...j };
    const tr = row(merged);
    if (old) old.tr.replaceWith(tr); else tbody.prepend(tr);
    rows.set(j.job_id, { data: merged, tr });
  };
  const data = await api('GET', '/api/v1/recycle/jobs?limit=100');
  data.jobs.reverse().forEach(put);
  page('Jobs', h('p', {}, `${data.total} jobs · updates `, state),
    h('table', { class: 'jobs' }, h('thead', {}, h('tr', {},
      ['Job', 'Kind', 'Status', 'Phase', 'Plan', 'Progress', 'Tables', 'Freed', 'Run state', 'Created'].map((x) => h('th', {}, x)))), tbody));
  monitor((u) => { if (u.type === 'job_update') put(u); }, (st) => { state.textContent = st; });
}

async function jobPage(id) {
  const path = `/api/v1/recycle/jobs/${encodeURIComponent(id)}`;
  let job = await api('GET', path);
  const plan = job.plan_id ? await api('GET', `/api/v1/plans/${encodeURIComponent(job.plan_id)}`).catch(() => null) : null;
  const live = h('span', { class: 'muted' }, 'connecting…');
  const view = h('div');
  const msg = h('div');
  const control = (label, method, suffix, ask) => h('button', {
    type: 'button', 'data-action': label.toLowerCase(),
    onclick: async () => {
      if (ask && !confirm(ask)) return;
      try { await api(method, path + suffix); await refresh(); } catch (e) { msg.replaceChildren(errorBox(e)); }
    },
  }, label);
  const buttons = h('p', {},
    control('Pause', 'POST', '/pause'), ' ', control('Resume', 'POST', '/resume'), ' ',
    control('Cancel', 'DELETE', '', `Cancel job ${id}? A running rebuild is killed (KILL QUERY).`), ' ', live);
  const draw = (u) => {
    const p = job.progress;
    const progress = u ? u.progress : p.percentage;
    const processed = u ? u.processed_tables : p.processed_tables;
    const total = u ? u.total_tables : p.total_tables;
    const rs = u ? u.run_state : job.run_state;
    const current = u ? u.current_table : p.current_table;
    const rebuilds = (u ? u.rebuilds : p.rebuilds) || [];
    const status = u ? u.status : job.status;
    const done = job.statistics.tables_processed;
    const perNode = new Map();
    for (const n of plan ? plan.nodes : []) {
      if (n.actions.length) perNode.set(String(n.address), { total: n.actions.length, done: 0, freed: 0, failed: 0 });
    }
    for (const t of done) {
      const n = perNode.get(t.node) || { total: 0, done: 0, freed: 0, failed: 0 };
      n.done++; n.freed += t.bytes_freed; if (t.status === 'failed') n.failed++;
      perNode.set(t.node, n);
    }
    const active = ['pending', 'running'].includes(status);
    for (const b of buttons.querySelectorAll('button')) {
      const a = b.dataset.action;
      b.disabled = !active || (a === 'pause' && rs && rs.state === 'paused') || (a === 'resume' && !(rs && rs.state === 'paused'));
    }
    view.replaceChildren(
      h('p', { class: 'stats' }, badge(status), ' ', job.phase ? badge(job.phase, 'phase') : null, ' ', runState(rs),
        job.plan_id ? [' plan ', h('a', { href: `#/plans/${encodeURIComponent(job.plan_id)}` }, job.plan_id)] : null),
      h('p', { class: 'progress' }, bar(progress), ' ', h('strong', { id: 'progress' }, pct(progress)),
        ` · ${processed}/${total} tables · `, h('span', { id: 'freed', class: 'reclaim' },
          u ? `${u.space_freed_mb} MiB freed` : `${bytes(job.statistics.space_freed_bytes)} freed`),
        ` · elapsed ${job.statistics.time_elapsed}`,
        (u ? u.estimated_remaining : job.statistics.estimated_remaining) ? ` · about ${u ? u.estimated_remaining : job.statistics.estimated_remaining} left` : ''),
      current ? h('p', {}, 'Now: ', h('code', {}, current)) : null,
      rebuilds.length ? table(['Node', 'Table', 'Size before', 'Written', 'Done', 'Stage'], rebuilds.map((r) => h('tr', {},
        h('td', {}, r.node), h('td', {}, `${r.schema}.${r.table}`), h('td', { class: 'num' }, bytes(r.size_before)),
        h('td', { class: 'num' }, bytes(r.bytes_written)), h('td', { class: 'num' }, r.percent === null || r.percent === undefined ? '–' : pct(r.percent)),
        h('td', {}, r.stage || '')))) : null,
      job.error ? h('div', { class: 'error' }, job.error) : null,
      h('h2', {}, 'Per node'),
      perNode.size ? table(['Node', 'Done', 'Failed', 'Freed', 'Progress'], [...perNode].map(([n, v]) => h('tr', { 'data-node': n },
        h('td', {}, n), h('td', { class: 'num' }, `${v.done}/${v.total || '?'}`), h('td', { class: 'num' }, v.failed),
        h('td', { class: 'num reclaim' }, bytes(v.freed)), h('td', {}, bar(v.total ? 100 * v.done / v.total : 0)))), { class: 'nodes' })
        : h('p', { class: 'muted' }, 'No table done yet.'),
      h('h2', {}, 'Tables done'),
      done.length ? table(['Node', 'Table', 'Status', 'Before', 'After', 'Freed', 'Seconds'], done.map((t) => h('tr', {},
        h('td', {}, t.node), h('td', {}, `${t.schema}.${t.table}`), h('td', {}, badge(t.status)),
        h('td', { class: 'num' }, bytes(t.size_before_bytes)), h('td', { class: 'num' }, bytes(t.size_after_bytes)),
        h('td', { class: 'num reclaim' }, bytes(t.bytes_freed)), h('td', { class: 'num' }, t.duration_seconds ? t.duration_seconds.toFixed(1) : '–'))))
        : h('p', { class: 'muted' }, 'None yet.'));
  };
  let pending = null;
  // The newest update over the WebSocket: a job view read while it arrived may be older.
  let last = null;
  const refresh = async () => {
    job = await api('GET', path);
    const behind = last && (last.processed_tables > job.progress.processed_tables ||
      (last.status !== job.status && ['pending', 'running'].includes(job.status)));
    draw(behind ? last : undefined);
  };
  page(`Job ${id}`, buttons, msg, view);
  draw();
  monitor((u) => {
    if (u.type !== 'job_update' || u.job_id !== id) return;
    last = u;
    draw(u);
    // The view's per-node figures come from the job itself; read it once the burst is over.
    clearTimeout(pending);
    pending = setTimeout(() => refresh().catch(() => {}), 300);
  }, (st) => { live.textContent = st === 'live' ? 'live' : st; });
  cleanups.push(() => clearTimeout(pending));
}

// ---- the router ----------------------------------------------------------------------------

const ROUTES = [
  [/^#\/clusters\/([^/?]+)\/fragmentation(?:\?(.*))?$/, (m) => fragmentationPage(decodeURIComponent(m[1]), m[2] || ''), 'clusters'],
  [/^#\/clusters$/, () => clustersPage(), 'clusters'],
  [/^#\/plans\/([^/?]+)$/, (m) => planPage(decodeURIComponent(m[1])), 'plans'],
  [/^#\/plans$/, () => plansPage(), 'plans'],
  [/^#\/jobs\/([^/?]+)$/, (m) => jobPage(decodeURIComponent(m[1])), 'jobs'],
  [/^#\/jobs$/, () => jobsPage(), 'jobs'],
  [/^#\/new$/, () => newPage(), 'new'],
];

async function route() {
  for (const c of cleanups) c();
  cleanups = [];
  routeGen++;
  const hash = location.hash || '#/clusters';
  const found = ROUTES.find(([re]) => re.test(hash));
  if (!found) { location.hash = '#/clusters'; return; }
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === found[2]);
  try {
    await found[1](hash.match(found[0]));
  } catch (e) {
    page('Error', errorBox(e));
  }
}

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', async () => {
  document.getElementById('signout').hidden = !token;
  document.getElementById('signout').addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    location.reload();
  });
  route();
  try {
    const health = await call('GET', '/api/v1/health');
    document.getElementById('server').textContent = `v${health.version} · up ${health.uptime} · ${health.active_jobs} active job(s)`;
  } catch (_) { /* shown by the page */ }
});
