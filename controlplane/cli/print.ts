// What the CLI prints: kubectl-like tables, YAML and JSON that round-trip through `apply`,
// describe pages and unified diffs.
import { createTwoFilesPatch } from 'diff';
import { stringify } from 'yaml';
import type { Condition } from '../api/conditions.ts';
import type { KindInfo } from '../api/kinds.ts';
import type { Resource } from '../api/resources.ts';
import { effectiveCidrs } from '../api/semantic.ts';
import { formatSelector } from '../api/labels.ts';
import type { HistoryEntry } from '../registry/registry.ts';
import type { ChangeView } from './client.ts';
import type { DomainPlanView, DomainRoutesView, GlobalServiceView, PoolUsageView } from '../api/read-model.ts';

export const OutputFormat = { table: 'table', yaml: 'yaml', json: 'json', wide: 'wide' } as const;
export type OutputFormat = (typeof OutputFormat)[keyof typeof OutputFormat];

export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows)
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

export function age(timestamp: string | undefined, now = Date.now()): string {
  if (timestamp === undefined) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

function condition(r: Resource, type: string): string {
  return r.status?.conditions?.find((c) => c.type === type)?.status ?? '';
}

const list = (xs: readonly string[] | undefined): string => (xs === undefined || xs.length === 0 ? '<none>' : xs.join(','));

/** Columns per kind; the first is always NAME (after NAMESPACE for namespaced kinds). */
function columns(info: KindInfo): { head: string[]; row: (r: Resource) => string[] } {
  switch (info.kind) {
    case 'Cluster':
      return {
        head: ['NAME', 'PROVIDER', 'REGION', 'NETWORK', 'POD CIDRS', 'SERVICE CIDRS', 'JOINED', 'AVAILABLE', 'SYNCED', 'AGE'],
        row: (r) => {
          if (r.kind !== 'Cluster') return [];
          const c = effectiveCidrs(r);
          return [
            r.metadata.name,
            r.spec.provider,
            r.spec.region,
            r.spec.network,
            list(c.pod),
            list(c.service),
            condition(r, 'Joined'),
            condition(r, 'Available'),
            condition(r, 'Synced'),
            age(r.metadata.creationTimestamp),
          ];
        },
      };
    case 'Network':
      return {
        head: ['NAME', 'PROVIDER', 'REGION/SITE', 'PREFIXES', 'LINKS', 'AGE'],
        row: (r) =>
          r.kind !== 'Network'
            ? []
            : [
                r.metadata.name,
                r.spec.provider,
                r.spec.region ?? r.spec.onprem?.site ?? '',
                list(r.spec.prefixes),
                list((r.spec.links ?? []).map((l) => `${l.type}:${l.to}`)),
                age(r.metadata.creationTimestamp),
              ],
      };
    case 'IPPool':
      return {
        head: ['NAME', 'USE', 'CIDRS', 'NETWORK', 'AGE'],
        row: (r) => (r.kind !== 'IPPool' ? [] : [r.metadata.name, r.spec.use, list(r.spec.cidrs), r.spec.network ?? '', age(r.metadata.creationTimestamp)]),
      };
    case 'ExternalService':
      return {
        head: ['NAMESPACE', 'NAME', 'NETWORK', 'PORTS', 'ENDPOINTS', 'EXPORT TO', 'AGE'],
        row: (r) =>
          r.kind !== 'ExternalService'
            ? []
            : [
                r.metadata.namespace ?? '',
                r.metadata.name,
                r.spec.network,
                r.spec.ports.map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(','),
                String(r.spec.endpoints.length),
                r.spec.exportTo !== undefined ? formatSelector(r.spec.exportTo.clusterSelector) : '<all>',
                age(r.metadata.creationTimestamp),
              ],
      };
    case 'GlobalPolicy':
      return {
        head: ['NAMESPACE', 'NAME', 'TIER', 'PRIORITY', 'ACTION', 'PORTS', 'AGE'],
        row: (r) =>
          r.kind !== 'GlobalPolicy'
            ? []
            : [
                r.metadata.namespace ?? '',
                r.metadata.name,
                r.spec.tier,
                String(r.spec.priority ?? 100),
                r.spec.action,
                (r.spec.ports ?? []).map((p) => `${p.port}${p.endPort !== undefined ? `-${p.endPort}` : ''}/${p.protocol ?? 'TCP'}`).join(',') || '<all>',
                age(r.metadata.creationTimestamp),
              ],
      };
  }
}

export function printResources(info: KindInfo, items: readonly Resource[], format: OutputFormat, resourceVersion?: string): string {
  switch (format) {
    case 'json':
    case 'yaml':
      return asData(asList(items, resourceVersion), format);
    case 'table':
    case 'wide': {
      if (items.length === 0) return `No ${info.plural} found.`;
      const { head, row } = columns(info);
      return table([head, ...items.map(row)]);
    }
  }
}

export function printResource(info: KindInfo, item: Resource, format: OutputFormat): string {
  switch (format) {
    case 'json':
    case 'yaml':
      return asData(item, format);
    case 'table':
    case 'wide':
      return printResources(info, [item], format);
  }
}

function asList(items: readonly unknown[], resourceVersion: string | undefined): Record<string, unknown> {
  return { apiVersion: 'causeway.dev/v1alpha1', kind: 'List', metadata: { resourceVersion: resourceVersion ?? '' }, items };
}

export function describe(r: Resource, history: readonly HistoryEntry[]): string {
  const lines: string[] = [];
  lines.push(`Name:               ${r.metadata.name}`);
  if (r.metadata.namespace !== undefined) lines.push(`Namespace:          ${r.metadata.namespace}`);
  lines.push(`Kind:               ${r.kind}`);
  lines.push(
    `Labels:             ${
      Object.entries(r.metadata.labels ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join('\n                    ') || '<none>'
    }`,
  );
  lines.push(
    `Annotations:        ${
      Object.entries(r.metadata.annotations ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join('\n                    ') || '<none>'
    }`,
  );
  lines.push(`Created:            ${r.metadata.creationTimestamp ?? '<unknown>'} (${age(r.metadata.creationTimestamp)} ago)`);
  lines.push(`Resource Version:   ${r.metadata.resourceVersion ?? ''}`);
  lines.push(`Generation:         ${r.metadata.generation ?? ''}`);
  lines.push(`UID:                ${r.metadata.uid ?? ''}`);
  lines.push('Spec:');
  lines.push(indent(stringify(r.spec).trimEnd(), 2));
  const { conditions, ...rest } = r.status ?? {};
  if (Object.keys(rest).length > 0) {
    lines.push('Status:');
    lines.push(indent(stringify(rest).trimEnd(), 2));
  }
  lines.push('Conditions:');
  lines.push(conditions === undefined || conditions.length === 0 ? '  <none>' : indent(conditionTable(conditions), 2));
  lines.push('History:');
  lines.push(history.length === 0 ? '  <none>' : indent(historyTable(history.slice(0, 10)), 2));
  return lines.join('\n');
}

function conditionTable(conditions: readonly Condition[]): string {
  return table([
    ['TYPE', 'STATUS', 'REASON', 'SINCE', 'MESSAGE'],
    ...conditions.map((c) => [c.type, c.status, c.reason, age(c.lastTransitionTime), c.message]),
  ]);
}

export function historyTable(entries: readonly HistoryEntry[]): string {
  return table([
    ['REVISION', 'TIME', 'ACTOR', 'OPERATION', 'CHANGES'],
    ...entries.map((e) => [
      String(e.revision),
      e.time.replace(/\.\d+Z$/, 'Z'),
      e.actor.name,
      e.operation + (e.rollbackTo !== undefined ? ` (to ${e.rollbackTo})` : ''),
      e.credential !== undefined
        ? `credential of cluster/${e.credential.cluster} (user ${e.credential.publicKey.slice(0, 12)}…)`
        : e.changes.map((c) => `${c.action} ${c.kind.toLowerCase()}/${c.namespace !== undefined ? `${c.namespace}/` : ''}${c.name}`).join(', '),
    ]),
  ]);
}

export function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((l) => (l === '' ? l : pad + l))
    .join('\n');
}

