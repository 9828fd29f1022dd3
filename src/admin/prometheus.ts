// Prometheus text exposition format 0.0.4: metric families with HELP and TYPE lines, label values
// escaped, numbers in the forms Prometheus parses (+Inf, -Inf, NaN), and a cumulative histogram.

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  /** Appended to the family name: "_bucket", "_sum", "_count" for histograms. */
  suffix?: string;
  labels?: Labels;
  value: number;
}

export type MetricType = "counter" | "gauge" | "histogram";

export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export class Exposition {
  private readonly lines: string[] = [];

  family(name: string, type: MetricType, help: string, samples: Iterable<Sample>): void {
    this.lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
    for (const sample of samples) {
      this.lines.push(`${name}${sample.suffix ?? ""}${formatLabels(sample.labels)} ${formatNumber(sample.value)}`);
    }
  }

  text(): string {
    return `${this.lines.join("\n")}\n`;
  }
}

function formatLabels(labels: Labels | undefined): string {
  if (labels === undefined) return "";
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`);
  return pairs.length === 0 ? "" : `{${pairs.join(",")}}`;
}

export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

/** A cumulative histogram over fixed upper bounds (ascending), as Prometheus clients keep them. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    const index = this.bounds.findIndex((bound) => value <= bound);
    if (index >= 0) this.counts[index]!++;
  }

  /** The cumulative counts per upper bound (the last is +Inf), the sum and the count, as data. */
  snapshot(): { buckets: { le: number; count: number }[]; sum: number; count: number } {
    let cumulative = 0;
    const buckets = this.bounds.map((le, index) => ({ le, count: (cumulative += this.counts[index] ?? 0) }));
    buckets.push({ le: Infinity, count: this.count });
    return { buckets, sum: this.sum, count: this.count };
  }

  samples(): Sample[] {
    const { buckets, sum, count } = this.snapshot();
    const samples: Sample[] = buckets.map(({ le, count }) => ({ suffix: "_bucket", labels: { le: formatNumber(le) }, value: count }));
    samples.push({ suffix: "_sum", value: sum }, { suffix: "_count", value: count });
    return samples;
  }
}
