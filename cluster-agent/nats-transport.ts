// The agent's only NATS adapter (HubTransport over @nats-io/transport-node): connects with the
// cluster's .creds, with its own inbox prefix (`_INBOX_<cluster>`, the only inbox its credential
// may read), reconnecting forever; sends reports and sync requests as requests, heartbeats as
// publishes; receives import batches on `causeway.v1.cluster.<cluster>.imports` and its settings
// on `causeway.v1.cluster.<cluster>.settings` (or as the reply to a settings request) and its
// compiled policy on `causeway.v1.cluster.<cluster>.policy`; reports its workloads as requests. Everything
// received is validated like API input (messages.ts) before the agent sees it.
import { randomBytes } from 'node:crypto';
import { connectNats, type NatsConnection } from '../controlplane/bus/nats-connect.ts';
import { UnavailableError } from '../controlplane/api/errors.ts';
import {
  PROTOCOL_VERSION,
  clusterPolicyCodec,
  clusterSettingsCodec,
  policyRequestCodec,
  workloadsCodec,
  type PolicyRequest,
  type Workloads,
  heartbeatCodec,
  importBatchCodec,
  renewReplyCodec,
  renewRequestCodec,
  type RenewRequest,
  reportCodec,
  reportReplyCodec,
  settingsRequestCodec,
  syncRequestCodec,
  type ClusterSettings,
  type Heartbeat,
  type ImportBatch,
  type Report,
  type ReportReply,
  type SettingsRequest,
  type SyncRequest,
} from '../controlplane/api/messages.ts';
import { AgentSubjectKind, ClusterSubjectKind, agentInboxPrefix, agentSubject, clusterSubject } from '../controlplane/api/subjects.ts';
import { Backoff } from '../controlplane/kernel/backoff.ts';
import { aborted, raceAbort, sleep } from '../controlplane/kernel/async.ts';
import { ConnectionState, type HubTransport, type TransportEvents } from './ports.ts';
import { renewCredentials } from './credential-renewal.ts';

export interface NatsTransportOptions {
  readonly cluster: string;
  readonly servers: string | readonly string[];
  /** The `.creds` file's text. */
  readonly creds: string;
  /** PEM of the CA that signs the NATS servers' certificates (`causeway agent --ca`); TLS is then required. */
  readonly ca?: string | undefined;
  /**
   * Report (and renewal) request timeout; default REPORT_TIMEOUT_MS. The hub answers a report after
   * one etcd write, which its own deadline bounds at 4 s; waiting longer only waits on a hub that
   * died with the report (a queue group hands each report to one replica), and a retry is
   * answered as a replay by whichever replica gets it. It is also what a report in flight to a
   * replica that is SIGKILLed costs: at 5 s that alone broke the 5 s failover goal (e2e: 5.18 s).
   */
  readonly requestTimeoutMs?: number;
  /** How long a sync waits for its first reply (default 10 s) and then for each further chunk (default 500 ms). */
  readonly syncFirstReplyMs?: number;
  readonly syncStallMs?: number;
  /** Default 2 s plus up to 1 s of jitter, so that agents do not reconnect in lockstep. */
  readonly reconnectTimeWaitMs?: number;
  readonly reconnectJitterMs?: number;
  /** Default 1 s: the first dial after the connection is lost waits a random 0..this, so agents do not all dial at once. */
  readonly firstReconnectJitterMs?: number;
  readonly name?: string;
  /** Called for every message refused by validation (counted and logged by the caller). */
  readonly onRejected?: (subject: string, reason: string, message: string) => void;
  readonly onError?: (what: string, err: unknown) => void;
  /** Called with the new `.creds` text after each renewal (the agent writes it back to its file). */
  readonly onRenewed?: (creds: string, expiresAt: string) => void;
  /** Retry of a failed renewal: default 5 s doubling to 5 min. */
  readonly renewRetry?: { readonly baseMs: number; readonly maxMs: number };
}

export const REPORT_TIMEOUT_MS = 4000;

export { jwtTimes } from './credential-renewal.ts';

export class NatsHubTransport implements HubTransport {
  private readonly options: NatsTransportOptions;
  /** The current `.creds`: what each (re)connect presents, replaced by each renewal. */
  private creds: string;
  private nc: NatsConnection | undefined;
  private up = false;
  private closed = false;
  private readonly stopConnecting = new AbortController();
  private background: Promise<void> = Promise.resolve();
  private readonly session = randomBytes(8).toString('hex');
  /** Messages refused by validation, by reason. */
  readonly rejected = new Map<string, number>();

  constructor(options: NatsTransportOptions) {
    this.options = options;
    this.creds = options.creds;
  }

  /** The `.creds` text in use (renewals replace it). */
  currentCreds(): string {
    return this.creds;
  }

