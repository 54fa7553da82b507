"""The soak scenarios: `kill`, `race`, `minimal` and `diskfull` (see README.md)."""
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import threading
import time
from collections import Counter

import mcpclient as mc
from harness import (BESIDE_COMMANDS, WORDS, AcceptWorker, InitWorker, StoreWorker, UpdateWorker, acked_snapshot,
                     author_of, check_export_covers, content_for, disk_free, files_of, healthy, journal_state,
                     next_due, parse_export, store_one, tail, verify_live, wait_journal)
from ledger import digest, show

HANDOFF_AGENTS = [('alice', 'user-1'), ('bob', 'user-1')]
UPDATER = 'u0'


def start_load(soak, tokens, rnd_no, stores, accept_ports, init_port, update_port, resume,
               client_class=mc.Client):
    """Client threads: a StoreWorker per (agent, port) in `stores`, an AcceptWorker per port
    in `accept_ports` (all as bob, racing for the same handoffs), one InitWorker (alice to
    bob) and one UpdateWorker. `rnd_no` (a number, or e.g. '3b' for a second load in round
    3) names their memories and handoffs. Returns (stop event, workers)."""
    L, stop, seed = soak.L, threading.Event(), '%d/r%s' % (soak.seed, rnd_no)

    def common(port, agent, name):
        return dict(L=L, port=port, token=tokens[agent], stop=stop, name=name, seed=seed, resume=resume,
                    client_class=client_class)
    ws = [StoreWorker(**common(port, a, 'store-%s' % a), agent=a, prefix='%s-r%s' % (a, rnd_no))
          for a, port in stores]
    ws += [AcceptWorker(**common(port, 'bob', 'accept-%d' % i), agent='bob')
           for i, port in enumerate(accept_ports)]
    ws.append(InitWorker(**common(init_port, 'alice', 'initiate'), source='alice', target='bob',
                         prefix='r%s' % rnd_no))
    ws.append(UpdateWorker(**common(update_port, UPDATER, 'update'), agent=UPDATER, prefix=UPDATER + '-fixed'))
    for w in ws:
        w.start()
    return stop, ws


def stop_load(soak, stop, ws, what):
    stop.set()
    for w in ws:
        w.join(20)
    stuck = [w.name for w in ws if w.is_alive()]
    if stuck:
        soak.note('client threads still running after %s: %s' % (what, stuck))
    errors = [e for w in ws for e in w.errors]
    if errors:
        soak.event('worker_errors', when=what, count=len(errors), first=errors[:5])
    return {w.name: w.ops for w in ws}


# ---------------------------------------------------------------------- kill
KILL_MODES = ['random', 'term', 'snapshot-due', 'mid-save', 'after-snapshot']
KILL_WEIGHTS = [30, 20, 15, 15, 20]


def kill(soak):
    """One server; each round: (sometimes a kill during start-up,) start, read back,
    load, a command beside, then kill -9 (or SIGTERM) at a moment the mode picks."""
    a, L, rnd = soak.args, soak.L, soak.rnd
    data = os.path.join(soak.run_dir, 'data')
    store_agents = [('w%d' % i, 'o%d' % i) for i in range(6)]
    tokens = soak.binary.register(data, store_agents + [(UPDATER, 'o-upd')] + HANDOFF_AGENTS)
    srv = soak.server(data, a.port)
    ready_times, failed_starts, rnd_no = [], 0, 0
    while soak.more_rounds(rnd_no):
        rnd_no += 1
        soak.n['rounds'] = rnd_no
        L.phase = 'round %d' % rnd_no
        before = journal_state(data) or {}
        if ready_times and rnd.random() < 0.25:
            srv.start('r%d-startup' % rnd_no)
            delay = rnd.uniform(0.0, max(0.05, statistics.median(ready_times) * 1.1))
            time.sleep(delay)
            if srv.kill9():
                soak.n['kills'] += 1
                soak.n['startup_kills'] += 1
            soak.event('startup_kill', round=rnd_no, after_s=round(delay, 3))
        srv.start('r%d' % rnd_no)
        rt = soak.ready(srv, 'start of round %d' % rnd_no)
        if rt is None:
            failed_starts += 1
            if failed_starts >= 3:
                break
            continue
        failed_starts = 0
        ready_times.append(rt)
        vr = verify_live(L, a.port, tokens, rnd)
        soak.event('read_back', round=rnd_no, ready_s=round(rt, 3), **vr)

        stop, ws = start_load(soak, tokens, rnd_no, [(x, a.port) for x, _ in store_agents],
                              [a.port, a.port], a.port, a.port, resume=False)
        t_load = time.time()
        mode = rnd.choices(KILL_MODES, KILL_WEIGHTS)[0]
        cmd = soak.next_beside() if mode in ('random', 'term', 'after-snapshot') else None
        detail = kill_moment(soak, srv, data, before, mode, cmd, rnd_no)
        soak.check_died(srv, 'load of round %d' % rnd_no)
        if mode == 'term':
            grace = rnd.uniform(0.0, 2.0)
            rc, secs, killed = srv.terminate(grace)
            soak.n['terms'] += 1
            soak.n['kills'] += killed
            detail.update(term_grace_s=round(grace, 2), exit=rc, killed_after_grace=killed)
        elif srv.kill9():
            soak.n['kills'] += 1
        ops = stop_load(soak, stop, ws, 'round %d' % rnd_no)
        soak.event('kill', round=rnd_no, mode=mode, load_s=round(time.time() - t_load, 2), ops=ops,
                   journal=journal_state(data), **detail)
        extra = ' | %s%s' % (mode, ', %s beside exit %s' % (cmd, detail['beside_exit']) if cmd else '')
        if rnd_no % a.check_every == 0:
            r = soak.offline_checks(data, 'round %d' % rnd_no)
            extra += ', checks: integrity %s, audit verify exit %s' % (r['integrity'], r['audit_verify'])
        soak.progress(rnd_no, extra)
    soak.final(data, [srv], tokens)


