// The hub's TLS material on disk: a CA generated on first start, and the certificates it signs for
// the hub API, the embedded etcd (server, peer, and the hub's client certificate) and the embedded
// nats-server. Layout under the data dir:
//
//   tls/ca.crt          the CA certificate
//   tls/ca.key          the CA's private key (0600): it never leaves this directory
//   tls/NAME.crt/.key   one leaf per server or client (keys 0600)
//   ca.crt              what clients of this hub must trust, when it serves TLS (the CLI finds it
//                       next to admin.token): this CA's certificate, or the operator's `--ca`
//
// A leaf is issued again when it is missing, not signed by the current CA, not valid for a host it
// must serve, or within RENEW_BEFORE_DAYS of expiry; a present CA is never replaced (everything that
// trusts it would stop working), and half a CA (certificate without key, or the reverse) is an error.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidInputError } from '../api/errors.ts';
import { certificateFacts, covers, createCertificateAuthority, issueCertificate, signedBy, type CertificateUsage, type CertifiedKey } from './pki.ts';

export const CA_CERT_FILE = 'ca.crt';
const TLS_DIR = 'tls';
const CA_VALID_DAYS = 3650;
const LEAF_VALID_DAYS = 365;
const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;

/** Paths of one certificate and its key, and of the CA that verifies peers. */
export interface TlsFiles {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface LeafSpec {
  /** File stem under tls/, e.g. "api" → tls/api.crt and tls/api.key. */
  readonly name: string;
  readonly commonName: string;
  readonly hosts: readonly string[];
  readonly usage: CertificateUsage;
}

export interface IssuedLeaf extends TlsFiles {
  /** True when this call wrote a new certificate (first start, new host, renewal). */
  readonly issued: boolean;
  readonly notAfter: Date;
}

/** The data dir's CA, created on first use; `leaf` issues or renews a certificate it signs. */
export class LocalCertificateAuthority {
  readonly caFile: string;
  private readonly tlsDir: string;
  private readonly ca: CertifiedKey;

  private constructor(caFile: string, tlsDir: string, ca: CertifiedKey) {
    this.caFile = caFile;
    this.tlsDir = tlsDir;
    this.ca = ca;
  }

  static async open(dataDir: string, now = new Date()): Promise<LocalCertificateAuthority> {
    const tlsDir = join(dataDir, TLS_DIR);
    mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
    const caFile = join(tlsDir, CA_CERT_FILE);
    const caKeyFile = join(tlsDir, 'ca.key');
    const haveCert = existsSync(caFile);
    const haveKey = existsSync(caKeyFile);
    if (haveCert !== haveKey) {
      const [present, missing] = haveCert ? [caFile, caKeyFile] : [caKeyFile, caFile];
      throw new InvalidInputError([
        {
          file: missing,
          field: '',
          message: `is missing but ${present} exists: restore it from its backup, or remove both to make a new CA (every client must then trust the new one)`,
        },
      ]);
    }
    if (!haveCert) {
      const ca = await createCertificateAuthority(`Causeway hub CA (${dataDir})`, CA_VALID_DAYS, now);
      writeAtomically(caKeyFile, ca.key, 0o600);
      writeAtomically(caFile, ca.cert, 0o644);
      return new LocalCertificateAuthority(caFile, tlsDir, ca);
    }
    const ca = { cert: readFileSync(caFile, 'utf8'), key: readFileSync(caKeyFile, 'utf8') };
    let facts;
    try {
      facts = certificateFacts(ca.cert);
    } catch (err) {
      throw new InvalidInputError([{ file: caFile, field: '', message: `is not a PEM certificate (${(err as Error).message})` }], { cause: err });
    }
    if (!facts.isCa || !signedBy(ca.cert, ca.key, ca.cert)) {
      throw new InvalidInputError([{ file: caFile, field: '', message: `is not a CA certificate self-signed with the key in ${caKeyFile}` }]);
    }
    if (facts.notAfter.getTime() < now.getTime()) {
      throw new InvalidInputError([
        { file: caFile, field: '', message: `expired on ${facts.notAfter.toISOString()}: remove ${caFile} and ${caKeyFile} to make a new CA` },
      ]);
    }
    return new LocalCertificateAuthority(caFile, tlsDir, ca);
  }

  /** The CA certificate, PEM. */
  get certificate(): string {
    return this.ca.cert;
  }

  async leaf(spec: LeafSpec, now = new Date()): Promise<IssuedLeaf> {
    const certFile = join(this.tlsDir, `${spec.name}.crt`);
    const keyFile = join(this.tlsDir, `${spec.name}.key`);
    const current = readLeaf(certFile, keyFile);
    if (current !== undefined && this.stillGood(current, spec, now)) {
      return { caFile: this.caFile, certFile, keyFile, issued: false, notAfter: certificateFacts(current.cert).notAfter };
    }
    const leaf = await issueCertificate(this.ca, { commonName: spec.commonName, hosts: spec.hosts, usage: spec.usage, validDays: LEAF_VALID_DAYS }, now);
    writeAtomically(keyFile, leaf.key, 0o600);
    writeAtomically(certFile, leaf.cert, 0o644);
    return { caFile: this.caFile, certFile, keyFile, issued: true, notAfter: certificateFacts(leaf.cert).notAfter };
  }

  private stillGood(leaf: CertifiedKey, spec: LeafSpec, now: Date): boolean {
    if (!signedBy(leaf.cert, leaf.key, this.ca.cert)) return false;
    const facts = certificateFacts(leaf.cert);
    if (facts.notAfter.getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) return false;
    return spec.hosts.every((h) => covers(leaf.cert, h));
  }
}

function readLeaf(certFile: string, keyFile: string): CertifiedKey | undefined {
  try {
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  } catch {
    return undefined;
  }
}

/**
 * Writes (or, with `undefined`, removes) `<dataDir>/ca.crt`: the CA that clients of this hub trust,
 * found there by the CLI next to the admin token. Returns its path when written.
 */
export function publishClientCa(dataDir: string, pem: string | undefined): string | undefined {
  const file = join(dataDir, CA_CERT_FILE);
  if (pem === undefined) {
    rmSync(file, { force: true });
    return undefined;
  }
  writeAtomically(file, pem, 0o644);
  return file;
}

/** Write-then-rename, so a crash mid-write never leaves a torn key or certificate. */
function writeAtomically(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode, flag: 'w' });
  renameSync(tmp, file);
}
