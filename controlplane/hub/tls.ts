// Which of the hub's connections speak TLS, and with which certificates. The rule (issue 12 §4):
// TLS everywhere, on by default for anything not on loopback; the embedded etcd always (TLS and
// client certificates, so a local user who can reach its port cannot read the registry). The
// certificates are the operator's (`--tls-cert`/`--tls-key`/`--ca`) or, by default, ones the data
// dir's own CA signs for every name the hub answers to.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { InvalidInputError, type Problem } from '../api/errors.ts';
import type { EtcdTls } from '../embedded/etcd.ts';
import { certificateFacts, isKeyOf, signedBy } from '../identity/pki.ts';
import { LocalCertificateAuthority, publishClientCa } from '../identity/tls-files.ts';

export interface HubTlsOptions {
  /** Serve the API and the embedded nats-server over TLS even on loopback (`--tls`). */
  readonly tls?: boolean | undefined;
  /** The operator's certificate and key for the API and the embedded nats-server. */
  readonly tlsCertFile?: string | undefined;
  readonly tlsKeyFile?: string | undefined;
  /** The CA that signed `tlsCertFile` (clients trust it), and that the hub trusts for an external NATS. */
  readonly caFile?: string | undefined;
  /** More names or addresses for the generated certificates (`--tls-san`), e.g. the hub's DNS name. */
  readonly tlsHosts?: readonly string[] | undefined;
}

