// A small private PKI: a CA and the certificates it signs (ECDSA P-256, SHA-256), as PEM. The only
// file that imports @peculiar/x509 (ADR 0010); reading a certificate back uses node:crypto's own
// X509Certificate. Pure of files: where the PEMs live is tls-files.ts.
import 'reflect-metadata';
import { X509Certificate, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
// Certificates are valid from a little before now: clocks of the machines that check them differ.
const BACKDATE_MS = 5 * 60_000;

x509.cryptoProvider.set(webcrypto);

export interface CertifiedKey {
  /** The certificate, PEM. */
  readonly cert: string;
  /** Its private key, PKCS#8 PEM. */
  readonly key: string;
}

/** What a leaf certificate is for: TLS server, TLS client, or both (an etcd peer is both). */
export type CertificateUsage = 'server' | 'client' | 'server-and-client';

export interface LeafRequest {
  readonly commonName: string;
  /** Names and addresses the certificate is valid for (server usages); each is a DNS name or an IP. */
  readonly hosts: readonly string[];
  readonly usage: CertificateUsage;
  readonly validDays: number;
}

export async function createCertificateAuthority(commonName: string, validDays: number, now = new Date()): Promise<CertifiedKey> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + validDays * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

export async function issueCertificate(ca: CertifiedKey, request: LeafRequest, now = new Date()): Promise<CertifiedKey> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBody(ca.key), ALGORITHM, false, ['sign']);
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const purposes = {
    server: [x509.ExtendedKeyUsage.serverAuth],
    client: [x509.ExtendedKeyUsage.clientAuth],
    'server-and-client': [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
  }[request.usage];
  const names = request.hosts.map((h) => (isIP(h) !== 0 ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h }));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [request.commonName] }],
    issuer: caCert.subjectName,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + request.validDays * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(purposes, false),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(caCert, false),
    ],
  });
  return { cert: cert.toString('pem'), key: await privateKeyPem(keys.privateKey) };
}

export interface CertificateFacts {
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DNS names and IP addresses from subjectAltName. */
  readonly hosts: readonly string[];
  readonly isCa: boolean;
}

/** Reads a PEM certificate; throws with the reason when it is not one. */
export function certificateFacts(pem: string): CertificateFacts {
  const cert = new X509Certificate(pem);
  const hosts = (cert.subjectAltName ?? '')
    .split(',')
    .map((s) => s.trim())
    .map((s) => s.replace(/^(DNS|IP Address):/, ''))
    .filter((s) => s !== '');
  return { subject: cert.subject, notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo), hosts, isCa: cert.ca };
}

/** True when `pem` was signed by the CA certificate `caPem`, and `keyPem` is its private key. */
export function signedBy(pem: string, keyPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(pem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey) && cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** True when `keyPem` is the private key of the certificate `pem`. */
export function isKeyOf(pem: string, keyPem: string): boolean {
  try {
    return new X509Certificate(pem).checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** True when the certificate is valid for `host` (a DNS name, or an IP address in either notation). */
export function covers(pem: string, host: string): boolean {
  const cert = new X509Certificate(pem);
  return isIP(host) !== 0 ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** A positive 128-bit serial (RFC 5280 allows up to 20 octets; the top bit clear keeps it positive). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}
