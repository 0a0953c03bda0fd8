// `?watch=true` on a list: newline-delimited JSON events, as Kubernetes streams them, from a
// resourceVersion or from a fresh list; ends when the client goes away.
import type { FastifyReply } from 'fastify';
import type { KindInfo } from '../../api/kinds.ts';
import type { Resource } from '../../api/resources.ts';
import type { HubServerDeps } from './app.ts';
import { BadParameterError, resourceVersionParam } from './bad-request.ts';
import { statusOf } from './status.ts';

export async function watchStream(
  deps: Pick<HubServerDeps, 'registry' | 'metrics'>,
  reply: FastifyReply,
  info: KindInfo,
  visible: (r: Resource) => boolean,
  fromVersion: string | undefined,
): Promise<void> {
  const { registry, metrics } = deps;
  const ac = new AbortController();
  // The response closes when the client goes away (the request's own close fires once it is read).
  reply.raw.on('close', () => {
    ac.abort();
  });
  // "" and "0" mean "from a fresh list", as in Kubernetes.
  let after = fromVersion !== undefined && fromVersion !== '' && fromVersion !== '0' ? resourceVersionParam(fromVersion) : undefined;
  if (after !== undefined) {
    // A watch from a revision the registry has not reached would wait in silence, maybe forever.
    const current = await registry.revision(ac.signal);
    if (after > current) {
      throw new BadParameterError(
        'resourceVersion',
        String(after),
        `is in the future: the registry is at revision ${current}; watch from a revision a list returned`,
      );
    }
  }
  const initial: Resource[] = [];
  if (after === undefined) {
    const listed = await registry.list(info.kind, ac.signal);
    after = listed.revision;
    initial.push(...listed.items.filter(visible));
  }
  reply.hijack();
  const out = reply.raw;
  out.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'transfer-encoding': 'chunked' });
  // Send the headers now: a watch with nothing to report yet must still answer at once.
  out.flushHeaders();
  const send = (type: string, object: unknown): void => {
    out.write(`${JSON.stringify({ type, object })}\n`);
  };
  for (const r of initial) send('ADDED', r);
  // A newline now and then keeps proxies and clients from timing the stream out.
  const keepAlive = setInterval(() => {
    out.write('\n');
  }, 15_000);
  metrics.watchers.inc();
  try {
    for await (const batch of registry.watch(info.kind, after, ac.signal)) {
      for (const e of batch) if (visible(e.object)) send(e.type, e.object);
    }
  } catch (err) {
    if (!ac.signal.aborted) {
      // GoneError becomes a 410 Status event: the client relists, as with Kubernetes.
      send('ERROR', statusOf(err));
    }
  } finally {
    clearInterval(keepAlive);
    metrics.watchers.dec();
    out.end();
  }
}
