// One lint configuration for the whole tree: typescript-eslint's strictest type-aware rules,
// no import cycles, and the I/O libraries confined to their adapter files (STYLE.md).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX } from 'eslint-plugin-import-x';

// Only these files may import the libraries that do I/O against etcd, NATS, Kubernetes and clouds.
const adapterOnly = [
  { name: 'etcd3', message: 'Only controlplane/registry/etcd-store.ts talks to etcd.' },
  { name: '@nats-io/transport-node', message: 'Only the NATS adapter files import the NATS client.' },
  { name: '@kubernetes/client-node', message: 'Only the Kubernetes adapter imports the Kubernetes client.' },
  { name: '@aws-sdk/client-ec2', message: 'Only the AWS adapter imports the EC2 SDK.' },
  { name: '@google-cloud/compute', message: 'Only the GCP adapter imports the Compute SDK.' },
  { name: '@grpc/grpc-js', message: 'Only the GoBGP adapter speaks gRPC.' },
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.causeway/**', '.tools/**', 'bench-results/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-default-export': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      'no-restricted-imports': ['error', { paths: adapterOnly }],
      // `_name` marks what is destructured only to be left out.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // The adapters: each may import exactly the library it adapts.
    files: [
      'controlplane/registry/etcd-store.ts',
      '**/nats-*.ts',
      '**/kube-*.ts',
      'providers/aws/**',
      'providers/gcp/**',
      'providers/onprem/gobgp-*.ts',
      'test/**',
    ],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['bin/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { parserOptions: { projectService: false, project: null }, globals: { process: 'readonly' } },
  },
);
