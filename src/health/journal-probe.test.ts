import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openJournal } from '../runtime/journal.ts';
import { createJournalProbe } from './journal-probe.ts';

const dir = mkdtempSync(join(tmpdir(), 'forge-journal-probe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const never = new AbortController().signal;

describe('createJournalProbe', () => {
  it('is up while the journal answers a read, and down with its error once it cannot', async () => {
    const journal = openJournal(`sqlite://${join(dir, 'journal.db')}`);
    const probe = createJournalProbe(journal);
    expect(probe).toMatchObject({ name: `journal:${journal.location}`, kind: 'journal', critical: true });
    expect(await probe.check(never)).toEqual({ status: 'up' });
    journal.close();
    const down = await probe.check(never);
    expect(down.status).toBe('down');
    expect(down.detail).toBeTruthy();
  });

  it('does not start a read once aborted', async () => {
    let reads = 0;
    const probe = createJournalProbe({
      location: 'x',
      listRuns: () => {
        reads++;
        return [];
      },
    });
    await expect(probe.check(AbortSignal.abort())).rejects.toThrow();
    expect(reads).toBe(0);
  });
});
