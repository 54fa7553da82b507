// The design's complete example, step by step, against the maas core running in the page.
import { clearPersisted, createMaas, MaasError } from '../src/maas.js';

const OWNER = 'user-123';
const POOL = 'feature-auth';
const BACKEND = 'claude-backend';
const FRONTEND = 'gpt-frontend';
const MEMORY = 'mem-api-design';
const DECISION = 'POST /api/auth/login returns a JWT access token and a refresh token';
const TASK = 'Implement login UI using the API spec';

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') n.className = v;
    else if (k.startsWith('data-')) n.setAttribute(k, v);
    else n[k] = v;
  }
  for (const kid of kids.flat()) if (kid !== undefined && kid !== null) n.append(kid);
  return n;
};
const badge = (text, kind = '') => el('span', { class: `badge ${kind ? `badge-${kind}` : ''}`, textContent: text });
const STATUS_KIND = { pending: 'wait', accepted: 'info', completed: 'ok', rejected: 'bad', expired: 'bad', cancelled: 'bad' };
const time = (ms) => new Date(Number(ms)).toLocaleTimeString([], { hour12: false });

const persist = !new URLSearchParams(location.search).has('ephemeral');
let maas;
let acceptedMemories = null; // what the frontend was granted on accept

function handoff() {
  try {
    return maas.agent(BACKEND, { caller: 'operator' }).handoffs({ limit: 500 }).items.at(-1) ?? null;
  } catch {
    return null;
  }
}
function exists(f) {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof MaasError) return false;
    throw e;
  }
}

const STEPS = [
  {
    title: 'Register the agents',
    what: `${BACKEND} (claude_code) and ${FRONTEND} (gpt_agent) for ${OWNER}`,
    done: () => exists(() => maas.getAgent(FRONTEND)),
    run: () => {
      if (!exists(() => maas.getAgent(BACKEND)))
        maas.registerAgent({ agentType: 'claude_code', ownerId: OWNER, agentId: BACKEND, metadata: { role: 'backend' } });
      maas.registerAgent({ agentType: 'gpt_agent', ownerId: OWNER, agentId: FRONTEND, metadata: { role: 'frontend' } });
    },
  },
  {
    title: 'Create the pool, join both',
    what: `${POOL}, project scope; both members with write`,
    done: () => exists(() => maas.getPool(POOL)) && maas.members(POOL).items.length >= 2,
    run: () => {
      if (!exists(() => maas.getPool(POOL)))
        maas.createPool({ name: 'Feature: authentication', ownerId: OWNER, scope: 'project', poolId: POOL });
      maas.join(POOL, BACKEND, 'write');
      maas.join(POOL, FRONTEND, 'write');
    },
  },
  {
    title: 'Backend stores and shares the API design',
    what: `${MEMORY}, a decision, shared at project scope`,
    done: () => exists(() => maas.getPool(POOL)) && maas.getPool(POOL).shareCount > 0,
    run: () => {
      const backend = maas.agent(BACKEND);
      backend.storeMemory({ memoryId: MEMORY, kind: 'decision', content: DECISION, tags: ['api', 'auth', 'jwt'] });
      backend.share(POOL, MEMORY, 'project');
    },
  },
  {
    title: 'Backend hands off the login UI',
    what: `“${TASK}”, with ${MEMORY} and src/api/auth.py`,
    done: () => handoff() !== null,
    run: () => {
      maas.agent(BACKEND).initiateHandoff(FRONTEND, {
        taskDescription: TASK,
        currentState: { api: 'done', ui: 'todo' },
        memories: [MEMORY],
        files: ['src/api/auth.py'],
      });
    },
  },
  {
    title: 'Frontend accepts',
    what: 'and can now read the memories it was handed',
    done: () => ['accepted', 'completed'].includes(handoff()?.status),
    run: () => {
      const frontend = maas.agent(FRONTEND);
      const [first] = frontend.pending().items;
      acceptedMemories = frontend.accept(first.id).memories;
    },
  },
  {
    title: 'Frontend completes',
    what: 'with {"status": "success"}',
    done: () => handoff()?.status === 'completed',
    run: () => {
      maas.agent(FRONTEND).complete(handoff().id, { status: 'success' });
    },
  },
];

function showError(e) {
  const box = $('#error');
  if (!e) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.textContent = e instanceof MaasError ? `${e.code}: ${e.message.replace(/^[a-z_]+: /, '')}` : String(e);
}