  start(events: TransportEvents, signal: AbortSignal): Promise<void> {
    signal.addEventListener(
      'abort',
      () => {
        this.stopConnecting.abort();
      },
      { once: true },
    );
    this.background = Promise.all([
      this.connectLoop(events).catch((err: unknown) => {
        this.options.onError?.('nats connection', err);
      }),
      this.renewLoop(this.stopConnecting.signal).catch((err: unknown) => {
        this.options.onError?.('credential renewal', err);
      }),
    ]).then(() => undefined);
    return Promise.resolve();
  }

  private async connectLoop(events: TransportEvents): Promise<void> {
    const signal = this.stopConnecting.signal;
    const backoff = new Backoff({ baseMs: 500, maxMs: 30_000 });
    while (!aborted(signal) && !this.closed) {
      let nc: NatsConnection;
      try {
        // Once connected, the client reconnects forever; a failed first connect is retried by
        // this loop instead, so that close() never waits on a client that cannot be stopped.
        nc = await connectNats({
          servers: this.options.servers,
          creds: () => this.creds,
          inboxPrefix: agentInboxPrefix(this.options.cluster),
          name: this.options.name ?? `causeway-agent-${this.options.cluster}`,
          timeoutMs: 5000,
          ca: this.options.ca,
          reconnectTimeWaitMs: this.options.reconnectTimeWaitMs ?? 2000,
          reconnectJitterMs: this.options.reconnectJitterMs ?? 1000,
          firstReconnectJitterMs: this.options.firstReconnectJitterMs ?? 1000,
        });
      } catch (err) {
        this.options.onError?.('connecting to NATS', err);
        await sleep(backoff.next(), signal);
        continue;
      }
      if (aborted(signal) || this.isClosed()) {
        await nc.close();
        return;
      }
      // Failures before this connection say nothing about the next one: it starts from the base delay.
      backoff.reset();
      this.nc = nc;
      this.watchStatus(nc, events);
      this.subscribe(nc, events);
      this.up = true;
      events.connection(ConnectionState.Connected);
      // Only a closed connection (permanent auth refusal, or close()) ends the client's own
      // reconnecting; then start over with a new connection unless we are closing.
      const why = await nc.closed();
      this.up = false;
      if (aborted(signal) || this.isClosed()) return;
      this.options.onError?.('NATS connection closed', why ?? new Error('closed'));
      events.connection(ConnectionState.Disconnected);
      await sleep(backoff.next(), signal);
    }
  }

  /** Asks the hub to sign the credential's JWT again before it expires (credential-renewal.ts). */
  private renewLoop(signal: AbortSignal): Promise<void> {
    return renewCredentials(
      {
        current: () => this.creds,
        connected: () => this.connected(),
        ask: async (publicKey, s) => {
          const request: RenewRequest = { v: PROTOCOL_VERSION, cluster: this.options.cluster, session: this.session, publicKey };
          const msg = await raceAbort(
            this.connection().request(agentSubject(this.options.cluster, AgentSubjectKind.Renew), renewRequestCodec.encode(request), {
              timeout: this.options.requestTimeoutMs ?? REPORT_TIMEOUT_MS,
            }),
            s,
          );
          const reply = renewReplyCodec.decode(msg.data);
          if (!reply.ok) throw new UnavailableError(`the hub answered a renewal with an unexpected reply: ${reply.message}`);
          return reply.value;
        },
        install: async (creds, expiresAt) => {
          this.creds = creds;
          this.options.onRenewed?.(creds, expiresAt);
          // Reconnect now, at a moment of our choosing, with the new JWT.
          await this.connection().reconnect();
        },
        onError: this.options.onError,
        retry: this.options.renewRetry,
      },
      signal,
    );
  }

