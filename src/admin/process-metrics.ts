// The standard `process_*` series that Prometheus client libraries export, so the usual
// dashboards and alerts (memory, CPU, file descriptors, restarts) work on a node unchanged.
// Read at scrape time; nothing is sampled in between.

import { readdirSync } from "node:fs";
import type { Exposition } from "./prometheus.ts";

// Where the open descriptors are listed; Linux only (elsewhere the series is left out).
const FD_DIRECTORY = "/proc/self/fd";

export function renderProcessMetrics(out: Exposition): void {
  out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [{ value: process.memoryUsage.rss() }]);
  const cpu = process.cpuUsage();
  out.family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", [{ value: (cpu.user + cpu.system) / 1e6 }]);
  // performance.timeOrigin is the wall-clock time at which this process started.
  out.family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", [{ value: Math.floor(performance.timeOrigin) / 1000 }]);
  const openFds = countOpenFds();
  if (openFds !== undefined) out.family("process_open_fds", "gauge", "Number of open file descriptors.", [{ value: openFds }]);
}

function countOpenFds(): number | undefined {
  try {
    // The listing itself holds one descriptor while it reads the directory.
    return readdirSync(FD_DIRECTORY).length - 1;
  } catch {
    return undefined;
  }
}