function renderSteps() {
  const list = $('#steps');
  list.replaceChildren();
  let nextFound = false;
  STEPS.forEach((step, i) => {
    const done = step.done();
    const next = !done && !nextFound;
    if (next) nextFound = true;
    const button = el('button', { class: `btn ${next ? 'primary' : ''}`, textContent: done ? 'Done' : 'Run', disabled: !next });
    button.dataset.step = String(i + 1);
    button.addEventListener('click', () => act(() => step.run()));
    list.append(el('li', { class: done ? 'done' : next ? 'next' : '' },
      el('div', {}, el('div', { class: 'title', textContent: step.title }), el('div', { class: 'what', textContent: step.what })),
      button));
  });
  $('#run-all').disabled = !nextFound;
}

function renderAgents() {
  const body = $('#agents-table tbody');
  const agents = maas.listAgents(OWNER, { limit: 500 }).items;
  body.replaceChildren();
  if (agents.length === 0) body.append(el('tr', { class: 'empty' }, el('td', { colSpan: 3, textContent: 'No agents yet.' })));
  for (const a of agents) {
    body.append(el('tr', { 'data-agent': a.id },
      el('td', {}, el('div', { class: 'mono', textContent: a.id }), badge(a.agentType.replaceAll('-', '_'), 'info')),
      el('td', {}, a.active ? badge('active', 'ok') : badge('inactive', 'bad')),
      el('td', {}, a.capabilities.map((c) => el('span', { class: 'chip', textContent: c.replaceAll('-', '_') })))));
  }
}

function renderPool() {
  const members = $('#members');
  const shares = $('#shares');
  if (!exists(() => maas.getPool(POOL))) {
    members.replaceChildren(el('li', { class: 'empty', textContent: 'No pool yet.' }));
    shares.replaceChildren(el('li', { class: 'empty', textContent: 'Nothing shared.' }));
    $('#pool-scope').replaceChildren();
    return;
  }
  const pool = maas.getPool(POOL);
  $('#pool-scope').replaceChildren(badge(`${pool.scope} scope`, 'info'), pool.archived ? badge('archived', 'bad') : '');
  const list = maas.members(POOL, { limit: 500 }).items;
  members.replaceChildren(...(list.length ? list.map((m) => el('li', { 'data-member': m.agentId },
    el('span', { class: 'mono', textContent: m.agentId }), badge(m.permission, m.permission === 'admin' ? 'wait' : 'ok'))) :
    [el('li', { class: 'empty', textContent: 'No members.' })]));
  // Shares as a member sees them: the pool lists them only to its members.
  let seen = [];
  if (list.some((m) => m.agentId === BACKEND)) seen = maas.agent(BACKEND, { caller: 'operator' }).querySharedMemories(POOL, 'global', { limit: 500 }).items;
  shares.replaceChildren(...(seen.length ? seen.map((s) => el('li', { 'data-share': s.memoryId },
    el('span', { class: 'mono', textContent: s.memoryId }), badge(s.scope.replaceAll('-', '_'), 'info'),
    el('span', { class: 'small muted', textContent: `by ${s.sharedBy}` }))) :
    [el('li', { class: 'empty', textContent: 'Nothing shared.' })]));
}

function renderHandoff() {
  const h = handoff();
  const box = $('#handoff');
  const status = $('#handoff-status');
  if (!h) {
    box.replaceChildren(el('p', { class: 'empty', textContent: 'No handoff yet.' }));
    status.replaceChildren();
    return;
  }
  status.replaceChildren(badge(h.status, STATUS_KIND[h.status]));
  status.firstChild.id = 'handoff-badge';
  const kv = el('dl', { class: 'kv' },
    el('dt', { textContent: 'From → to' }), el('dd', { class: 'mono', textContent: `${h.sourceAgentId} → ${h.targetAgentId}` }),
    el('dt', { textContent: 'Task' }), el('dd', { textContent: h.context.taskDescription }),
    el('dt', { textContent: 'Memories' }), el('dd', {}, h.context.relevantMemories.map((m) => el('span', { class: 'chip', textContent: m }))),
    el('dt', { textContent: 'Files' }), el('dd', {}, h.context.relevantFiles.map((f) => el('span', { class: 'chip', textContent: f }))),
    el('dt', { textContent: 'State' }), el('dd', { class: 'mono', textContent: h.context.currentState }),
    el('dt', { textContent: 'Expires' }), el('dd', { textContent: time(h.expiresAt) }),
    h.result !== undefined ? [el('dt', { textContent: 'Result' }), el('dd', { class: 'mono', id: 'handoff-result', textContent: h.result })] : [],
    h.reason !== undefined ? [el('dt', { textContent: 'Reason' }), el('dd', { textContent: h.reason })] : []);
  const parts = [kv];
  if (acceptedMemories === null && (h.status === 'accepted' || h.status === 'completed')) {
    acceptedMemories = h.context.relevantMemories.map((id) => maas.agent(FRONTEND).getMemory(id));
  }
  if (acceptedMemories?.length) {
    parts.push(el('h3', { textContent: `What ${FRONTEND} now sees`, style: 'margin-top:12px' }));
    for (const m of acceptedMemories) {
      parts.push(el('div', { class: 'memory', 'data-memory': m.id },
        el('div', {}, el('span', { class: 'mono', textContent: m.id }), ' ', badge(m.kind, 'info'),
          el('span', { class: 'small muted', textContent: ` by ${m.author}` })),
        el('div', { class: 'content', textContent: m.content })));
    }
  }
  box.replaceChildren(...parts);
}

