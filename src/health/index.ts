export {
  type HealthListener,
  HealthMonitor,
  type HealthMonitorOptions,
  type HealthReport,
  type ProbeResult,
} from './monitor.ts';
export { createMemoryProbe, type Probe, type ProbeCheck, type ProbeStatus } from './probe.ts';
