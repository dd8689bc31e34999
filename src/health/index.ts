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
export {
  compareVersions,
  createPatchedRun,
  describeSignature,
  matchesSignature,
  type PatchedRun,
  type PatchingOptions,
  type PatchSignature,
  type SkillPatch,
  withPatches,
} from './patches.ts';
export { createMemoryProbe, type Probe, type ProbeCheck, type ProbeStatus } from './probe.ts';
export {
  createProcessProbe,
  type HeapUsage,
  heapUsage,
  type ProcessProbe,
  type ProcessProbeOptions,
  type ProcessStats,
} from './process-probe.ts';
export {
  type ScaleReading,
  type ScaleReason,
  ScaleSignal,
  type ScaleSignalOptions,
  type ScaleSignalSource,
} from './scale-signal.ts';
export {
  createSupervisor,
  type RestartPolicy,
  type Supervisor,
  type SupervisorEvent,
  type SupervisorOptions,
} from './supervisor.ts';
export { runWorker, type WorkerJob, type WorkerRunResult } from './worker.ts';
