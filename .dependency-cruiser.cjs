// Layer rules from docs/architecture.md. Imports flow one way:
// cli/ui -> agent -> edges -> policy -> labels/identity/api/validation -> util.
const PURE = '^src/(util|api|validation|labels|identity|policy)/';
const EDGES = '^src/(datapath|proxy|dns|runtime|apiserver|observer|kube)/';

module.exports = {
  forbidden: [
    {
      name: 'pure-core-no-node',
      comment: 'The pure core runs in a browser too: no node:* builtins, no I/O.',
      severity: 'error',
      from: { path: PURE, pathNot: '\\.test\\.ts$' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'pure-core-no-npm-io',
      comment: 'The pure core may use only pure npm packages.',
      severity: 'error',
      from: { path: PURE, pathNot: '\\.test\\.ts$' },
      to: { dependencyTypes: ['npm', 'npm-dev'], pathNot: 'node_modules/(yaml|re2js)/' },
    },
    {
      name: 'pure-core-no-edges',
      severity: 'error',
      from: { path: PURE },
      to: { path: `${EDGES}|^src/(agent|cli|ui)/` },
    },
    { name: 'util-is-a-leaf', severity: 'error', from: { path: '^src/util/' }, to: { path: '^src/(?!util/)' } },
    { name: 'api-imports-util', severity: 'error', from: { path: '^src/api/' }, to: { path: '^src/(?!(api|util)/)' } },
    {
      name: 'validation-imports-api-util-labels',
      severity: 'error',
      from: { path: '^src/validation/' },
      to: { path: '^src/(?!(validation|api|util|labels)/)' },
    },
    { name: 'labels-imports-util', severity: 'error', from: { path: '^src/labels/' }, to: { path: '^src/(?!(labels|util)/)' } },
    {
      name: 'identity-imports-labels-util',
      severity: 'error',
      from: { path: '^src/identity/' },
      to: { path: '^src/(?!(identity|labels|util)/)' },
    },
    {
      name: 'edges-not-upward',
      comment: 'Edges never import the composition root or the CLI (their end-to-end test fixtures may).',
      severity: 'error',
      from: { path: EDGES, pathNot: '(\\.test\\.ts$|/e2e/)' },
      to: { path: '^src/(agent|cli|ui)/' },
    },
    { name: 'agent-not-cli', severity: 'error', from: { path: '^src/agent/' }, to: { path: '^src/(cli|ui)/' } },
    {
      name: 'testing-only-in-tests',
      severity: 'error',
      from: { path: '^src/', pathNot: '(\\.test\\.ts$|^src/testing/)' },
      to: { path: '^src/testing/' },
    },
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
