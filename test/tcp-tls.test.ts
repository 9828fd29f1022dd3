// Mutual TLS between transports, with certificates made by openssl for this run: a cluster CA,
// node certificates it signs, and a certificate from another CA that must be refused.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageType } from "../src/codec/index.ts";
import type { TlsFiles } from "../src/transport/tcp.ts";
import { closeAll, frameBytes, introduce, startNode, waitFor } from "./tcp-harness.ts";

const openssl = Bun.which("openssl");
if (!openssl) console.warn("skipping TLS transport tests: openssl is not on PATH, so no test certificates can be made");

let dir = "";

function run(args: string[]): void {
  const result = Bun.spawnSync([openssl!, ...args], { cwd: dir, stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr.toString()}`);
}

function makeCa(name: string): void {
  run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
    .concat(["-keyout", `${name}.key`, "-out", `${name}.pem`, "-subj", `/CN=${name}`]));
}

/** A node certificate: CN and DNS SAN `cn`, IP SAN 127.0.0.1 (the address peers dial). */
function makeLeaf(name: string, cn: string, ca: string): TlsFiles {
  run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`]);
  writeFileSync(join(dir, `${name}.ext`), `subjectAltName=DNS:${cn},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n`);
  run(["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "1"]
    .concat(["-out", `${name}.pem`, "-extfile", `${name}.ext`]));
  return { caFile: join(dir, "cluster-ca.pem"), certFile: join(dir, `${name}.pem`), keyFile: join(dir, `${name}.key`) };
}

const certs: Record<string, TlsFiles> = {};

beforeAll(() => {
  if (!openssl) return;
  dir = mkdtempSync(join(tmpdir(), "goferbroke-tls-"));
  makeCa("cluster-ca");
  makeCa("other-ca");
  for (const name of ["alpha", "beta"]) certs[name] = makeLeaf(name, name, "cluster-ca");
  certs.mallory = makeLeaf("mallory", "mallory", "other-ca");
  certs.eve = makeLeaf("eve", "carol", "cluster-ca"); // signed by the cluster CA, but for another name
});

afterEach(closeAll);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ping = (label: string) => frameBytes(MessageType.Ping, new TextEncoder().encode(label));

describe.skipIf(!openssl)("TcpTransport over mutual TLS", () => {
  test("nodes with certificates from the cluster CA exchange frames, names checked", async () => {
    const a = await startNode("alpha", { tls: { ...certs.alpha!, requireNameMatch: true } });
    const b = await startNode("beta", { tls: { ...certs.beta!, requireNameMatch: true } });
    introduce(a, b);
    expect(a.transport.send("beta", ping("over tls"))).toBe("queued");
    await waitFor("the frame over TLS", () => b.host.framesFrom("alpha").length === 1);
    b.transport.send("alpha", ping("back"));
    await waitFor("the reply over TLS", () => a.host.framesFrom("beta").length === 1);
    expect(a.transport.stats.connectionsRefused + b.transport.stats.connectionsRefused).toBe(0);
  });

  test("a client certificate from another CA is refused with a log line saying so", async () => {
    const a = await startNode("alpha", { tls: certs.alpha! });
    // mallory trusts the cluster CA (so it accepts alpha) but its own certificate is from another CA.
    const m = await startNode("mallory", { tls: certs.mallory! });
    introduce(a, m);
    m.transport.send("alpha", ping("let me in"));
    await waitFor("alpha to refuse mallory's certificate", () => a.transport.stats.connectionsRefused === 1);
    const lines = a.log.matching(/^refused peer 127\.0\.0\.1:\d+: certificate not trusted/);
    expect(lines.length).toBe(1);
    expect(lines[0]!.level).toBe("warn");
    expect(a.transport.stats.refusedByReason).toEqual({ CertificateUntrusted: 1 });
    expect(a.host.events).toEqual([]);
    expect(a.host.frames).toEqual([]);
  });

  test("a server certificate from another CA is refused by the dialer", async () => {
    const a = await startNode("alpha", { tls: certs.alpha! });
    const m = await startNode("mallory", { tls: certs.mallory! });
    introduce(a, m);
    a.transport.send("mallory", ping("secret state"));
    await waitFor("alpha to refuse mallory's server certificate", () => a.transport.stats.connectionsRefused === 1);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: certificate not trusted/).length).toBe(1);
    expect(m.host.frames).toEqual([]);
  });

  test("with requireNameMatch, a certificate for another name is refused", async () => {
    const a = await startNode("alpha", { tls: { ...certs.alpha!, requireNameMatch: true } });
    const e = await startNode("eve", { tls: certs.eve! });
    introduce(a, e);
    e.transport.send("alpha", ping("I am eve"));
    await waitFor("alpha to refuse eve", () => a.transport.stats.connectionsRefused === 1);
    expect(a.log.matching(/^refused peer 127\.0\.0\.1:\d+: certificate names \[carol\] do not include the announced node name 'eve'$/).length).toBe(1);
    expect(a.host.events).toEqual([]);
  });
});
