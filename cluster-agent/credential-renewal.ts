// Renewing the agent's NATS credential before nats-server cuts it off: once two thirds of the
// JWT's life have passed, ask the hub to sign it again, check that the answer is a JWT for our own
// key with a later expiry, then hand it over (the transport reconnects with it). A refusal (the
// credential was rotated, or the cluster deleted) ends renewing: the agent is cut off at expiry and
// says why. Other failures are retried with backoff. The transport (nats-transport.ts) does the I/O.
import { UnavailableError } from '../controlplane/api/errors.ts';
import type { RenewReply } from '../controlplane/api/messages.ts';
import { aborted, sleep } from '../controlplane/kernel/async.ts';
import { Backoff } from '../controlplane/kernel/backoff.ts';

const JWT_BLOCK = /(-----BEGIN NATS USER JWT-----\s*)(\S+)(\s*------END NATS USER JWT------)/;
/** setTimeout's ceiling is ~24.8 days; longer waits are taken in steps. */
const MAX_SLEEP_MS = 86_400_000;

/** The claims renewal needs from the agent's own JWT (its holder need not verify it). */
export function jwtTimes(creds: string): { subject: string; issuedAt: number; expiresAt: number | undefined } | undefined {
  const jwt = JWT_BLOCK.exec(creds)?.[2];
  const payload = jwt?.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: unknown; iat?: unknown; exp?: unknown };
    if (typeof claims.sub !== 'string' || typeof claims.iat !== 'number') return undefined;
    return { subject: claims.sub, issuedAt: claims.iat, expiresAt: typeof claims.exp === 'number' ? claims.exp : undefined };
  } catch {
    return undefined;
  }
}

/** What renewing needs of the transport. */
export interface RenewalPort {
  /** The `.creds` text in use. */
  current(): string;
  connected(): boolean;
  /** Asks the hub to sign the JWT of `publicKey` again. */
  ask(publicKey: string, signal: AbortSignal): Promise<RenewReply>;
  /** Takes the renewed `.creds` into use (and reconnects with it). */
  install(creds: string, expiresAt: string): Promise<void>;
  readonly onError?: ((what: string, err: unknown) => void) | undefined;
  /** Retry of a failed renewal: default 5 s doubling to 5 min. */
  readonly retry?: { readonly baseMs: number; readonly maxMs: number } | undefined;
}

/** Renews until `signal` aborts, the credential has no expiry, or the hub refuses. */
export async function renewCredentials(port: RenewalPort, signal: AbortSignal): Promise<void> {
  const backoff = new Backoff(port.retry ?? { baseMs: 5000, maxMs: 300_000 });
  while (!aborted(signal)) {
    const times = jwtTimes(port.current());
    if (times?.expiresAt === undefined) return;
    const renewAtMs = (times.issuedAt + ((times.expiresAt - times.issuedAt) * 2) / 3) * 1000;
    const waitMs = renewAtMs - Date.now();
    if (waitMs > 0) {
      await sleep(Math.min(waitMs, MAX_SLEEP_MS), signal);
      continue;
    }
    let outcome: 'renewed' | 'refused' | 'failed';
    try {
      outcome = await renewOnce(port, times.subject, times.expiresAt, signal);
    } catch (err) {
      port.onError?.('credential renewal', err);
      outcome = 'failed';
    }
    if (outcome === 'refused') return;
    if (outcome === 'renewed') backoff.reset();
    else await sleep(backoff.next(), signal);
  }
}

async function renewOnce(port: RenewalPort, publicKey: string, oldExpiry: number, signal: AbortSignal): Promise<'renewed' | 'refused' | 'failed'> {
  if (!port.connected()) return 'failed';
  const reply = await port.ask(publicKey, signal);
  if (!reply.ok) {
    const refused = reply.reason === 'rotated' || reply.reason === 'unknown-cluster';
    port.onError?.(refused ? 'credential renewal refused' : 'credential renewal', new Error(reply.message));
    return refused ? 'refused' : 'failed';
  }
  const renewed = port.current().replace(JWT_BLOCK, `$1${reply.jwt}$3`);
  const times = jwtTimes(renewed);
  // Only a JWT for our own key, later than the one we hold: anything else is not a renewal.
  if (times?.subject !== publicKey || times.expiresAt === undefined || times.expiresAt <= oldExpiry) {
    if (times?.expiresAt !== undefined && times.expiresAt === oldExpiry) return 'failed';
    throw new UnavailableError('the hub answered a renewal with a JWT for another key or no later expiry');
  }
  await port.install(renewed, reply.expiresAt);
  return 'renewed';
}
