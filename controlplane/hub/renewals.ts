// Agents' credential renewals (issue 12 §4: credentials carry an expiry, renewed before it passes).
// An agent asks on its own subject, which nats-server lets only that cluster's credential publish
// on; the hub signs a new JWT for the same user key when the current one is within the last third
// of its life, and answers with the JWT alone: the seed never travels again.
import { renewReplyCodec, renewRequestCodec, type RenewReply } from '../api/messages.ts';
import { parseAgentSubject } from '../api/subjects.ts';
import type { Bus, BusMessage } from '../bus/bus.ts';
import { RenewalRefused, type CredentialStore } from './credentials.ts';

export interface RenewalDeps {
  readonly bus: Bus;
  readonly credentials: CredentialStore;
  readonly clusterExists: (cluster: string) => boolean;
  readonly count: (kind: string, result: string) => void;
  readonly warn: (fields: Record<string, unknown>, message: string) => void;
}

export class CredentialRenewals {
  private readonly deps: RenewalDeps;

  constructor(deps: RenewalDeps) {
    this.deps = deps;
  }

  handle(msg: BusMessage): void {
    this.process(msg).catch((err: unknown) => {
      this.deps.count('renew', 'error');
      this.deps.warn({ err, subject: msg.subject }, 'credential renewal failed; the agent retries');
      this.reply(msg, { ok: false, reason: 'unavailable', message: 'the hub could not renew the credential now; retry' });
    });
  }

  private async process(msg: BusMessage): Promise<void> {
    const from = parseAgentSubject(msg.subject)?.cluster ?? '';
    const decoded = renewRequestCodec.decode(msg.data, from);
    if (!decoded.ok) {
      this.deps.count('renew', `rejected_${decoded.reason.replace('-', '_')}`);
      this.reply(msg, { ok: false, reason: decoded.reason, message: decoded.message });
      return;
    }
    const { cluster, publicKey } = decoded.value;
    if (!this.deps.clusterExists(cluster)) {
      this.deps.count('renew', 'rejected_unknown_cluster');
      this.reply(msg, { ok: false, reason: 'unknown-cluster', message: `cluster ${cluster} is not registered` });
      return;
    }
    try {
      const credential = await this.deps.credentials.renew(cluster, publicKey);
      const jwt = /-----BEGIN NATS USER JWT-----\s*(\S+)\s*------END NATS USER JWT------/.exec(credential.creds)?.[1];
      if (jwt === undefined || credential.expiresAt === undefined) throw new Error('the stored credential has no JWT or expiry');
      this.deps.count('renew', 'ok');
      this.reply(msg, { ok: true, jwt, expiresAt: credential.expiresAt });
    } catch (err) {
      if (!(err instanceof RenewalRefused)) throw err;
      this.deps.count('renew', `rejected_${err.reason.replace('-', '_')}`);
      this.deps.warn({ cluster, publicKey, reason: err.reason }, 'refused a credential renewal');
      this.reply(msg, { ok: false, reason: err.reason, message: err.message });
    }
  }

  private reply(msg: BusMessage, body: RenewReply): void {
    if (msg.reply !== undefined) this.deps.bus.publish(msg.reply, renewReplyCodec.encode(body));
  }
}
