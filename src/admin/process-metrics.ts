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
  // As prom-client's nodejs_* series: what of the resident memory is the JavaScript heap, and
  // what its objects hold outside it (buffers). The rest is the runtime, compiled code and what
  // the allocator keeps after freeing (all of it, with MIMALLOC_PURGE_DELAY=-1).
  const memory = process.memoryUsage();
  out.family("nodejs_heap_size_total_bytes", "gauge", "JavaScript heap size in bytes.", [{ value: memory.heapTotal }]);
  out.family("nodejs_heap_size_used_bytes", "gauge", "JavaScript heap bytes in use.", [{ value: memory.heapUsed }]);
  out.family("nodejs_external_memory_bytes", "gauge", "Bytes held by JavaScript objects outside the heap (buffers).", [{ value: memory.external }]);
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
