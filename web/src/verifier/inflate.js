// Raw DEFLATE (RFC 1951) with a preset dictionary, as provchain._internal.bundle2._inflate: the stream must
// be valid, end in its final block, be followed by nothing (inflateRawStream: returns what follows), and inflate to at most `limit` bytes; any
// fault is a BundleFormatError. pako is a port of zlib's inflate, so a stream is accepted or refused
// exactly as Python's zlib does (a browser's DecompressionStream takes no dictionary).

import pakoInflate from 'pako/lib/inflate.js';
import { malformed } from './errors.js';

const { Inflate } = pakoInflate;

export function inflateRaw(data, dictionary, limit) {
  const { out, rest } = inflateRawStream(data, dictionary, limit);
  if (rest.length > 0) throw malformed('bytes follow the compressed body');
  return out;
}

// bundle2._inflate_stream: the inflated stream at the start of `data`, and the bytes after its end.
export function inflateRawStream(data, dictionary, limit) {
  const inflater = new Inflate({ raw: true, dictionary, chunkSize: 16384 });
  inflater.push(data, true);
  if (inflater.err) throw malformed('the compressed body is not a valid DEFLATE stream');
  const out = inflater.result instanceof Uint8Array ? inflater.result : new Uint8Array(0);
  if (out.length > limit) throw malformed(`the compressed body inflates to more than ${limit} bytes`);
  if (!inflater.ended) throw malformed('the compressed body is cut short');
  return { out, rest: data.subarray(data.length - inflater.strm.avail_in) };
}
