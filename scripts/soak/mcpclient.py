"""A small MCP Streamable-HTTP client for `maas serve` (Python standard library only).

Every failure of the transport (connection refused or reset, a timeout, an answer stream
that ends without the answer) raises `ServerDown`: the outcome of the call is then
unknown. An answer with an error raises `RpcError` (JSON-RPC level) or `ToolError` (the
tool ran and refused); the outcome is then known: nothing was done.
"""
import http.client
import json
import socket
import time

PROTOCOL = '2025-06-18'
BUSY = -32029  # too many requests in flight for one agent: retried


class ServerDown(Exception):
    """No answer: the server is down, or stopped while answering."""


class HttpError(ServerDown):
    """An HTTP status other than 200: the server answered, but not with a JSON-RPC answer
    to the call (e.g. 503 when a token cannot be checked). `body` is its JSON, if any.
    A ServerDown to every caller that does not look closer."""

    def __init__(self, what, status, data):
        super().__init__('%sHTTP %d %r' % (what, status, data[:300]))
        self.status = status
        try:
            self.body = json.loads(data)
        except ValueError:
            self.body = None


class RpcError(Exception):
    def __init__(self, err):
        super().__init__(json.dumps(err)[:300])
        self.err = err


class ToolError(Exception):
    def __init__(self, body):
        super().__init__(json.dumps(body)[:300])
        self.body = body
        self.code = body.get('code') if isinstance(body, dict) else None


class Client:
    """One MCP session with one server, as one principal (an agent's token)."""

    def __init__(self, port, token, timeout=60.0):
        self.port, self.token, self.timeout = port, token, timeout
        self.conn = None
        self.session = None
        self.next_id = 0

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self.conn = None

    def _post(self, body):
        headers = {'Authorization': 'Bearer ' + self.token,
                   'Content-Type': 'application/json',
                   'Accept': 'application/json, text/event-stream'}
        if self.session:
            headers['mcp-session-id'] = self.session
            headers['mcp-protocol-version'] = PROTOCOL
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=self.timeout)
            self.conn.request('POST', '/mcp', body=json.dumps(body), headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        except (OSError, http.client.HTTPException, socket.timeout) as e:
            self.close()
            raise ServerDown(repr(e))

    def _initialize(self):
        self.session = None
        self.next_id += 1
        status, headers, data = self._post({
            'jsonrpc': '2.0', 'id': self.next_id, 'method': 'initialize',
            'params': {'protocolVersion': PROTOCOL, 'capabilities': {},
                       'clientInfo': {'name': 'maas-soak', 'version': '1'}}})
        if status != 200:
            self.close()  # the server may close a connection it refused a request on
            raise HttpError('initialize: ', status, data)
        self.session = headers.get('mcp-session-id')
        self._post({'jsonrpc': '2.0', 'method': 'notifications/initialized'})

    def rpc(self, method, params):
        if self.session is None:
            self._initialize()
        self.next_id += 1
        mid = self.next_id
        status, headers, data = self._post({'jsonrpc': '2.0', 'id': mid, 'method': method, 'params': params})
        if status == 404 and self.session:
            # the session is unknown to this server (it restarted): open a new one next time
            self.session = None
            raise ServerDown('session gone (HTTP 404)')
        if status != 200:
            self.close()
            raise HttpError('', status, data)
        text = data.decode('utf-8', 'replace')
        msg = None
        if headers.get('content-type', '').startswith('text/event-stream'):
            for line in text.split('\n'):
                if line.startswith('data: '):
                    try:
                        m = json.loads(line[6:])
                    except ValueError:
                        continue
                    if m.get('id') == mid:
                        msg = m
        else:
            msg = json.loads(text)
        if msg is None:
            raise ServerDown('the answer stream ended without an answer: %r' % text[:300])
        if 'error' in msg:
            raise RpcError(msg['error'])
        return msg['result']

    def tool(self, name, args):
        """Calls a tool; returns its structured content. Raises ToolError on an error answer."""
        while True:
            try:
                res = self.rpc('tools/call', {'name': name, 'arguments': args})
                break
            except RpcError as e:
                if e.err.get('code') != BUSY:
                    raise
                time.sleep(0.05)
        body = res.get('structuredContent')
        if body is None:
            try:
                body = json.loads(res['content'][0]['text'])
            except (KeyError, IndexError, TypeError, ValueError):
                body = res
        if res.get('isError'):
            raise ToolError(body)
        return body
