"""The three soak scenarios: `kill`, `race` and `minimal` (see README.md)."""
import itertools
import os
import shutil
import statistics
import threading
import time

import mcpclient as mc
from harness import (AcceptWorker, InitWorker, StoreWorker, UpdateWorker, content_for, journal_state,
                     next_due, store_one, verify_live, wait_journal)

HANDOFF_AGENTS = [('alice', 'user-1'), ('bob', 'user-1')]
UPDATER = 'u0'


def start_load(soak, tokens, rnd_no, stores, accept_ports, init_port, update_port, resume):
    """Client threads: a StoreWorker per (agent, port) in `stores`, an AcceptWorker per port
    in `accept_ports` (all as bob, racing for the same handoffs), one InitWorker (alice to
    bob) and one UpdateWorker. Returns (stop event, workers)."""
    L, stop, seed = soak.L, threading.Event(), '%d/r%d' % (soak.seed, rnd_no)

    def common(port, agent, name):
        return dict(L=L, port=port, token=tokens[agent], stop=stop, name=name, seed=seed, resume=resume)
    ws = [StoreWorker(**common(port, a, 'store-%s' % a), agent=a, prefix='%s-r%d' % (a, rnd_no))
          for a, port in stores]
    ws += [AcceptWorker(**common(port, 'bob', 'accept-%d' % i), agent='bob')
           for i, port in enumerate(accept_ports)]
    ws.append(InitWorker(**common(init_port, 'alice', 'initiate'), source='alice', target='bob',
                         prefix='r%d' % rnd_no))
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
def minimal(soak):
    """Each round, in a new data directory: stores until a snapshot has been saved beside
    the server, a one-shot command, N more stores, kill -9 or SIGTERM, a restart, and
    every acknowledged store read back."""
    a, L = soak.args, soak.L
    commands = ['stats', 'export', 'audit-verify'] if a.command == 'all' else [a.command]
    stops = ['kill', 'term'] if a.stop == 'both' else [a.stop]
    combos = list(itertools.product(commands, stops))
    rnd_no = 0
    while soak.more_rounds(rnd_no):
        rnd_no += 1
        soak.n['rounds'] = rnd_no
        L.phase = 'round %d' % rnd_no
        L.forget_objects()  # each round has a data directory of its own
        cmd, how = combos[(rnd_no - 1) % len(combos)]
        viol_before = len(L.violations)
        rdir = os.path.join(soak.run_dir, 'round-%d' % rnd_no)
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