/** A certificate the hub serves with. */
export interface ServingCertificate {
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface HubTls {
  /** The API's certificate; undefined: plain HTTP (loopback only). */
  readonly api: ServingCertificate | undefined;
  /** The embedded nats-server's certificate; undefined: plain (loopback only). */
  readonly nats: ServingCertificate | undefined;
  /** What clients of the API and NATS trust (PEM), written to `<data-dir>/ca.crt`; undefined when nothing serves TLS, or a public CA signs it. */
  readonly clientCa: string | undefined;
  readonly clientCaFile: string | undefined;
  /** The embedded etcd's server, peer and hub-client certificates (present when etcd is embedded). */
  readonly etcd: EtcdTls | undefined;
}

export interface HubEndpoints {
  readonly apiHost: string;
  /** Undefined when NATS is external. */
  readonly natsHost: string | undefined;
  readonly embeddedEtcd: boolean;
}

const LOOPBACK_NAMES = new Set(['localhost', 'ip6-localhost', 'ip6-loopback']);

/** True for names and addresses that only this machine reaches. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return LOOPBACK_NAMES.has(h) || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\./.test(h);
}

export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** Makes or reads every certificate the hub needs, and publishes the CA its clients trust. */
export async function prepareHubTls(dataDir: string, endpoints: HubEndpoints, options: HubTlsOptions): Promise<HubTls> {
  checkTlsHosts(options.tlsHosts ?? []);
  const forced = options.tls === true;
  const apiOn = forced || options.tlsCertFile !== undefined || !isLoopback(endpoints.apiHost);
  const natsOn = endpoints.natsHost !== undefined && (forced || options.tlsCertFile !== undefined || !isLoopback(endpoints.natsHost));
  const operator = operatorCertificate(options);
  const needLocal = endpoints.embeddedEtcd || (operator === undefined && (apiOn || natsOn));
  const ca = needLocal ? await LocalCertificateAuthority.open(dataDir) : undefined;

  const generated = async (name: string, host: string): Promise<ServingCertificate> => {
    if (ca === undefined) throw new Error('unreachable: a generated certificate without the local CA');
    const leaf = await ca.leaf({ name, commonName: `causeway ${name}`, hosts: servingHosts(host, options.tlsHosts ?? []), usage: 'server' });
    return { cert: readFileSync(leaf.certFile, 'utf8'), key: readFileSync(leaf.keyFile, 'utf8'), certFile: leaf.certFile, keyFile: leaf.keyFile };
  };
  const api = !apiOn ? undefined : (operator ?? (await generated('api', endpoints.apiHost)));
  const natsHost = natsOn ? endpoints.natsHost : undefined;
  const nats = natsHost === undefined ? undefined : (operator ?? (await generated('nats-server', natsHost)));

  let etcd: EtcdTls | undefined;
  if (endpoints.embeddedEtcd && ca !== undefined) {
    const local = ['127.0.0.1', 'localhost'];
    etcd = {
      // Both usages: etcd's own gRPC gateway dials the client port with the server certificate.
      server: await ca.leaf({ name: 'etcd-server', commonName: 'causeway etcd', hosts: local, usage: 'server-and-client' }),
      peer: await ca.leaf({ name: 'etcd-peer', commonName: 'causeway etcd peer', hosts: local, usage: 'server-and-client' }),
      client: await ca.leaf({ name: 'etcd-client', commonName: 'causeway-hub', hosts: [], usage: 'client' }),
    };
  }

  const servesTls = api !== undefined || nats !== undefined;
  const clientCa = !servesTls ? undefined : operator !== undefined ? operator.ca : ca?.certificate;
  const clientCaFile = publishClientCa(dataDir, clientCa);
  return { api, nats, clientCa, clientCaFile, etcd };
}

const DNS_NAME = /^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** `--tls-san`: each a DNS name (a leading `*.` allowed) or an IP address, before any file is written. */
export function checkTlsHosts(hosts: readonly string[]): void {
  const problems: Problem[] = hosts
    .filter((h) => isIP(h) === 0 && !DNS_NAME.test(h))
    .map((h) => ({ field: '--tls-san', value: h, message: 'not a DNS name or an IP address (letters, digits, "-" and "." only)' }));
  if (problems.length > 0) throw new InvalidInputError(problems);
}

/** The names a generated serving certificate must carry for a server listening on `host`. */
export function servingHosts(host: string, extra: readonly string[]): string[] {
  const hosts = new Set<string>(['localhost', '127.0.0.1', '::1', hostname()]);
  if (isWildcard(host)) {
    for (const addresses of Object.values(networkInterfaces())) {
      for (const a of addresses ?? []) hosts.add(a.address.replace(/%.*$/, ''));
    }
  } else hosts.add(host.replace(/^\[|\]$/g, ''));
  for (const h of extra) hosts.add(h);
  return [...hosts];
}

/** `--tls-cert`/`--tls-key`/`--ca`, read and checked: each problem names its flag and file. */
function operatorCertificate(options: HubTlsOptions): (ServingCertificate & { ca: string | undefined }) | undefined {
  const { tlsCertFile: certFile, tlsKeyFile: keyFile, caFile } = options;
  if (certFile === undefined && keyFile === undefined) return undefined;
  const problems: Problem[] = [];
  if (certFile === undefined || keyFile === undefined) {
    problems.push({ field: certFile === undefined ? '--tls-cert' : '--tls-key', message: 'give --tls-cert and --tls-key together' });
    throw new InvalidInputError(problems);
  }
  const cert = readPem(certFile, '--tls-cert', 'CERTIFICATE', problems);
  const key = readPem(keyFile, '--tls-key', 'PRIVATE KEY', problems);
  const ca = caFile === undefined ? undefined : readPem(caFile, '--ca', 'CERTIFICATE', problems);
  if (problems.length > 0 || cert === undefined || key === undefined) throw new InvalidInputError(problems);
  try {
    const facts = certificateFacts(cert);
    if (facts.notAfter.getTime() < Date.now()) problems.push({ file: certFile, field: '--tls-cert', message: `expired on ${facts.notAfter.toISOString()}` });
  } catch (err) {
    problems.push({ file: certFile, field: '--tls-cert', message: `is not a PEM certificate (${(err as Error).message})` });
  }
  if (problems.length === 0 && !(ca === undefined ? isKeyOf(cert, key) : signedBy(cert, key, ca))) {
    problems.push(
      ca === undefined
        ? { file: keyFile, field: '--tls-key', message: `is not the private key of ${certFile}` }
        : { file: certFile, field: '--tls-cert', message: `is not signed by the CA in ${caFile ?? ''}, or ${keyFile} is not its key` },
    );
  }
  if (problems.length > 0) throw new InvalidInputError(problems);
  return { cert, key, certFile, keyFile, ca };
}

function readPem(file: string, flag: string, block: string, problems: Problem[]): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push({ file, field: flag, message: `cannot be read (${(err as Error).message})` });
    return undefined;
  }
  if (!new RegExp(`-----BEGIN [A-Z ]*${block}-----`).test(text)) {
    problems.push({ file, field: flag, message: `is not PEM: expected a "BEGIN ${block}" block` });
    return undefined;
  }
  return text;
}
