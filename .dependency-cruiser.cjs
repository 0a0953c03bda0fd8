// Boundaries by directory (docs/adr/0006-boundaries-by-directory.md; README, "Layout"):
//
//   contract (controlplane/api) ← kernel (controlplane/kernel) ← pure core (services, ipam, policy,
//   providers/model) ← adapters (registry, bus, identity, embedded, providers/{aws,gcp,onprem}) ←
//   controllers and composition roots (controlplane/hub, controlplane/cli, cluster-agent, bench, bin)
//
// A layer imports only the layers to its left. `npm run lint:boundaries` checks it; every rule is
// an error. The one accepted exception is listed in EXCEPTIONS below, named and scoped to one file
// and one target, so that the rules stay strict for everything else.

/** Libraries without I/O that the contract, the kernel and the pure core may use. */
const PURE_LIBRARIES = ['zod', 'yaml', 'cidr-tools', 'ip-bigint'];

/**
 * Node modules that reach the disk, the network, other processes or the host; and crypto, since a
 * planner takes its random choices and IDs as arguments.
 */
const NODE_IO = [
  'crypto',
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'http2',
  'tls',
  'dgram',
  'dns',
  'dns/promises',
  'child_process',
  'cluster',
  'worker_threads',
  'os',
  'readline',
  'inspector',
  'v8',
  'vm',
];

const API = '^controlplane/api/';
const KERNEL = '^controlplane/kernel/';
const CORE = '^(controlplane/(services|ipam|policy)|providers/model)/';
const ADAPTERS = '^(controlplane/(registry|bus|identity|embedded)|providers/(aws|gcp|onprem))/';
const ROOTS = '^(controlplane/(hub|cli)|cluster-agent|bench|bin)/';
/** The planners that live beside their controllers (agent and hub): pure like the core. */
const PLANNERS = '^(cluster-agent/planners/|controlplane/hub/controllers/[^/]+-plan\\.ts$|controlplane/hub/(ingest-plan|report-checks)\\.ts$)';
/** Pure agent modules its planners build on: Kubernetes object shapes, import and export rules. */
const AGENT_PURE = '^cluster-agent/(objects|imports|exports)\\.ts$';
const PRODUCT = '^(controlplane|cluster-agent|providers|bin)/';

const npm = (names) => `(^|/)node_modules/(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})/`;
const nodeIo = `^(node:)?(${NODE_IO.join('|')})$`;

// Known violations that work in flight removes (issue 8), each named and scoped to one file and one
// target: `withExceptions` lets exactly that dependency through that rule. Delete the entry once
// its fix lands, and depcruise fails on any regression.
const EXCEPTIONS = {
  // isIP/isIPv4 from node:net are pure functions (no socket is opened) and the only strict address
  // syntax check at hand: cidr-tools reads 10.256.0.0 as 11.0.0.0 (docs/adr/0002), and ip-bigint's
  // parseIp accepts "1.2.3", "1.2.3.4.5", "gggg::1" and " ::1" (checked on 9.0.8). Kept on purpose.
  apiCidrUsesNodeNet: { rule: 'api-no-node-io', from: '^controlplane/api/cidr\\.ts$', to: '^(node:)?net$' },
  // createHash from node:crypto is a pure function (no I/O). The import digest must resist
  // collisions: exporters choose the content, and a collision would let a consumer keep a stale
  // import. Kept on purpose, like the one above.
  apiDigestUsesNodeCrypto: { rule: 'api-no-node-io', from: '^controlplane/api/import-digest\\.ts$', to: '^(node:)?crypto$' },
};