/** kubectl's words: created, configured, unchanged, deleted. */
export function changeLine(c: ChangeView, dryRun: boolean): string {
  const word = c.action === 'updated' ? 'configured' : c.action;
  return `${c.kind.toLowerCase()}/${c.namespace !== undefined ? `${c.namespace}/` : ''}${c.name} ${word}${dryRun ? ' (dry run)' : ''}`;
}

/** Unified diff of what a change does to the declarable parts of an object. */
export function unifiedDiff(c: ChangeView): string {
  const name = `${c.kind}/${c.namespace !== undefined ? `${c.namespace}/` : ''}${c.name}`;
  const show = (r: Resource | undefined): string => (r === undefined ? '' : stringify(declarable(r)));
  return createTwoFilesPatch(`live/${name}`, `declared/${name}`, show(c.before), show(c.after), undefined, undefined, { context: 3 }).replace(/^=+\n/m, '');
}

function declarable(r: Resource): Record<string, unknown> {
  const { resourceVersion: _rv, uid: _u, generation: _g, creationTimestamp: _c, ...metadata } = r.metadata;
  const { conditions: _cond, ...status } = r.status ?? {};
  return { apiVersion: r.apiVersion, kind: r.kind, metadata, spec: r.spec, ...(Object.keys(status).length > 0 ? { status } : {}) };
}

