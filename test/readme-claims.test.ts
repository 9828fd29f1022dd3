// The README's (and the HTTP API page's) checkable claims, checked against the code, as
// api-docs.test.ts does for docs/API.md: every flag it shows is one a parser knows, every
// GOFERBROKE_ variable is read, every HTTP route it names is served, every metric it names is
// exported and every exported metric is documented, the OptionsError example is the real message,
// and the comments of examples/config/node.conf say what loading it does.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AdminServer, startAdminServer } from "../src/admin/index.ts";
import { QUERY_HANDLER_VARIABLES } from "../src/cli/query-handlers.ts";
import { COMMANDS, parseCliArgs } from "../src/config/flags.ts";
import { resolveNodeOptions } from "../src/config/merge.ts";
import { createNode, type Node } from "../src/index.ts";
import { silentLogger } from "../src/log.ts";
import { parseExposition } from "./support/exposition.ts";

const ROOT = join(import.meta.dir, "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const adminReadme = readFileSync(join(ROOT, "src", "admin", "README.md"), "utf8");
const sourceOf = (...dirs: string[]) =>
  dirs.flatMap((dir) => readdirSync(join(ROOT, dir)).filter((file) => file.endsWith(".ts")).map((file) => readFileSync(join(ROOT, dir, file), "utf8"))).join("\n");

/** Every `inline code` span of a Markdown text, code blocks included. */
const codeSpans = (text: string) => [...text.matchAll(/`([^`\n]+)`/g)].map((match) => match[1]!);

let node: Node;
let admin: AdminServer;
let workDir: string;

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), "goferbroke-readme-"));
  node = createNode({ name: "readme", address: "127.0.0.1:0" });
  await node.start();
  admin = startAdminServer(node, { port: 0, hostname: "127.0.0.1", logger: silentLogger });
});

afterAll(async () => {
  await admin.stop();
  await node.stop();
  rmSync(workDir, { recursive: true, force: true });
});

describe("flags", () => {
  // Flags the README shows for other programs, each with the file that reads it.
  const OTHER_PROGRAMS: Record<string, string> = {
    "--ca": "src/cli/tls-commands.ts",
    "--ca-key": "src/cli/tls-commands.ts",
    "--days": "src/cli/tls-commands.ts",
    "--dns": "src/cli/tls-commands.ts",
    "--ip": "src/cli/tls-commands.ts",
    "--force": "src/cli/tls-commands.ts",
    "--scenarios": "scripts/chaos.ts",
    "--seed": "scripts/chaos.ts",
    "--minutes": "scripts/bench/soak-hostile.ts",
    "--verbose": "scripts/demo.ts",
    "--host-only": "scripts/build.ts",
    "--targets": "scripts/build.ts",
  };
  // Not flags: words in prose (`--kebab-case`), openssl, sha256sum, serf and build-target names.
  const NOT_FLAGS = new Set(["--kebab-case", "-base64", "-hex", "-c", "-profile", "-baseline"]);

  /** Whether the CLI knows the flag, for the node or for any command (a missing value still means known). */
  function cliKnows(flag: string): boolean {
    for (const argv of [[flag], ...COMMANDS.map((command) => [command, flag])]) {
      try {
        parseCliArgs(argv);
        return true;
      } catch (error) {
        if (!(error as Error).message.startsWith(`unknown flag ${flag}`) && !(error as Error).message.includes("does not apply")) return true;
      }
    }
    return false;
  }

  test("every flag in the README is one the CLI or the named script reads", () => {
    const flags = new Set(codeSpans(readme).flatMap((span) => [...span.matchAll(/(?:^|[\s(|,])(--?[a-zA-Z][a-zA-Z0-9-]*)/g)].map((match) => match[1]!)));
    expect(flags.size).toBeGreaterThan(30);
    const unknown = [...flags].filter((flag) => {
      if (NOT_FLAGS.has(flag)) return false;
      const program = OTHER_PROGRAMS[flag];
      if (program !== undefined) return !readFileSync(join(ROOT, program), "utf8").includes(flag.replace(/^--/, ""));
      return !cliKnows(flag);
    });
    expect(unknown).toEqual([]);
  });

  test("every flag of the README's flag table is a node flag", () => {
    const table = readme.slice(readme.indexOf("| Flag | Meaning |"), readme.indexOf("Every option has a flag"));
    const flags = [...table.matchAll(/^\| (.+?) \|/gm)].flatMap((row) => [...row[1]!.matchAll(/`(--?[a-zA-Z][a-zA-Z0-9-]*)/g)].map((match) => match[1]!));
    expect(flags.length).toBeGreaterThan(15);
    const unknown = flags.filter((flag) => {
      try {
        parseCliArgs([flag]);
        return false;
      } catch (error) {
        return (error as Error).message.startsWith(`unknown flag ${flag}`);
      }
    });
    expect(unknown).toEqual([]);
  });
});

