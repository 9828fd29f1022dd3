// A strict reader of the Prometheus text exposition format, shared by the tests that scrape /metrics.

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface ParsedFamily {
  type: string;
  help: string;
  samples: ParsedSample[];
}

/**
 * A strict reader of the Prometheus text exposition format 0.0.4. Every line must be a HELP or
 * TYPE line, a sample, or empty; names, label syntax, escapes and numbers are checked against the
 * format's grammar; each family has exactly one HELP and TYPE before its samples, its samples are
 * contiguous, no series repeats, counters end in _total and histograms are cumulative with a +Inf
 * bucket equal to _count. Throws naming the line on any violation.
 */
export function parseExposition(text: string): Map<string, ParsedFamily> {
  const METRIC_NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  const LABEL_NAME = "[a-zA-Z_][a-zA-Z0-9_]*";
  const LABEL_VALUE = '"(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
  const NUMBER = "[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?|[+-]Inf|NaN";
  const helpLine = new RegExp(`^# HELP (${METRIC_NAME}) ((?:[^\\\\\\n]|\\\\[\\\\n])*)$`);
  const typeLine = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$`);
  const sampleLine = new RegExp(`^(${METRIC_NAME})(?:\\{((?:${LABEL_NAME}=${LABEL_VALUE})(?:,${LABEL_NAME}=${LABEL_VALUE})*,?)?\\})? (${NUMBER})(?: (-?\\d+))?$`);
  const labelPair = new RegExp(`(${LABEL_NAME})=(${LABEL_VALUE}),?`, "g");

  if (!text.endsWith("\n")) throw new Error("the exposition does not end with a newline");
  const families = new Map<string, ParsedFamily>();
  const seriesSeen = new Set<string>();
  let current: string | undefined;
  const fail = (index: number, line: string, why: string): never => {
    throw new Error(`line ${index + 1} ${JSON.stringify(line)}: ${why}`);
  };
  const lines = text.slice(0, -1).split("\n");
  lines.forEach((line, index) => {
    if (line === "") return;
    let match: RegExpExecArray | null;
    if ((match = helpLine.exec(line))) {
      const name = match[1]!;
      if (families.has(name)) fail(index, line, "second HELP for a family");
      families.set(name, { type: "", help: match[2]!, samples: [] });
      current = name;
    } else if ((match = typeLine.exec(line))) {
      const family = families.get(match[1]!);
      if (!family || current !== match[1]) fail(index, line, "TYPE must follow the family's HELP");
      if (family!.type !== "" || family!.samples.length > 0) fail(index, line, "TYPE repeated or after samples");
      family!.type = match[2]!;
    } else if (line.startsWith("#")) {
      fail(index, line, "a comment line other than HELP or TYPE (allowed by the format, never written by us)");
    } else if ((match = sampleLine.exec(line))) {
      const [, name, labelText = "", valueText] = match;
      const family = current === undefined ? undefined : families.get(current);
      if (!family || family.type === "") fail(index, line, "sample before its family's TYPE");
      const suffixes = family!.type === "histogram" ? ["_bucket", "_sum", "_count"] : [""];
      if (!suffixes.some((suffix) => name === `${current}${suffix}`)) fail(index, line, `sample of another family inside ${current}`);
      const labels: Record<string, string> = {};
      for (const pair of labelText.matchAll(labelPair)) {
        const labelName = pair[1]!;
        if (labelName.startsWith("__")) fail(index, line, "label names starting with __ are reserved");
        if (labelName in labels) fail(index, line, `label ${labelName} repeated`);
        labels[labelName] = pair[2]!.slice(1, -1).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      }
      const series = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
      if (seriesSeen.has(series)) fail(index, line, "series repeated");
      seriesSeen.add(series);
      const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
      family!.samples.push({ name: name!, labels, value });
    } else {
      fail(index, line, "not a HELP, TYPE or sample line");
    }
  });

  for (const [name, family] of families) {
    if (family.type === "") throw new Error(`family ${name} has no TYPE`);
    if (family.type === "counter") {
      if (!name.endsWith("_total")) throw new Error(`counter ${name} does not end in _total`);
      for (const sample of family.samples) if (!(sample.value >= 0)) throw new Error(`counter ${name} has value ${sample.value}`);
    }
    if (family.type === "histogram") checkHistogram(name, family);
  }
  return families;
}

function checkHistogram(name: string, family: ParsedFamily): void {
  const buckets = family.samples.filter((sample) => sample.name === `${name}_bucket`);
  const bounds = buckets.map((bucket) => (bucket.labels.le === "+Inf" ? Infinity : Number(bucket.labels.le)));
  if (bounds.some(Number.isNaN) || bounds.at(-1) !== Infinity) throw new Error(`histogram ${name} needs numeric le labels ending in +Inf`);
  for (let i = 1; i < buckets.length; i++) {
    if (!(bounds[i]! > bounds[i - 1]!)) throw new Error(`histogram ${name} bounds are not ascending`);
    if (buckets[i]!.value < buckets[i - 1]!.value) throw new Error(`histogram ${name} buckets are not cumulative`);
  }
  const count = family.samples.find((sample) => sample.name === `${name}_count`);
  const sum = family.samples.find((sample) => sample.name === `${name}_sum`);
  if (!count || !sum) throw new Error(`histogram ${name} lacks _count or _sum`);
  if (buckets.at(-1)!.value !== count.value) throw new Error(`histogram ${name}: +Inf bucket differs from _count`);
}

/** The value of the first sample of `name` whose labels include `labels`; throws when there is none. */
export function sampleValue(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number {
  const sample = families.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (!sample) throw new Error(`no sample ${name} ${JSON.stringify(labels)}`);
  return sample.value;
}
