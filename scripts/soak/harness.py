"""What every soak scenario shares: the `maas` binary, servers (start, kill -9, SIGTERM),
the client workers that write, the read-back checks, the commands run beside a serving
server, the checks of a stopped data directory, progress lines and the final summary.
"""
import ctypes
import itertools
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections import Counter

import mcpclient as mc
from ledger import Ledger, digest, format_violation

# Limits raised so that the load is never refused for volume (a refusal is not a loss,
# but a refused write tests nothing).
LIMITS = ['--limit', 'writes-per-minute=100000000', '--limit', 'pending-per-target=5000',
          '--limit', 'pending-per-target-per-owner=5000', '--limit', 'handoffs=10000000',
          '--limit', 'handoffs-per-owner=10000000', '--limit', 'memories-per-owner=1000000',
          '--limit', 'memories=5000000', '--limit', 'text-bytes-per-owner=2000000000']
BUILTIN_SNAPSHOT_EVERY = 10000  # the interval of a binary without --snapshot-every
SOAK_SNAPSHOT_EVERY = 1000      # the interval asked of a binary that takes it
WORDS = ('river stone lantern maple copper harbor meadow pencil orbit canvas velvet bridge ledger '
         'garden pixel summit cobalt falcon willow quartz tunnel beacon compass ember glacier '
         'saddle thistle violet anchor barley cedar delta fjord granite hollow island jasmine '
         'kettle lagoon marble nectar oyster pepper quill raven saffron tundra umber vessel walnut').split()
BESIDE_COMMANDS = {'stats': ['--json', 'stats'], 'export': ['export'], 'audit-verify': ['--json', 'audit', 'verify']}
NOTES_SHOWN = 5


class SetupError(Exception):
    """The soak could not be set up or run (exit code 2): it says nothing about maas."""


def content_for(mid, rnd):
    n = rnd.randint(6, 40) if rnd.random() > 0.05 else rnd.randint(200, 600)
    return 'note %s: %s.' % (mid, ' '.join(rnd.choice(WORDS) for _ in range(n)))


def author_of(mid):
    """Memory ids start with their author's agent id: 'w3-r5-17', 'u0-fixed-4'."""
    return mid.split('-')[0]


def tag_of(description):
    """Handoff descriptions start with their tag: 'task r3-17 review the ...'."""
    return ' '.join(description.split(' ')[:2])


def tail(path, n=1500):
    try:
        with open(path, errors='replace') as f:
            return f.read()[-n:]
    except OSError:
        return ''


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def healthy(port, timeout=0.5):
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/healthz' % port, timeout=timeout) as r:
            return r.status == 200
    except Exception:
        return False