/** The rule, minus its named exceptions, plus one narrower rule per exception. */
function withExceptions(rule) {
  const mine = Object.values(EXCEPTIONS).filter((e) => e.rule === rule.name);
  if (mine.length === 0) return [rule];
  const list = (v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const main = { ...rule, from: { ...rule.from, pathNot: [...list(rule.from.pathNot), ...mine.map((e) => e.from)] } };
  const narrowed = mine.map((e) => ({ ...rule, from: { ...rule.from, path: e.from }, to: { ...rule.to, pathNot: [...list(rule.to.pathNot), e.to] } }));
  return [main, ...narrowed];
}

const rules = [
  ...pureLayer('api-imports-only-itself', API, [API, npm(PURE_LIBRARIES)], 'The contract imports only itself and pure libraries.'),
  ...pureLayer('kernel-imports-only-api', KERNEL, [API, KERNEL], 'The controller kernel knows the contract and nothing else: no store, no bus, no library.'),
  ...pureLayer(
    'core-imports-only-api-kernel-core',
    CORE,
    [API, KERNEL, CORE, npm(PURE_LIBRARIES)],
    'Planners are pure: they import the contract, the kernel, the pure core and pure libraries; I/O reaches them through arguments.',
  ),
  ...pureLayer(
    'planners-import-only-pure',
    PLANNERS,
    [API, KERNEL, CORE, PLANNERS, AGENT_PURE, npm(PURE_LIBRARIES), '^controlplane/registry/store\\.ts$'],
    'Planners beside their controllers are pure as the core is (the Store port may be named for the operations they return).',
  ),
  {
    name: 'adapters-not-up',
    comment: 'Adapters translate a library to the contract; they never reach into controllers or composition roots.',
    severity: 'error',
    from: { path: ADAPTERS },
    to: { path: ROOTS },
  },
  {
    name: 'product-not-test',
    comment: 'Nothing the product runs imports test code: doubles and harnesses stay out of its import graph.',
    severity: 'error',
    from: { path: PRODUCT },
    to: { path: '^test/' },
  },
  {
    name: 'no-folder-cycles',
    comment: 'A cycle between folders is a cycle between packages, which a per-file rule cannot see.',
    severity: 'error',
    scope: 'folder',
    from: {},
    to: { circular: true },
  },
  {
    name: 'no-module-cycles',
    severity: 'error',
    from: {},
    to: { circular: true },
  },
  // ---- each I/O library in its adapter only --------------------------------------------------
  io('etcd3', '(^|/)node_modules/etcd3/', '^controlplane/registry/etcd-store\\.ts$'),
  io('nats-client', '(^|/)node_modules/@nats-io/transport-node/', '^controlplane/bus/nats-connect\\.ts$'),
  io('nats-jetstream', '(^|/)node_modules/@nats-io/(jetstream|kv|obj)/', '^(controlplane/bus/nats-[^/]+|cluster-agent/nats-[^/]+)\\.ts$'),
  io('nats-jwt', '(^|/)node_modules/@nats-io/(jwt|nkeys)/', '^controlplane/identity/'),
  io('x509', '(^|/)node_modules/(@peculiar/x509|reflect-metadata)/', '^controlplane/identity/pki\\.ts$'),
  io('kubernetes', '(^|/)node_modules/@kubernetes/client-node/', '^cluster-agent/kube-[^/]+\\.ts$'),
  io('fastify', '(^|/)node_modules/(fastify|fastify-[^/]+|@fastify/[^/]+)/', '^controlplane/hub/http/'),
  io('aws', '(^|/)node_modules/@aws-sdk/', '^providers/aws/ec2-sdk\\.ts$'),
  io('gcp', '(^|/)node_modules/@google-cloud/', '^providers/gcp/compute-sdk\\.ts$'),
  io('gcp-auth', '(^|/)node_modules/(google-auth-library|google-gax)/', '^providers/gcp/compute-sdk\\.ts$'),
  io('grpc', '(^|/)node_modules/@grpc/', '^providers/onprem/'),
  io('dns-wire', '(^|/)node_modules/(dns-packet|@leichtgewicht/ip-codec)/', '^cluster-agent/dns-server\\.ts$'),
];

module.exports = {
  forbidden: rules.flatMap(withExceptions),
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    combinedDependencies: false,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};

/**
 * A layer without I/O: modules under `path` import only what `allowed` matches (node's modules
 * aside), and of node's modules none that does I/O (rule `<layer>-no-node-io`).
 */
function pureLayer(name, path, allowed, comment) {
  const layer = name.split('-')[0];
  return [
    { name, comment, severity: 'error', from: { path }, to: { pathNot: allowed, dependencyTypesNot: ['core'] } },
    { name: `${layer}-no-node-io`, comment: 'No I/O in this layer.', severity: 'error', from: { path }, to: { dependencyTypes: ['core'], path: nodeIo } },
  ];
}

/** `library` (a resolved-path pattern) may be imported only by `owner` (and by tests). */
function io(name, library, owner) {
  return {
    name: `io-${name}-only-in-its-adapter`,
    comment: `I/O libraries are imported by their adapter only (${owner}).`,
    severity: 'error',
    from: { pathNot: [owner, '^test/'] },
    to: { path: library },
  };
}
