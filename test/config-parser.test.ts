// Config loading: the `.conf` parser, JSON with positioned errors, and the Go-name mapping.
// Every expected object, line and column below was worked out by hand from the input text.

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { MAX_NESTING_DEPTH, parseConf } from "../src/config/conf-parser.ts";
import { ConfigNameConflictError, normaliseGoConfig } from "../src/config/go-names.ts";
import { ConfigReadError, ConfigSyntaxError, loadConfigFile, parseConfigText } from "../src/config/load.ts";

const FIXTURES = join(import.meta.dir, "fixtures", "go-configs");
const EXAMPLES = join(import.meta.dir, "..", "examples", "config");

/** Runs `parse` and returns the ConfigSyntaxError it must throw. */
function syntaxError(parse: () => unknown): ConfigSyntaxError {
  try {
    parse();
  } catch (error) {
    if (error instanceof ConfigSyntaxError) return error;
    throw new Error(`expected a ConfigSyntaxError, got ${String(error)}`);
  }
  throw new Error("expected a ConfigSyntaxError, but parsing succeeded");
}

interface ErrorCase {
  name: string;
  text: string;
  file?: string;
  line: number;
  column: number;
  expected: string;
  found: string;
}

function expectErrorCase(c: ErrorCase): void {
  const error = syntaxError(() => parseConfigText(c.text, c.file));
  const file = c.file ?? "<inline>";
  expect({ file: error.file, line: error.line, column: error.column, expected: error.expected, found: error.found }).toEqual({
    file,
    line: c.line,
    column: c.column,
    expected: c.expected,
    found: c.found,
  });
  expect(error.message).toBe(`${file}:${c.line}:${c.column}: expected ${c.expected}, found ${c.found}`);
}

