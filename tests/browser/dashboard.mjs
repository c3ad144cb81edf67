// Drives the dashboard in Debian's headless Chromium (playwright-core; no downloaded browser)
// against a real server on a sandbox cluster. Run by tests/replication/dashboard.rs, which
// starts both and passes what to expect:
//   BASE_URL      the server (http://127.0.0.1:PORT)
//   API_TOKEN     its server.auth_token
//   CLUSTER       the cluster of its config
//   NODES         every node's address, comma-separated
//   SCHEMA        the schema the test fragmented; TABLES its tables, comma-separated
//   FIRST_PLAN    a plan made over the API before (the diff's other side)
//   SHOTS         where the screenshots go (under target/)
//   CHROMIUM      the browser (default /usr/bin/chromium)
// Prints one line per check; exits non-zero on the first failure.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const BASE = env('BASE_URL');
const TOKEN = env('API_TOKEN');
const CLUSTER = env('CLUSTER');
const NODES = env('NODES').split(',');
const SCHEMA = env('SCHEMA');
const TABLES = env('TABLES').split(',');
const FIRST_PLAN = env('FIRST_PLAN');
const SHOTS = env('SHOTS');
mkdirSync(SHOTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const errors = [];
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  // The browser logs every 4xx as a failed resource load (the 401s before the token are
  // expected); anything else the page logs as an error is one.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 401/.test(m.text())) {
      errors.push(`console: ${m.text()}`);
    }
  });
  page.on('dialog', (d) => d.accept());
  const shot = async (name) => {
    await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
    console.log(`screenshot ${SHOTS}/${name}.png`);
  };
  const ok = (what) => console.log(`ok: ${what}`);

  // ---- the token: asked for, nothing shown without it ------------------------------------
  await page.goto(BASE + '/');
  await page.locator('#login').waitFor({ state: 'visible' });
  assert.equal(await page.locator('[data-cluster]').count(), 0, 'no cluster is shown before the token');
  await page.fill('#login-token', 'not-the-token');
  await page.click('#login-form button[type=submit]');
  await page.locator('#login').waitFor({ state: 'visible' });
  assert.match(await page.locator('#login-why').textContent(), /invalid API token/);
  ok('a wrong token is refused and asked for again');
  await page.fill('#login-token', TOKEN);
  await page.click('#login-form button[type=submit]');

  // ---- clusters: the real topology ---------------------------------------------------------
  const card = page.locator(`[data-cluster="${CLUSTER}"]`);
  await card.waitFor();
  for (const n of NODES) {
    const line = card.locator(`.node[data-node="${n}"]`);
    await line.waitFor();
    const text = await line.textContent();
    assert.match(text, /primary|replica/, `${n} shows its role: ${text}`);
  }
  const primary = await card.locator(`.node[data-node="${NODES[0]}"]`).textContent();
  assert.match(primary, /primary/);
  assert.match(primary, /protected: primary/, primary);
  assert.match(primary, /writable/);
  for (const n of NODES.slice(1)) {
    const t = await card.locator(`.node[data-node="${n}"]`).textContent();
    assert.match(t, /replica/);
    assert.match(t, /read_only/);
    assert.match(t, /lag \d+ s/, t);
  }
  // The chained replica is drawn under its source.
  const nested = await card.locator('ul.tree ul.tree ul.tree .node').count();
  assert.ok(nested >= 1, 'a replica of a replica is nested two levels down');
  await page.waitForFunction((c) => {
    const el = document.querySelector(`[data-cluster="${c}"] .stats`);
    return el && /last scan/.test(el.textContent);
  }, CLUSTER, { timeout: 30000 });
  ok(`clusters: ${CLUSTER} with ${NODES.length} nodes, roles, read_only, lag, the protected primary`);
  await shot('clusters');

  // ---- fragmentation: the tables, sortable, and the history chart -------------------------
  await card.locator('a', { hasText: 'Fragmentation' }).click();
  await page.locator('table.tables').waitFor();
  const body = await page.locator('table.tables').textContent();
  for (const t of TABLES) assert.ok(body.includes(t), `table ${t} is listed`);
  for (const n of NODES) assert.ok(body.includes(n), `node ${n} is listed`);
  assert.ok(body.includes(SCHEMA));
  const lines = await page.locator('svg.chart polyline').count();
  assert.equal(lines, NODES.length, 'one line of history per node');
  // Sorting: by table name, ascending then descending.
  const th = page.locator('table.tables th', { hasText: /^Table$/ });
  await th.click();
  assert.equal(await th.getAttribute('aria-sort'), 'ascending');
  const col = async () => page.locator('table.tables tbody tr td:nth-child(3)').allTextContents();
  const asc = await col();
  assert.deepEqual(asc, [...asc].sort((a, b) => a.localeCompare(b)), 'sorted ascending');
  await th.click();
  assert.equal(await th.getAttribute('aria-sort'), 'descending');
  const desc = await col();
  assert.deepEqual(desc, [...asc].reverse(), 'sorted descending');
  // Filtered to the test's schema and the first replica.
  await page.selectOption('select[name=node]', NODES[1]);
  await page.waitForFunction((n) => {
    const rows = [...document.querySelectorAll('table.tables tbody tr td:first-child')];
    return rows.length > 0 && rows.every((td) => td.textContent === n);
  }, NODES[1]);
  ok(`fragmentation: ${TABLES.length} tables on every node, sortable, a chart line per node, a node filter`);
  await shot('fragmentation');

  // ---- new plan: made from the form --------------------------------------------------------
  await page.click('nav a[data-page=new]');
  await page.locator('form.new').waitFor();
  await page.selectOption('select[name=cluster]', CLUSTER);
  await page.fill('input[name=databases]', SCHEMA);
  await page.fill('input[name=threshold_mb]', '1');
  await page.fill('input[name=threshold_percent]', '1');
  await shot('new-plan');
  await page.click('form.new button[type=submit]');
  await page.waitForURL(/#\/plans\/plan-/, { timeout: 60000 });
  const planId = decodeURIComponent(page.url().split('#/plans/')[1]);
  await page.locator('table.actions').waitFor();
  const actions = await page.locator('table.actions').textContent();
  for (const t of TABLES) assert.ok(actions.includes(`${SCHEMA}.${t}`), `the plan rebuilds ${t}`);
  assert.ok(!actions.includes(NODES[0] + `${SCHEMA}.`), 'nothing on the primary');
  const rendered = await page.locator('pre.rendered').textContent();
  assert.ok(rendered.includes(TABLES[0]), 'the rendering names the tables');
  assert.match(await page.locator('h2', { hasText: 'Check:' }).textContent(), /Check: 0 error\(s\)/);
  ok(`new plan ${planId} from the form: every table on the replicas, rendered and checked`);

  // ---- diff against the plan made before --------------------------------------------------
  await page.selectOption('#diff-from', FIRST_PLAN);
  await page.click('button:has-text("Diff")');
  await page.locator('#diff-out ul.changes').waitFor();
  const diff = await page.locator('#diff-out').textContent();
  assert.match(diff, /changes/);
  assert.ok(diff.includes(`+ `), `added actions are listed: ${diff.slice(0, 400)}`);
  assert.ok(await page.locator('#diff-out pre.diff .add').count() > 0, 'the unified diff has added lines');
  ok(`diff from ${FIRST_PLAN} to ${planId}`);
  await shot('plan');

  // ---- plans list ----------------------------------------------------------------------------
  await page.click('nav a[data-page=plans]');
  await page.locator('table.plans').waitFor();
  const plans = await page.locator('table.plans').textContent();
  assert.ok(plans.includes(planId) && plans.includes(FIRST_PLAN), 'both plans are listed');
  assert.ok(plans.includes(NODES[0]), 'the seed of each plan');
  ok('plans: both listed');
  await shot('plans');

  // ---- a job from the plan, watched live --------------------------------------------------
  await page.click(`table.plans a:has-text("${planId}")`);
  await page.locator('button:has-text("Create a job")').waitFor();
  assert.equal(await page.locator('#job-login').inputValue(), CLUSTER, 'the plan\'s cluster login is offered first');
  await page.click('button:has-text("Create a job")');
  await page.waitForURL(/#\/jobs\/job-/);
  const jobId = decodeURIComponent(page.url().split('#/jobs/')[1]);
  // Every value the progress figure shows, as it changes.
  await page.evaluate(() => {
    window.seen = [];
    const note = () => {
      const el = document.getElementById('progress');
      if (el && window.seen[window.seen.length - 1] !== el.textContent) window.seen.push(el.textContent);
    };
    new MutationObserver(note).observe(document.getElementById('main'), { subtree: true, childList: true, characterData: true });
    note();
  });
  await page.waitForFunction(() => /live/.test(document.querySelector('main p').textContent), null, { timeout: 10000 });
  ok('the job view is live over the WebSocket (token sent as a subprotocol)');
  // Pause once a table is done, check nothing moves on, resume.
  await page.waitForFunction(() => {
    const v = parseFloat(document.getElementById('progress')?.textContent || '0');
    return v > 0;
  }, null, { timeout: 60000 });
  await page.click('button[data-action=pause]');
  await page.locator('.badge.paused').waitFor({ timeout: 15000 });
  const pausedText = await page.locator('.badge.paused').textContent();
  assert.match(pausedText, /paused/);
  await shot('job-paused');
  ok(`paused from the page: ${pausedText}`);
  await page.click('button[data-action=resume]');
  await page.waitForFunction(() => /completed|failed|cancelled/.test(document.querySelector('main .stats')?.textContent || ''),
    null, { timeout: 120000 });
  const status = await page.locator('main .stats').textContent();
  assert.match(status, /completed/, status);
  await page.waitForFunction(() => /100\.0 %/.test(document.getElementById('progress')?.textContent || ''), null, { timeout: 10000 });
  const seen = await page.evaluate(() => window.seen.map((t) => parseFloat(t)));
  console.log(`progress seen on screen: ${seen.join(', ')}`);
  const between = seen.filter((v) => v > 0 && v < 100);
  assert.ok(between.length >= 2, `the progress rose through values between 0 and 100 on screen: ${seen}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], `progress never went back: ${seen}`);
  assert.equal(seen[seen.length - 1], 100);
  // Per node: every replica's tables done and bytes freed (the view reads the job again once
  // the updates stop).
  const all = `${TABLES.length}/${TABLES.length}`;
  await page.waitForFunction(([nodes, all]) => {
    const rows = [...document.querySelectorAll('table.nodes tbody tr')];
    return nodes.every((n) => rows.some((r) => r.dataset.node === n && r.children[1].textContent === all));
  }, [NODES.slice(1), all], { timeout: 10000 });
  assert.ok(!(await page.locator('table.nodes').textContent()).includes(NODES[0]), 'nothing ran on the primary');
  assert.match(await page.locator('#freed').textContent(), /[1-9][0-9.]* (KiB|MiB|GiB) freed|[1-9]\d* MiB freed/);
  ok(`job ${jobId}: progress rose on screen, every node done, bytes freed`);
  await shot('job');

  // ---- jobs list ---------------------------------------------------------------------------
  await page.click('nav a[data-page=jobs]');
  const row = page.locator(`tr[data-job="${jobId}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /completed/);
  ok('jobs: the job is listed completed');
  await shot('jobs');

  // ---- back to the clusters, for the README's picture ---------------------------------------
  await page.click('nav a[data-page=clusters]');
  await card.waitFor();
  await page.screenshot({ path: `${SHOTS}/dashboard.png` });

  assert.deepEqual(errors, [], 'no script error on any page');
  ok('no script error on any page');
} catch (e) {
  failed = true;
  console.error(e);
  if (errors.length) console.error(errors.join('\n'));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
