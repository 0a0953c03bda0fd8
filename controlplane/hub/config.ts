// The hub's configuration: command-line options plus an optional YAML config file holding API
// tokens (hashed) and their scopes, and how to reach the providers (endpoints, default region). Validated once at start; the result is immutable.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { InvalidInputError } from '../api/errors.ts';
import { labelSelectorSchema, nameSchema } from '../api/resources.ts';
import { formatPath, parseYamlDocuments } from '../api/validate.ts';
import { hashToken, newToken, type TokenEntry } from './auth.ts';

const tokenSchema = z
  .strictObject({
    name: nameSchema,
    role: z.enum(['admin', 'team']),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'expected the hex SHA-256 of the token (see `causeway token create`)'),
    namespaces: z.array(nameSchema).optional(),
    clusterSelector: labelSelectorSchema.optional(),
  })
  .superRefine((t, ctx) => {
    if (t.role === 'admin' && (t.namespaces !== undefined || t.clusterSelector !== undefined)) {
      ctx.addIssue({ code: 'custom', message: 'admin tokens are not scoped; drop namespaces and clusterSelector' });
    }
  });

const endpointSchema = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as https://ec2.us-east-1.amazonaws.com' });

const hostPortSchema = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/, 'expected host:port such as 127.0.0.1:50051');

const providersSchema = z.strictObject({
  /** AWS: credentials come from the SDK's default chain (env, profile, web identity), never from here. */
  aws: z
    .strictObject({
      /** EC2 endpoint for every region (a VPC endpoint, a proxy, or the EC2 test double). */
      endpoint: endpointSchema.optional(),
      /** The region of Networks that name none. */
      region: z
        .string()
        .regex(/^[a-z]{2}(-[a-z]+)+-[0-9]+$/, 'expected an AWS region such as us-east-1')
        .optional(),
    })
    .optional(),
  /**
   * GCP: credentials from Google's default chain (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
   * application-default login, workload identity, the metadata server), or a key file named here.
   */
  gcp: z
    .strictObject({
      /** Compute API endpoint (a Private Service Connect endpoint, a proxy, or the Compute test double). */
      endpoint: endpointSchema.optional(),
      /** A service-account key file, instead of the default chain. */
      credentialsFile: z.string().min(1).optional(),
    })
    .optional(),
  /** On-prem: the GoBGP daemon (gobgpd's gRPC API) that speaks BGP to each site's fabric routers. */
  onprem: z
    .strictObject({
      /** gobgpd's API address for every site that names none, as host:port; default 127.0.0.1:50051. */
      gobgp: hostPortSchema.optional(),
      /** Per site (a Network's spec.onprem.site): its own gobgpd. */
      sites: z.record(z.string().min(1), z.strictObject({ gobgp: hostPortSchema })).optional(),
    })
    .optional(),
});

const configSchema = z.strictObject({
  tokens: z.array(tokenSchema).optional(),
  providers: providersSchema.optional(),
});

/** How the hub reaches the providers its Networks name. */
export interface ProvidersConfig {
  readonly aws?: { readonly endpoint?: string | undefined; readonly region?: string | undefined } | undefined;
  readonly gcp?: { readonly endpoint?: string | undefined; readonly credentialsFile?: string | undefined } | undefined;
  readonly onprem?:
    | {
        readonly gobgp?: string | undefined;
        readonly sites?: Readonly<Record<string, { readonly gobgp: string }>> | undefined;
      }
    | undefined;
}

export interface HubConfig {
  readonly tokens: readonly TokenEntry[];
  readonly providers: ProvidersConfig;
}

export function loadHubConfig(file: string | undefined): HubConfig {
  if (file === undefined) return { tokens: [], providers: {} };
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError([{ file, field: '', message: `cannot read the hub config: ${(err as Error).message}` }]);
  }
  const docs = parseYamlDocuments(text, file);
  if (!docs.ok) throw new InvalidInputError(docs.problems);
  const parsed = configSchema.safeParse(docs.value[0]?.object ?? {});
  if (!parsed.success) {
    throw new InvalidInputError(
      parsed.error.issues.map((i) => ({ file, field: formatPath(i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))), message: i.message })),
    );
  }
  const tokens = (parsed.data.tokens ?? []).map((t) => ({
    name: t.name,
    role: t.role,
    sha256: t.sha256,
    namespaces: t.namespaces ?? [],
    clusterSelector: t.clusterSelector,
  }));
  const names = new Set<string>();
  for (const [i, t] of tokens.entries()) {
    if (names.has(t.name)) throw new InvalidInputError([{ file, field: `tokens[${i}].name`, message: `token name "${t.name}" is used twice` }]);
    names.add(t.name);
  }
  return { tokens, providers: parsed.data.providers ?? {} };
}

export const ADMIN_TOKEN_FILE = 'admin.token';
/** `<data-dir>/hub.url`: the URL the hub serves, written at start for the CLI on the same machine. */
export const HUB_URL_FILE = 'hub.url';

/** Where the hub serves and keeps its data unless told otherwise (the CLI's defaults too). */
export const DEFAULT_LISTEN = '127.0.0.1:7080';
export const DEFAULT_DATA_DIR = '.causeway';

/**
 * The admin token in `<dataDir>/admin.token` (0600), created on first start as k3s writes its
 * kubeconfig; the hub keeps only its hash in memory.
 */
export function ensureAdminToken(dataDir: string): { file: string; entry: TokenEntry } {
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  if (!existsSync(file)) writeFileSync(file, `${newToken()}\n`, { mode: 0o600, flag: 'wx' });
  const token = readFileSync(file, 'utf8').trim();
  return { file, entry: { name: 'admin', role: 'admin', namespaces: [], sha256: hashToken(token) } };
}
