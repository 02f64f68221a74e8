import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';
import { PEM_LABEL } from './rules';
import { createScrubber } from './scrubber';

const PEM_BEGIN = new RegExp(`-----BEGIN ${PEM_LABEL}-----`);
const PEM_END = new RegExp(`-----END ${PEM_LABEL}-----`);

/**
 * `alert-annotator scrub`: input to output through one scrubber session, line by line, so
 * placeholders stay consistent across the whole run. A private key block spans lines:
 * its body lines are dropped into the placeholder of the line that opened it.
 * Resolves when the input ends and the output has taken every line.
 */
export async function scrubStream(input: Readable, output: Writable): Promise<void> {
  const scrubber = createScrubber();
  const lines = createInterface({ input, crlfDelay: Infinity });
  let inKey = false;
  for await (const line of lines) {
    let out: string;
    if (inKey) {
      const end = PEM_END.exec(line);
      if (!end) continue;
      inKey = false;
      const rest = line.slice(end.index + end[0].length);
      if (rest.trim() === '') continue;
      out = scrubber.scrub(rest);
    } else {
      out = scrubber.scrub(line);
      // An opened block without its end on this line: the scrubber masked to the end of the
      // line; swallow the following lines up to the END marker.
      const begin = PEM_BEGIN.exec(line);
      if (begin && !PEM_END.test(line.slice(begin.index))) inKey = true;
    }
    if (!output.write(`${out}\n`)) await once(output, 'drain');
  }
}