def _die_with_parent():
    """Servers get SIGKILL if the soak itself dies (Linux; elsewhere a no-op)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


# ---------------------------------------------------------------------- the binary
class Binary:
    def __init__(self, path):
        self.path = os.path.abspath(path)
        if not (os.path.isfile(self.path) and os.access(self.path, os.X_OK)):
            raise SetupError('no executable maas binary at %s (build it with '
                             '`cargo build --release -p maas-host`, or give --bin)' % self.path)
        try:
            self.version = subprocess.run([self.path, '--version'], capture_output=True, text=True,
                                          timeout=60).stdout.strip()
            serve_help = subprocess.run([self.path, 'serve', '--help'], capture_output=True, text=True,
                                        timeout=60).stdout
            top_help = subprocess.run([self.path, '--help'], capture_output=True, text=True,
                                      timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SetupError('%s does not run: %s' % (self.path, e))
        if not self.version.startswith('maas'):
            raise SetupError('%s does not look like maas (--version: %r)' % (self.path, self.version))
        self.has_snapshot_every = '--snapshot-every' in serve_help
        # The owner's journal-byte budget, where the binary has one.
        self.limits = LIMITS + (['--limit', 'write-bytes-per-minute=100000000000']
                                if 'write-bytes-per-minute' in top_help else [])

    def run(self, datadir, args, timeout=600, stdout=None):
        cmd = [self.path, '--data-dir', datadir] + list(args)
        if stdout is None:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=timeout)

    def register(self, datadir, agents):
        """Registers (agent id, owner) pairs in a new data directory; returns their tokens."""
        tokens = {}
        for aid, owner in agents:
            p = self.run(datadir, ['--json', 'agent', 'register', '--type', 'claude_code',
                                   '--owner', owner, '--id', aid], timeout=120)
            if p.returncode != 0:
                raise SetupError('agent register %s failed: %s' % (aid, p.stderr.strip()[-500:]))
            tokens[aid] = json.loads(p.stdout)['token']
        return tokens


# ---------------------------------------------------------------------- servers
class Server:
    """One `maas serve` on a port; started again and again on one data directory."""

    def __init__(self, binary, datadir, port, logdir, serve_args):
        self.binary, self.datadir, self.port, self.logdir = binary, datadir, port, logdir
        self.serve_args = serve_args
        self.p = None
        self.log = None
        self.logpath = None
        self.started = 0.0
        self.stopping = False  # we sent it a signal: its exit is ours

    def start(self, tag):
        self.close_log()
        self.logpath = os.path.join(self.logdir, 'serve-%d-%s.log' % (self.port, tag))
        self.log = open(self.logpath, 'w')
        self.started = time.time()
        self.stopping = False
        cmd = ([self.binary.path, '--data-dir', self.datadir] + self.binary.limits +
               ['serve', '--listen', '127.0.0.1:%d' % self.port] + self.serve_args)
        self.p = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)

    def wait_ready(self, limit=180):
        """Seconds until /healthz answered, or None (exited, or not ready in time)."""
        while time.time() - self.started < limit:
            if self.p.poll() is not None:
                return None
            if healthy(self.port, 0.3):
                return time.time() - self.started
            time.sleep(0.01)
        return None

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def died_by_itself(self):
        """The exit code if the server exited without being told to, else None."""
        if self.p is not None and not self.stopping and self.p.poll() is not None:
            return self.p.returncode
        return None

    def kill9(self):
        """kill -9; True if it was running until then."""
        if self.p is None:
            return False
        self.stopping = True
        alive = self.p.poll() is None
        if alive:
            os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait()
        self.close_log()
        return alive

    def terminate(self, grace):
        """SIGTERM, then kill -9 if still running after `grace` seconds.
        Returns (exit code, seconds to exit, whether it had to be killed)."""
        if not self.alive():
            self.kill9()
            return (self.p.returncode if self.p else None), 0.0, False
        self.stopping = True
        t = time.time()
        self.p.terminate()
        killed = False
        try:
            self.p.wait(grace)
        except subprocess.TimeoutExpired:
            killed = True
            self.p.kill()
            self.p.wait()
        self.close_log()
        return self.p.returncode, time.time() - t, killed

    def close_log(self):
        if self.log is not None:
            self.log.close()
            self.log = None


# ---------------------------------------------------------------------- tmpfs (diskfull)
def mount_tmpfs(path, kib):
    """Mounts a tmpfs of `kib` KiB on `path` (needs root); None, or what mount said."""
    os.makedirs(path, exist_ok=True)
    try:
        p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%dk,mode=0700' % kib, 'tmpfs', path],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return repr(e)
    return None if p.returncode == 0 else (p.stderr.strip().split('\n')[0] or 'mount exited %d' % p.returncode)


def resize_tmpfs(path, kib):
    """Sets the size of the tmpfs on `path` (mount -o remount); None, or what mount said."""
    try:
        p = subprocess.run(['mount', '-o', 'remount,size=%dk' % kib, path], capture_output=True, text=True,
                           timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return repr(e)
    return None if p.returncode == 0 else (p.stderr.strip() or 'mount exited %d' % p.returncode)


def disk_free(path):
    """(free bytes, size in bytes) of the file system holding `path`, or (None, None)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None, None
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


def files_of(path):
    """The files of a directory with their sizes (for events)."""
    try:
        return {n: os.path.getsize(os.path.join(path, n)) for n in sorted(os.listdir(path))}
    except OSError as e:
        return {'error': repr(e)}


# ---------------------------------------------------------------------- the journal file
def _ro(datadir, timeout=5):
    return sqlite3.connect('file:%s?mode=ro' % os.path.join(datadir, 'journal.db'), uri=True, timeout=timeout)


def _journal_state(c):
    head = c.execute('SELECT max(seq) FROM journal').fetchone()[0] or 0
    snaps = [r[0] for r in c.execute('SELECT seq FROM snapshots ORDER BY seq')]
    chunks = {r[0] for r in c.execute('SELECT DISTINCT seq FROM snapshot_chunks')}
    return {'head': head, 'snaps': snaps, 'unfinished': sorted(chunks - set(snaps))}


def journal_state(datadir):
    """Head of the journal, complete snapshots, and unfinished ones (chunks without a
    snapshot row), read through a read-only SQLite connection; None if unreadable now."""
    for _ in range(20):
        try:
            c = _ro(datadir)
            try:
                return _journal_state(c)
            finally:
                c.close()
        except sqlite3.Error:
            time.sleep(0.1)
    return None


