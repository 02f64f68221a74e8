#!/usr/bin/env node
'use strict';
/**
 * The `alert-annotator` command. Runs the compiled CLI (dist/, from `npm run build`) when it
 * is there and not older than the sources; otherwise the TypeScript sources through tsx, so
 * a fresh clone works right after `npm ci`, with no build step.
 */
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const compiled = join(root, 'dist', 'src', 'cli.js');
const sources = join(root, 'src');

/** Newest modification time of the .ts files under `dir` (about a hundred stat calls). */
function newest(dir) {
  let max = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) max = Math.max(max, newest(p));
    else if (e.name.endsWith('.ts')) max = Math.max(max, statSync(p).mtimeMs);
  }
  return max;
}

function hasTsx() {
  try {
    require.resolve('tsx/cjs', { paths: [root] });
    return true;
  } catch {
    return false;
  }
}

function load() {
  const built = existsSync(compiled);
  if (built && (!existsSync(sources) || statSync(compiled).mtimeMs >= newest(sources))) return require(compiled);
  if (existsSync(sources) && hasTsx()) {
    require(require.resolve('tsx/cjs', { paths: [root] }));
    return require(join(sources, 'cli.ts'));
  }
  if (built) {
    process.stderr.write('alert-annotator: dist/ is older than src/ and tsx is not installed; running dist/ (npm run build updates it)\n');
    return require(compiled);
  }
  process.stderr.write('alert-annotator: neither dist/ (npm run build) nor tsx (npm ci installs it) is there\n');
  process.exit(1);
}

load().run(process.argv.slice(2));
