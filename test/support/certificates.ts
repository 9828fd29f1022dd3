// Test certificates made with the `openssl` CLI for one run: a cluster CA, node certificates it
// signs, and certificates from a foreign CA that a cluster must refuse. Each node certificate
// names the node as its CN and as a DNS SAN (for --tls-require-name) and carries IP SAN
// 127.0.0.1 (or the addresses given), the address peers dial (the dialer checks the dialled host against the SANs).

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The openssl executable, or null: callers skip with a printed reason. */
export const opensslPath: string | null = Bun.which("openssl");

export const SKIP_REASON = "openssl is not on PATH, so no test certificates can be made";

export interface NodeCertificate {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export class CertificateAuthorities {
  readonly dir = mkdtempSync(join(tmpdir(), "goferbroke-certs-"));
  private readonly made = new Set<string>();

  constructor(private readonly openssl: string) {}

  /** Makes (once) a self-signed EC P-256 CA called `ca`; returns its PEM file. */
  authority(ca: string): string {
    if (!this.made.has(ca)) {
      this.run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
        .concat(["-keyout", `${ca}.key`, "-out", `${ca}.pem`, "-subj", `/CN=${ca}`]));
      this.made.add(ca);
    }
    return join(this.dir, `${ca}.pem`);
  }

  /**
   * A certificate for `node` signed by `signer`; `trust` is the CA the node verifies its peers
   * against (the cluster CA even for an intruder, so that only its own certificate is wrong).
   * `ips` are the IP SANs: the addresses peers dial this node at.
   */
  nodeCertificate(node: string, signer: string, trust: string = signer, ips: readonly string[] = ["127.0.0.1"]): NodeCertificate {
    this.authority(signer);
    const file = `${node}-by-${signer}`;
    this.run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
      .concat(["-keyout", `${file}.key`, "-out", `${file}.csr`, "-subj", `/CN=${node}`]));
    writeFileSync(join(this.dir, `${file}.ext`), `subjectAltName=${[`DNS:${node}`, ...ips.map((ip) => `IP:${ip}`)].join(",")}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    this.run(["x509", "-req", "-in", `${file}.csr`, "-CA", `${signer}.pem`, "-CAkey", `${signer}.key`, "-CAcreateserial", "-days", "1"]
      .concat(["-out", `${file}.pem`, "-extfile", `${file}.ext`]));
    return { caFile: this.authority(trust), certFile: join(this.dir, `${file}.pem`), keyFile: join(this.dir, `${file}.key`) };
  }

  /** Deletes every file made. */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private run(args: string[]): void {
    const result = Bun.spawnSync([this.openssl, ...args], { cwd: this.dir, stdout: "ignore", stderr: "pipe" });
    if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr.toString()}`);
  }
}

/** The CLI flags that make a node use these files for mutual TLS. */
export function tlsFlags(certificate: NodeCertificate, requireName = true): string[] {
  return [
    `--tls-ca=${certificate.caFile}`,
    `--tls-cert=${certificate.certFile}`,
    `--tls-key=${certificate.keyFile}`,
    ...(requireName ? ["--tls-require-name"] : []),
  ];
}
