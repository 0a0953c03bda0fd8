// The write workload: `causeway apply -f FILE` of the same 1,000 ExternalServices again and again,
// each apply stamping every object with the next generation (a label), sent round-robin to the
// hubs as a load balancer would. An apply is acknowledged when the CLI exits 0 and names the
// revision it wrote.
//
// Checked all along: every second the registry is read through a hub's API (one etcd revision);
// every read must hold all 1,000 objects at one generation (nothing half-done) and no older than
// the last apply acknowledged before the read began (nothing lost). Checked after each fault:
// `causeway history` holds every acknowledged revision with all 1,000 objects at its generation,
// and no record that wrote only part of the set.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KINDS, type HubClient } from '../../controlplane/cli/client.ts';
import type { HistoryEntry } from '../../controlplane/registry/registry.ts';
import { causeway } from '../harness/cli.ts';
import type { FrontProxy } from './front-proxy.ts';

export const APPLY_OBJECTS = 1000;
export const APPLY_NAMESPACE = 'chaos';
export const GENERATION_LABEL = 'chaos.causeway.dev/generation';
/** Between two applies: the workload is steady, not a flood (every apply adds a history record of ~1,000 objects). */
const GAP_MS = 1500;

export interface ApplyRecord {
  readonly generation: number;
  readonly hub: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly code: number | null;
  /** The revision the CLI printed: the apply is acknowledged. */
  readonly revision: number | undefined;
  readonly error: string;
}

/** 1,000 ExternalServices at `generation`, as one multi-document YAML file. */
export function applyDocuments(generation: number): string {
  const docs: string[] = [];
  for (let i = 0; i < APPLY_OBJECTS; i++) {
    const n = i + 1;
    docs.push(
      [
        'apiVersion: causeway.dev/v1alpha1',
        'kind: ExternalService',
        'metadata:',
        `  name: chaos-${String(i).padStart(4, '0')}`,
        `  namespace: ${APPLY_NAMESPACE}`,
        `  labels: {${GENERATION_LABEL}: "${generation}"}`,
        'spec:',
        '  network: onprem-fra',
        '  ports: [{name: http, port: 8080, protocol: TCP}]',
        `  endpoints: [{address: 10.34.${Math.floor(n / 250)}.${(n % 250) + 1}}]`,
        // Imported nowhere: the workload is the registry's, not the agents'.
        '  exportTo: {clusterSelector: {matchLabels: {chaos.causeway.dev/importer: "none"}}}',
      ].join('\n'),
    );
  }
  return `${docs.join('\n---\n')}\n`;
}

export interface ApplyTarget {
  readonly name: string;
  readonly front: FrontProxy;
}

export interface InFlight {
  readonly since: number;
  readonly hub: string;
  readonly front: FrontProxy;
}

export class ApplyLoop {
  readonly records: ApplyRecord[] = [];
  private readonly hubs: () => readonly ApplyTarget[];
  private readonly token: string;
  private readonly dir: string;
  private generation = 0;
  private running = false;
  private loop: Promise<void> | undefined;
  private turn = 0;
  private inFlight: InFlight | undefined;

