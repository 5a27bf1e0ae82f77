// COMPRESS (RFC 4978): turns on DEFLATE compression of the session's stream in the authenticated or selected state.
import type { Handler, Reply } from './session.ts';

export const compressHandlers: Record<string, Handler> = {
  async COMPRESS(s, tag, c) {
    const mechanism = c.atom().toUpperCase();
    c.end();
    if (s.state !== 'auth' && s.state !== 'selected') return { status: 'BAD', text: 'Log in first' };
    if (s.ctx.opts.compress === false) return { status: 'BAD', text: 'COMPRESS is not offered' };
    // RFC 4978 §3: an unknown mechanism is BAD; compression already on is NO [COMPRESSIONACTIVE]
    if (mechanism !== 'DEFLATE') return { status: 'BAD', text: `Unknown compression mechanism ${mechanism}` };
    if (s.compressed) return { status: 'NO', text: '[COMPRESSIONACTIVE] DEFLATE active via COMPRESS' } satisfies Reply;
    // RFC 4978 §3: the tagged OK goes out uncompressed; everything after its CRLF is compressed, both ways
    s.send(`${tag} OK DEFLATE active\r\n`);
    s.startCompress();
    return { status: 'NONE' };
  },
};
