"""The client side's record of every write it attempted and every one acknowledged, and
the invariants checked against what the servers later show.

A write has one of three outcomes for the client: acknowledged (the answer said it was
done: it must survive anything), refused (an error answer: nothing of it may appear) or
unknown (no answer: the server died while it ran; it may or may not appear). Memories are
recorded by their content's hash and version; handoffs by a tag ('task r3-17') their
description starts with, since their id is only known from an answer.
"""
import hashlib
import json
import threading
from collections import Counter

ORDER = {'pending': 0, 'accepted': 1, 'completed': 2}
LIVE_PRINTS = 10  # violations printed as they are found; the rest are counted


def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def show(state):
    """A (version, hash) pair as text."""
    return 'v%d sha %s' % state if state else 'none'


class Mem:
    __slots__ = ('acked', 'maybe', 'absent', 'refused', 'acked_in')

    def __init__(self, first):
        self.acked = None        # (version, hash) of the newest acknowledged write
        self.maybe = [first]     # writes attempted since, outcome unknown
        self.absent = False      # seen missing before any acknowledgement
        self.refused = None      # the last refused attempt
        self.acked_in = ''       # the phase (round) of the last acknowledgement


class Handoff:
    __slots__ = ('hid', 'init', 'accepts', 'accept_tries', 'complete', 'seen')

    def __init__(self):
        self.hid = None
        self.init = 'maybe'      # maybe | acked | refused | absent
        self.accepts = []        # acknowledged accepts: (worker, port, phase)
        self.accept_tries = 0
        self.complete = None     # None | maybe | acked
        self.seen = None         # the newest status observed

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