  constructor(dir: string, token: string, hubs: () => readonly ApplyTarget[]) {
    this.dir = dir;
    this.token = token;
    this.hubs = hubs;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops launching applies and waits for the one in flight. */
  async pause(): Promise<void> {
    this.running = false;
    await this.loop;
    this.loop = undefined;
  }

  /** The highest generation acknowledged so far (0: none). */
  lastAcknowledged(): number {
    return Math.max(0, ...this.records.filter((r) => r.revision !== undefined).map((r) => r.generation));
  }

  /** When the apply now running started, and to which hub; undefined between applies. */
  inFlightNow(): InFlight | undefined {
    return this.inFlight;
  }

  /** The median time of the last five acknowledged applies (800 ms before there are any). */
  typicalMs(): number {
    const last = this.records
      .filter((r) => r.revision !== undefined)
      .slice(-5)
      .map((r) => r.endedAt - r.startedAt)
      .sort((a, b) => a - b);
    return last[Math.floor(last.length / 2)] ?? 800;
  }

  /** The highest generation attempted so far. */
  lastAttempted(): number {
    return this.generation;
  }

  /** Runs one apply now (the baseline's first, which creates the objects). */
  async once(): Promise<ApplyRecord> {
    return this.applyNext();
  }

  private async run(): Promise<void> {
    while (this.running) {
      await this.applyNext();
      await sleep(GAP_MS);
    }
  }

  private async applyNext(): Promise<ApplyRecord> {
    const generation = ++this.generation;
    const file = join(this.dir, `apply-${generation % 2}.yaml`);
    writeFileSync(file, applyDocuments(generation));
    const hubs = this.hubs();
    const hub = hubs[this.turn++ % hubs.length];
    if (hub === undefined) throw new Error('no hub to apply to');
    const startedAt = Date.now();
    this.inFlight = { since: startedAt, hub: hub.name, front: hub.front };
    const run = await causeway(['apply', '-f', file], { cwd: this.dir, server: hub.front.url, token: this.token, timeoutMs: 60_000 }).catch((err: unknown) => ({
      code: null,
      signal: null,
      stdout: '',
      stderr: (err as Error).message,
    }));
    const revision = run.code === 0 ? Number(/^revision (\d+)$/m.exec(run.stderr)?.[1]) : Number.NaN;
    this.inFlight = undefined;
    const record: ApplyRecord = {
      generation,
      hub: hub.name,
      startedAt,
      endedAt: Date.now(),
      code: run.code,
      revision: Number.isInteger(revision) ? revision : undefined,
      error: run.code === 0 ? '' : run.stderr.trim().split('\n').slice(0, 2).join(' / ').slice(0, 300),
    };
    this.records.push(record);
    return record;
  }
}

export interface RegistryRead {
  readonly at: number;
  /** Objects per generation label value. */
  readonly generations: Readonly<Record<string, number>>;
  readonly objects: number;
  /** The highest generation acknowledged before the read began. */
  readonly acknowledgedBefore: number;
}

/** Reads the applied set every READ_MS through whichever hub answers, and keeps the reads that were wrong. */
export class RegistryReader {
  /** Reads showing part of an apply: objects missing or at mixed generations. */
  readonly mixed: (RegistryRead & { readonly window: string })[] = [];
  /** Reads older than an acknowledged apply. */
  readonly regressed: (RegistryRead & { readonly window: string })[] = [];
  window = 'baseline';
  reads = 0;
  failures = 0;
  /** Reads that got no answer (a hub or etcd down), per window. */
  readonly failuresIn = new Map<string, number>();
  readonly readsIn = new Map<string, number>();
  private readonly clients: () => readonly HubClient[];
  private readonly applies: ApplyLoop;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(clients: () => readonly HubClient[], applies: ApplyLoop) {
    this.clients = clients;
    this.applies = applies;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    let turn = 0;
    while (this.running) {
      const started = Date.now();
      const acknowledgedBefore = this.applies.lastAcknowledged();
      const clients = this.clients();
      const client = clients[turn++ % clients.length];
      try {
        if (client === undefined) throw new Error('no hub');
        const { items } = await client.list(KINDS.ExternalService, APPLY_NAMESPACE);
        const generations: Record<string, number> = {};
        for (const o of items) {
          const g = o.metadata.labels?.[GENERATION_LABEL] ?? '?';
          generations[g] = (generations[g] ?? 0) + 1;
        }
        const read = { at: started, generations, objects: items.length, acknowledgedBefore, window: this.window };
        this.reads++;
        this.readsIn.set(read.window, (this.readsIn.get(read.window) ?? 0) + 1);
        const keys = Object.keys(generations);
        if (items.length !== APPLY_OBJECTS || keys.length !== 1) this.mixed.push(read);
        if (Math.max(0, ...keys.map(Number).filter(Number.isInteger)) < acknowledgedBefore) this.regressed.push(read);
      } catch {
        // A hub or etcd down: the fault at work, not a wrong answer.
        this.failures++;
        this.failuresIn.set(this.window, (this.failuresIn.get(this.window) ?? 0) + 1);
      }
      await sleep(Math.max(0, READ_MS - (Date.now() - started)));
    }
  }
}

const READ_MS = 1000;

export interface ApplyCheck {
  readonly attempted: number;
  readonly acknowledged: number;
  /** Acknowledged applies whose objects or history record are missing. */
  readonly lost: number;
  /** Applies seen partly: objects at mixed generations, or a history record with fewer than all objects. */
  readonly halfDone: number;
  readonly problems: string[];
  /** The history could not be read: lost writes unknown. */
  readonly unchecked?: boolean;
}

/**
 * After a fault, with the loop paused: every object at one generation, no older than the last
 * acknowledged apply; every acknowledged apply of `records` in `causeway history` with all of its
 * objects at its generation; no history record that wrote only part of the set.
 */
export async function checkApplies(
  records: readonly ApplyRecord[],
  lastAcknowledged: number,
  client: HubClient,
  cwd: string,
  token: string,
  server: string,
): Promise<ApplyCheck> {
  const problems: string[] = [];
  let lost = 0;
  let halfDone = 0;
  const acked = records.filter((r) => r.revision !== undefined);

  const { items } = await client.list(KINDS.ExternalService, APPLY_NAMESPACE);
  const generations = new Map<string, number>();
  for (const o of items) {
    const g = o.metadata.labels?.[GENERATION_LABEL] ?? '?';
    generations.set(g, (generations.get(g) ?? 0) + 1);
  }
  if (items.length !== APPLY_OBJECTS || generations.size !== 1) {
    halfDone++;
    problems.push(`registry holds ${items.length} objects at generations ${JSON.stringify(Object.fromEntries(generations))}`);
  }
  const current = Math.max(...[...generations.keys()].map(Number).filter(Number.isInteger), 0);
  if (current < lastAcknowledged) {
    lost++;
    problems.push(`registry is at generation ${current}, older than the acknowledged generation ${lastAcknowledged}`);
  }

  // Newest first; every record since the last check, and a few other writes besides.
  const limit = records.length + 10;
  // Three tries: the check runs on a recovered system, but one CLI run may still meet a hiccup.
  let run = await causeway(['history', '--limit', String(limit), '-o', 'json'], { cwd, server, token, timeoutMs: 120_000 });
  for (let attempt = 2; attempt <= 3 && run.code !== 0; attempt++) {
    await sleep(2000);
    run = await causeway(['history', '--limit', String(limit), '-o', 'json'], { cwd, server, token, timeoutMs: 120_000 });
  }
  if (run.code !== 0) {
    // Not counted as lost (nobody knows): the fault fails as unchecked.
    problems.push(
      `the history of ${acked.length} acknowledged applies could not be checked: causeway history exited ${String(run.code)}: ${run.stderr.trim().slice(0, 300)}`,
    );
    return { attempted: records.length, acknowledged: acked.length, lost, halfDone, problems, unchecked: true };
  }
  const history = (JSON.parse(run.stdout) as { items: HistoryEntry[] }).items;
  const byRevision = new Map(history.map((e) => [e.revision, e]));
  for (const r of acked) {
    const entry = byRevision.get(r.revision ?? -1);
    if (entry === undefined) {
      lost++;
      problems.push(`acknowledged apply of generation ${r.generation} (revision ${r.revision ?? '?'}) is not in causeway history`);
      continue;
    }
    const mine = entry.changes.filter((c) => c.namespace === APPLY_NAMESPACE && c.after?.metadata.labels?.[GENERATION_LABEL] === String(r.generation));
    if (mine.length !== APPLY_OBJECTS) {
      lost++;
      problems.push(`history revision ${entry.revision} (generation ${r.generation}) holds ${mine.length} of ${APPLY_OBJECTS} objects at its generation`);
    }
  }
  for (const e of history) {
    const mine = e.changes.filter((c) => c.namespace === APPLY_NAMESPACE);
    if (mine.length > 0 && mine.length !== APPLY_OBJECTS) {
      halfDone++;
      problems.push(`history revision ${e.revision} wrote ${mine.length} of ${APPLY_OBJECTS} objects`);
    }
  }
  return { attempted: records.length, acknowledged: acked.length, lost, halfDone, problems };
}