def wait_journal(datadir, predicate, seconds, interval=0.02):
    """Polls journal_state until `predicate` holds (returns the state) or time is up (None)."""
    deadline = time.time() + seconds
    c = None
    try:
        while time.time() < deadline:
            try:
                c = c or _ro(datadir, 1)
                st = _journal_state(c)
                if predicate(st):
                    return st
            except sqlite3.Error:
                pass
            time.sleep(interval)
    finally:
        if c is not None:
            c.close()
    return None


def integrity_check(datadir):
    """'ok', or what PRAGMA integrity_check (or opening the file) said. Servers must be stopped."""
    try:
        c = _ro(datadir, timeout=30)
        try:
            rows = [r[0] for r in c.execute('PRAGMA integrity_check')]
        finally:
            c.close()
    except sqlite3.Error as e:
        return 'cannot check: %s' % e
    return 'ok' if rows == ['ok'] else '; '.join(rows[:5])


def next_due(snaps, every):
    """The journal position at which the next snapshot falls due."""
    last = max(snaps) if snaps else 0
    return last + max(every, last // 10)


# ---------------------------------------------------------------------- workers
def store_one(L, client, agent, mid, content, kind=None):
    """One store_memory; the ledger learns its outcome. Returns True if acknowledged.
    ServerDown propagates (outcome unknown, recorded by the caller)."""
    L.store_attempt(mid, content)
    args = {'agent_id': agent, 'memory_id': mid, 'content': content}
    if kind:
        args['memory_type'] = kind
    try:
        r = client.tool('store_memory', args)
    except mc.ToolError as e:
        if e.code == 'unavailable':  # the server is stopping: it may or may not be done
            L.unknown()
        else:
            L.refused(mid, e.code)
        return False
    if r.get('status') != 'stored' or r.get('memory_id') != mid:
        L.viol('bad_store_answer', id=mid, answer=r)
    L.ack(mid, r.get('version'), 'store')
    return True


class Worker(threading.Thread):
    """Calls `step` until stopped. On a lost server: ends, or (resume) waits for the port
    to answer again and goes on with a new session."""

    def __init__(self, L, port, token, stop, name, seed, resume=False, client_class=mc.Client):
        super().__init__(daemon=True, name=name)
        self.L, self.port, self.token, self.stop, self.resume = L, port, token, stop, resume
        self.client_class = client_class
        self.rnd = random.Random('%s/%s' % (seed, name))
        self.errors = []
        self.ops = 0
        self.inflight = None

    def run(self):
        client = self.client_class(self.port, self.token)
        while not self.stop.is_set():
            try:
                self.step(client)
                self.ops += 1
            except mc.ServerDown:
                if self.inflight is not None:
                    self.L.unknown()
                    self.inflight = None
                client.close()
                if not self.resume:
                    return
                while not self.stop.is_set() and not healthy(self.port, 0.3):
                    time.sleep(0.05)
                client = self.client_class(self.port, self.token)
            except Exception as e:  # an answer we did not expect: noted, and the load goes on
                self.inflight = None
                self.errors.append(repr(e)[:300])
                time.sleep(0.05)
        client.close()


class StoreWorker(Worker):
    def __init__(self, *a, agent, prefix, **kw):
        super().__init__(*a, **kw)
        self.agent, self.prefix, self.n = agent, prefix, 0

    def step(self, client):
        self.n += 1
        mid = '%s-%d' % (self.prefix, self.n)
        self.inflight = mid
        store_one(self.L, client, self.agent, mid, content_for(mid, self.rnd), kind='note')
        self.inflight = None


class UpdateWorker(Worker):
    """Stores, then updates, a fixed set of memories with expected_version from the ledger."""

    def __init__(self, *a, agent, prefix, count=40, **kw):
        super().__init__(*a, **kw)
        self.agent = agent
        self.ids = ['%s-%d' % (prefix, i) for i in range(count)]
        self.tainted = set()  # outcome unknown: left alone until read back

    def step(self, client):
        mid = self.rnd.choice(self.ids)
        if mid in self.tainted:
            return
        with self.L.lock:
            m = self.L.mem.get(mid)
            state = None if m is None else (m.acked, bool(m.maybe))
        if state is not None and (state[1] or state[0] is None):
            self.tainted.add(mid)
            return
        self.inflight = mid
        try:
            if state is None:
                store_one(self.L, client, self.agent, mid, content_for(mid, self.rnd))
            else:
                version = state[0][0] + 1
                content = content_for(mid, self.rnd) + ' v%d' % version
                self.L.update_attempt(mid, version, content)
                try:
                    r = client.tool('update_memory', {'agent_id': self.agent, 'memory_id': mid,
                                                      'expected_version': version - 1, 'content': content})
                except mc.ToolError as e:
                    if e.code == 'unavailable':
                        self.L.unknown()
                        self.tainted.add(mid)
                    else:
                        self.L.refused(mid, e.code)
                        self.errors.append(str(e))
                else:
                    self.L.ack(mid, r.get('version'), 'update')
        except mc.ServerDown:
            self.tainted.add(mid)
            raise
        self.inflight = None


class InitWorker(Worker):
    def __init__(self, *a, source, target, prefix, **kw):
        super().__init__(*a, **kw)
        self.source, self.target, self.prefix, self.n = source, target, prefix, 0

    def step(self, client):
        self.n += 1
        tag = 'task %s-%d' % (self.prefix, self.n)
        self.L.init_attempt(tag)
        self.inflight = tag
        try:
            r = client.tool('initiate_handoff', {
                'source_agent_id': self.source, 'target_agent_id': self.target,
                'task_description': tag + ' review the ' + self.rnd.choice(WORDS),
                'current_state': {'n': self.n}})
        except mc.ToolError as e:
            self.inflight = None
            if e.code == 'unavailable':
                self.L.unknown()
            else:
                self.L.init_refused(tag)
                self.errors.append(str(e))
                time.sleep(0.05)
            return
        self.inflight = None
        self.L.init_ack(tag, r['handoff_id'])
        time.sleep(0.003)


class AcceptWorker(Worker):
    """Accepts, then completes, pending handoffs; several of these race for each one."""

    def __init__(self, *a, agent, **kw):
        super().__init__(*a, **kw)
        self.agent = agent

    def step(self, client):
        pending = client.tool('get_pending_handoffs', {'agent_id': self.agent, 'limit': 100}).get('handoffs', [])
        if not pending:
            time.sleep(0.01)
            return
        self.rnd.shuffle(pending)
        for h in pending[:10]:
            hid = h['id']
            self.L.learn_hid(tag_of(h['task_description']), hid)
            self.L.accept_attempt(hid)
            self.inflight = hid
            try:
                client.tool('accept_handoff', {'agent_id': self.agent, 'handoff_id': hid})
            except mc.ToolError as e:
                self.inflight = None
                if e.code == 'unavailable':
                    self.L.unknown()
                elif 'not pending' in str(e):
                    with self.L.lock:
                        self.L.counts['accept_lost_race'] += 1
                else:
                    self.errors.append(str(e))
                continue
            self.L.accept_ack(hid, (self.name, self.port))
            self.L.complete_attempt(hid)
            try:
                client.tool('complete_handoff', {'agent_id': self.agent, 'handoff_id': hid, 'result': {'ok': True}})
            except mc.ToolError as e:
                self.inflight = None
                if e.code == 'unavailable':
                    self.L.unknown()
                else:
                    self.errors.append(str(e))
                continue
            self.inflight = None
            self.L.complete_ack(hid)


# ---------------------------------------------------------------------- exports
def parse_export(path):
    """The state a `maas export` file describes, with what must never occur twice."""
    mem, inits, accepted, completed = {}, {}, Counter(), Counter()
    twice = []
    entries = 0
    with open(path) as f:
        header = json.loads(f.readline())
        for line in f:
            entries += 1
            for ev in json.loads(line)['entry']['events']:
                ty = ev['type']
                if ty == 'memory_stored':
                    if ev['id'] in mem:
                        twice.append(('MEMORY_STORED_TWICE', ev['id']))
                    mem[ev['id']] = [1, digest(ev['content']), ev['content']]
                elif ty == 'memory_updated':
                    m = mem[ev['id']]
                    m[0] += 1
                    if 'content' in ev:
                        m[1], m[2] = digest(ev['content']), ev['content']
                elif ty == 'memory_deleted':
                    mem.pop(ev['id'], None)
                elif ty == 'handoff_initiated':
                    inits[ev['id']] = tag_of(ev['context']['task_description'])
                elif ty == 'handoff_accepted':
                    accepted[ev['id']] += 1
                elif ty == 'handoff_completed':
                    completed[ev['id']] += 1
    twice += [('DOUBLE_ACCEPT_IN_JOURNAL', h) for h, k in accepted.items() if k > 1]
    twice += [('double_complete_in_journal', h) for h, k in completed.items() if k > 1]
    return dict(header=header, entries=entries, mem=mem, inits=inits, accepted=accepted,
                completed=completed, twice=twice)


def check_export(L, ex, where):
    """Checks the ledger against an export of a stopped data directory."""
    for kind, x in ex['twice']:
        L.viol(kind, id=x, where=where)
    if ex['header'].get('entries') not in (None, ex['entries']):
        L.viol('export_entry_count', header=ex['header'].get('entries'), lines=ex['entries'], where=where)
    with L.lock:
        ids = list(L.mem)
    for mid in ids:
        m = ex['mem'].get(mid)
        if m:
            L.observe_mem(mid, m[0], m[1], where, m[2])
        else:
            L.observe_mem(mid, None, None, where)
    known = set(ids)
    for mid in ex['mem']:
        if mid not in known:
            L.viol('phantom_memory_in_journal', id=mid, where=where)
    by_tag = {}
    for hid, tag in ex['inits'].items():
        if tag in by_tag:
            L.viol('handoff_initiated_twice', tag=tag, hids=[by_tag[tag], hid], where=where)
        by_tag[tag] = hid
        if tag not in L.ho:
            L.viol('phantom_handoff_in_journal', tag=tag, hid=hid, where=where)
            continue
        L.learn_hid(tag, hid)
        status = 'completed' if hid in ex['completed'] else 'accepted' if hid in ex['accepted'] else 'pending'
        L.observe_handoff(tag, status, where)
    with L.lock:
        tags = list(L.ho)
    for tag in tags:
        if tag not in by_tag:
            L.observe_handoff(tag, None, where)


def acked_snapshot(L):
    """What is acknowledged now: memories (id -> (version, hash)) and handoff tags."""
    with L.lock:
        mem = {k: m.acked for k, m in L.mem.items() if m.acked}
        tags = [t for t, x in L.ho.items() if x.init == 'acked']
    return mem, tags


def check_export_covers(L, ex, acked, where):
    """An export taken beside serving servers holds every write acknowledged before it began."""
    mem, tags = acked
    for mid, (version, hsh) in mem.items():
        m = ex['mem'].get(mid)
        if m is None:
            L.viol('BESIDE_EXPORT_MISSING_ACKED', id=mid, acked='v%d sha %s' % (version, hsh),
                   read_back='not found', where=where)
        elif m[0] < version or (m[0] == version and m[1] != hsh):
            L.viol('BESIDE_EXPORT_OLDER_THAN_ACKED', id=mid, acked='v%d sha %s' % (version, hsh),
                   read_back='v%d sha %s %r' % (m[0], m[1], m[2][:60]), where=where)
    present = set(ex['inits'].values())
    for tag in tags:
        if tag not in present:
            L.viol('BESIDE_EXPORT_MISSING_HANDOFF', tag=tag, where=where)


# ---------------------------------------------------------------------- live read-back
def verify_live(L, port, tokens, rnd, sample=300, everything=False, threads=6):
    """Reads memories and handoffs back through a running server (no load running):
    everything, or each memory of unknown outcome or not read since acknowledged plus a
    sample of the rest, and each handoff not yet seen completed."""
    with L.lock:
        ids = list(L.mem)
        if everything:
            chosen = ids
        else:
            must = [i for i in ids if L.mem[i].maybe or i in L.unverified]
            must_set = set(must)
            rest = [i for i in ids if i not in must_set]
            chosen = must + rnd.sample(rest, min(sample, len(rest)))
        tags = [t for t, x in L.ho.items()
                if x.hid and (everything or x.seen != 'completed' or rnd.random() < 0.05)]
    work = [('m', i) for i in chosen] + [('h', t) for t in tags]
    rnd.shuffle(work)
    lock = threading.Lock()
    out = {'memories': 0, 'handoffs': 0, 'errors': 0, 'first_errors': []}
    where = 'read back through :%d' % port

    def run():
        clients = {}

        def client(agent):
            if agent not in clients:
                clients[agent] = mc.Client(port, tokens[agent])
            return clients[agent]
        while True:
            with lock:
                if not work or out['errors'] > 200:
                    return
                kind, x = work.pop()
            try:
                if kind == 'm':
                    a = author_of(x)
                    try:
                        r = client(a).tool('get_memory', {'agent_id': a, 'memory_id': x})
                        L.observe_mem(x, r['version'], digest(r['content']), where, r['content'])
                    except mc.ToolError as e:
                        if e.code != 'not_found':
                            raise
                        L.observe_mem(x, None, None, where)
                else:
                    with L.lock:
                        hid = L.ho[x].hid
                    try:
                        r = client('alice').tool('get_handoff', {'handoff_id': hid})
                        L.observe_handoff(x, r['status'], where)
                    except mc.ToolError as e:
                        if e.code != 'not_found':
                            raise
                        L.observe_handoff(x, None, where)
                with lock:
                    out['memories' if kind == 'm' else 'handoffs'] += 1
            except Exception as e:
                with lock:
                    out['errors'] += 1
                    if len(out['first_errors']) < 5:
                        out['first_errors'].append(repr(e)[:300])
                    work.append((kind, x))
                time.sleep(0.2)
    ts = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if work:
        L.viol('read_back_incomplete', left=len(work), errors=out['first_errors'], where=where)
    return out


# ---------------------------------------------------------------------- the run
class Soak:
    """One run of a scenario: its options, ledger, servers, counters and output."""

    def __init__(self, name, args, run_dir):
        self.name, self.args, self.run_dir = name, args, run_dir
        self.binary = Binary(args.bin)
        self.seed = args.seed
        self.rnd = random.Random(self.seed)
        self.L = Ledger()
        self.servers = []
        self.n = Counter()  # kills, startup_kills, terms, beside, beside_failed, rounds
        self.notes = []
        self.mounts = {}  # tmpfs mount point -> where its data is copied if unmounted by stop_all
        self.summary_extra = ''  # a scenario's own figures, appended to the summary line
        self.t0 = time.time()
        self.deadline = self.t0 + args.minutes * 60 if args.minutes else None
        self.events = open(os.path.join(run_dir, 'events.jsonl'), 'w')
        self.logdir = os.path.join(run_dir, 'logs')
        os.makedirs(self.logdir, exist_ok=True)
        beside = getattr(args, 'beside', None)
        self.beside_cycle = itertools.cycle(beside) if beside else None
        every = args.snapshot_every
        if every is None:
            every = SOAK_SNAPSHOT_EVERY if self.binary.has_snapshot_every else 0
        elif every and not self.binary.has_snapshot_every:
            raise SetupError('%s does not take --snapshot-every (see `maas serve --help`)' % self.binary.path)
        self.serve_args = (['--snapshot-every', str(every)] if every else []) + list(args.serve_arg or [])
        self.snapshot_every = every or BUILTIN_SNAPSHOT_EVERY
        for i in range(args.servers if name == 'race' else 1):
            if not port_free(args.port + i):
                raise SetupError('port %d is in use (choose another with --port)' % (args.port + i))
        if name == 'diskfull':
            probe = os.path.join(run_dir, 'mount-probe')
            why = mount_tmpfs(probe, 1024)
            if why is not None:
                raise SetupError('diskfull mounts a tmpfs as the data directory, which needs root (or '
                                 'CAP_SYS_ADMIN): `mount -t tmpfs` failed: %s' % why)
            self.mounts[probe] = None
            self.unmount(probe)
            os.rmdir(probe)
        self.say('%s with %s (%s), seed %d, snapshots every %d entries%s, run dir %s' % (
            name, self.binary.path, self.binary.version, self.seed, self.snapshot_every,
            '' if every else ' (the binary\'s built-in interval)', run_dir))

    # ------------------------------------------------------------------ output
    def say(self, text):
        print('[%s %s] %s' % (self.name, self.clock(), text), flush=True)

    def clock(self):
        s = int(time.time() - self.t0)
        return '%d:%02d:%02d' % (s // 3600, s // 60 % 60, s % 60)

    def event(self, kind, **kw):
        kw.update(kind=kind, t=round(time.time() - self.t0, 3))
        self.events.write(json.dumps(kw, default=str) + '\n')
        self.events.flush()

    def note(self, text):
        """Something worth reading that is not a violation."""
        self.notes.append(text)
        self.event('note', text=text)
        if len(self.notes) <= NOTES_SHOWN:
            self.say('note: ' + text)

    def progress(self, rnd_no, extra=''):
        t = self.L.totals()
        self.say('round %d: kills %d (start-up %d), SIGTERM %d, stores %d, updates %d, handoffs %d '
                 '(accepted %d, completed %d), unknown %d, beside %d (failed %d), violations %d%s' % (
                     rnd_no, self.n['kills'], self.n['startup_kills'], self.n['terms'], t['stores'],
                     t['updates'], t['handoffs'], t['accepts'], t['completes'], t['unknown'],
                     self.n['beside'], self.n['beside_failed'], t['violations'], extra))

    def more_rounds(self, done):
        if self.args.rounds is not None and done >= self.args.rounds:
            return False
        return self.deadline is None or time.time() < self.deadline

    # ------------------------------------------------------------------ servers
    def server(self, datadir, port):
        s = Server(self.binary, datadir, port, self.logdir, self.serve_args)
        self.servers.append(s)
        return s

    def ready(self, srv, what):
        """Waits for a started server; a server that does not come up is a violation."""
        rt = srv.wait_ready()
        if rt is None:
            self.L.viol('SERVER_NOT_READY', port=srv.port, when=what, exit=srv.p.poll(),
                        log=tail(srv.logpath, 800), where=srv.logpath)
            srv.kill9()
        return rt

    def check_died(self, srv, what):
        rc = srv.died_by_itself()
        if rc is not None:
            self.L.viol('SERVER_EXITED', port=srv.port, exit=rc, when=what, log=tail(srv.logpath, 800),
                        where=srv.logpath)
            srv.stopping = True
        return rc is not None

    def stop_all(self):
        for s in self.servers:
            if s.alive():
                s.kill9()
            s.close_log()
        for path in list(self.mounts):
            self.unmount(path, self.mounts[path])

    # ------------------------------------------------------------------ tmpfs data directories
    def mount(self, path, kib, copy_to=None):
        """A tmpfs on `path`; stop_all unmounts it (copying `path`/data to `copy_to` first)."""
        why = mount_tmpfs(path, kib)
        if why is not None:
            raise SetupError('cannot mount a tmpfs of %d KiB on %s: %s' % (kib, path, why))
        self.mounts[path] = copy_to

    def resize(self, path, kib):
        why = resize_tmpfs(path, kib)
        if why is not None:
            raise SetupError('cannot resize the tmpfs on %s to %d KiB: %s' % (path, kib, why))

    def unmount(self, path, copy_to=None):
        """Unmounts the tmpfs on `path` (its servers killed first), copying its data
        directory to `copy_to` when given."""
        for s in self.servers:
            if s.alive() and s.datadir.startswith(path + os.sep):
                s.kill9()
        if copy_to:
            try:
                shutil.copytree(os.path.join(path, 'data'), copy_to)
            except (OSError, shutil.Error) as e:
                self.note('could not copy %s/data out of its tmpfs: %s' % (path, e))
        for attempt in range(20):
            p = subprocess.run(['umount', path], capture_output=True, text=True)
            if p.returncode == 0:
                break
            time.sleep(0.25)
        else:
            p = subprocess.run(['umount', '-l', path], capture_output=True, text=True)
            self.note('the tmpfs on %s was busy: unmounted lazily (umount -l exit %d)' % (path, p.returncode))
        self.mounts.pop(path, None)

    # ------------------------------------------------------------------ commands beside
    def next_beside(self):
        return next(self.beside_cycle) if self.beside_cycle else None

    def beside(self, cmd, datadir, what):
        """Runs a one-shot command on the data directory of serving servers."""
        acked = acked_snapshot(self.L) if cmd == 'export' else None
        out_path = os.path.join(self.run_dir, 'beside-export.jsonl')
        t = time.time()
        try:
            if cmd == 'export':
                with open(out_path, 'w') as f:
                    p = self.binary.run(datadir, BESIDE_COMMANDS[cmd], timeout=600, stdout=f)
            else:
                p = self.binary.run(datadir, BESIDE_COMMANDS[cmd], timeout=600)
            rc, err = p.returncode, (p.stderr or '').strip()
            if rc == 0 and cmd == 'audit-verify' and json.loads(p.stdout).get('intact') is not True:
                rc, err = 1, 'not intact: ' + p.stdout.strip()[-300:]
        except subprocess.TimeoutExpired:
            rc, err = None, 'no exit in 600 s'
        seconds = time.time() - t
        self.n['beside'] += 1
        self.event('beside', cmd=cmd, when=what, rc=rc, seconds=round(seconds, 2), err=err[-500:])
        if rc != 0:
            self.n['beside_failed'] += 1
            self.n['beside_failed:' + cmd] += 1
            detail = dict(command='maas ' + ' '.join(BESIDE_COMMANDS[cmd]), exit=rc, stderr=err[-400:], when=what)
            if cmd in self.args.lenient_beside:
                self.note('a command beside failed: ' + json.dumps(detail))
            else:
                self.L.viol('BESIDE_COMMAND_FAILED', **detail)
        elif cmd == 'export':
            check_export_covers(self.L, parse_export(out_path), acked, 'export beside (%s)' % what)
        if os.path.exists(out_path):
            os.remove(out_path)
        return rc

    # ------------------------------------------------------------------ checks with the servers stopped
    def offline_checks(self, datadir, what):
        """integrity_check, then `maas export` against the ledger, then `maas audit verify`.
        Every server on `datadir` must be stopped."""
        result = {}
        ic = integrity_check(datadir)
        result['integrity'] = ic
        if ic != 'ok':
            self.L.viol('JOURNAL_INTEGRITY', result=ic, when=what, where=os.path.join(datadir, 'journal.db'))
        path = os.path.join(self.run_dir, 'export.jsonl')
        t = time.time()
        try:
            with open(path, 'w') as f:
                p = self.binary.run(datadir, ['export'], timeout=1800, stdout=f)
            rc, err = p.returncode, p.stderr.strip()
        except subprocess.TimeoutExpired:
            rc, err = None, 'no exit in 1800 s'
        result['export_s'] = round(time.time() - t, 1)
        if rc != 0:
            self.L.viol('EXPORT_FAILED', exit=rc, stderr=err[-500:], when=what)
        else:
            ex = parse_export(path)
            result.update(entries=ex['entries'], memories=len(ex['mem']), handoffs=len(ex['inits']))
            check_export(self.L, ex, 'export after %s' % what)
        os.remove(path)
        try:
            p = self.binary.run(datadir, ['--json', 'audit', 'verify'], timeout=1800)
            ok = p.returncode == 0 and json.loads(p.stdout).get('intact') is True
            rc, out = p.returncode, (p.stdout.strip() + ' ' + p.stderr.strip())[-500:]
        except (subprocess.TimeoutExpired, ValueError) as e:
            ok, rc, out = False, None, repr(e)
        result['audit_verify'] = rc
        if not ok:
            self.L.viol('AUDIT_VERIFY_FAILED', exit=rc, output=out, when=what)
        self.event('offline_checks', when=what, **result)
        return result

    def final(self, datadir, servers, tokens):
        """Every server started again, everything read back, a clean stop, and the checks
        of the stopped directory."""
        self.L.phase = 'final'
        for i, s in enumerate(servers):
            s.start('final')
        up = [s for s in servers if self.ready(s, 'final start') is not None]
        if up:
            t = time.time()
            r = verify_live(self.L, up[0].port, tokens, self.rnd, everything=True)
            self.say('final read-back: %d memories, %d handoffs in %.0f s' % (
                r['memories'], r['handoffs'], time.time() - t))
        for s in servers:
            self.check_died(s, 'final read-back')
            rc, secs, killed = s.terminate(120)
            if killed:
                self.note('server :%d did not stop within 120 s of SIGTERM (killed)' % s.port)
            elif rc not in (0, None):
                self.note('server :%d exited %s on SIGTERM: %s' % (s.port, rc, tail(s.logpath, 300)))
        r = self.offline_checks(datadir, 'the final stop')
        self.say('final checks: integrity %s, export %s entries, audit verify exit %s' % (
            r.get('integrity'), r.get('entries', '-'), r.get('audit_verify')))

    # ------------------------------------------------------------------ the end
    def summary(self):
        t = self.L.totals()
        secs = time.time() - self.t0
        verdict = 'FAIL' if t['violations'] else 'PASS'
        failed_by_command = ''.join(', %s %d' % (c, self.n['beside_failed:' + c]) for c in BESIDE_COMMANDS
                                    if self.n['beside_failed:' + c])
        failed_by_command = ': ' + failed_by_command[2:] if failed_by_command else ''
        line = ('%s %s: %d rounds in %dm%02ds, %d kills (-9; %d during start-up), %d SIGTERM stops, '
                'acknowledged %d stores, %d updates, %d handoffs (%d accepted, %d completed), %d unknown outcomes, '
                '%d refused, %d commands beside (%d failed%s)%s, %d violations' % (
                    verdict, self.name, self.n['rounds'], secs // 60, secs % 60, self.n['kills'],
                    self.n['startup_kills'], self.n['terms'], t['stores'], t['updates'], t['handoffs'],
                    t['accepts'], t['completes'], t['unknown'], t['refused'], self.n['beside'],
                    self.n['beside_failed'], failed_by_command, self.summary_extra, t['violations']))
        self.event('summary', line=line, seed=self.seed, counts=dict(self.n), totals=t,
                   ledger_counts=dict(self.L.counts), notes=self.notes)
        with open(os.path.join(self.run_dir, 'violations.json'), 'w') as f:
            json.dump(self.L.violations, f, indent=1, default=str)
        if t['violations']:
            self.L.dump(os.path.join(self.run_dir, 'ledger.json'))
            kinds = Counter(v['kind'] for v in self.L.violations)
            print('violations by kind: ' + ', '.join('%s %d' % kv for kv in kinds.most_common()))
            # the first of each kind, then the next ones in the order found
            firsts = {}
            for v in self.L.violations:
                firsts.setdefault(v['kind'], v)
            shown = list(firsts.values())[:8]
            shown += [v for v in self.L.violations if v not in shown][:8 - len(shown)]
            print('first violations (the first of each kind first):')
            for v in shown:
                print('  ' + format_violation(v))
        if len(self.notes) > NOTES_SHOWN:
            print('%d notes in all (events.jsonl)' % len(self.notes))
        self.events.close()
        return line, bool(t['violations'])