describe(".conf: entries and separators", () => {
  test("key = value, key: value, key value, and no spaces around the separator", () => {
    expect(parseConf("a = 1\nb: 2\nc 3\nd=4\ne:5")).toEqual({ a: 1, b: 2, c: 3, d: 4, e: 5 });
  });

  test("entries may also be separated by ';' or ',' on one line", () => {
    expect(parseConf("a = 1; b = 2, c = 3")).toEqual({ a: 1, b: 2, c: 3 });
  });

  test("empty documents, blank lines and comment-only documents give an empty object", () => {
    expect(parseConf("")).toEqual({});
    expect(parseConf("\n\n   \n")).toEqual({});
    expect(parseConf("# only a comment\n// and another")).toEqual({});
  });

  test("quoted keys: double (with escapes) and single", () => {
    expect(parseConf(`"some-key": "value \\"is\\" this"`)).toEqual({ "some-key": 'value "is" this' });
    expect(parseConf(`'single key' = 1\n"tab\\tkey" = 2`)).toEqual({ "single key": 1, "tab\tkey": 2 });
  });

  test("a '#' right after a key starts a comment, so the value is missing", () => {
    expectErrorCase({ name: "", text: "a# = 1", line: 1, column: 2, expected: 'a value for key "a"', found: "comment" });
  });

  test("bare keys may contain '-', '.', '/' and digits", () => {
    expect(parseConf("server-name = x\ncluster.options = y\npath/like = z\n8081 = p")).toEqual({
      "server-name": "x",
      "cluster.options": "y",
      "path/like": "z",
      "8081": "p",
    });
  });

  test("CRLF line endings and a byte order mark", () => {
    expect(parseConf("\uFEFFa = 1\r\nb {\r\n  c = [1,\r\n 2]\r\n}\r\n")).toEqual({ a: 1, b: { c: [1, 2] } });
  });

  test("a key named __proto__ is ordinary data, not a prototype change", () => {
    const tree = parseConf("__proto__ = { polluted = yes }");
    expect(Object.getPrototypeOf(tree)).toBe(Object.prototype);
    expect(Object.keys(tree)).toEqual(["__proto__"]);
    expect(Object.getOwnPropertyDescriptor(tree, "__proto__")?.value).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe(".conf: scalar values", () => {
  test("integers, negative integers and floats", () => {
    expect(parseConf("a = 0\nb = 42\nc = -5\nd = 1.5\ne = -0.25\nf = 2e3\ng = 1.5E-2\nh = 007")).toEqual({
      a: 0,
      b: 42,
      c: -5,
      d: 1.5,
      e: -0.25,
      f: 2000,
      g: 0.015,
      h: 7,
    });
  });

  test("booleans true/false/on/off/yes/no in any case (the Go parser dropped on/off/yes/no)", () => {
    expect(parseConf("a = true\nb = FALSE\nc = On\nd = off\ne = YES\nf = no")).toEqual({
      a: true,
      b: false,
      c: true,
      d: false,
      e: true,
      f: false,
    });
  });

  test("quoted numbers and booleans stay strings", () => {
    expect(parseConf(`port = "8081"\nflag = "true"\nsingle = 'no'`)).toEqual({ port: "8081", flag: "true", single: "no" });
  });

  test("bare strings: hosts, IPs, host:port, paths, URLs, words that only start like numbers", () => {
    const text = [
      "host = localhost",
      "ip = 192.168.0.1",
      "addr = 10.0.0.1:8080",
      "path = certs/ca.pem",
      "url = http://example.com/a",
      'fragment = "http://example.com/a#frag"',
      "glued = value#comment",
      "slashes = a//b",
      "junk = 8081abc",
      "dash = -",
      "word = nil",
    ].join("\n");
    expect(parseConf(text)).toEqual({
      host: "localhost",
      ip: "192.168.0.1",
      addr: "10.0.0.1:8080",
      path: "certs/ca.pem",
      url: "http://example.com/a",
      fragment: "http://example.com/a#frag",
      glued: "value",
      slashes: "a//b",
      junk: "8081abc",
      dash: "-",
      word: "nil",
    });
  });

  test("double-quoted escapes \\t \\n \\r \\\" \\\\ \\uXXXX", () => {
    expect(parseConf(String.raw`s = "a\tb\nc\rd\"e\\f\u00e9"`)).toEqual({ s: 'a\tb\nc\rd"e\\f\u00e9' });
  });

  test("single-quoted strings are raw", () => {
    expect(parseConf(String.raw`s = 'C:\certs\new'`)).toEqual({ s: String.raw`C:\certs\new` });
  });

  test("quoted strings may contain separators and comment markers", () => {
    expect(parseConf(`s = "a, b; c # not a comment // nor this } ]"`)).toEqual({ s: "a, b; c # not a comment // nor this } ]" });
  });

  test("a value may follow its key with only whitespace", () => {
    expect(parseConf(`Name "x"\nPort 8081`)).toEqual({ Name: "x", Port: 8081 });
  });
});

describe(".conf: blocks", () => {
  test("blocks with and without separator, empty, and written without a space", () => {
    expect(parseConf("Cluster { a = 1 }\nB: {}\nC = {\n}\nD{x=1}")).toEqual({
      Cluster: { a: 1 },
      B: {},
      C: {},
      D: { x: 1 },
    });
  });

  test("entries in a block separated by ',', ';' and newlines, trailing separators allowed", () => {
    expect(parseConf("m { a: 1, b = 2; c 3\n d: 4, }\nn { e: 5; }")).toEqual({ m: { a: 1, b: 2, c: 3, d: 4 }, n: { e: 5 } });
  });

  test("nested blocks (the Go lexer test's map)", () => {
    const text = `some-key {
  \t\t\t\t some_map {
    \t\t\t\tkey1: "value1"
\t\t\t\t\tkey2: "value2"
  \t\t\t\t }
\t\t\t  }`;
    expect(parseConf(text)).toEqual({ "some-key": { some_map: { key1: "value1", key2: "value2" } } });
  });

  test("the Go parser test's block with a quoted value containing ':)' and a trailing comma", () => {
    const text = `Cluster: {
\t\t
\t\t\tName: "hello :)",

\t\t}`;
    expect(parseConf(text)).toEqual({ Cluster: { Name: "hello :)" } });
  });

  test("comments inside blocks, after values and before the closing brace", () => {
    const text = ["b { # opening", "  // a whole-line comment", "  x = 1 # after a value", "  y = 2# no space needed before '#'", "  # last", "}"].join("\n");
    expect(parseConf(text)).toEqual({ b: { x: 1, y: 2 } });
  });

  test("the same key in different blocks is not a duplicate", () => {
    expect(parseConf("a { k = 1 }\nb { k = 2 }\nk = 3")).toEqual({ a: { k: 1 }, b: { k: 2 }, k: 3 });
  });
});

describe(".conf: arrays", () => {
  test("scalars with ',' and newline separators, trailing comma, empty arrays", () => {
    expect(parseConf("a = [1, 2, 3]\nb = [\n  x\n  y,\n  z,\n]\nc = []\nd = [ ]")).toEqual({
      a: [1, 2, 3],
      b: ["x", "y", "z"],
      c: [],
      d: [],
    });
  });

  test("mixed scalar types", () => {
    expect(parseConf(`a = ["s", 'r', bare, 1, 1.5, on, 10.0.0.1:80]`)).toEqual({ a: ["s", "r", "bare", 1, 1.5, true, "10.0.0.1:80"] });
  });

  test("arrays of maps (the Go seed list shape)", () => {
    const text = `SeedServers: [
    { host: 192.168.0.1, port: 8081 },
    { host: "192.168.0.1", port: 8082 },
]`;
    expect(parseConf(text)).toEqual({
      SeedServers: [
        { host: "192.168.0.1", port: 8081 },
        { host: "192.168.0.1", port: 8082 },
      ],
    });
  });

  test("nested arrays (unsupported by the Go parser)", () => {
    expect(parseConf("m = [[1, 2], [], [[3], [4, [5]]]]")).toEqual({ m: [[1, 2], [], [[3], [4, [5]]]] });
  });

  test("maps of arrays inside arrays", () => {
    expect(parseConf("a = [{ xs = [1, [2]] }, [{ y = z }]]")).toEqual({ a: [{ xs: [1, [2]] }, [{ y: "z" }]] });
  });

  test("comments inside arrays", () => {
    const text = "a = [ # first\n  1, // one\n  # nothing here\n  2 # two\n]";
    expect(parseConf(text)).toEqual({ a: [1, 2] });
  });
});

describe(".conf: errors carry file, line, column and what was expected", () => {
  const cases: ErrorCase[] = [
    {
      name: "duplicate top-level key",
      text: "a = 1\nb = 2\na = 3",
      line: 3,
      column: 1,
      expected: "a key not already used in this block",
      found: 'duplicate key "a" on line 3 (first defined on line 1)',
    },
    {
      name: "duplicate key inside a block, quoted and bare spellings count as the same key",
      text: 'x {\n  k = 1\n  "k" = 2\n}',
      line: 3,
      column: 3,
      expected: "a key not already used in this block",
      found: 'duplicate key "k" on line 3 (first defined on line 2)',
    },
    { name: "missing value at end of input", text: "a = ", line: 1, column: 5, expected: 'a value for key "a"', found: "end of input" },
    { name: "missing value at end of line", text: "name =\nhost = x", line: 1, column: 7, expected: 'a value for key "name"', found: "newline" },
    { name: "missing value at CRLF", text: "a = 1\r\nb = \r\nc = 2", line: 2, column: 5, expected: 'a value for key "b"', found: "newline" },
    { name: "key alone on a line", text: "Name\nHost = x", line: 1, column: 5, expected: 'a value for key "Name"', found: "newline" },
    { name: "two separators", text: "a = = 1", line: 1, column: 5, expected: 'a value for key "a"', found: "'='" },
    { name: "a comment where the value should be", text: "a = # nothing", line: 1, column: 5, expected: 'a value for key "a"', found: "comment" },
    {
      name: "unterminated double-quoted string",
      text: 'a = "abc\nb = 1',
      line: 1,
      column: 9,
      expected: `'"' to close the string opened at 1:5`,
      found: "newline",
    },
    {
      name: "unterminated single-quoted string",
      text: "x = 1\na = 'abc",
      line: 2,
      column: 9,
      expected: `"'" to close the string opened at 2:5`,
      found: "end of input",
    },
    {
      name: "unknown escape",
      text: String.raw`a = "x\qy"`,
      line: 1,
      column: 7,
      expected: String.raw`an escape sequence (\t, \n, \r, \", \\ or \uXXXX)`,
      found: String.raw`'\q'`,
    },
    {
      name: "short \\u escape",
      text: String.raw`a = "\u12"`,
      line: 1,
      column: 6,
      expected: String.raw`an escape sequence (\t, \n, \r, \", \\ or \uXXXX)`,
      found: String.raw`'\u'`,
    },
    {
      name: "unclosed block",
      text: "Cluster {\n  a = 1\n",
      line: 3,
      column: 1,
      expected: "'}' to close the block opened at 1:9",
      found: "end of input",
    },
    { name: "unclosed array", text: "a = [1, 2", line: 1, column: 10, expected: "']' to close the array opened at 1:5", found: "end of input" },
    { name: "leading comma in an array", text: "a = [, 1]", line: 1, column: 6, expected: "a value or ']'", found: "','" },
    { name: "double comma in an array", text: "a = [1,, 2]", line: 1, column: 8, expected: "a value or ']'", found: "','" },
    { name: "comma after a newline-separated element", text: "a = [\n  1\n  , 2\n]", line: 3, column: 3, expected: "a value or ']'", found: "','" },
    {
      name: "array elements without a separator",
      text: "a = [1 2]",
      line: 1,
      column: 8,
      expected: "',', a newline or ']' after an array element",
      found: "'2'",
    },
    { name: "';' is not an array separator", text: "a = [1; 2]", line: 1, column: 7, expected: "',', a newline or ']' after an array element", found: "';'" },
    {
      name: "two values on one top-level line",
      text: "a = 1 2",
      line: 1,
      column: 7,
      expected: `a newline, ',' or ';' after the value of key "a"`,
      found: "'2'",
    },
    {
      name: "two values on one line inside a block",
      text: "b { a = 1 2 }",
      line: 1,
      column: 11,
      expected: `a newline, ',', ';' or '}' after the value of key "a"`,
      found: "'2'",
    },
    {
      name: "text glued to a quoted string",
      text: 'a = "x"y',
      line: 1,
      column: 8,
      expected: `a newline, ',' or ';' after the value of key "a"`,
      found: "'y'",
    },
    { name: "stray closing brace at top level", text: "a = 1\n}", line: 2, column: 1, expected: "a key", found: "'}'" },
    { name: "stray ']' inside a block", text: "b {\n ] }", line: 2, column: 2, expected: "a key or '}'", found: "']'" },
    { name: "double separator inside a block", text: "b { x = 1,, y = 2 }", line: 1, column: 11, expected: "a key or '}'", found: "','" },
    { name: "leading comma at top level", text: ", a = 1", line: 1, column: 1, expected: "a key", found: "','" },
    {
      name: "integer beyond 2^53",
      text: "n = 99999999999999999999",
      line: 1,
      column: 5,
      expected: "an integer between -9007199254740991 and 9007199254740991",
      found: "'99999999999999999999'",
    },
    { name: "float overflow", text: "n = 1e999", line: 1, column: 5, expected: "a finite number", found: "'1e999'" },
    {
      name: "the file name given is used in the message",
      text: "x = 1\na =",
      file: "cluster.conf",
      line: 2,
      column: 4,
      expected: 'a value for key "a"',
      found: "end of input",
    },
  ];

  for (const c of cases) {
    test(c.name, () => expectErrorCase(c));
  }

  test("long words in 'found' are shortened", () => {
    const error = syntaxError(() => parseConf(`a = 1 ${"x".repeat(100)}`));
    expect(error.found).toBe(`'${"x".repeat(32)}…'`);
  });

  test("nothing is returned on error: a late error still throws after valid entries", () => {
    expect(() => parseConf("a = 1\nb = 2\nc = [1,,]")).toThrow(ConfigSyntaxError);
  });
});

describe(".conf: nesting depth is bounded", () => {
  test(`${MAX_NESTING_DEPTH} nested arrays parse, one more is refused at the opening bracket`, () => {
    expect(MAX_NESTING_DEPTH).toBe(64);
    const ok = parseConf(`a = ${"[".repeat(64)}7${"]".repeat(64)}`);
    let inner: unknown = ok.a;
    for (let level = 1; level < 64; level++) inner = (inner as unknown[])[0];
    expect(inner).toEqual([7]);

    // "a = " is 4 characters, so the 65th '[' is at column 4 + 65.
    expectErrorCase({
      name: "65 arrays",
      text: `a = ${"[".repeat(65)}${"]".repeat(65)}`,
      line: 1,
      column: 69,
      expected: "at most 64 levels of nesting",
      found: "'['",
    });
  });

  test("65 nested blocks, one per line, fail on line 65", () => {
    const open = Array.from({ length: 65 }, (_, i) => `k${i} {`).join("\n");
    const text = `${open}\n${"}".repeat(65)}`;
    // Line n (1-based) holds "k{n-1} {"; line 65 is "k64 {", whose '{' is at column 5.
    expectErrorCase({ name: "65 blocks", text, line: 65, column: 5, expected: "at most 64 levels of nesting", found: "'{'" });
    const fine = `${Array.from({ length: 64 }, (_, i) => `k${i} {`).join("\n")}\nleaf = 1\n${"}".repeat(64)}`;
    expect(parseConf(fine).k0).toBeDefined();
  });

  test("a million opening brackets fail cleanly instead of overflowing the stack", () => {
    const error = syntaxError(() => parseConf(`a = ${"[".repeat(1_000_000)}`));
    expect([error.line, error.column, error.expected]).toEqual([1, 69, "at most 64 levels of nesting"]);
  });
});

describe("JSON config", () => {
  test("chosen by .json extension or by a leading '{', values built exactly", () => {
    const text = '  {"a": 1, "b": [true, null, {"c": "d\\n"}], "e": -1.5e2}';
    const expected = { a: 1, b: [true, null, { c: "d\n" }], e: -150 };
    expect(parseConfigText(text)).toEqual(expected);
    expect(parseConfigText(text, "x.conf")).toEqual(expected);
    expect(parseConfigText(`\n${text}`, "settings.JSON")).toEqual(expected);
  });

  test("a .conf document is not mistaken for JSON", () => {
    expect(parseConfigText("a = {b = 1}", "x.conf")).toEqual({ a: { b: 1 } });
  });

  const cases: ErrorCase[] = [
    { name: "double comma", text: '{"a": 1,, }', line: 1, column: 9, expected: "a string key", found: "','" },
    { name: "missing value before '}' on a later line", text: '{\n  "a": 1,\n  "b": \n}', line: 4, column: 1, expected: "a JSON value", found: "'}'" },
    { name: "trailing comma in an array", text: '{"a": [1, 2,]}', line: 1, column: 13, expected: "a JSON value", found: "']'" },
    { name: "trailing comma in an object", text: '{"a": 1,\r\n}', line: 2, column: 1, expected: "a string key", found: "'}'" },
    { name: "unquoted key", text: "{a: 1}", line: 1, column: 2, expected: "a string key or '}'", found: "'a'" },
    { name: "unterminated string", text: '{"a": "b', line: 1, column: 9, expected: `'"' to close the string opened at 1:7`, found: "end of input" },
    {
      name: "raw newline in a string",
      text: '{"a": "b\n"}',
      line: 1,
      column: 9,
      expected: `'"' to close the string opened at 1:7 (control characters must be escaped)`,
      found: "newline",
    },
    { name: "missing colon", text: '{"a" 1}', line: 1, column: 6, expected: `':' after the key "a"`, found: "'1'" },
    {
      name: "duplicate key",
      text: '{\n "a": 1,\n "a": 2\n}',
      line: 3,
      column: 2,
      expected: "a key not already used in this object",
      found: 'duplicate key "a" on line 3 (first defined on line 2)',
    },
    { name: "top level is not an object", text: "[1]", file: "c.json", line: 1, column: 1, expected: "a JSON object at the top level", found: "'['" },
    { name: "text after the object", text: "{} x", line: 1, column: 4, expected: "end of input after the top-level object", found: "'x'" },
    { name: "unclosed object", text: '{"a": {"b": 1}', line: 1, column: 15, expected: "',' or '}'", found: "end of input" },
    { name: "misspelt literal", text: '{"a": tru}', line: 1, column: 7, expected: "a JSON value", found: "'tru'" },
    { name: "bad escape", text: String.raw`{"a": "\x"}`, line: 1, column: 8, expected: "a JSON escape sequence", found: String.raw`'\x'` },
    { name: "lone minus", text: '{"a": -}', line: 1, column: 7, expected: "a JSON number", found: "'-'" },
    { name: "leading zero", text: '{"a": 01}', line: 1, column: 8, expected: "',' or '}'", found: "'1'" },
    {
      name: "65 levels of nesting",
      text: `{"a":${"[".repeat(65)}${"]".repeat(65)}}`,
      line: 1,
      column: 70,
      expected: "at most 64 levels of nesting",
      found: "'['",
    },
  ];
  for (const c of cases) {
    test(c.name, () => expectErrorCase(c));
  }

  test("64 levels of JSON nesting are accepted", () => {
    expect(parseConfigText(`{"a":${"[".repeat(64)}${"]".repeat(64)}}`)).toBeDefined();
  });

  test("__proto__ in JSON stays data", () => {
    const tree = parseConfigText('{"__proto__": {"x": 1}}');
    expect(Object.getPrototypeOf(tree)).toBe(Object.prototype);
    expect(Object.keys(tree)).toEqual(["__proto__"]);
  });
});

describe("loadConfigFile", () => {
  test("reports a missing file as ConfigReadError naming the path", async () => {
    const path = join(FIXTURES, "does-not-exist.conf");
    const error = await loadConfigFile(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigReadError);
    expect((error as ConfigReadError).path).toBe(path);
    expect((error as Error).message).toStartWith(`cannot read config file ${path}: `);
  });

  test("syntax errors name the file path", async () => {
    const dir = join(import.meta.dir, "..", "node_modules", ".cache", "config-parser-test");
    const path = join(dir, `bad-${process.pid}.conf`);
    await Bun.write(path, "Name = \"x\"\nSeedServers = [\n  {Host: localhost Port: 1}\n]\n");
    try {
      const error = await loadConfigFile(path).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigSyntaxError);
      // Line 3 is "  {Host: localhost Port: 1}": "Port" starts at column 20.
      expect((error as Error).message).toBe(
        `${path}:3:20: expected a newline, ',', ';' or '}' after the value of key "Host", found 'Port'`,
      );
    } finally {
      await Bun.file(path).delete();
    }
  });
});

describe("Go sample configs load and normalise", () => {
  test("default_cluster_config.conf (no trailing newline): 3 top-level entries", async () => {
    const tree = await loadConfigFile(join(FIXTURES, "default_cluster_config.conf"));
    expect(tree).toEqual({
      Name: "default-local-cluster",
      SeedServers: [{ Host: "localhost", Port: "8081" }],
      Cluster: { ClusterNetworkType: "LOCAL" },
    });
    expect(normaliseGoConfig(tree, "cluster")).toEqual({
      options: { clusterName: "default-local-cluster", seeds: ["localhost:8081"], clusterNetwork: "LOCAL" },
      ignored: [],
      unknown: [],
    });
  });

  test("basic_cluster_config.conf: unquoted IPs stay strings, unquoted ports become numbers", async () => {
    const tree = await loadConfigFile(join(FIXTURES, "basic_cluster_config.conf"));
    expect(tree).toEqual({
      Name: "test-server",
      SeedServers: [
        { Host: "192.168.0.1", Port: 8081 },
        { Host: "192.168.0.1", Port: 8082 },
      ],
      Cluster: {},
    });
    expect(normaliseGoConfig(tree, "cluster").options).toEqual({
      clusterName: "test-server",
      seeds: ["192.168.0.1:8081", "192.168.0.1:8082"],
    });
  });

  test("complex_test_config.conf: nested maps, arrays of maps, map of arrays; 4 top-level entries", async () => {
    const tree = await loadConfigFile(join(FIXTURES, "complex_test_config.conf"));
    expect(tree).toEqual({
      Name: "example",
      Nested: { Numbers: [1, 2, 3, 4], Flags: { featureA: true, featureB: false } },
      PointerField: { Value: 42 },
      ComplexNest: {
        MapTest: { alpha: [10, 20], beta: [30, 40, 50] },
        ArrayMapTest: [
          { one: 1, two: 2 },
          { three: 3, four: 4 },
        ],
      },
    });
    expect(Object.keys(tree)).toHaveLength(4);
  });

  const internalIgnored = [
    "Internal.IsTestMode",
    "Internal.DisableInitialiseSelf",
    "Internal.DisableGossip",
    "Internal.GoRoutineTracking",
    "Internal.DebugMode",
    "Internal.DisableInternalGossipSystemUpdate",
    "Internal.DisableUpdateServerTimeStampOnStartup",
    "Internal.CACertFilePath",
    "Internal.CertFilePath",
    "Internal.KeyFilePath",
  ];

  test("basic_seed_config.conf", async () => {
    const tree = await loadConfigFile(join(FIXTURES, "basic_seed_config.conf"));
    expect(tree).toEqual({
      Name: "node-1",
      Host: "127.0.0.1",
      Port: "8081",
      ClientPort: "5000",
      IsSeed: true,
      Internal: {
        IsTestMode: false,
        DisableInitialiseSelf: false,
        DisableGossip: false,
        GoRoutineTracking: true,
        DebugMode: false,
        DisableInternalGossipSystemUpdate: false,
        DisableUpdateServerTimeStampOnStartup: false,
        CACertFilePath: "certs/ca.pem",
        CertFilePath: "certs/server.pem",
        KeyFilePath: "certs/server.key",
      },
    });
    expect(normaliseGoConfig(tree, "node")).toEqual({
      options: { name: "node-1", address: "127.0.0.1:8081", mode: "seed", clientPort: 5000 },
      ignored: internalIgnored,
      unknown: [],
    });
  });

  test("basic_node_config2.conf", async () => {
    const tree = await loadConfigFile(join(FIXTURES, "basic_node_config2.conf"));
    expect(normaliseGoConfig(tree, "node")).toEqual({
      options: { name: "node-2", address: "127.0.0.1:8082", mode: "node", clientPort: 5000 },
      ignored: internalIgnored,
      unknown: [],
    });
  });

  test("the Go JSON serialisation of the default cluster (every Cluster field)", async () => {
    const tree = await loadConfigFile(join(FIXTURES, "default_cluster_config.json"));
    const cluster = [
      "DiscoveryPercentage",
      "MaxDeltaGossipedPerParticipant",
      "MaxGossipSize",
      "MaxDeltaSize",
      "MaxDiscoverySize",
      "PaWindowSize",
      "MaxNumberOfNodes",
      "GossipRoundTimeout",
      "MaxSequenceIDPool",
      "EndpointsURLMap",
      "NodeMTLSRequired",
      "ClientMTLSRequired",
      "NodeFaultyAfter",
    ];
    expect(normaliseGoConfig(tree, "cluster")).toEqual({
      options: {
        clusterName: "default-local-cluster",
        seeds: ["localhost:8081"],
        fanout: 1,
        maxGossipBytes: 1400,
        clusterNetwork: "LOCAL", // enum value 4
        probeFanout: 1, // FailureKNodesToProbe
        probeTimeoutMs: 300, // FailureProbeTimeout (ms)
      },
      ignored: cluster.map((field) => `Cluster.${field}`),
      unknown: [],
    });
  });

  test("examples/config/cluster.conf and node.conf", async () => {
    const cluster = normaliseGoConfig(await loadConfigFile(join(EXAMPLES, "cluster.conf")), "cluster");
    expect(cluster).toEqual({
      options: {
        gossipIntervalMs: 1000,
        phiThreshold: 8,
        clusterName: "default-local-cluster",
        seeds: ["localhost:8081"],
        clusterNetwork: "LOCAL",
        fanout: 1,
        maxGossipBytes: 1400,
      },
      ignored: [],
      unknown: [],
    });
    const node = normaliseGoConfig(await loadConfigFile(join(EXAMPLES, "node.conf")), "node");
    expect(node).toEqual({
      options: { name: "node-1", address: "127.0.0.1:8081", mode: "seed", clientPort: 5000 },
      ignored: internalIgnored,
      unknown: [],
    });
  });
});

describe("normaliseGoConfig", () => {
  test("our camelCase names pass through unchanged", () => {
    const tree = { clusterName: "c", seeds: ["a:1"], clusterNetwork: "PUBLIC", fanout: 3, extra: { x: 1 } };
    expect(normaliseGoConfig(tree, "cluster")).toEqual({ options: tree, ignored: [], unknown: [] });
  });

  test("a Go name and our name for the same option conflict", () => {
    expect(() => normaliseGoConfig({ Name: "a", clusterName: "b" }, "cluster")).toThrow(ConfigNameConflictError);
    expect(() => normaliseGoConfig({ Name: "a", clusterName: "b" }, "cluster")).toThrow(
      'config sets option "clusterName" twice, as "clusterName" and as "Name"; keep one',
    );
    expect(() => normaliseGoConfig({ Host: "h", Port: 1, address: "h:1" }, "node")).toThrow(ConfigNameConflictError);
  });

  test("network names are upper-cased; enum numbers follow each file's own numbering", () => {
    expect(normaliseGoConfig({ Cluster: { ClusterNetworkType: "dynamic" } }, "cluster").options).toEqual({ clusterNetwork: "DYNAMIC" });
    expect(normaliseGoConfig({ Cluster: { ClusterNetworkType: 3 } }, "cluster").options).toEqual({ clusterNetwork: "DYNAMIC" });
    expect(normaliseGoConfig({ Cluster: { ClusterNetworkType: 1 } }, "cluster").options).toEqual({ clusterNetwork: "PRIVATE" });
    expect(normaliseGoConfig({ Cluster: { ClusterNetworkType: 0 } }, "cluster").options).toEqual({ clusterNetwork: "UNDEFINED" });
    expect(normaliseGoConfig({ NetworkType: 3 }, "node").options).toEqual({ clusterNetwork: "LOCAL" });
    expect(normaliseGoConfig({ NetworkType: "public" }, "node").options).toEqual({ clusterNetwork: "PUBLIC" });
    // A node's UNDEFINED means "no constraint": the option is left unset.
    expect(normaliseGoConfig({ NetworkType: "UNDEFINED" }, "node").options).toEqual({});
    expect(normaliseGoConfig({ NetworkType: 0 }, "node").options).toEqual({});
  });

  test("seed entries: IPv6 hosts are bracketed, strings kept, odd shapes passed on raw", () => {
    const { options, unknown } = normaliseGoConfig(
      { SeedServers: [{ Host: "::1", Port: "8081" }, "example.com:9000", 42, { Host: "h", Port: 1, Weight: 2 }] },
      "cluster",
    );
    expect(options).toEqual({ seeds: ["[::1]:8081", "example.com:9000", 42, "h:1"] });
    expect(unknown).toEqual(["SeedServers.3.Weight"]);
    expect(normaliseGoConfig({ SeedServers: "a:1" }, "cluster").options).toEqual({ seeds: "a:1" });
    expect(normaliseGoConfig({ SeedServers: [{ Host: true, Port: 1 }] }, "cluster").options).toEqual({
      seeds: [{ Host: true, Port: 1 }],
    });
  });

  test("unknown fields in Go blocks are reported, not dropped or passed on", () => {
    expect(normaliseGoConfig({ Cluster: { NodeSelectionPerGosipRound: 2, PaWindowSize: 9 } }, "cluster")).toEqual({
      options: {},
      ignored: ["Cluster.PaWindowSize"],
      unknown: ["Cluster.NodeSelectionPerGosipRound"],
    });
    expect(normaliseGoConfig({ Internal: { Bogus: 1, LogOutput: "json" } }, "node")).toEqual({
      options: {},
      ignored: ["Internal.LogOutput"],
      unknown: ["Internal.Bogus"],
    });
    expect(normaliseGoConfig({ Cluster: 5 }, "cluster").unknown).toEqual(["Cluster"]);
  });

  test("node fields: ClientPort forms, IsSeed, partial addresses", () => {
    expect(normaliseGoConfig({ ClientPort: "" }, "node").options).toEqual({});
    expect(normaliseGoConfig({ ClientPort: 7000 }, "node").options).toEqual({ clientPort: 7000 });
    expect(normaliseGoConfig({ ClientPort: "x1" }, "node").options).toEqual({ clientPort: "x1" });
    expect(normaliseGoConfig({ IsSeed: false }, "node").options).toEqual({ mode: "node" });
    expect(normaliseGoConfig({ IsSeed: "yes" }, "node").options).toEqual({ mode: "yes" });
    expect(normaliseGoConfig({ Host: "fe80::1", Port: 9 }, "node").options).toEqual({ address: "[fe80::1]:9" });
    expect(normaliseGoConfig({ Port: "8081" }, "node").options).toEqual({ address: ":8081" });
  });

  test("the cluster's Name is clusterName, the node's Name is name", () => {
    expect(normaliseGoConfig({ Name: "x" }, "cluster").options).toEqual({ clusterName: "x" });
    expect(normaliseGoConfig({ Name: "x" }, "node").options).toEqual({ name: "x" });
  });
});

describe("parsing is linear: 1 MB inputs complete", () => {
  const MB = 1024 * 1024;

  test("many entries and a large array of maps", () => {
    const lines: string[] = [];
    let size = 0;
    let count = 0;
    while (size < MB) {
      const line = `key${count} = "value ${count} with \\"escapes\\" and \\u0041" # note`;
      lines.push(line);
      size += line.length + 1;
      count++;
    }
    const seeds = Array.from({ length: 20_000 }, (_, i) => `{ Host: 10.0.${i % 256}.1, Port: ${i} }`).join(",\n");
    const tree = parseConf(`${lines.join("\n")}\nSeedServers = [\n${seeds}\n]`);
    expect(Object.keys(tree)).toHaveLength(count + 1);
    expect(tree.key0).toBe('value 0 with "escapes" and A');
    expect(tree[`key${count - 1}`]).toBe(`value ${count - 1} with "escapes" and A`);
    expect((tree.SeedServers as unknown[])[19_999]).toEqual({ Host: "10.0.31.1", Port: 19_999 });
  });

  test("one 1 MB bare word, quoted string full of escapes, and comment", () => {
    const word = "w".repeat(MB);
    const escaped = "\\n".repeat(MB / 2);
    const tree = parseConf(`a = ${word}\nb = "${escaped}"\n# ${"c".repeat(MB)}\nc = 1`);
    expect((tree.a as string).length).toBe(MB);
    expect(tree.b).toBe("\n".repeat(MB / 2));
    expect(tree.c).toBe(1);
  });

  test("a 1 MB JSON file, valid and with an error at the very end", () => {
    const entries = Array.from({ length: 40_000 }, (_, i) => `"k${i}": [${i}, "v${i}", {"x": true}]`);
    const text = `{${entries.join(",\n")}}`;
    expect(text.length).toBeGreaterThan(MB);
    const tree = parseConfigText(text, "big.json");
    expect(Object.keys(tree)).toHaveLength(40_000);
    expect(tree.k39999).toEqual([39_999, "v39999", { x: true }]);

    const error = syntaxError(() => parseConfigText(`${text.slice(0, -1)},}`, "big.json"));
    expect([error.line, error.expected]).toEqual([40_000, "a string key"]);
  });
});