def kill_moment(soak, srv, data, before, mode, cmd, rnd_no):
    """Lets the load run until the moment `mode` kills at, running `cmd` beside on the way."""
    rnd = soak.rnd
    snaps = before.get('snaps', [])
    newest = max(snaps) if snaps else 0
    detail = {'beside_exit': None}
    where = 'round %d, %s' % (rnd_no, mode)

    def beside():
        if cmd:
            detail['beside_exit'] = soak.beside(cmd, data, where)
    if mode in ('random', 'term'):
        time.sleep(rnd.uniform(0.2, 4.0))
        beside()
        time.sleep(rnd.uniform(0.2, 2.0))
    elif mode == 'snapshot-due':
        # kill around the moment a snapshot falls due: while it is being saved beside
        due = next_due(snaps, soak.snapshot_every)
        st = wait_journal(data, lambda s: s['head'] >= due, 30)
        time.sleep(rnd.uniform(0.0, 0.4))
        detail.update(due=due, reached=st is not None)
    elif mode == 'mid-save':
        # kill as soon as chunks of a new snapshot are seen before the snapshot is complete
        old = set(snaps) | set(before.get('unfinished', []))
        st = wait_journal(data, lambda s: any(x not in old for x in s['unfinished']), 30, 0.003)
        detail.update(mid_save_seen=st is not None)
    else:  # after-snapshot: a snapshot saved beside, then a command, then more writes
        st = wait_journal(data, lambda s: s['snaps'] and max(s['snaps']) > newest, 40)
        detail.update(snapshot_saved=st and max(st['snaps']))
        beside()
        time.sleep(rnd.uniform(0.3, 2.0))
    return detail


