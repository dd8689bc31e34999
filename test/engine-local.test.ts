import { LocalEngine } from 'forge-harness';
import { engineConformance } from './engine-conformance.ts';

engineConformance(
  'local',
  ({ scheduler, journal }) => new LocalEngine({ scheduler, journal: () => journal }),
);
