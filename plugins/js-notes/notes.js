// A maas plugin in JavaScript, built with componentize-js against the plugin world.
//
//   run remember TEXT...   stores TEXT as a note of the bound agent, tagged js-notes
//   run recall QUERY...    searches what the bound agent may read
//   run add-member POOL AGENT PERMISSION
//                          adds AGENT to POOL (a pool admin's right)
//
// Every call acts as the agent the host bound the plugin to; nothing here can name
// another agent. A core error arrives as a thrown error whose payload is {tag, val}.
import { whoami } from 'maas:core/plugin-identity@0.1.0';
import { store, search } from 'maas:core/plugin-memories@0.1.0';
import { addMember } from 'maas:core/plugin-pools@0.1.0';

function describe(e) {
  const p = e && e.payload;
  if (p && p.tag) {
    const val = typeof p.val === 'object' ? JSON.stringify(p.val) : String(p.val);
    return `${p.tag}: ${val}`;
  }
  return String(e);
}

function remember(text) {
  const me = whoami();
  const memory = store({
    content: text,
    kind: 'note',
    tags: ['js-notes'],
    memoryId: undefined,
    poolId: undefined,
    scope: undefined,
    ttlSeconds: undefined,
  });
  return { agent: me.id, stored: memory.id, version: Number(memory.version) };
}

function recall(query) {
  const hits = search(query, 10);
  return {
    hits: hits.map((h) => ({ id: h.memory.id, author: h.memory.author, content: h.memory.content })),
  };
}

function add(pool, agent, permission) {
  const m = addMember(pool, agent, permission);
  return { pool, agent: m.agentId, permission: m.permission };
}

export const pluginEntry = {
  run(args) {
    const [verb, ...rest] = args;
    const text = rest.join(' ');
    try {
      if (verb === 'remember' && text) return JSON.stringify(remember(text));
      if (verb === 'recall' && text) return JSON.stringify(recall(text));
      if (verb === 'add-member' && rest.length === 3) return JSON.stringify(add(...rest));
    } catch (e) {
      throw describe(e);
    }
    throw 'usage: remember TEXT... | recall QUERY... | add-member POOL AGENT PERMISSION';
  },
};