  private watchStatus(nc: NatsConnection, events: TransportEvents): void {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.up = false;
          events.connection(ConnectionState.Disconnected);
        } else if (s.type === 'reconnect') {
          this.up = true;
          events.connection(ConnectionState.Reconnected);
        } else if (s.type === 'error') {
          this.options.onError?.('NATS', s.error);
        }
      }
    })().catch((err: unknown) => {
      this.options.onError?.('NATS status', err);
    });
  }

  private subscribe(nc: NatsConnection, events: TransportEvents): void {
    const subject = clusterSubject(this.options.cluster, ClusterSubjectKind.Imports);
    nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err !== null) {
          this.options.onError?.(`subscription ${subject}`, err);
          return;
        }
        const batch = this.decode(subject, msg.data);
        if (batch !== undefined) events.imports(batch);
      },
    });
    const policy = clusterSubject(this.options.cluster, ClusterSubjectKind.Policy);
    nc.subscribe(policy, {
      callback: (err, msg) => {
        if (err !== null) {
          this.options.onError?.(`subscription ${policy}`, err);
          return;
        }
        const decoded = clusterPolicyCodec.decode(msg.data, this.options.cluster);
        if (decoded.ok) events.policy?.(decoded.value);
        else this.reject(policy, decoded.reason, decoded.message);
      },
    });
    const settings = clusterSubject(this.options.cluster, ClusterSubjectKind.Settings);
    nc.subscribe(settings, {
      callback: (err, msg) => {
        if (err !== null) {
          this.options.onError?.(`subscription ${settings}`, err);
          return;
        }
        const decoded = clusterSettingsCodec.decode(msg.data, this.options.cluster);
        if (decoded.ok) events.settings?.(decoded.value);
        else this.reject(settings, decoded.reason, decoded.message);
      },
    });
  }

  private reject(subject: string, reason: string, message: string): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1);
    this.options.onRejected?.(subject, reason, message);
  }

  private decode(subject: string, data: Uint8Array): ImportBatch | undefined {
    const decoded = importBatchCodec.decode(data, this.options.cluster);
    if (decoded.ok) return decoded.value;
    this.reject(subject, decoded.reason, decoded.message);
    return undefined;
  }

  private isClosed(): boolean {
    return this.closed;
  }

  connected(): boolean {
    return this.up && this.nc !== undefined && !this.nc.isClosed();
  }

  private connection(): NatsConnection {
    const nc = this.nc;
    if (nc === undefined || !this.up || nc.isClosed()) throw new UnavailableError('not connected to NATS');
    return nc;
  }

  async report(report: Report, signal: AbortSignal): Promise<ReportReply> {
    const nc = this.connection();
    const msg = await raceAbort(
      nc.request(agentSubject(this.options.cluster, AgentSubjectKind.Report), reportCodec.encode(report), {
        timeout: this.options.requestTimeoutMs ?? REPORT_TIMEOUT_MS,
      }),
      signal,
    );
    const reply = reportReplyCodec.decode(msg.data);
    if (!reply.ok) throw new UnavailableError(`the hub answered a report with an unexpected reply: ${reply.message}`);
    return reply.value;
  }

  async workloads(workloads: Workloads, signal: AbortSignal): Promise<ReportReply> {
    const nc = this.connection();
    const msg = await raceAbort(
      nc.request(agentSubject(this.options.cluster, AgentSubjectKind.Workloads), workloadsCodec.encode(workloads), {
        timeout: this.options.requestTimeoutMs ?? REPORT_TIMEOUT_MS,
      }),
      signal,
    );
    const reply = reportReplyCodec.decode(msg.data);
    if (!reply.ok) throw new UnavailableError(`the hub answered a workloads report with an unexpected reply: ${reply.message}`);
    return reply.value;
  }

  requestPolicy(request: PolicyRequest): void {
    if (!this.connected()) return;
    this.nc?.publish(agentSubject(this.options.cluster, AgentSubjectKind.Policy), policyRequestCodec.encode(request));
  }

  heartbeat(heartbeat: Heartbeat): void {
    // While disconnected the client would buffer it; a stale heartbeat is worth nothing.
    if (!this.connected()) return;
    this.nc?.publish(agentSubject(this.options.cluster, AgentSubjectKind.Heartbeat), heartbeatCodec.encode(heartbeat));
  }

  async settings(request: SettingsRequest, signal: AbortSignal): Promise<ClusterSettings> {
    const nc = this.connection();
    const subject = agentSubject(this.options.cluster, AgentSubjectKind.Settings);
    const msg = await raceAbort(
      nc.request(subject, settingsRequestCodec.encode(request), { timeout: this.options.requestTimeoutMs ?? REPORT_TIMEOUT_MS }),
      signal,
    );
    const reply = clusterSettingsCodec.decode(msg.data, this.options.cluster);
    if (!reply.ok) {
      this.reject(`${subject} (reply)`, reply.reason, reply.message);
      throw new UnavailableError(`the hub answered a settings request with an unexpected reply: ${reply.message}`);
    }
    return reply.value;
  }

  async sync(request: SyncRequest, signal: AbortSignal): Promise<ImportBatch[]> {
    const nc = this.connection();
    const subject = agentSubject(this.options.cluster, AgentSubjectKind.Sync);
    // Several replies may come: the chunks of one batch. Stop at the last chunk, or after a
    // pause (the hub may publish the rest on the imports subject instead).
    const replies = await raceAbort(
      nc.requestMany(subject, syncRequestCodec.encode(request), {
        strategy: 'stall',
        maxWait: this.options.syncFirstReplyMs ?? 10_000,
        stall: this.options.syncStallMs ?? 500,
      }),
      signal,
    );
    const collect = async (): Promise<ImportBatch[]> => {
      const out: ImportBatch[] = [];
      const seen = new Set<number>();
      for await (const msg of replies) {
        if (aborted(signal)) break;
        const batch = this.decode(`${subject} (reply)`, msg.data);
        if (batch === undefined) continue;
        out.push(batch);
        const first = out[0];
        if (batch.chunk === undefined || first === undefined) break;
        if (batch.revision === first.revision && batch.kind === first.kind) seen.add(batch.chunk.index);
        if (seen.size >= batch.chunk.count) break;
      }
      return out;
    };
    // Waiting for a first reply can take `maxWait`; an abort (a newer sync replaces this one) ends it at once.
    return raceAbort(collect(), signal);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stopConnecting.abort();
    this.up = false;
    const nc = this.nc;
    if (nc !== undefined && !nc.isClosed()) await nc.close();
    await this.background;
  }
}
