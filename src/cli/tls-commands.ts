// `goferbroke tls ca create` and `goferbroke tls cert create`: a cluster CA and node certificates
// for mutual TLS, usable as they are with --tls-ca, --tls-cert, --tls-key and --tls-require-name,
// so nobody has to learn openssl. Keys are written 0600, certificates 0644; existing files are
// never replaced without --force.
// Exit codes (through main.ts): 0 written, 2 usage error, 1 a file could not be read or written.

import { closeSync, existsSync, fchmodSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { UsageError } from "../config/flags.ts";
import { isHostname } from "../config/network.ts";
import { NODE_NAME_PATTERN, NODE_NAME_RULE } from "../codec/node-name.ts";
import { ipAddressBytes } from "../tls/ip-address.ts";
import { createAuthority, createNodeCertificate, loadAuthority, type IssuedCertificate } from "../tls/issue.ts";
import { DEFAULT_CA_DAYS, DEFAULT_CA_NAME, DEFAULT_NODE_DAYS, TLS_HELP } from "./tls-help.ts";

const MAX_DAYS = 36_500;
/** RFC 5280 ub-common-name. */
const MAX_COMMON_NAME = 64;
const KEY_MODE = 0o600;
const CERTIFICATE_MODE = 0o644;

/** A file that could not be read or written; the message names it. */
export class TlsFileError extends Error {
  override readonly name = "TlsFileError";
}

interface CommandSpec {
  /** Flags taking a value; `repeatable` ones collect every occurrence (and comma-separated lists). */
  values: readonly string[];
  repeatable: readonly string[];
  run(flags: Flags, out: (line: string) => void): Promise<void>;
}

interface Flags {
  value(name: string): string | undefined;
  list(name: string): string[];
  force: boolean;
  help: boolean;
}

const COMMANDS: Record<string, CommandSpec> = {
  "ca create": { values: ["out", "name", "days"], repeatable: [], run: createCa },
  "cert create": { values: ["out", "name", "days", "ca", "ca-key"], repeatable: ["ip", "dns"], run: createCert },
};

/** Runs `goferbroke tls …` (argv after `tls`). Throws UsageError, or TlsFileError / CertificateError naming the file. */
export async function runTlsCommand(argv: readonly string[], out: (line: string) => void): Promise<void> {
  const [group, action, ...rest] = argv;
  if (group === undefined || isHelpFlag(group) || (action !== undefined && isHelpFlag(action))) {
    out(TLS_HELP);
    return;
  }
  const command = action === undefined || action.startsWith("-") ? group : `${group} ${action}`;
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command "tls ${command}"; commands: ${Object.keys(COMMANDS).map((name) => `tls ${name}`).join(", ")} (see goferbroke tls --help)`);
  const flags = parseFlags(rest, spec, command);
  if (flags.help) out(TLS_HELP);
  else await spec.run(flags, out);
}

const isHelpFlag = (arg: string) => ["--help", "-help", "-h"].includes(arg);

/** The flags after `tls <group> <action>`: `--flag value`, `--flag=value`, one dash or two, as the node's flags. */
function parseFlags(argv: readonly string[], spec: CommandSpec, command: string): Flags {
  const values = new Map<string, string[]>();
  let force = false;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith("-")) throw new UsageError(`tls ${command} takes no argument ${JSON.stringify(arg)} (its flags: see goferbroke tls --help)`);
    const [flag, inline] = splitFlag(arg);
    const name = flag.replace(/^--?/, "");
    if (inline === undefined && (name === "force" || isHelpFlag(flag))) {
      if (name === "force") force = true;
      else help = true;
      continue;
    }
    const repeatable = spec.repeatable.includes(name);
    if (!repeatable && !spec.values.includes(name)) {
      const known = [...spec.values, ...spec.repeatable, "force"].map((known) => `--${known}`).join(", ");
      throw new UsageError(`unknown flag ${flag} for tls ${command}; flags: ${known}`, flag);
    }
    const value = inline ?? argv[++i];
    if (value === undefined || value === "") throw new UsageError(`flag ${flag} needs a value`, flag);
    const previous = values.get(name) ?? [];
    if (!repeatable && previous.length > 0) throw new UsageError(`flag ${flag} given twice`, flag);
    values.set(name, [...previous, ...(repeatable ? value.split(",").map((item) => item.trim()).filter(Boolean) : [value])]);
  }
  return { value: (name) => values.get(name)?.[0], list: (name) => values.get(name) ?? [], force, help };
}

function splitFlag(arg: string): [string, string | undefined] {
  const equals = arg.indexOf("=");
  return equals < 0 ? [arg, undefined] : [arg.slice(0, equals), arg.slice(equals + 1)];
}

// ---------------------------------------------------------------------------------------------
// The commands

async function createCa(flags: Flags, out: (line: string) => void): Promise<void> {
  const commonName = flags.value("name") ?? DEFAULT_CA_NAME;
  if (commonName.length > MAX_COMMON_NAME || /[\u0000-\u001f\u007f]/.test(commonName)) {
    throw new UsageError(`--name must be at most ${MAX_COMMON_NAME} characters without control characters, got ${JSON.stringify(commonName)}`, "--name");
  }
  const days = parseDays(flags.value("days"), DEFAULT_CA_DAYS);
  const dir = outputDirectory(flags.value("out"));
  const files = { certificate: join(dir, "ca.pem"), key: join(dir, "ca-key.pem") };
  refuseExisting(Object.values(files), flags.force);
  const issued = await createAuthority({ commonName, days });
  writeIssued(issued, files, flags.force);
  out(`wrote ${files.certificate} (CA certificate "${commonName}", valid until ${day(issued.notAfter)}; give it to every node as --tls-ca)`);
  out(`wrote ${files.key} (CA private key, mode 0600: keep it safe and off the nodes; it signs node certificates)`);
}

async function createCert(flags: Flags, out: (line: string) => void): Promise<void> {
  const name = flags.value("name");
  if (name === undefined) throw new UsageError("tls cert create needs --name NODE (the node's -name)", "--name");
  if (!NODE_NAME_PATTERN.test(name)) throw new UsageError(`--name must be a node name of ${NODE_NAME_RULE}, got ${JSON.stringify(name)}`, "--name");
  const ipAddresses = flags.list("ip").map((text) => {
    const bytes = ipAddressBytes(text);
    if (!bytes) throw new UsageError(`--ip ${JSON.stringify(text)} is not an IPv4 or IPv6 address (without a zone id)`, "--ip");
    return { text, bytes };
  });
  const dnsNames = flags.list("dns").map((host) => {
    if (!isHostname(host.startsWith("*.") ? host.slice(2) : host)) throw new UsageError(`--dns ${JSON.stringify(host)} is not a DNS host name`, "--dns");
    return host;
  });
  const days = parseDays(flags.value("days"), DEFAULT_NODE_DAYS);
  const dir = outputDirectory(flags.value("out"));
  const caFiles = { certificate: flags.value("ca") ?? join(dir, "ca.pem"), key: flags.value("ca-key") ?? join(dir, "ca-key.pem") };
  const files = { certificate: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
  const caPaths = new Set(Object.values(caFiles).map((path) => resolve(path)));
  const clash = Object.values(files).find((path) => caPaths.has(resolve(path)));
  if (clash) throw new UsageError(`the node certificate for --name ${name} would be written over the CA's file ${clash}; choose another --name or --out`);
  refuseExisting(Object.values(files), flags.force);
  const authority = await loadAuthority(readText(caFiles.certificate, "CA certificate"), readText(caFiles.key, "CA private key"), caFiles);
  const issued = await createNodeCertificate({ name, dnsNames, ipAddresses, days, authority });
  writeIssued(issued, files, flags.force);
  const signer = authority.certificate.subjectCommonName;
  out(`wrote ${files.certificate} (node ${name}: CN=${name}, ${issued.altNames.join(", ") || "no alternative names"}; signed by "${signer}"; valid until ${day(issued.notAfter)})`);
  out(`wrote ${files.key} (private key, mode 0600)`);
  if (ipAddresses.length === 0) {
    out(`note: no --ip given, so peers can dial ${name} only by a host name the certificate lists; add --ip for each address they dial it at`);
  }
  out(`run the node with: --tls-ca=${caFiles.certificate} --tls-cert=${files.certificate} --tls-key=${files.key} --tls-require-name`);
}

function parseDays(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const days = /^[1-9]\d{0,5}$/.test(text) ? Number(text) : NaN;
  if (!(days <= MAX_DAYS)) throw new UsageError(`--days must be a whole number from 1 to ${MAX_DAYS}, got ${JSON.stringify(text)}`, "--days");
  return days;
}

function day(date: Date): string {
  return date.toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------------------------
// Files

function outputDirectory(dir = "."): string {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new TlsFileError(`cannot create the output directory ${dir}: ${(error as Error).message}`);
  }
  if (!statSync(dir).isDirectory()) throw new TlsFileError(`--out ${dir} is not a directory`);
  return dir;
}

function refuseExisting(paths: readonly string[], force: boolean): void {
  if (force) return;
  const existing = paths.filter((path) => existsSync(path));
  if (existing.length > 0) throw new TlsFileError(`refusing to overwrite ${existing.join(" and ")} (give --force to replace)`);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new TlsFileError(`cannot read the ${what} ${path}: ${(error as Error).message}`);
  }
}

/** The key first: a certificate without its key is useless, and the key is what must not leak. */
function writeIssued(issued: IssuedCertificate, files: { certificate: string; key: string }, force: boolean): void {
  writeFile(files.key, issued.keyPem, KEY_MODE, force);
  writeFile(files.certificate, issued.certificatePem, CERTIFICATE_MODE, force);
}

/**
 * Creates the file with its mode from the start (O_EXCL: never through an existing file or
 * symlink), then sets the mode exactly, since the umask may have narrowed it.
 */
function writeFile(path: string, text: string, mode: number, force: boolean): void {
  try {
    if (force) rmSync(path, { force: true });
    const fd = openSync(path, "wx", mode);
    try {
      fchmodSync(fd, mode);
      writeFileSync(fd, text);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new TlsFileError(`cannot write ${path}: ${(error as Error).message}`);
  }
}