const READS = /\.(read|listed|queried|members_listed|pending_listed)$/;

function renderAudit() {
  const all = maas.audit({ limit: 1000 });
  const showReads = $('#show-reads').checked;
  const rows = all.filter((e) => showReads || !READS.test(e.eventType)).reverse();
  $('#audit-count').textContent = `${rows.length} shown · ${all.length} recorded`;
  const body = $('#audit-table tbody');
  body.replaceChildren(...rows.map((e) => el('tr', { 'data-event': e.eventType },
    el('td', { class: 'mono', textContent: String(e.seq) }),
    el('td', { class: 'mono', textContent: time(e.at) }),
    el('td', { class: 'mono', textContent: e.actor }),
    el('td', {}, badge(e.eventType, e.eventType === 'access.denied' ? 'bad' : READS.test(e.eventType) ? '' : 'info')),
    el('td', { class: 'mono', textContent: e.target ?? '' }),
    el('td', {}, badge(e.outcome, e.outcome === 'ok' ? 'ok' : 'bad')),
    el('td', { class: 'detail', textContent: e.detail, title: e.detail }))));
}

function renderJournal() {
  const j = maas.journal();
  $('#journal-status').textContent = `journal: ${j.head} entries, ${(j.bytes / 1024).toFixed(1)} KiB${j.persisted ? ' · kept in localStorage' : ''}` +
    (j.setAside ? ` · ${j.setAside} damaged set aside (the console says where)` : '');
}

function render() {
  renderSteps();
  renderAgents();
  renderPool();
  renderHandoff();
  renderAudit();
  renderJournal();
}

function act(f) {
  try {
    f();
    showError(null);
  } catch (e) {
    showError(e);
  }
  render();
}

function search(event) {
  event?.preventDefault();
  const as = $('#search-as').value;
  const q = $('#search-q').value.trim();
  const out = $('#search-results');
  if (!q) return;
  try {
    const hits = maas.agent(as).searchMemories(q, 10);
    out.replaceChildren(...(hits.length ? hits.map((h) => el('li', { 'data-hit': h.memory.id },
      el('span', { class: 'mono', textContent: h.memory.id }), badge(h.memory.kind, 'info'),
      el('span', { class: 'score', textContent: `score ${h.score.toFixed(3)}` }),
      el('div', { style: 'flex-basis:100%', textContent: h.memory.content }))) :
      [el('li', { class: 'empty', textContent: `No memory ${as} may read matches “${q}”.` })]));
  } catch (e) {
    out.replaceChildren(el('li', { class: 'empty', textContent: e instanceof MaasError ? `${e.code}: ${JSON.stringify(e.detail)}` : String(e) }));
  }
  render();
}

async function reset() {
  try {
    await clearPersisted();
    location.reload();
  } catch (e) {
    showError(e);
  }
}

async function main() {
  // Before the load: Reset is the way out of a stored journal that does not load.
  $('#reset').addEventListener('click', reset);
  const started = performance.now();
  maas = await createMaas({ persist });
  const ms = performance.now() - started;
  const status = $('#core-status');
  status.className = 'badge badge-ok';
  status.textContent = `core ready · ${ms.toFixed(0)} ms`;
  $('#persist-note').textContent = persist ? ' and in localStorage, so a reload keeps it' : ' (not persisted)';
  $('#run-all').addEventListener('click', () => act(() => {
    for (const step of STEPS) if (!step.done()) step.run();
  }));
  $('#show-reads').addEventListener('change', renderAudit);
  $('#search-form').addEventListener('submit', search);
  render();
  document.body.dataset.ready = 'true';
}

main().catch((e) => {
  const status = $('#core-status');
  status.className = 'badge badge-bad';
  status.textContent = 'core failed to load';
  $('#run-all').disabled = true;
  showError(e);
  console.error(e);
});
