export {
  type BreakerState,
  type ConsistencyCheck,
  createHealthApp,
  type HealthAppOptions,
  type HealthBody,
  type HealthCouncil,
  type HealthRegistry,
  type HealthSource,
} from './http.ts';
export {
  createJournalProbe,
  type JournalProbeOptions,
  type JournalReader,
} from './journal-probe.ts';
export {
  type Evictor,
  MemoryPressure,
  type MemoryPressureOptions,
  type MemoryPressureState,
  overloadedError,
} from './memory-pressure.ts';
export { createModelProbe, type ModelProbeOptions, type ModelSource } from './model-probe.ts';
export {
  type HealthListener,
  HealthMonitor,
  type HealthMonitorOptions,
  type HealthReport,
  type ProbeResult,
} from './monitor.ts';
export { createMemoryProbe, type Probe, type ProbeCheck, type ProbeStatus } from './probe.ts';
export {
  createProcessProbe,
  type HeapUsage,
  heapUsage,
  type ProcessProbe,
  type ProcessProbeOptions,
  type ProcessStats,
} from './process-probe.ts';