export function printServices(items: readonly GlobalServiceView[], format: OutputFormat): string {
  const list = { apiVersion: 'causeway.dev/v1alpha1', kind: 'List', metadata: { resourceVersion: '' }, items };
  switch (format) {
    case 'json':
    case 'yaml':
      return asData(list, format);
    case 'table':
    case 'wide':
      if (items.length === 0) return 'No services found.';
      return table([
        ['NAMESPACE', 'NAME', 'TYPE', 'IP', 'PORTS', 'EXPORTED BY', 'ENDPOINTS', 'IMPORTED BY', 'CONFLICT'],
        ...items.map((s) => [
          s.namespace,
          s.name,
          s.type,
          s.ips.join(',') || '<none>',
          s.ports.map((p) => `${p.port}/${p.protocol}`).join(','),
          s.exporters.map((e) => `${e.cluster}(${e.endpoints})`).join(','),
          String(s.endpoints),
          s.importers.join(',') || '<none>',
          s.conditions.find((c) => c.type === 'Conflict' && c.status === 'True')?.reason ?? '',
        ]),
      ]);
  }
}

/** `get routes`: per domain, its routes, announcements and firewall openings. */
export function printRoutes(items: readonly DomainRoutesView[], format: OutputFormat): string {
  switch (format) {
    case 'json':
    case 'yaml':
      return asData(asList(items, ''), format);
    case 'table':
    case 'wide': {
      if (items.length === 0) return 'No networks found.';
      const rows: string[][] = [['DOMAIN', 'KIND', 'WHAT', 'VIA/TO', 'DETAIL']];
      for (const d of items) {
        for (const r of d.routes) rows.push([d.metadata.name, `route (${r.mode})`, r.destination, `${r.via.id || r.via.kind} (${r.link})`, r.table ?? '']);
        for (const a of d.announcements) rows.push([d.metadata.name, 'announce', a.prefix, a.peers.join(','), a.nextHop ?? '']);
        for (const f of d.firewall)
          rows.push([
            d.metadata.name,
            `firewall ${f.direction}`,
            `${f.protocol}/${f.fromPort === f.toPort ? f.fromPort : `${f.fromPort}-${f.toPort}`}`,
            `${f.sources.join(',')} -> ${f.destinations.join(',')}`,
            f.services.join(','),
          ]);
        for (const p of d.problems) rows.push([d.metadata.name, 'problem', p.reason, '', p.message]);
        if (d.routes.length + d.announcements.length + d.firewall.length + d.problems.length === 0) rows.push([d.metadata.name, '<none>', '', '', '']);
      }
      return table(rows);
    }
  }
}

/** `get pools`: per IPPool, its use, size, used, free and holders (wide: with CIDRs, network, quarantine). */
export function printPools(items: readonly PoolUsageView[], format: OutputFormat): string {
  switch (format) {
    case 'json':
    case 'yaml':
      return asData(asList(items, ''), format);
    case 'table':
    case 'wide': {
      if (items.length === 0) return 'No IP pools found.';
      const wide = format === 'wide';
      const holders = (p: PoolUsageView): string => {
        const names = [...new Set(p.holders.map((h) => h.holder.replace(/^Cluster\//, '')))];
        return names.length === 0 ? '<none>' : names.length > 5 && !wide ? `${names.slice(0, 5).join(',')},+${names.length - 5}` : names.join(',');
      };
      const head = ['NAME', 'USE', 'SIZE', 'USED', 'FREE', 'HOLDERS', ...(wide ? ['QUARANTINED', 'CIDRS', 'NETWORK'] : [])];
      return table([
        head,
        ...items.map((p) => [p.metadata.name, p.use, p.size, p.used, p.free, holders(p), ...(wide ? [p.quarantined, p.cidrs.join(','), p.network ?? ''] : [])]),
      ]);
    }
  }
}

/** `plan`: what applying would change per domain; every other domain line says it is unchanged. */
export function printPlan(items: readonly DomainPlanView[], format: OutputFormat): string {
  switch (format) {
    case 'json':
    case 'yaml':
      return asData(asList(items, ''), format);
    case 'table':
    case 'wide': {
      if (items.length === 0) return 'No networks Causeway reconciles.';
      const rows: string[][] = [['DOMAIN', 'ACTION', 'OBJECT', 'IN', 'WHAT', 'OUTCOME']];
      for (const d of items) {
        for (const c of d.changes)
          rows.push([d.metadata.name, c.action, c.object, c.in, c.what, c.error !== undefined ? `${c.outcome}: ${c.error}` : c.outcome]);
        const announced = d.unchanged.announcements !== undefined ? `, ${d.unchanged.announcements} announcements` : '';
        rows.push([d.metadata.name, 'unchanged', `${d.unchanged.routes} routes, ${d.unchanged.rules} rules${announced}`, '', '', '']);
        const degraded = d.conditions.find((c) => c.type === 'Degraded' && c.status === 'True');
        if (degraded !== undefined) rows.push([d.metadata.name, 'degraded', degraded.reason, '', degraded.message, '']);
      }
      return table(rows);
    }
  }
}

/** `-o json|yaml`: the value as data, exactly (round-trips through `apply` for resources). */
function asData(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) : stringify(value).trimEnd();
}
