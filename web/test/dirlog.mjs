// A published log read from a directory (what `provchain publish` writes), as the verifier's log reader
// ({location, get(path, maxBytes)}) that verifyCode takes; the page reads the same files over HTTP.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export function dirReader(directory) {
  return {
    location: directory,
    async get(path, maxBytes) {
      let data;
      try {
        data = await readFile(join(directory, path));
      } catch (e) {
        if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return null;
        throw Object.assign(new Error(`could not read ${path}`), { fetchFailed: true });
      }
      if (data.length > maxBytes) throw new Error(`${path} is larger than ${maxBytes} bytes`);
      return new Uint8Array(data);
    },
  };
}
