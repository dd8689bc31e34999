import { describe, expect, it } from 'vitest';
import { simulatedEmbedding } from './simulated-embeddings.ts';

const cosine = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);

describe('simulated embeddings', () => {
  it('are deterministic, unit length and of the asked dimension', () => {
    const a = simulatedEmbedding('Refunds take five days', 32);
    expect(a).toHaveLength(32);
    expect(simulatedEmbedding('Refunds take five days', 32)).toEqual(a);
    expect(Math.hypot(...a)).toBeCloseTo(1, 10);
    expect(simulatedEmbedding('', 8)).toEqual(new Array(8).fill(0));
  });

  it('put texts that share words closer than unrelated ones', () => {
    const query = simulatedEmbedding('when do I get my refund');
    const related = simulatedEmbedding('your refund arrives within five days');
    const unrelated = simulatedEmbedding('parcels ship from Rotterdam on weekdays');
    expect(cosine(query, related)).toBeGreaterThan(cosine(query, unrelated));
  });
});
