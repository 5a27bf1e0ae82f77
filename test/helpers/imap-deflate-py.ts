// Tests: a python3 prelude for raw IMAP sessions that turn on COMPRESS=DEFLATE (RFC 4978), where imaplib cannot:
// class Z speaks plain until z.compress_on(), then raw deflate both ways with a sync flush after every command.
export const DEFLATE_PY = String.raw`
import re, socket, sys, zlib

class Z:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=20)
        self.buf = b''
        self.zin = None
        self.zout = None
        self.until(lambda b: b'\r\n' in b)
        self.buf = b''

    def feed(self, data):
        self.buf += self.zin.decompress(data) if self.zin else data

    def until(self, done):
        while not done(self.buf):
            data = self.s.recv(65536)
            if not data:
                raise EOFError('closed; got %r' % self.buf[-300:])
            self.feed(data)
        return self.buf

    def write(self, data):
        if self.zout:
            data = self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(data)
        return len(data)

    def cmd(self, tag, line):
        return self.send(tag, tag + b' ' + line + b'\r\n')

    def send(self, tag, data):
        self.write(data)
        pat = re.compile(rb'(^|\r\n)' + re.escape(tag) + rb' (OK|NO|BAD)[^\r]*\r\n')
        self.until(lambda b: pat.search(b) is not None)
        m = pat.search(self.buf)
        out, self.buf = self.buf[:m.end()], self.buf[m.end():]
        return out

    def compress_on(self, tag=b'Z'):
        self.write(tag + b' COMPRESS DEFLATE\r\n')
        self.until(lambda b: b'\r\n' in b)
        line, rest = self.buf.split(b'\r\n', 1)
        assert line.startswith(tag + b' OK'), line
        # RFC 4978 §3: compression starts right after the CRLF of the tagged OK, both ways
        self.zin = zlib.decompressobj(-15)
        self.zout = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.buf = b''
        self.feed(rest)

def expect(cond, what):
    if not cond:
        raise SystemExit('failed: %r' % (what,))
`;

/** A python3 script for a raw session logged in as alice with COMPRESS on, then `body` (which has `z`). */
export const compressedAlice = (body: string): string =>
  DEFLATE_PY + "\nz = Z(int(sys.argv[1]))\nz.cmd(b'a', b'LOGIN alice@example.org wonderland')\nz.compress_on()\n" + body;
