/**
 * The control plane's PKI, made with the `openssl` CLI at first start and reused afterwards: a CA, a serving
 * certificate for 127.0.0.1/localhost/kubernetes.default.svc, and an admin client certificate
 * (CN=podwall-admin, O=system:masters) that the kubeconfig presents.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

const FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  serverCert: 'apiserver.crt',
  serverKey: 'apiserver.key',
  clientCert: 'admin.crt',
  clientKey: 'admin.key',
} as const;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function issue(dir: string, name: string, subject: string, ext: string): void {
  openssl(
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-subj',
      subject,
      '-out',
      `${name}.csr`,
    ],
    dir,
  );
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      FILES.caCert,
      '-CAkey',
      FILES.caKey,
      '-set_serial',
      `0x${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`,
      '-days',
      '3650',
      '-sha256',
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.crt`,
    ],
    dir,
  );
  rmSync(join(dir, `${name}.csr`));
  rmSync(join(dir, `${name}.ext`));
}

/** Loads the PKI under `dir`, creating what is missing. Keys are written mode 0600. */
export function ensurePki(dir: string): Pki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(join(dir, FILES.caCert)) || !existsSync(join(dir, FILES.caKey))) {
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        FILES.caKey,
        '-out',
        FILES.caCert,
        '-days',
        '3650',
        '-sha256',
        '-subj',
        '/CN=podwall-ca',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
      ],
      dir,
    );
    rmSync(join(dir, FILES.serverCert), { force: true });
    rmSync(join(dir, FILES.clientCert), { force: true });
  }
  if (!existsSync(join(dir, FILES.serverCert)) || !existsSync(join(dir, FILES.serverKey))) {
    issue(
      dir,
      'apiserver',
      '/CN=kube-apiserver',
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        'subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local',
        '',
      ].join('\n'),
    );
  }
  if (!existsSync(join(dir, FILES.clientCert)) || !existsSync(join(dir, FILES.clientKey))) {
    issue(
      dir,
      'admin',
      '/O=system:masters/CN=podwall-admin',
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=clientAuth',
        '',
      ].join('\n'),
    );
  }
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return {
    caCert: read(FILES.caCert),
    serverCert: read(FILES.serverCert),
    serverKey: read(FILES.serverKey),
    clientCert: read(FILES.clientCert),
    clientKey: read(FILES.clientKey),
  };
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}

/** A kubeconfig (context `podwall`, user `podwall-admin`) with the certificates inlined. */
export function renderKubeconfig(opts: { server: string; pki: Pki; name?: string }): string {
  const name = opts.name ?? 'podwall';
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${b64(opts.pki.caCert)}`,
    `    server: ${opts.server}`,
    `  name: ${name}`,
    'contexts:',
    '- context:',
    `    cluster: ${name}`,
    '    namespace: default',
    `    user: ${name}-admin`,
    `  name: ${name}`,
    `current-context: ${name}`,
    'preferences: {}',
    'users:',
    `- name: ${name}-admin`,
    '  user:',
    `    client-certificate-data: ${b64(opts.pki.clientCert)}`,
    `    client-key-data: ${b64(opts.pki.clientKey)}`,
    '',
  ].join('\n');
}
