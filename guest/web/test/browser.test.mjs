// The demo page in Debian's Chromium: the design's example, clicked through step by step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from '../scripts/serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, '..', 'test-output');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Runs `f(page, base, errors)` on a fresh browser; `args` are added to its command line. */
async function withPage(f, { args = [] } = {}) {
  const server = await serve(0);
  let browser;
  const errors = [];
  try {
    // Playwright gives the browser a new empty profile of its own.
    browser = await chromium.launch({
      executablePath,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', ...args],
    });
    const context = await browser.newContext({ viewport: { width: 1360, height: 1100 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    const base = `http://127.0.0.1:${server.address().port}`;
    await f(page, base, errors, server.address().port);
  } finally {
    await browser?.close();
    server.closeAllConnections();
    server.close();
  }
}

test('the demo page plays the handoff example through the core', { timeout: 120_000 }, async () => {
  await withPage(async (page, base, errors) => {
    await page.goto(`${base}/demo/`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    assert.match(await page.textContent('#core-status'), /core ready/);

    for (let step = 1; step <= 6; step++) {
      await page.click(`button[data-step="${step}"]`);
      assert.equal(await page.isHidden('#error'), true, `step ${step}: ${await page.textContent('#error')}`);
    }

    assert.equal(await page.textContent('#handoff-badge'), 'completed');
    assert.match(await page.textContent('#handoff-result'), /"status":\s*"success"/);
    assert.match(await page.textContent('[data-memory="mem-api-design"]'), /JWT access token/);
    assert.equal(await page.locator('#agents-table tr[data-agent]').count(), 2);
    assert.equal(await page.locator('#members li[data-member]').count(), 2);
    assert.equal(await page.locator('#shares li[data-share="mem-api-design"]').count(), 1);
    assert.equal(await page.locator('#audit-table tr[data-event="handoff.accepted"]').count(), 1);
    assert.equal(await page.locator('#audit-table tr[data-event="handoff.completed"]').count(), 1);

    await page.selectOption('#search-as', 'gpt-frontend');
    await page.fill('#search-q', 'JWT refresh token');
    await page.click('#search-form button[type="submit"]');
    await page.waitForSelector('#search-results li[data-hit="mem-api-design"]');
    assert.equal(await page.locator('#audit-table tr[data-event="memory.searched"]').count(), 1);

    mkdirSync(outDir, { recursive: true });
    await page.screenshot({ path: join(outDir, 'demo.png'), fullPage: true });

    // The journal is in localStorage: a reload replays it into a fresh core.
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    assert.equal(await page.textContent('#handoff-badge'), 'completed');
    assert.equal(await page.locator('#steps li.done').count(), 6);
    assert.deepEqual(errors, []);

    // All of it under the server's content security policy, which refuses inline script.
    const injected = await page.evaluate(() => new Promise((resolve) => {
      document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective));
      const script = document.createElement('script');
      script.textContent = 'document.body.dataset.injected = "ran"';
      document.body.append(script);
      setTimeout(() => resolve(document.body.dataset.injected ?? 'nothing'), 2000);
    }));
    assert.equal(injected, 'script-src-elem');
  });
});

const ready = (page) => page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
const failed = (page) => page.waitForSelector('#core-status.badge-bad', { timeout: 20_000 });

test('a second tab on the same journal is refused, and the first keeps every write', { timeout: 120_000 }, async () => {
  await withPage(async (first, base) => {
    await first.goto(`${base}/demo/`);
    await ready(first);
    await first.click('#run-all');
    const second = await first.context().newPage();
    await second.goto(`${base}/demo/`);
    await failed(second);
    assert.match(await second.textContent('#error'), /^unavailable: .*open in another tab or window.*storageKey/);
    // Its Reset does not take the journal from under the first tab either.
    await second.click('#reset');
    await second.waitForTimeout(200);
    assert.match(await second.textContent('#error'), /open in another tab or window/);

    await first.evaluate(async () => {
      const { createMaas } = await import('../src/maas.js');
      const maas = await createMaas({ persist: true });
      maas.registerAgent({ agentType: 'human', ownerId: 'user-123', agentId: 'late-joiner' });
    });
    await first.close();
    await second.reload();
    await ready(second);
    assert.equal(await second.textContent('#handoff-badge'), 'completed');
    assert.equal(await second.locator('#agents-table tr[data-agent]').count(), 3);
  });
});

test('a stored entry the core cannot decode is set aside, the page loads the rest, and Reset clears it all', { timeout: 120_000 }, async () => {
  await withPage(async (page, base) => {
    await page.goto(`${base}/demo/`);
    await ready(page);
    await page.click('#run-all');
    // Good base64, but not a journal entry; and an empty one after it.
    await page.evaluate(() => {
      localStorage.setItem('maas.journal/3', btoa('not an entry'));
      localStorage.setItem('maas.journal/5', '');
    });
    await page.reload();
    await ready(page);
    assert.match(await page.textContent('#journal-status'), /journal: 2 entries.*damaged set aside/);
    assert.ok(await page.locator('#steps li.done').count() < 6);
    const aside = await page.evaluate(() =>
      Object.keys(localStorage).filter((k) => k.startsWith('maas.journal.damaged/')).map((k) => localStorage.getItem(k)));
    assert.ok(aside.includes(btoa('not an entry')), JSON.stringify(aside));
    // It goes on from there.
    await page.click('#run-all');
    assert.equal(await page.isHidden('#error'), true, await page.textContent('#error'));
    await page.reload();
    await ready(page);
    assert.equal(await page.locator('#steps li.done').count(), 6);

    await page.click('#reset');
    await ready(page);
    assert.equal(await page.locator('#steps li.done').count(), 0);
    assert.equal(await page.isHidden('#error'), true);
    assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('maas.journal'))), []);
  });
});

