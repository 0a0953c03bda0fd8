// Owns pushing account JWTs to running nats-servers (full resolver) as the system user, on
// `$SYS.REQ.CLAIMS.UPDATE`: how the hub adds accounts and revokes agent credentials at runtime.
// The server applies whichever account JWT arrives last, even an older one, so pushes go out one
// at a time in call order and a JWT older than the last one pushed for its account is refused.
// Callers build each JWT from the full IdentityState, so every push carries every revocation.
import { connectNats, type NatsConnection } from './nats-connect.ts';
import { ConflictError, ForbiddenError, InvalidInputError, UnavailableError } from '../api/errors.ts';
import { raceAbort, SerialQueue } from '../kernel/async.ts';
import { decodeJwt } from '../identity/nats-identity.ts';

export const CLAIMS_UPDATE_SUBJECT = '$SYS.REQ.CLAIMS.UPDATE';

export interface AccountPusherOptions {
  readonly servers: string | readonly string[];
  /** `.creds` text of a system-account user. */
  readonly systemUserCreds: string;
  readonly name?: string;
  /** PEM of the CA that signs the servers' certificates; TLS is then required. */
  readonly ca?: string | undefined;
  /** How long one push waits for the server's answer. */
  readonly timeoutMs?: number;
}

export interface AccountPushResult {
  readonly account: string;
  readonly code: number;
  readonly message: string;
}

interface ClaimsUpdateReply {
  readonly data?: { readonly account?: string; readonly code?: number; readonly message?: string };
  readonly error?: { readonly account?: string; readonly code?: number; readonly description?: string };
}

export class NatsAccountPusher {
  private readonly nc: NatsConnection;
  private readonly timeoutMs: number;
  private readonly lastIssuedAt = new Map<string, number>();
  private readonly queue = new SerialQueue();

  private constructor(nc: NatsConnection, timeoutMs: number) {
    this.nc = nc;
    this.timeoutMs = timeoutMs;
  }

  static async connect(options: AccountPusherOptions, signal?: AbortSignal): Promise<NatsAccountPusher> {
    signal?.throwIfAborted();
    try {
      const nc = await connectNats({
        servers: options.servers,
        creds: options.systemUserCreds,
        name: options.name ?? 'causeway-account-push',
        ca: options.ca,
      });
      return new NatsAccountPusher(nc, options.timeoutMs ?? 5000);
    } catch (err) {
      throw new UnavailableError('cannot connect to NATS as the system user', { cause: err });
    }
  }

  /** Sends one account JWT after every earlier push has been answered. */
  push(accountJwt: string, signal?: AbortSignal): Promise<AccountPushResult> {
    return this.queue.run(() => this.pushNow(accountJwt, signal));
  }

  async close(): Promise<void> {
    await this.queue.drain();
    if (!this.nc.isClosed()) await this.nc.close();
  }

  private async pushNow(accountJwt: string, signal: AbortSignal | undefined): Promise<AccountPushResult> {
    signal?.throwIfAborted();
    let claims: { sub: string; iat: number };
    try {
      claims = decodeJwt(accountJwt);
    } catch (err) {
      throw new InvalidInputError([{ field: 'accountJwt', message: `not a valid signed JWT (${(err as Error).message})` }], { cause: err });
    }
    const last = this.lastIssuedAt.get(claims.sub);
    if (last !== undefined && claims.iat < last) {
      throw new ConflictError(
        `account JWT for ${claims.sub} was issued at ${claims.iat}, before the one already pushed (${last}); rebuild it from the current identity state`,
      );
    }
    const request = this.nc.request(CLAIMS_UPDATE_SUBJECT, accountJwt, { timeout: this.timeoutMs });
    const reply = await (signal === undefined ? request : raceAbort(request, signal)).catch((err: unknown) => {
      throw new UnavailableError(`no answer to the account update for ${claims.sub}`, { cause: err });
    });
    const body = reply.json<ClaimsUpdateReply>();
    if (body.error !== undefined) {
      throw new ForbiddenError(
        `nats-server refused the account update for ${claims.sub}: ${body.error.description ?? 'no reason given'} (code ${body.error.code ?? 'none'})`,
      );
    }
    this.lastIssuedAt.set(claims.sub, Math.max(last ?? 0, claims.iat));
    return { account: body.data?.account ?? claims.sub, code: body.data?.code ?? 200, message: body.data?.message ?? '' };
  }
}
