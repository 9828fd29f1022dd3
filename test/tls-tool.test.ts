// `goferbroke tls ca create` / `tls cert create`, run as real processes: the files they write are
// checked by independent parsers (node:crypto's X509Certificate and, when present, the openssl
// CLI), and a cluster started from them converges over mutual TLS while a certificate for another
// name or from another CA is refused. Also the README's commands, the file modes and refusals.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createPrivateKey, sign, verify, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ecdsaSignatureToDer } from "../src/tls/x509.ts";
import { opensslPath, SKIP_REASON as NO_OPENSSL, tlsFlags } from "./support/certificates.ts";
import { allHold, killAll, members, putKey, runCli, startCluster, startNode, waitFor, waitForLog, waitHealthy, type NodeProcess } from "./support/node-processes.ts";

setDefaultTimeout(60_000);

const DAY_MS = 86_400_000;
let dir = "";

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "goferbroke-tls-tool-"));
});
afterAll(async () => {
  await killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `goferbroke tls …` in `cwd`; fails the test with its output unless the exit code is `expected`. */
async function tls(args: string[], cwd: string, expected = 0) {
  const result = await runCli(["tls", ...args], { cwd });
  if (result.exitCode !== expected) throw new Error(`goferbroke tls ${args.join(" ")} exited ${result.exitCode}, expected ${expected}:\n${result.stdout}${result.stderr}`);
  return result;
}

function fresh(name: string): string {
  const path = join(dir, name);
  mkdirSync(path);
  return path;
}

const certificate = (path: string) => new X509Certificate(readFileSync(path));
const mode = (path: string) => statSync(path).mode & 0o777;

function openssl(args: string[]): { code: number; output: string } {
  const result = Bun.spawnSync([opensslPath!, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: result.exitCode, output: result.stdout.toString() + result.stderr.toString() };
}

describe("goferbroke tls writes a CA and node certificates", () => {
  let out = "";
  beforeAll(async () => {
    out = fresh("pki");
    await tls(["ca", "create", "--out", out, "--name", "Test Cluster CA", "--days", "30"], dir);
    await tls(["cert", "create", "--out", out, "--name", "alpha", "--ip", "127.0.0.1,::1", "--ip", "::ffff:192.0.2.7", "--dns", "alpha.example.com", "--days", "10"], dir);
  });

  test("the CA: self-signed, CA:TRUE, the named subject, the asked validity, key 0600 and certificate 0644", () => {
    const ca = certificate(join(out, "ca.pem"));
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe("CN=Test Cluster CA");
    expect(ca.issuer).toBe(ca.subject);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(Math.abs(ca.validToDate.getTime() - (Date.now() + 30 * DAY_MS))).toBeLessThan(60_000);
    expect(ca.validFromDate.getTime()).toBeLessThan(Date.now());
    expect(mode(join(out, "ca-key.pem"))).toBe(0o600);
    expect(mode(join(out, "ca.pem"))).toBe(0o644);
  });

  test("the node certificate: signed by the CA, names the node, its addresses, both TLS purposes; its key matches", () => {
    const ca = certificate(join(out, "ca.pem"));
    const node = certificate(join(out, "alpha.pem"));
    expect(node.ca).toBe(false);
    expect(node.subject).toBe("CN=alpha");
    expect(node.verify(ca.publicKey)).toBe(true);
    expect(node.checkIssued(ca)).toBe(true);
    expect(node.checkHost("alpha")).toBe("alpha");
    expect(node.checkHost("alpha.example.com")).toBe("alpha.example.com");
    expect(node.checkHost("beta")).toBeUndefined();
    for (const ip of ["127.0.0.1", "::1", "::ffff:192.0.2.7"]) expect(node.checkIP(ip)).toBe(ip);
    expect(node.checkIP("127.0.0.2")).toBeUndefined();
    expect(node.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]); // serverAuth, clientAuth
    expect(Math.abs(node.validToDate.getTime() - (Date.now() + 10 * DAY_MS))).toBeLessThan(60_000);
    expect(node.serialNumber).not.toBe(ca.serialNumber);

    const keyPem = readFileSync(join(out, "alpha-key.pem"), "utf8");
    expect(keyPem.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    const signature = sign("sha256", Buffer.from("proof of possession"), key);
    expect(verify("sha256", Buffer.from("proof of possession"), node.publicKey, signature)).toBe(true);
    expect(mode(join(out, "alpha-key.pem"))).toBe(0o600);
    expect(mode(join(out, "alpha.pem"))).toBe(0o644);
  });

  test.skipIf(!opensslPath)("openssl verifies the node certificate for TLS servers and clients and reads every extension", () => {
    const ca = join(out, "ca.pem");
    const node = join(out, "alpha.pem");
    for (const purpose of ["sslserver", "sslclient"]) {
      expect(openssl(["verify", "-CAfile", ca, "-purpose", purpose, node])).toEqual({ code: 0, output: `${node}: OK\n` });
    }
    const caText = openssl(["x509", "-in", ca, "-noout", "-text"]).output;
    expect(caText).toContain("CA:TRUE, pathlen:0");
    expect(caText).toContain("Certificate Sign, CRL Sign");
    const nodeText = openssl(["x509", "-in", node, "-noout", "-text"]).output;
    expect(nodeText).toContain("CA:FALSE");
    expect(nodeText).toContain("TLS Web Server Authentication, TLS Web Client Authentication");
    expect(nodeText).toContain("DNS:alpha, DNS:alpha.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:C000:207");
    // The authority key id is the CA's subject key id, so chain builders can pick the CA by it.
    const caKeyId = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(caText)?.[1];
    expect(caKeyId).toBeDefined();
    expect(/Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(nodeText)?.[1]).toBe(caKeyId);
  });
  if (!opensslPath) console.warn(`skipping the openssl cross-checks: ${NO_OPENSSL}`);
});

describe("refusals and bad input", () => {
  test("existing files are kept (exit 1 naming them) unless --force, which writes new ones with the right modes", async () => {
    const out = fresh("overwrite");
    await tls(["ca", "create", "--out", out], dir);
    await tls(["cert", "create", "--out", out, "--name", "n1", "--ip", "127.0.0.1"], dir);
    const before = readFileSync(join(out, "n1.pem"), "utf8");
    const refused = await tls(["cert", "create", "--out", out, "--name", "n1"], dir, 1);
    expect(refused.stderr).toBe(`goferbroke: refusing to overwrite ${join(out, "n1.pem")} and ${join(out, "n1-key.pem")} (give --force to replace)\n`);
    expect(readFileSync(join(out, "n1.pem"), "utf8")).toBe(before);
    const caRefused = await tls(["ca", "create", "--out", out], dir, 1);
    expect(caRefused.stderr).toContain(`refusing to overwrite ${join(out, "ca.pem")} and ${join(out, "ca-key.pem")}`);

    chmodSync(join(out, "n1-key.pem"), 0o644); // --force must not keep a too-open mode
    await tls(["cert", "create", "--out", out, "--name", "n1", "--ip", "127.0.0.1", "--force"], dir);
    expect(readFileSync(join(out, "n1.pem"), "utf8")).not.toBe(before);
    expect(mode(join(out, "n1-key.pem"))).toBe(0o600);
  });

  test("usage errors exit 2 naming the flag and what was wrong", async () => {
    const out = fresh("usage");
    const cases: [string[], string][] = [
      [["cert", "create", "--out", out], "tls cert create needs --name NODE"],
      [["cert", "create", "--out", out, "--name", "no spaces"], `--name must be a node name of 1 to 64 characters`],
      [["cert", "create", "--out", out, "--name", "n1", "--ip", "10.0.0.300"], `--ip "10.0.0.300" is not an IPv4 or IPv6 address`],
      [["cert", "create", "--out", out, "--name", "n1", "--dns", "bad_host"], `--dns "bad_host" is not a DNS host name`],
      [["cert", "create", "--out", out, "--name", "n1", "--days", "0"], `--days must be a whole number from 1 to 36500, got "0"`],
      [["ca", "create", "--out", out, "--days", "1.5"], `--days must be a whole number from 1 to 36500, got "1.5"`],
      [["ca", "create", "--out", out, "--ip", "127.0.0.1"], "unknown flag --ip for tls ca create"],
      [["ca", "create", "--out", out, "--days"], "flag --days needs a value"],
      [["cert", "create", "--out", out, "--name", "ca"], `would be written over the CA's file ${join(out, "ca.pem")}`],
      [["ca", "make"], `unknown command "tls ca make"`],
    ];
    for (const [args, message] of cases) {
      const result = await tls(args, dir, 2);
      expect(result.stderr).toContain(message);
    }
    expect(existsSync(join(out, "ca.pem"))).toBe(false);
  });

  test("a CA key that is not the CA's, a node certificate as --ca, or a missing CA: exit 1 naming the file", async () => {
    const out = fresh("wrong-ca");
    const other = fresh("other-ca");
    await tls(["ca", "create", "--out", out], dir);
    await tls(["ca", "create", "--out", other], dir);
    await tls(["cert", "create", "--out", out, "--name", "n1"], dir);
    const wrongKey = await tls(["cert", "create", "--out", out, "--name", "n2", "--ca-key", join(other, "ca-key.pem")], dir, 1);
    expect(wrongKey.stderr).toBe(`goferbroke: ${join(other, "ca-key.pem")} is not the private key of ${join(out, "ca.pem")} (CN=GoferBroke CA)\n`);
    const notCa = await tls(["cert", "create", "--out", out, "--name", "n2", "--ca", join(out, "n1.pem"), "--ca-key", join(out, "n1-key.pem")], dir, 1);
    expect(notCa.stderr).toBe(`goferbroke: ${join(out, "n1.pem")}: CN=n1 is not a CA certificate (no basicConstraints CA:TRUE)\n`);
    const missing = await tls(["cert", "create", "--out", fresh("no-ca"), "--name", "n2"], dir, 1);
    expect(missing.stderr).toContain(`cannot read the CA certificate ${join(dir, "no-ca", "ca.pem")}`);
    const garbage = join(out, "garbage.pem");
    await Bun.write(garbage, "-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n");
    const notCertificate = await tls(["cert", "create", "--out", out, "--name", "n2", "--ca", garbage], dir, 1);
    expect(notCertificate.stderr).toContain(`goferbroke: ${garbage}: `);
    expect(existsSync(join(out, "n2.pem")) || existsSync(join(out, "n2-key.pem"))).toBe(false);
  });

  test("a CA longer-lived than the node certificate is required", async () => {
    const out = fresh("short-ca");
    await tls(["ca", "create", "--out", out, "--days", "5"], dir);
    const result = await tls(["cert", "create", "--out", out, "--name", "n1", "--days", "6"], dir, 1);
    expect(result.stderr).toMatch(/would outlive its CA \(valid until [0-9T:.-]+Z\); give --days 4 or less/);
  });
});

describe.skipIf(!opensslPath)("a CA made by openssl", () => {
  test("signs node certificates through the tool, with a PKCS#8 or a SEC1 key", async () => {
    for (const [label, keyArgs] of [
      ["pkcs8", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]],
      ["sec1", ["ecparam", "-name", "prime256v1", "-genkey", "-noout"]],
    ] as const) {
      const out = fresh(`openssl-${label}`);
      const key = join(out, "ca-key.pem");
      expect(openssl([...keyArgs, "-out", key]).code).toBe(0);
      expect(readFileSync(key, "utf8")).toContain(label === "sec1" ? "BEGIN EC PRIVATE KEY" : "BEGIN PRIVATE KEY");
      const made = openssl(["req", "-x509", "-new", "-key", key, "-days", "2", "-subj", "/O=Acme/CN=Acme CA", "-out", join(out, "ca.pem")]);
      expect(made.code).toBe(0);
      await tls(["cert", "create", "--out", out, "--name", "n1", "--ip", "127.0.0.1", "--days", "1"], dir);
      expect(openssl(["verify", "-CAfile", join(out, "ca.pem"), "-purpose", "sslserver", join(out, "n1.pem")]).code).toBe(0);
      expect(certificate(join(out, "n1.pem")).issuer).toBe(certificate(join(out, "ca.pem")).subject); // O and CN, copied exactly
    }
  });
});

test("ECDSA signatures become DER that node:crypto verifies, including r or s with a leading zero byte or the top bit set", async () => {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
  const publicKey = Buffer.from(await crypto.subtle.exportKey("spki", keys.publicKey));
  const seen = { leadingZero: 0, topBit: 0 };
  // About 1 in 128 signatures has r or s below 2^248; 3000 signatures see one with certainty for practical purposes.
  for (let i = 0; i < 3000 && !(seen.leadingZero > 0 && seen.topBit > 0); i++) {
    const message = Buffer.from(`message ${i}`);
    const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, message));
    if (raw[0] === 0 || raw[32] === 0) seen.leadingZero++;
    if (raw[0]! >= 0x80 || raw[32]! >= 0x80) seen.topBit++;
    const der = ecdsaSignatureToDer(raw);
    expect(verify("sha256", message, { key: publicKey, format: "der", type: "spki", dsaEncoding: "der" }, der)).toBe(true);
  }
  expect(seen.leadingZero).toBeGreaterThan(0);
  expect(seen.topBit).toBeGreaterThan(0);
});