// An insecure context (plain http on a name that is not loopback) gets no Web Locks, so two
// tabs could write one journal at once: the page refuses to keep it and says why.
test('where Web Locks are missing the journal is not kept, and the page says why', { timeout: 120_000 }, async () => {
  await withPage(async (page, _base, _errors, port) => {
    const base = `http://maas.test:${port}`;
    await page.goto(`${base}/demo/`);
    assert.equal(await page.evaluate(() => isSecureContext), false);
    await failed(page);
    assert.match(await page.textContent('#error'), /^unavailable: .*no Web Locks.*secure context \(https, or http on localhost\)/);
    await page.goto(`${base}/demo/?ephemeral`);
    await ready(page);
  }, { args: ['--host-resolver-rules=MAP maas.test 127.0.0.1'] });
});

test('in the page a refused call throws a MaasError with its code and field', { timeout: 120_000 }, async () => {
  await withPage(async (page, base) => {
    await page.goto(`${base}/demo/?ephemeral`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.click('button[data-step="1"]');
    // Ids are never reused: registering gpt-frontend again is refused.
    await page.evaluate(async () => {
      const { createMaas } = await import('../src/maas.js');
      const maas = await createMaas();
      try {
        maas.registerAgent({ agentType: 'gpt_agent', ownerId: 'user-123', agentId: 'gpt-frontend' });
        window.outcome = 'accepted';
      } catch (e) {
        window.outcome = `${e.name} ${e.code} ${e.field}`;
      }
    });
    assert.equal(await page.evaluate(() => window.outcome), 'MaasError invalid_input agent_id');
  });
});

// A page calling `maas serve` from another origin: its preflight answered, its answers
// (the session id included) readable. Needs the `maas` binary: MAAS_BIN (scripts/web-test
// sets it to the one cargo built); without it the test is skipped.
test('a page at a loopback origin calls maas serve over MCP (CORS)', { timeout: 120_000, skip: !process.env.MAAS_BIN && 'MAAS_BIN not set' }, async () => {
  const { spawn } = await import('node:child_process');
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'maas-cors-'));
  const maas = spawn(process.env.MAAS_BIN, ['--data-dir', dir, 'serve', '--listen', '127.0.0.1:0'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const url = await new Promise((resolve, reject) => {
      let said = '';
      maas.stderr.on('data', (d) => {
        said += d;
        const m = said.match(/serving MCP at (http:\/\/\S+\/mcp)/);
        if (m) resolve(m[1]);
      });
      maas.on('exit', (code) => reject(new Error(`maas serve exited ${code}: ${said}`)));
    });
    const token = readFileSync(join(dir, 'operator-token'), 'utf8').trim();
    await withPage(async (page, base) => {
      await page.goto(`${base}/demo/?ephemeral`);
      const answer = await page.evaluate(async ({ url, token }) => {
        const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: {
          protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'page', version: '1' } } };
        const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json',
          Accept: 'application/json, text/event-stream', 'MCP-Protocol-Version': '2025-06-18' };
        const opened = await fetch(url, { method: 'POST', headers, body: JSON.stringify(init) });
        const session = opened.headers.get('mcp-session-id');
        await opened.text();
        const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } };
        const called = await fetch(url, { method: 'POST', headers: { ...headers, 'Mcp-Session-Id': session },
          body: JSON.stringify(call) });
        const bad = await fetch(url, { method: 'POST', headers: { ...headers, Authorization: 'Bearer nope' },
          body: JSON.stringify(init) });
        return { status: opened.status, session, called: called.status, text: await called.text(), bad: bad.status };
      }, { url, token });
      assert.equal(answer.status, 200);
      assert.ok(answer.session, 'the page reads the session id');
      assert.equal(answer.called, 200);
      assert.match(answer.text, /operator/);
      assert.equal(answer.bad, 401, 'the page reads a refusal too');
    });
  } finally {
    maas.kill('SIGTERM');
    await new Promise((r) => (maas.exitCode === null ? maas.on('exit', r) : r()));
    rmSync(dir, { recursive: true, force: true });
  }
});