test("every GOFERBROKE_ variable in the README is read by the node or the CLI (or set for query-handler commands)", async () => {
  const setForHandlers: readonly string[] = Object.values(QUERY_HANDLER_VARIABLES);
  const names = [...new Set([...readme.matchAll(/GOFERBROKE_[A-Z_]+/g)].map((match) => match[0]))].filter((name) => !setForHandlers.includes(name));
  expect(names.length).toBeGreaterThan(5);
  const cliSource = sourceOf("src/cli");
  const unread: string[] = [];
  for (const name of names) {
    if (cliSource.includes(`process.env.${name}`)) continue;
    try {
      const { notes } = await resolveNodeOptions({ env: { [name]: "1" } });
      if (notes.some((note) => note.startsWith(`unknown environment variable ${name}`))) unread.push(name);
    } catch (error) {
      // A value the option refuses: the variable is read. An unknown one is never refused.
      if (!(error as Error).message.includes(name)) unread.push(`${name} (${(error as Error).message})`);
    }
  }
  expect(unread).toEqual([]);
});

describe("HTTP routes", () => {
  /** `METHOD /path` spans, and bare `/v1/…`, `/healthz`, `/metrics` spans as GETs. */
  function routes(text: string): string[] {
    const found = new Set<string>();
    for (const span of codeSpans(text)) {
      const withMethod = /^(GET|PUT|POST|DELETE|PATCH) +(\/[^\s`]*)/.exec(span);
      if (withMethod) found.add(`${withMethod[1]} ${withMethod[2]}`);
      else if (/^\/(v1\/[^\s]*|healthz|metrics)$/.test(span)) found.add(`GET ${span}`);
    }
    return [...found];
  }

  test("every route the README and the HTTP API page name is served (not 404 'no such route', not 405)", async () => {
    const named = [...new Set([...routes(readme), ...routes(adminReadme)])];
    expect(named.length).toBeGreaterThan(15);
    const missing: string[] = [];
    for (const route of named) {
      const [method, target] = route.split(" ") as [string, string];
      // Placeholders become sample segments; the query is dropped (its values are examples).
      const path = target.split("?")[0]!.replace(/\{[^}]+\}/g, "sample").replace(/…$/, "");
      const abort = new AbortController();
      const response = await fetch(new URL(path, admin.url), { method, signal: abort.signal, ...(method === "GET" ? {} : { body: "" }) });
      const body = (response.headers.get("content-type")?.startsWith("application/json") ? await response.json() : null) as { error?: string } | null;
      abort.abort(); // the event stream does not end by itself
      if (response.status === 405 || (response.status === 404 && String(body?.error).startsWith("no such route"))) missing.push(`${route} → ${response.status}`);
    }
    expect(missing).toEqual([]);
  });
});

describe("metrics", () => {
  /** The metric names of the HTTP API page's Metrics section, braces expanded, labels dropped. */
  function documentedMetrics(): Set<string> {
    const section = adminReadme.slice(adminReadme.indexOf("## Metrics"));
    const names = new Set<string>();
    for (const span of codeSpans(section)) {
      const name = span.replace(/\{[^{}]*\}$/, ""); // labels, e.g. {type=syn|…} or {node,state}
      if (!/^[a-z_{},]+$/.test(name) || name.endsWith("_")) continue; // a prefix, e.g. `goferbroke_`
      // The standard process_* and prom-client's nodejs_* series carry no prefix.
      for (const expanded of expandBraces(name)) names.add(/^(process|nodejs)_/.test(expanded) ? expanded : `goferbroke_${expanded}`);
    }
    return names;
  }

  function expandBraces(text: string): string[] {
    const match = /\{([^{}]*)\}/.exec(text);
    if (!match) return [text];
    return match[1]!.split(",").flatMap((choice) => expandBraces(text.slice(0, match.index) + choice + text.slice(match.index + match[0].length)));
  }

  test("the documented metric names are exactly the families /metrics exports", async () => {
    const exported = new Set(parseExposition(await (await fetch(new URL("/metrics", admin.url))).text()).keys());
    const documented = documentedMetrics();
    expect([...documented].filter((name) => !exported.has(name)).sort()).toEqual([]);
    expect([...exported].filter((name) => !documented.has(name)).sort()).toEqual([]);
  });

  test("every goferbroke_ metric named in the README or docs/ is exported", async () => {
    const exported = new Set(parseExposition(await (await fetch(new URL("/metrics", admin.url))).text()).keys());
    const docs = [readme, ...readdirSync(join(ROOT, "docs")).filter((file) => file.endsWith(".md")).map((file) => readFileSync(join(ROOT, "docs", file), "utf8"))].join("\n");
    // A name ending in "_" is a prefix (`goferbroke_flow_*`), not a metric.
    const named = new Set([...docs.matchAll(/goferbroke_[a-z_]+/g)].filter((match) => !match[0].endsWith("_")).map((match) => match[0].replace(/_(bucket|sum|count)$/, "")));
    expect([...named].filter((name) => !exported.has(name))).toEqual([]);
  });
});

test("the README's OptionsError example is the message createNode() gives", () => {
  const example = /a bad option throws an `OptionsError` naming the field, the value and the\s+expected form, e\.g\. `([^`]+)`/.exec(readme)?.[1];
  expect(example).toBeDefined();
  const [, option, value] = /^invalid option (\w+): .*, got (\S+)$/.exec(example!) ?? [];
  expect(() => createNode({ name: "example", [option!]: JSON.parse(value!) })).toThrow(example!);
});

describe("examples/config/node.conf says what loading it does", () => {
  const example = readFileSync(join(ROOT, "examples", "config", "node.conf"), "utf8");
  const load = async (text: string) => {
    const path = join(workDir, `node-${Math.random().toString(36).slice(2)}.conf`);
    writeFileSync(path, text);
    return await resolveNodeOptions({ files: { node: path } });
  };

  test('ClientPort "5000" is clientPort 5000; left out or "" is no client port; "0" is any free port', async () => {
    expect(example).toContain('ClientPort: "5000"      # -> clientPort = 5000: the HTTP client port on 127.0.0.1 (leave out, or "", for none;');
    expect((await load(example)).options).toMatchObject({ clientPort: 5000, clientBind: "127.0.0.1" });
    expect((await load(example.replace(/^ClientPort:.*$/m, ""))).options.clientPort).toBeUndefined();
    expect((await load(example.replace(/^ClientPort: "5000"/m, 'ClientPort: ""'))).options.clientPort).toBeUndefined();
    expect((await load(example.replace(/^ClientPort: "5000"/m, 'ClientPort: "0"'))).options.clientPort).toBe(0);
  });

  test("the Go certificate paths do not turn TLS on, and the start-up notes name the flags that do", async () => {
    expect(example).toContain("for mutual TLS set tls { caFile, certFile, keyFile } or --tls-ca, --tls-cert, --tls-key");
    const { options, notes } = await load(example);
    expect(options.tls).toBeUndefined();
    for (const [key, flag] of [["CACertFilePath", "--tls-ca"], ["CertFilePath", "--tls-cert"], ["KeyFilePath", "--tls-key"]]) {
      expect(notes.some((note) => note.startsWith(`ignored Go key Internal.${key} `) && note.includes(`(${flag})`))).toBe(true);
    }
    // The form the comment names loads.
    const withTls = await load(`${example}\ntls { caFile: "certs/ca.pem", certFile: "certs/node.pem", keyFile: "certs/node-key.pem" }\n`);
    expect(withTls.options.tls).toMatchObject({ caFile: "certs/ca.pem", certFile: "certs/node.pem", keyFile: "certs/node-key.pem" });
  });
});