test("the README's commands run as written and produce the files its run line names", async () => {
  const readme = readFileSync(join(import.meta.dir, "..", "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("**Certificates.**"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  expect(block).toBeDefined();
  const commands = block!.trim().split("\n").map((line) => line.trim().split(/\s+/));
  expect(commands.length).toBeGreaterThanOrEqual(2);
  const cwd = fresh("readme");
  for (const [program, ...args] of commands) {
    expect(program).toBe("goferbroke");
    await runCli(args, { cwd }).then((result) => expect({ args, code: result.exitCode, stderr: result.stderr }).toEqual({ args, code: 0, stderr: "" }));
  }
  const runLine = /`(--tls-ca=\S+ --tls-cert=\S+ --tls-key=\S+ --tls-require-name)`/.exec(section)?.[1];
  expect(runLine).toBeDefined();
  for (const flag of runLine!.split(" ").filter((flag) => flag.includes("="))) expect(existsSync(join(cwd, flag.split("=")[1]!))).toBe(true);
  // The addresses and names the README gives are in the certificates.
  for (const args of commands.filter((command) => command.includes("cert"))) {
    const name = args[args.indexOf("--name") + 1]!;
    const node = certificate(join(cwd, "certs", `${name}.pem`));
    expect(node.checkIssued(certificate(join(cwd, "certs", "ca.pem")))).toBe(true);
    expect(node.checkHost(name)).toBe(name);
    for (let i = args.indexOf("--ip"); i >= 0; i = args.indexOf("--ip", i + 1)) expect(node.checkIP(args[i + 1]!)).toBe(args[i + 1]);
    for (let i = args.indexOf("--dns"); i >= 0; i = args.indexOf("--dns", i + 1)) expect(node.checkHost(args[i + 1]!)).toBe(args[i + 1]);
  }
});

test("help: `goferbroke help` lists tls; `help tls`, `tls --help` and `tls cert create --help` show its options", async () => {
  const overview = await runCli(["help"]);
  expect(overview.exitCode).toBe(0);
  expect(overview.stdout).toMatch(/^ {2}tls ca\|cert create \[flags\] +make a cluster CA and node certificates/m);
  const outputs = await Promise.all([["help", "tls"], ["tls", "--help"], ["tls", "cert", "create", "--help"]].map((args) => runCli(args)));
  for (const result of outputs) {
    expect(result.exitCode).toBe(0);
    for (const flag of ["--out", "--name", "--days", "--force", "--ip", "--dns", "--ca", "--ca-key"]) expect(result.stdout).toContain(flag);
  }
  expect(outputs[1]!.stdout).toBe(outputs[0]!.stdout);
});

describe("a cluster from freshly generated files", () => {
  const INTERVAL_MS = 100;
  let pki = "";
  let foreign = "";
  const files = (name: string, ca = pki, certDir = pki) => ({ caFile: join(ca, "ca.pem"), certFile: join(certDir, `${name}.pem`), keyFile: join(certDir, `${name}-key.pem`) });

  beforeAll(async () => {
    pki = fresh("cluster");
    foreign = fresh("foreign");
    await tls(["ca", "create", "--out", pki], dir);
    await tls(["ca", "create", "--out", foreign, "--name", "Foreign CA"], dir);
    for (const name of ["alpha", "bravo", "charlie", "carol"]) await tls(["cert", "create", "--out", pki, "--name", name, "--ip", "127.0.0.1"], dir);
    await tls(["cert", "create", "--out", foreign, "--name", "mallory", "--ip", "127.0.0.1"], dir);
  });

  /** No node lists `name` as a member, checked for `ms` (the refusal already happened; this is what it means). */
  async function expectNeverMember(nodes: readonly NodeProcess[], name: string, ms: number): Promise<void> {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      for (const node of nodes) expect((await members(node)).map((row) => row.name)).not.toContain(name);
      await Bun.sleep(100);
    }
  }

  test("three nodes with --tls-require-name converge; another name's certificate and another CA's are refused", async () => {
    const names = ["alpha", "bravo", "charlie"];
    const nodes = await startCluster({ names, gossipIntervalMs: INTERVAL_MS, flags: (name) => tlsFlags(files(name)) });
    const [alpha, bravo] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    await putKey(bravo, "tls", "key", "over generated certificates");
    await waitFor("bravo's write to reach every node", () => allHold(nodes, "bravo", "tls", "key", "over generated certificates"), 15_000);

    // eve holds a valid certificate of this CA, but it names carol.
    const eve = await startNode({ name: "eve", seeds: [alpha.address], gossipIntervalMs: INTERVAL_MS, flags: tlsFlags(files("carol")) });
    await waitHealthy(eve);
    await waitForLog(alpha, "the refusal of eve's certificate name", (line) =>
      /^refused peer 127\.0\.0\.1:\d+: certificate names \[carol\] do not include the announced node name 'eve'$/.test(line.msg));

    // mallory trusts this cluster's CA, but its own certificate is from another CA.
    const mallory = await startNode({ name: "mallory", seeds: [alpha.address], gossipIntervalMs: INTERVAL_MS, flags: tlsFlags({ ...files("mallory", pki, foreign) }) });
    await waitHealthy(mallory);
    await waitForLog(alpha, "the refusal of mallory's certificate", (line) => /^refused peer 127\.0\.0\.1:\d+: certificate not trusted/.test(line.msg));
    await expectNeverMember(nodes, "eve", 1_000);
    await expectNeverMember(nodes, "mallory", 500);
    expect((await members(mallory)).map((row) => row.name)).toEqual(["mallory"]);
  });
});