# ---------------------------------------------------------------------- race
def race(soak):
    """Several servers on one data directory, each with its own writers; servers are
    killed (-9, or SIGTERM) and restarted at random while the others go on."""
    a, L, rnd = soak.args, soak.L, soak.rnd
    n = a.servers
    data = os.path.join(soak.run_dir, 'data')
    store_agents = [('w%d' % i, 'o%d' % i) for i in range(2 * n)]
    tokens = soak.binary.register(data, store_agents + [(UPDATER, 'o-upd')] + HANDOFF_AGENTS)
    ports = [a.port + i for i in range(n)]
    srvs = [soak.server(data, p) for p in ports]
    rnd_no = 0
    while soak.more_rounds(rnd_no):
        rnd_no += 1
        soak.n['rounds'] = rnd_no
        L.phase = 'round %d' % rnd_no
        for s in srvs:
            s.start('r%d' % rnd_no)
        up = [s for s in srvs if soak.ready(s, 'start of round %d' % rnd_no) is not None]
        if not up:
            continue
        vr = verify_live(L, rnd.choice(up).port, tokens, rnd)
        soak.event('read_back', round=rnd_no, **vr)
        stop, ws = start_load(soak, tokens, rnd_no,
                              [(x, ports[i // 2]) for i, (x, _) in enumerate(store_agents)],
                              ports, ports[0], ports[min(1, n - 1)], resume=True)
        t_end = time.time() + a.round_seconds
        log = []
        while time.time() < t_end:
            time.sleep(rnd.uniform(0.2, 5.0))
            i = rnd.randrange(n)
            s = srvs[i]
            if soak.check_died(s, 'round %d' % rnd_no):
                log.append('%d-exited' % i)
            elif not s.alive():
                continue
            elif rnd.random() < a.term_prob:
                rc, secs, killed = s.terminate(60)
                soak.n['terms'] += 1
                soak.n['kills'] += killed
                log.append('%d-term(exit %s, %.1fs%s)' % (i, rc, secs, ', killed' if killed else ''))
            else:
                soak.n['kills'] += s.kill9()
                log.append('%d-kill' % i)
            cmd = soak.next_beside() if rnd.random() < a.beside_prob else None
            if cmd:
                rc = soak.beside(cmd, data, 'round %d, server %d down' % (rnd_no, i))
                log.append('%s-exit-%s' % (cmd, rc))
            time.sleep(rnd.uniform(0.0, 1.0))
            s.start('r%d-%d' % (rnd_no, len(log)))
            if rnd.random() < 0.25:
                time.sleep(rnd.uniform(0.0, 0.25))
                if s.kill9():
                    soak.n['kills'] += 1
                    soak.n['startup_kills'] += 1
                log.append('%d-startup-kill' % i)
                s.start('r%d-%d' % (rnd_no, len(log)))
            soak.ready(s, 'restart in round %d' % rnd_no)
        for i in rnd.sample(range(n), n):
            soak.check_died(srvs[i], 'end of round %d' % rnd_no)
            soak.n['kills'] += srvs[i].kill9()
        ops = stop_load(soak, stop, ws, 'round %d' % rnd_no)
        soak.event('round_end', round=rnd_no, stops=log, ops=ops, journal=journal_state(data))
        r = soak.offline_checks(data, 'round %d' % rnd_no)
        soak.progress(rnd_no, ' | checks: integrity %s, audit verify exit %s' % (r['integrity'], r['audit_verify']))
    soak.final(data, srvs, tokens)


# ---------------------------------------------------------------------- minimal
def fresh_rounds(soak):
    """The rounds of a scenario that gives each round a data directory of its own: yields
    each round's number and directory, the ledger's objects of the round before forgotten."""
    rnd_no = 0
    while soak.more_rounds(rnd_no):
        rnd_no += 1
        soak.n['rounds'] = rnd_no
        soak.L.phase = 'round %d' % rnd_no
        soak.L.forget_objects()
        yield rnd_no, os.path.join(soak.run_dir, 'round-%d' % rnd_no)


def minimal(soak):
    """Each round, in a new data directory: stores until a snapshot has been saved beside
    the server, a one-shot command, N more stores, kill -9 or SIGTERM, a restart, and
    every acknowledged store read back."""
    a, L = soak.args, soak.L
    commands = ['stats', 'export', 'audit-verify'] if a.command == 'all' else [a.command]
    stops = ['kill', 'term'] if a.stop == 'both' else [a.stop]
    combos = list(itertools.product(commands, stops))
    for rnd_no, rdir in fresh_rounds(soak):
        cmd, how = combos[(rnd_no - 1) % len(combos)]
        viol_before = len(L.violations)
        data = os.path.join(rdir, 'data')
        tokens = soak.binary.register(data, [('a', 'o'), HANDOFF_AGENTS[0]])
        srv = soak.server(data, a.port)
        srv.start('r%d' % rnd_no)
        if soak.ready(srv, 'first start of round %d' % rnd_no) is None:
            continue
        clients = [mc.Client(a.port, tokens['a']) for _ in range(a.threads)]
        counter = itertools.count()
        acked = {'before': 0, 'after': 0}

        def writer(k, ids, until=None):
            c = clients[k]
            for i in ids:
                if until is not None and until.is_set():
                    return
                mid = 'a-r%d-%s-%d' % ((rnd_no,) + (i if isinstance(i, tuple) else ('after', i)))
                try:
                    if store_one(L, c, 'a', mid, content_for(mid, soak.rnd)):
                        with L.lock:
                            acked[mid.split('-')[2]] += 1
                except mc.ServerDown:
                    L.unknown()
                    return

        def run_writers(target):
            ts = [threading.Thread(target=target, args=(k,), daemon=True) for k in range(a.threads)]
            for t in ts:
                t.start()
            return ts

        # 1. stores until a snapshot has been saved (beside the serving core)
        saved = threading.Event()
        ts = run_writers(lambda k: writer(k, (('before', next(counter)) for _ in itertools.count()), saved))
        st = wait_journal(data, lambda s: bool(s['snaps']), 600, 0.05)
        saved.set()
        for t in ts:
            t.join()
        head = (journal_state(data) or {}).get('head')
        if st is None:
            L.viol('NO_SNAPSHOT_SAVED', stores=acked['before'], head=head, snapshot_every=soak.snapshot_every)
        # 2. a one-shot command on the directory, 3. more stores
        rc = soak.beside(cmd, data, 'round %d, after the snapshot' % rnd_no) if cmd != 'none' else None
        n_after = a.stores_after
        for t in run_writers(lambda k: writer(k, range(k, n_after, a.threads))):
            t.join()
        for c in clients:
            c.close()
        if acked['after'] < n_after:
            soak.note('round %d: %d of %d stores after the command were not acknowledged'
                      % (rnd_no, n_after - acked['after'], n_after))
        # 4. the stop
        soak.check_died(srv, 'round %d' % rnd_no)
        if how == 'kill':
            soak.n['kills'] += srv.kill9()
            stopped = 'kill -9'
        else:
            rc_term, secs, killed = srv.terminate(60)
            soak.n['terms'] += 1
            soak.n['kills'] += killed
            stopped = 'SIGTERM (exit %s in %.1f s%s)' % (rc_term, secs, ', then killed' if killed else '')
        # 5. a restart, every acknowledged store read back, a clean stop, the offline checks
        lost_before = sum(1 for v in L.violations if v['kind'] == 'LOST_ACKED_MEMORY')
        srv.start('r%d-restart' % rnd_no)
        restarted = soak.ready(srv, 'restart in round %d' % rnd_no) is not None
        if restarted:
            verify_live(L, a.port, tokens, soak.rnd, everything=True)
            soak.check_died(srv, 'read-back of round %d' % rnd_no)
            srv.terminate(60)
        lost = sum(1 for v in L.violations if v['kind'] == 'LOST_ACKED_MEMORY') - lost_before
        missing = '%d missing after the restart' % lost if restarted else 'the restart FAILED'
        r = soak.offline_checks(data, 'round %d' % rnd_no)
        soak.event('minimal_round', round=rnd_no, command=cmd, stop=stopped, snapshot=st and st['snaps'],
                   head_before_command=head, command_exit=rc, acked=acked, lost_after_restart=lost)
        ran = 'no command' if cmd == 'none' else '`maas %s` exit %s' % (cmd.replace('-', ' '), rc)
        soak.progress(rnd_no, ' | %s + %s: snapshot at %s after %d stores, %s, %d/%d stores after it acknowledged, '
                      '%s, integrity %s, audit verify exit %s' % (
                          cmd, how, st and max(st['snaps']), acked['before'], ran, acked['after'], n_after,
                          missing, r['integrity'], r['audit_verify']))
        if len(L.violations) == viol_before and not a.keep:
            shutil.rmtree(rdir, ignore_errors=True)


# ---------------------------------------------------------------------- diskfull
DISK_FULL = re.compile(r'disk is full|disk full|no space left|os error 28|enospc|storage is full|out of space', re.I)
DEBUG_FORM = re.compile(r'\b\w*Error::[A-Z]\w*\(')   # Rust's debug form, e.g. Error::Unavailable("...")
DEFINITE = re.compile(r'nothing was changed|was not (saved|written|stored)', re.I)
WRITE_TOOLS = ('store_memory', 'update_memory', 'initiate_handoff', 'accept_handoff', 'complete_handoff')
DISKFULL_IMAGE_AFTER = '2000'  # MAAS_STATE_IMAGE_AFTER unless set: state images on a small disk too
FILL_LIMIT = 120               # seconds of load to fill the disk
READS_WHILE_FULL = 20          # memories read (and 3 searches, 3 handoffs) on the full disk
AFTER_RESUME = 2.0             # seconds of load once writes are acknowledged again
START_ON_FULL_LIMIT = 30       # seconds a start on the still-full disk is given (kill rounds)
COMMAND_LIMIT = 120            # seconds a command beside the full disk is given
SHAPES_SHOWN = 6


def shape_of(text):
    """A message with its numbers made alike: answers are counted by shape."""
    return re.sub(r'\d+', 'N', text or '')[:400]


class Refusals:
    """Every error answer the clients of a diskfull round get, counted by shape (write or
    read, HTTP status, form, code, message with numbers made alike), and judged: a write
    refused for the full disk must be a typed error that says so."""

    def __init__(self, soak):
        self.soak, self.L = soak, soak.L
        self.lenient = set(soak.args.lenient_full)
        self.lock = threading.Lock()
        self.shapes = {}  # shape -> {count, ops, first, phase, problems}
        self.srv = None
        self.reset()

    def reset(self):
        """A new round: its counts start at zero."""
        with self.lock:
            self.full_at = None    # when the first write was refused for the full disk
            self.n = Counter()     # full_writes, full_reads, other, domain, no_answer
            self.by = Counter()    # write refusals for the full disk by status, form and code
            self.refused_ids = {}  # memory id of a store refused for the full disk -> the answer said nothing was done
            self.resumed = False   # writes were acknowledged again after space was freed
            self.after_resume = 0  # writes refused for the full disk since
            self.last = None

    def client_class(self):
        """An MCP client class whose every error answer is recorded here."""
        col = self

        class RecordingClient(mc.Client):
            def tool(self, name, args):
                try:
                    return mc.Client.tool(self, name, args)
                except mc.ToolError as e:
                    body = e.body if isinstance(e.body, dict) else {}
                    col.error(name, args, 200, 'tool error', body.get('code'), body.get('error') or json.dumps(e.body))
                    raise
                except mc.RpcError as e:
                    col.error(name, args, 200, 'JSON-RPC error', e.err.get('code'), e.err.get('message'))
                    raise
                except mc.HttpError as e:
                    err = e.body.get('error') if isinstance(e.body, dict) else None
                    if isinstance(err, dict):
                        col.error(name, args, e.status, 'JSON-RPC error', err.get('code'), err.get('message'))
                    else:
                        col.error(name, args, e.status, 'no JSON-RPC error', None, str(e))
                    raise
                except mc.ServerDown as e:
                    col.no_answer(name, str(e))
                    raise
        return RecordingClient

    def error(self, op, args, status, form, code, text):
        text = text if isinstance(text, str) else json.dumps(text)
        write = op in WRITE_TOOLS
        full = bool(DISK_FULL.search(text))
        if not full and form != 'no JSON-RPC error' and (
                'not pending' in text or (isinstance(code, str) and code not in ('unavailable', 'internal', ''))):
            with self.lock:  # a refusal of the protocol (an accept that lost its race): not the disk's
                self.n['domain'] += 1
            return
        problems = []
        if not full:
            problems.append('does not say the disk is full')
        if code in (None, ''):
            problems.append('no error code')
        if form == 'no JSON-RPC error':
            problems.append('HTTP %d without a JSON-RPC error' % status)
        debug = bool(DEBUG_FORM.search(text))
        if debug and 'debug-form' not in self.lenient:
            problems.append("Rust's debug form in the message")
        key = '%s | HTTP %d %s %s | %s' % ('write' if write else 'read', status, form, code, shape_of(text))
        with self.lock:
            self.last = text
            new = key not in self.shapes
            sh = self.shapes.setdefault(key, dict(count=0, ops=Counter(), first=text[:600], phase=self.L.phase,
                                                  problems=problems))
            sh['count'] += 1
            sh['ops'][op] += 1
            if full and write:
                self.n['full_writes'] += 1
                self.by['HTTP %d %s %s' % (status, form, code)] += 1
                if self.full_at is None:
                    self.full_at = time.time()
                if self.resumed:
                    self.after_resume += 1
                if op == 'store_memory' and form == 'tool error':  # the store ran, and was refused
                    self.refused_ids[args.get('memory_id')] = bool(DEFINITE.search(text))
            elif full:
                self.n['full_reads'] += 1
            else:
                self.n['other'] += 1
        if problems:
            # one violation per problem and form of answer (the message's shape too when it
            # does not say why); every shape is counted in events.jsonl
            vid = '%s | HTTP %d %s %s' % ('; '.join(problems), status, form, code)
            if full:
                self.L.viol('UNCLEAR_REFUSAL', id=vid, op=op, answer=text[:500])
            else:
                self.L.viol('UNCLEAR_REFUSAL', id=vid + ' | ' + shape_of(text)[:200], op=op, answer=text[:500])
        elif new and debug:
            self.soak.note("a refusal in Rust's debug form (--lenient-full debug-form): %s" % text[:300])

    def no_answer(self, op, why):
        """A call without an answer: ours if we stopped the server, else a fault."""
        srv = self.srv
        if srv is None or srv.stopping or not srv.alive():
            return
        if 'session gone' in why:  # the server closed the session (idle, or over its cap): not an answer
            with self.lock:
                self.n['session_gone'] += 1
            return
        with self.lock:
            self.n['no_answer'] += 1
        if 'timed out' in why:
            self.L.viol('SERVER_HUNG_ON_FULL_DISK', id='no answer to %s' % op, op=op, answer=why[:300],
                        where='a call unanswered for 60 s')
        else:
            self.L.viol('UNCLEAR_REFUSAL', id='no answer | ' + shape_of(why)[:200], op=op,
                        problems=['no answer while the server runs'], answer=why[:500])

    def by_text(self):
        with self.lock:
            return ', '.join('%s %d' % kv for kv in self.by.most_common())


def died_on_full(soak, srv, what):
    """SERVER_EXITED_ON_FULL_DISK if the server exited without being told to."""
    rc = srv.died_by_itself()
    if rc is None:
        return False
    soak.L.viol('SERVER_EXITED_ON_FULL_DISK', port=srv.port, exit=rc, when=what, log=tail(srv.logpath, 800),
                where=srv.logpath)
    srv.stopping = True
    return True


def open_sessions(C, port, tokens, agents):
    """A session per agent, opened now (before the disk is full) for reads on it later;
    the errors of those that could not be opened."""
    out, errors = {}, []
    for a in agents:
        c = C(port, tokens[a])
        try:
            c.rpc('tools/list', {})
            out[a] = c
        except (mc.RpcError, mc.ServerDown) as e:
            errors.append('%s: %s' % (a, str(e)[:300]))
            c.close()
    return out, errors


def reads_while_full(soak, port, tokens, col, agents, opened):
    """Memories, searches and handoffs read through the server on the full disk, each once,
    in turn on a session opened before the disk filled (`opened`) and on a new one; what is
    read is checked against the ledger."""
    L, rnd = soak.L, soak.rnd
    with L.lock:
        acked = sorted(k for k, m in L.mem.items() if m.acked)
        hids = sorted(x.hid for x in L.ho.values() if x.init == 'acked' and x.hid)
    t = time.time()
    out = {'ok': 0, 'failed': 0, 'open': [0, 0], 'new': [0, 0], 'first_error': None, 'healthz': healthy(port, 10)}
    C = col.client_class()
    turn = itertools.count()
    for c in opened.values():
        c.close()  # its TCP connection, idle since: the MCP session stays open
    where = 'read back through :%d on the full disk' % port

    def attempt(agent, call):
        kind = 'open' if next(turn) % 2 == 0 and agent in opened else 'new'
        c = opened[agent] if kind == 'open' else C(port, tokens[agent])
        try:
            call(c)
            out['ok'] += 1
            out[kind][0] += 1
        except (mc.ToolError, mc.RpcError, mc.ServerDown) as e:
            out['failed'] += 1
            out[kind][1] += 1
            out['first_error'] = out['first_error'] or str(e)[:400]
        if kind == 'new':
            c.close()
        time.sleep(0.05)

    def get(mid):
        def call(c):
            try:
                r = c.tool('get_memory', {'agent_id': author_of(mid), 'memory_id': mid})
            except mc.ToolError as e:
                if e.code != 'not_found':
                    raise
                L.observe_mem(mid, None, None, where)
                return
            L.observe_mem(mid, r['version'], digest(r['content']), where, r['content'])
        return call
    for mid in rnd.sample(acked, min(READS_WHILE_FULL, len(acked))):
        attempt(author_of(mid), get(mid))
    for _ in range(3):
        a = rnd.choice(agents)
        attempt(a, lambda c, a=a: c.tool('search_memories', {'agent_id': a, 'query': rnd.choice(WORDS), 'limit': 10}))
    for hid in rnd.sample(hids, min(3, len(hids))):
        attempt('alice', lambda c, hid=hid: c.tool('get_handoff', {'handoff_id': hid}))
    out['seconds'] = round(time.time() - t, 2)
    return out


def beside_while_full(soak, cmd, data, what):
    """A one-shot command on the full disk beside the server: it may fail if it says why
    (exit code > 0 and an error line), never hang or crash; an export that works holds
    every write acknowledged before it began."""
    L = soak.L
    acked = acked_snapshot(L) if cmd == 'export' else None
    out_path = os.path.join(soak.run_dir, 'beside-export.jsonl')
    intact, out = None, ''
    t = time.time()
    try:
        if cmd == 'export':
            with open(out_path, 'w') as f:
                p = soak.binary.run(data, BESIDE_COMMANDS[cmd], timeout=COMMAND_LIMIT, stdout=f)
        else:
            p = soak.binary.run(data, BESIDE_COMMANDS[cmd], timeout=COMMAND_LIMIT)
            out = p.stdout or ''
        rc, err = p.returncode, (p.stderr or '').strip()
        if rc == 0 and cmd == 'audit-verify':
            try:
                intact = json.loads(out).get('intact') is True
            except ValueError:
                intact = False
    except subprocess.TimeoutExpired:
        rc, err = None, 'no exit in %d s' % COMMAND_LIMIT
    seconds = time.time() - t
    soak.n['beside'] += 1
    soak.event('beside_full_disk', cmd=cmd, when=what, rc=rc, seconds=round(seconds, 2), err=err[-800:])
    detail = dict(command='maas ' + ' '.join(BESIDE_COMMANDS[cmd]), exit=rc, stderr=err[-400:], when=what)
    if rc != 0:
        soak.n['beside_failed'] += 1
        soak.n['beside_failed:' + cmd] += 1
    if rc is None:
        L.viol('BESIDE_HUNG_WHILE_FULL', **detail)
    elif rc != 0:
        lines = err.splitlines()
        said = any(x.startswith('error:') for x in lines)
        if lines and lines[-1].startswith('{'):
            try:
                said = said or 'code' in json.loads(lines[-1])
            except ValueError:
                pass
        if rc < 0 or 'panicked' in err or not said:
            L.viol('BESIDE_FAILED_UNCLEARLY', **detail)
    elif cmd == 'audit-verify' and not intact:
        detail.update(stderr='not intact: ' + out.strip()[-300:])
        L.viol('BESIDE_COMMAND_FAILED', **detail)
    elif cmd == 'export':
        check_export_covers(L, parse_export(out_path), acked, 'export beside the full disk (%s)' % what)
    if os.path.exists(out_path):
        os.remove(out_path)
    if rc == 0:
        return '%s exit 0' % cmd
    first = next((x for x in err.splitlines() if x.strip()), '')
    return '%s exit %s (%s)' % (cmd, rc, first[:120])


def tries_text(n):
    return '1 try' if n == 1 else '%d tries' % n


def writes_resume(soak, col, port, token, agent, tag, limit):
    """Stores a new memory every 0.1 s until one is acknowledged: (seconds, tries, last
    error), seconds None if none was within `limit`."""
    L = soak.L
    c = col.client_class()(port, token)
    t0 = time.time()
    tries, last = 0, None
    try:
        while time.time() - t0 < limit:
            tries += 1
            mid = '%s-%s-%d' % (agent, tag, tries)
            try:
                if store_one(L, c, agent, mid, content_for(mid, soak.rnd)):
                    return time.time() - t0, tries, last
                last = col.last
            except mc.ServerDown as e:
                L.unknown()
                last = str(e)[:300]
            time.sleep(0.1)
    finally:
        c.close()
    return None, tries, last


def diskfull(soak):
    """Each round, in a new data directory on a small tmpfs: load until writes are refused
    for the full disk, more load on it, reads and commands beside on it, then space freed
    (the tmpfs grown) under the running server, or after a kill -9; every acknowledged
    write read back, a SIGTERM stop and the checks of the stopped directory."""
    a, L, rnd = soak.args, soak.L, soak.rnd
    image_after = os.environ.setdefault('MAAS_STATE_IMAGE_AFTER', DISKFULL_IMAGE_AFTER)
    soak.say('disks of %.0f MiB (0.75 to 1.25 times in each round), grown to %.0f MiB; '
             'MAAS_STATE_IMAGE_AFTER=%s' % (a.disk_mib, a.grow_mib, image_after))
    col = Refusals(soak)
    figs = {'rounds': Counter(), 'resumed': {'grow': [], 'kill': []}, 'reads': [0, 0], 'found': [0, 0],
            'full_writes': 0}
    for rnd_no, rdir in fresh_rounds(soak):
        col.reset()
        viol_before = len(L.violations)
        mnt = os.path.join(rdir, 'mnt')
        kib = int(a.disk_mib * 1024 * rnd.uniform(0.75, 1.25))
        soak.mount(mnt, kib, copy_to=os.path.join(rdir, 'data'))  # stop_all unmounts on the way out
        extra = diskfull_round(soak, col, figs, rnd_no, 'grow' if rnd_no % 2 else 'kill', mnt, kib)
        failed = len(L.violations) > viol_before
        soak.unmount(mnt, os.path.join(rdir, 'data') if failed or a.keep else None)
        soak.progress(rnd_no, extra)
        if not failed and not a.keep:
            shutil.rmtree(rdir, ignore_errors=True)
    shapes = sorted(col.shapes.items(), key=lambda kv: -kv[1]['count'])
    soak.event('refusal_shapes', shapes=[dict(shape=k, **v) for k, v in shapes])
    if shapes:
        soak.say('error answers: %d shapes, the %d most frequent:' % (len(shapes), min(len(shapes), SHAPES_SHOWN)))
    for k, v in shapes[:SHAPES_SHOWN]:
        soak.say('answered %d times (%s): %s' % (v['count'], ', '.join('%s %d' % x for x in v['ops'].most_common()),
                                                 k.split(' | ', 2)[1] + ' | ' + v['first'][:300]))
    g, kk = figs['resumed']['grow'], figs['resumed']['kill']
    soak.summary_extra = (
        '; disk full in %d of %d rounds, %d writes refused for it, reads on it %d of %d answered, writes again '
        'after growing the disk under the server %s, after kill -9 and a restart %s, refused stores found '
        'after all %d of %d' % (
            figs['rounds']['filled'], rnd_no, figs['full_writes'], figs['reads'][0], figs['reads'][1],
            'in %.2f-%.2f s (%d rounds)' % (min(g), max(g), len(g)) if g else 'never measured',
            'in %.2f-%.2f s (%d rounds)' % (min(kk), max(kk), len(kk)) if kk else 'never measured',
            figs['found'][0], figs['found'][1]))


def diskfull_round(soak, col, figs, rnd_no, how, mnt, kib):
    a, L, rnd = soak.args, soak.L, soak.rnd
    data = os.path.join(mnt, 'data')
    store_agents = [('w%d' % i, 'o%d' % i) for i in range(6)]
    agents = [x for x, _ in store_agents]
    tokens = soak.binary.register(data, store_agents + [(UPDATER, 'o-upd')] + HANDOFF_AGENTS)
    srv = soak.server(data, a.port)
    col.srv = srv
    C = col.client_class()
    parts = ['%s, %.1f MiB' % (how, kib / 1024.0)]
    rec = {'round': rnd_no, 'how': how, 'kib': kib}
    base = L.counts['store_ack']
    srv.start('r%d' % rnd_no)
    if soak.ready(srv, 'first start of round %d' % rnd_no) is None:
        return ' | %s: the server did not start' % parts[0]
    opened, errors = open_sessions(C, a.port, tokens, agents + ['alice'])
    if errors:
        soak.note('round %d: sessions not opened before the disk was full: %s' % (rnd_no, '; '.join(errors)))

    # 1. load until writes are refused for the full disk, 2. more load on the full disk
    stop, ws = start_load(soak, tokens, rnd_no, [(x, a.port) for x in agents], [a.port, a.port], a.port, a.port,
                          resume=True, client_class=C)
    t0 = time.time()
    while col.full_at is None and time.time() - t0 < FILL_LIMIT and srv.alive():
        time.sleep(0.05)
    full = col.full_at is not None
    free, _ = disk_free(mnt)
    rec.update(full=full, fill_s=round((col.full_at or time.time()) - t0, 2), stores_at_full=L.counts['store_ack'] - base,
               free_at_full=free, files_at_full=files_of(data), journal_at_full=journal_state(data))
    if full:
        figs['rounds']['filled'] += 1
        parts.append('full after %d stores (%.1f s)' % (rec['stores_at_full'], rec['fill_s']))
    else:
        parts.append('NOT FULL after %d stores (%.0f s, %s bytes free)' % (rec['stores_at_full'], rec['fill_s'], free))
        if srv.alive():
            soak.note('round %d: no write was refused for the full disk within %d s (%s bytes free)'
                      % (rnd_no, FILL_LIMIT, free))
    t_end = time.time() + a.full_seconds
    while time.time() < t_end and srv.alive():
        time.sleep(0.05)
    what = 'load on the full disk, round %d' % rnd_no
    died = died_on_full(soak, srv, what) if full else soak.check_died(srv, what)
    stop_load(soak, stop, ws, 'the load of round %d' % rnd_no)
    died = died or died_on_full(soak, srv, what)
    parts.append('%d writes refused (%s)' % (col.n['full_writes'], col.by_text() or '-'))
    figs['full_writes'] += col.n['full_writes']

    # 3. reads and commands beside on the full disk
    if full and not died:
        r = reads_while_full(soak, a.port, tokens, col, agents, opened)
        rec['reads_while_full'] = r
        total = r['ok'] + r['failed']
        figs['reads'][0] += r['ok']
        figs['reads'][1] += total
        parts.append('reads on it %d/%d (open sessions %d/%d, new %d/%d)%s' % (
            r['ok'], total, r['open'][0], sum(r['open']), r['new'][0], sum(r['new']),
            '' if r['healthz'] else ', /healthz silent'))
        if not r['healthz']:
            L.viol('SERVER_HUNG_ON_FULL_DISK', id='healthz round %d' % rnd_no, where='/healthz, 10 s', when='reads')
        if r['failed']:
            detail = dict(answered=r['ok'], failed=r['failed'], open_sessions=r['open'], new_sessions=r['new'],
                          first_error=r['first_error'], free=disk_free(mnt)[0])
            # A read is audited: one whose audit row cannot be written is refused (clearly,
            # or the refusal is an UNCLEAR_REFUSAL above), so by default this is counted.
            if a.require_reads_while_full:
                L.viol('READS_FAILED_WHILE_FULL', id='round %d' % rnd_no, **detail)
            else:
                soak.note('round %d: %d of %d reads on the full disk refused (each read writes its audit '
                          'row): %s' % (rnd_no, r['failed'], total, (detail['first_error'] or '')[:200]))
        for cmd in a.beside:
            parts.append(beside_while_full(soak, cmd, data, 'round %d, disk full' % rnd_no))
            died = died_on_full(soak, srv, '`maas %s` beside, round %d' % (cmd, rnd_no))
            if died:
                break

    # 4. space freed: the disk grown under the running server, or kill -9 on the full disk first
    grow_kib = int(a.grow_mib * 1024)

    def resume(tag, where):
        """Seconds until a store is acknowledged again, or None (a violation)."""
        secs, tries, last = writes_resume(soak, col, a.port, tokens['w0'], 'w0', 'r%d-%s' % (rnd_no, tag),
                                          a.resume_seconds)
        rec.update(resumed_s=secs, resume_tries=tries, resume_last_error=last)
        if secs is None:
            L.viol('WRITES_DID_NOT_RESUME', id='round %d' % rnd_no, seconds=a.resume_seconds, tries=tries,
                   last_error=last, free=disk_free(mnt)[0], where='%s :%d' % (where, a.port))
        return secs, tries

    if how == 'grow' and not died:
        soak.resize(mnt, grow_kib)
        secs, tries = resume('resume', 'the same server')
        if secs is None:
            parts.append('writes NOT acknowledged again within %.0f s' % a.resume_seconds)
        else:
            figs['resumed']['grow'].append(secs)
            col.resumed = True
            stop, ws = start_load(soak, tokens, '%db' % rnd_no, [(x, a.port) for x in agents], [a.port, a.port],
                                  a.port, a.port, resume=True, client_class=C)
            time.sleep(AFTER_RESUME)
            stop_load(soak, stop, ws, 'the load after space was freed, round %d' % rnd_no)
            parts.append('writes again in %.2f s (%s) on the same server' % (secs, tries_text(tries)))
            if col.after_resume:
                L.viol('WRITES_DID_NOT_RESUME', id='round %d' % rnd_no, refused_again=col.after_resume,
                       answer=col.last, free=disk_free(mnt)[0], where='the load after writes resumed')
    else:
        if not died:
            # kill -9 with writes in flight on the full disk
            stop, ws = start_load(soak, tokens, '%db' % rnd_no, [(x, a.port) for x in agents], [a.port, a.port],
                                  a.port, a.port, resume=True, client_class=C)
            time.sleep(rnd.uniform(0.2, 1.5))
            died_on_full(soak, srv, 'load on the full disk before the kill, round %d' % rnd_no)
            soak.n['kills'] += srv.kill9()
            stop_load(soak, stop, ws, 'the kill on the full disk, round %d' % rnd_no)
            # a start on the still-full disk: recorded, not judged
            srv.start('r%d-still-full' % rnd_no)
            rt = srv.wait_ready(START_ON_FULL_LIMIT)
            rec['start_on_full'] = dict(ready_s=rt and round(rt, 2), exit=srv.p.poll(), log=tail(srv.logpath, 600))
            parts.append('kill -9, a start on the full disk %s' % (
                'up in %.2f s' % rt if rt is not None else 'not up (exit %s)' % srv.p.poll()))
            soak.n['kills'] += srv.kill9()
        soak.resize(mnt, grow_kib)
        srv.start('r%d-grown' % rnd_no)
        if soak.ready(srv, 'restart on the grown disk, round %d' % rnd_no) is not None:
            secs, tries = resume('restart', 'the restarted server')
            if secs is None:
                parts.append('writes NOT acknowledged after the restart within %.0f s' % a.resume_seconds)
            else:
                figs['resumed']['kill'].append(secs)
                parts.append('restarted on the grown disk, writes in %.2f s (%s)' % (secs, tries_text(tries)))
        else:
            parts.append('the restart FAILED')

    # 5. every acknowledged write read back, a clean stop, the checks of the stopped directory
    for c in opened.values():
        c.close()
    if srv.alive():
        vr = verify_live(L, a.port, tokens, rnd, everything=True)
        rec['read_back'] = vr
        soak.check_died(srv, 'read-back of round %d' % rnd_no)
        rc_term, secs, killed = srv.terminate(60)
        soak.n['terms'] += 1
        soak.n['kills'] += killed
        if killed or rc_term not in (0, None):
            soak.note('round %d: the server %s on SIGTERM: %s' % (
                rnd_no, 'did not stop within 60 s' if killed else 'exited %s' % rc_term, tail(srv.logpath, 300)))
    with L.lock:
        found = sum(1 for mid in col.refused_ids if L.mem.get(mid) and L.mem[mid].acked)
        for mid, definite in col.refused_ids.items():
            m = L.mem.get(mid)
            if definite and m and m.acked:
                L.viol('REFUSED_WRITE_SAVED', id=mid, read_back=show(m.acked), where='read back after round %d' % rnd_no)
    figs['found'][0] += found
    figs['found'][1] += len(col.refused_ids)
    parts.append('refused stores found after all %d/%d' % (found, len(col.refused_ids)))
    r = soak.offline_checks(data, 'round %d' % rnd_no)
    rec.update(files_at_end=files_of(data), refusals=dict(col.n), refusals_by=dict(col.by),
               refused_found=[found, len(col.refused_ids)])
    soak.event('diskfull_round', **rec)
    figs['rounds'][how] += 1
    return ' | %s, integrity %s, audit verify exit %s' % (', '.join(parts), r['integrity'], r['audit_verify'])
