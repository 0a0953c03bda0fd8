// The kinds of the causeway.dev/v1alpha1 API and the names users may call them by
// (plural, singular, short name), as kubectl accepts them.

export const API_GROUP = 'causeway.dev';
export const API_VERSION = 'causeway.dev/v1alpha1';

export const Kind = {
  Cluster: 'Cluster',
  Network: 'Network',
  IPPool: 'IPPool',
  ExternalService: 'ExternalService',
  GlobalPolicy: 'GlobalPolicy',
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export interface KindInfo {
  readonly kind: Kind;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  /** Namespaced kinds belong to a team's namespace; the others are platform-wide. */
  readonly namespaced: boolean;
}

export const KINDS: Readonly<Record<Kind, KindInfo>> = {
  Cluster: { kind: 'Cluster', plural: 'clusters', singular: 'cluster', shortNames: ['cl'], namespaced: false },
  Network: { kind: 'Network', plural: 'networks', singular: 'network', shortNames: ['net'], namespaced: false },
  IPPool: { kind: 'IPPool', plural: 'ippools', singular: 'ippool', shortNames: ['pool', 'pools'], namespaced: false },
  ExternalService: {
    kind: 'ExternalService',
    plural: 'externalservices',
    singular: 'externalservice',
    shortNames: ['es', 'extsvc'],
    namespaced: true,
  },
  GlobalPolicy: {
    kind: 'GlobalPolicy',
    plural: 'globalpolicies',
    singular: 'globalpolicy',
    shortNames: ['gp', 'policy', 'policies'],
    namespaced: true,
  },
};

export const ALL_KINDS: readonly Kind[] = Object.values(Kind);

/** Resolves what a user typed (`clusters`, `Cluster`, `cl`) to a kind; undefined when unknown. */
export function resolveKind(word: string): KindInfo | undefined {
  const w = word.toLowerCase();
  return ALL_KINDS.map((k) => KINDS[k]).find(
    (info) => info.kind.toLowerCase() === w || info.plural === w || info.singular === w || info.shortNames.includes(w),
  );
}

export function isKind(value: unknown): value is Kind {
  return typeof value === 'string' && (ALL_KINDS as readonly string[]).includes(value);
}

export const DEFAULT_NAMESPACE = 'default';

/** The source-cluster name given to ExternalService endpoints; no Cluster may take it. */
export const RESERVED_CLUSTER_NAME = 'external';
