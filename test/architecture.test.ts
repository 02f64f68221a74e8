import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const root = resolve(__dirname, '..');
const config = join(root, '.dependency-cruiser.cjs');
const depcruise = join(root, 'node_modules', '.bin', 'depcruise');

/** Runs the project's boundary check on a tree; returns its exit status and what it printed. */
function cruise(cwd: string): { status: number; out: string } {
  try {
    const out = execFileSync(depcruise, ['src', '--config', config, '--output-type', 'err'], { cwd, encoding: 'utf8', stdio: 'pipe' });
    return { status: 0, out };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { status: err.status, out: err.stdout + err.stderr };
  }
}

/** A throwaway tree with the given files and a tsconfig, as the checker sees the real one. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'arch-'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'commonjs', strict: true }, include: ['src'] }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

describe('stage boundaries (dependency-cruiser)', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('the repository itself has no stage-to-stage import and no cycle', () => {
    const result = cruise(root);
    expect(result.out).not.toMatch(/error/);
    expect(result.status).toBe(0);
  });

  it('fails on a stage importing another stage', () => {
    const dir = tree({
      'src/model/alert.ts': 'export interface Alert { fingerprint: string }\n',
      'src/analyze/rank.ts': "import type { Alert } from '../model/alert';\nexport const rank = (a: Alert) => a.fingerprint;\n",
      'src/gather/loki.ts': "import { rank } from '../analyze/rank';\nexport const x = rank({ fingerprint: 'f' });\n",
    });
    dirs.push(dir);
    const result = cruise(dir);
    expect(result.status).not.toBe(0);
    expect(result.out).toContain('stage-to-stage');
    expect(result.out).toContain('src/gather/loki.ts');
  });

  it('fails on an import cycle inside one stage', () => {
    const dir = tree({
      'src/receive/a.ts': "import { b } from './b';\nexport const a = () => b;\n",
      'src/receive/b.ts': "import { a } from './a';\nexport const b = () => a;\n",
    });
    dirs.push(dir);
    const result = cruise(dir);
    expect(result.status).not.toBe(0);
    expect(result.out).toContain('no-cycles');
  });

  it('fails when a stage reaches into the composition root', () => {
    const dir = tree({
      'src/pipeline.ts': 'export const annotate = () => 1;\n',
      'src/queue/worker.ts': "import { annotate } from '../pipeline';\nexport const w = annotate;\n",
    });
    dirs.push(dir);
    const result = cruise(dir);
    expect(result.status).not.toBe(0);
    expect(result.out).toContain('stage-to-composition-root');
  });
});