class Ledger:
    def __init__(self):
        self.lock = threading.RLock()
        self.phase = ''
        self.mem = {}
        self.ho = {}
        self.hid2tag = {}
        self.violations = []
        self.reported = set()    # (kind, object) of each violation recorded
        self.counts = Counter()
        self.unverified = set()  # memories acknowledged since they were last read back

    # ------------------------------------------------------------------ violations
    def viol(self, kind, **detail):
        """Records a violation; one already recorded for the same object is only counted."""
        with self.lock:
            obj = detail.get('id') or detail.get('tag') or detail.get('hid')
            if obj is not None:
                if (kind, obj) in self.reported:
                    self.counts['repeated_violations'] += 1
                    return
                self.reported.add((kind, obj))
            v = dict(kind=kind, phase=self.phase, **detail)
            self.violations.append(v)
            n = len(self.violations)
        if n <= LIVE_PRINTS:
            print('VIOLATION ' + format_violation(v), flush=True)
        elif n == LIVE_PRINTS + 1:
            print('VIOLATION ... (further violations are counted, and listed at the end)', flush=True)

    # ------------------------------------------------------------------ memories
    def store_attempt(self, mid, content):
        with self.lock:
            self.mem[mid] = Mem((1, digest(content)))

    def update_attempt(self, mid, version, content):
        with self.lock:
            self.mem[mid].maybe.append((version, digest(content)))

    def ack(self, mid, version, what):
        """The newest attempt on `mid` was acknowledged with `version`."""
        with self.lock:
            m = self.mem[mid]
            want = m.maybe[-1]
            if version != want[0]:
                self.viol('ack_version', id=mid, what=what, answered=version, expected=want[0])
            m.acked, m.maybe, m.acked_in = want, [], self.phase
            self.counts[what + '_ack'] += 1
            self.unverified.add(mid)

    def refused(self, mid, code):
        """A definite error answer to the newest attempt on `mid`: nothing of it may appear."""
        with self.lock:
            m = self.mem[mid]
            m.refused = m.maybe.pop()
            self.counts['refused'] += 1
            self.counts['refused:%s' % code] += 1

    def unknown(self):
        with self.lock:
            self.counts['unknown'] += 1

    def observe_mem(self, mid, version, hsh, where, excerpt=''):
        """What a server or the journal shows of `mid`; version None = not found."""
        with self.lock:
            m = self.mem.get(mid)
            if m is None:
                if version is not None:
                    self.viol('phantom_memory', id=mid, read_back=show((version, hsh)), where=where)
                return
            if version is None:
                if m.acked is not None:
                    self.viol('LOST_ACKED_MEMORY', id=mid, acked=show(m.acked), acked_in=m.acked_in,
                              read_back='not found', where=where)
                else:
                    m.maybe, m.absent = [], True
                return
            allowed = ([m.acked] if m.acked else []) + m.maybe
            if m.absent and m.acked is None:
                self.viol('resurrected_memory', id=mid, read_back=show((version, hsh)), where=where)
            if (version, hsh) not in allowed:
                self.viol('WRONG_CONTENT', id=mid, acked=show(m.acked), acked_in=m.acked_in,
                          unknown_outcome=[show(x) for x in m.maybe],
                          refused=show(m.refused), read_back='%s %r' % (show((version, hsh)), excerpt[:60]),
                          where=where)
                return
            m.acked = (version, hsh)  # an attempt of unknown outcome that did happen
            m.maybe = [x for x in m.maybe if x[0] > version]
            self.unverified.discard(mid)

    # ------------------------------------------------------------------ handoffs
    def init_attempt(self, tag):
        with self.lock:
            self.ho[tag] = Handoff()

    def init_ack(self, tag, hid):
        with self.lock:
            x = self.ho[tag]
            x.hid, x.init = hid, 'acked'
            self.hid2tag[hid] = tag
            self.counts['handoff_ack'] += 1

    def init_refused(self, tag):
        with self.lock:
            self.ho[tag].init = 'refused'
            self.counts['refused'] += 1

    def learn_hid(self, tag, hid):
        with self.lock:
            x = self.ho.get(tag)
            if x is None:
                self.viol('phantom_handoff', tag=tag, hid=hid)
            elif x.hid is None:
                x.hid = hid
                self.hid2tag[hid] = tag
            elif x.hid != hid:
                self.viol('handoff_two_ids', tag=tag, hids=[x.hid, hid])

    def accept_attempt(self, hid):
        with self.lock:
            self.ho[self.hid2tag[hid]].accept_tries += 1

    def accept_ack(self, hid, who):
        with self.lock:
            x = self.ho[self.hid2tag[hid]]
            x.accepts.append(list(who) + [self.phase])
            self.counts['accept_ack'] += 1
            if len(x.accepts) > 1:
                self.viol('DOUBLE_ACCEPT_ACKED', hid=hid, tag=self.hid2tag[hid], accepted_by=x.accepts)

    def complete_attempt(self, hid):
        with self.lock:
            x = self.ho[self.hid2tag[hid]]
            if x.complete is None:
                x.complete = 'maybe'

    def complete_ack(self, hid):
        with self.lock:
            self.ho[self.hid2tag[hid]].complete = 'acked'
            self.counts['complete_ack'] += 1

    def observe_handoff(self, tag, status, where):
        """What a server or the journal shows of the handoff; status None = not found."""
        with self.lock:
            x = self.ho[tag]
            bad = None
            if status is None:
                if x.init == 'acked':
                    bad = 'LOST_ACKED_HANDOFF'
                else:
                    x.init = 'absent'
            else:
                if x.init in ('refused', 'absent'):
                    bad = 'phantom_handoff'
                if x.accepts and status not in ('accepted', 'completed'):
                    bad = 'LOST_ACKED_ACCEPT'
                if x.complete == 'acked' and status != 'completed':
                    bad = 'LOST_ACKED_COMPLETE'
                if status in ('accepted', 'completed') and not x.accepts and x.accept_tries == 0:
                    bad = 'accept_without_attempt'
                if status == 'completed' and x.complete is None:
                    bad = 'complete_without_attempt'
                if x.seen in ORDER and status in ORDER and ORDER[status] < ORDER[x.seen]:
                    bad = 'HANDOFF_STATUS_WENT_BACK'
                x.seen = status
            if bad:
                self.viol(bad, tag=tag, read_back=status or 'not found', record=x.as_dict(), where=where)

    def forget_objects(self):
        """Drops the record of every memory and handoff (a new data directory follows);
        counts and violations are kept."""
        with self.lock:
            self.mem, self.ho, self.hid2tag, self.unverified = {}, {}, {}, set()

    # ------------------------------------------------------------------ reports
    def totals(self):
        with self.lock:
            c = self.counts
            return dict(stores=c['store_ack'], updates=c['update_ack'], handoffs=c['handoff_ack'],
                        accepts=c['accept_ack'], completes=c['complete_ack'], unknown=c['unknown'],
                        refused=c['refused'], violations=len(self.violations))

    def dump(self, path):
        with self.lock:
            data = {'counts': dict(self.counts), 'violations': self.violations,
                    'memories': {k: [m.acked, m.maybe, m.absent, m.refused, m.acked_in]
                                 for k, m in self.mem.items()},
                    'handoffs': {k: x.as_dict() for k, x in self.ho.items()}}
        with open(path, 'w') as f:
            json.dump(data, f)


def format_violation(v):
    """One line: the kind first, then what identifies it, then the rest."""
    v = dict(v)
    head = [v.pop('kind')]
    for key in ('id', 'tag', 'hid'):
        if key in v:
            head.append('%s=%s' % (key, v.pop(key)))
    rest = ' '.join('%s=%s' % (k, json.dumps(val) if not isinstance(val, str) else val.strip())
                    for k, val in v.items() if val not in (None, '', []))
    return (' '.join(head) + (' ' + rest if rest else '')).replace('\n', ' | ')
