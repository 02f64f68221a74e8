/**
 * Architecture rules, checked by `npm run lint:deps` (part of `npm test`).
 *
 * The pipeline's stages live in their own folders under src/. A stage may import the
 * contracts (src/model), the clients (src/clients) and the small shared utilities at the
 * top of src/, never another stage. Only the composition roots (pipeline, worker, wiring,
 * main, cli, demo) know the stages. See docs/architecture.md.
 */
const STAGES = ['receive', 'queue', 'dedup', 'gather', 'analyze', 'scrub', 'narrate', 'publish', 'route', 'events'];
const stageRe = `^src/(${STAGES.join('|')})/`;

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Import cycles make load order and responsibilities unclear.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'stage-to-stage',
      severity: 'error',
      comment: 'A stage imports only src/model, src/clients and shared utilities; put shared shapes in src/model.',
      from: { path: '^src/([^/]+)/', pathNot: '^src/(model|clients)/' },
      to: { path: stageRe, pathNot: '^src/$1/' },
    },
    {
      name: 'stage-to-composition-root',
      severity: 'error',
      comment: 'Only the composition roots know the stages; a stage must not import them.',
      from: { path: '^src/[^/]+/' },
      to: { path: '^src/(pipeline|worker|wiring|main|cli|demo)\\.ts$' },
    },
    {
      name: 'model-is-a-leaf',
      severity: 'error',
      comment: 'Contracts depend on nothing but other contracts and small utilities.',
      from: { path: '^src/model/' },
      to: { path: '^src/', pathNot: ['^src/model/', '^src/(text|spans)\\.ts$'] },
    },
    {
      name: 'src-not-from-tests',
      severity: 'error',
      comment: 'Production code never imports test code.',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    exclude: { path: '^(dist|node_modules)/' },
  },
};
