/**
 * Child processes in tests: spawn, read line by line, wait for exit, and kill whatever a test file
 * started (call `afterAll(killSpawned)`), so a failed test never leaves a server or writer behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

const spawned: ChildProcess[] = [];

/** Registers a child process to be killed by {@link killSpawned}. */
export function track<T extends ChildProcess>(child: T): T {
  spawned.push(child);
  return child;
}

/** Kills every tracked child that is still running. */
export function killSpawned(): void {
  for (const child of spawned) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/**
 * Runs `node script ...args` with piped stdio, tracked; its stderr is printed if it exits with an
 * error other than the SIGKILL a test sends.
 */
export function spawnNode(script: string, args: string[]): ChildProcess {
  const child = track(spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL')
      process.stderr.write(`child ${script} exited ${code}: ${stderr}\n`);
  });
  return child;
}

/** A child's stdout, line by line. */
export function lines(child: ChildProcess): AsyncIterator<string> {
  if (child.stdout === null) throw new Error('child has no stdout');
  return createInterface({ input: child.stdout })[Symbol.asyncIterator]();
}

/** Resolves with the exit code once `child` has exited (null when killed by a signal). */
export async function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  return await new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const memoryChild = new URL('./memory-child.ts', import.meta.url).pathname;

/**
 * Runs `processes` children of test/memory-child.ts appending `count` messages each to `url`,
 * started together (they open the store, report `ready`, then start at one shared instant), and
 * resolves with the children once all have appended and exited 0. Any other outcome throws.
 */
export async function appendFromProcesses(url: string, count = 200, processes = 2): Promise<ChildProcess[]> {
  const children = Array.from({ length: processes }, () =>
    spawnNode(memoryChild, ['append-many', url, String(count)]),
  );
  const outputs = children.map(lines);
  const expectLine = async (output: AsyncIterator<string>, want: string) => {
    const line = await output.next();
    if (line.done || line.value !== want)
      throw new Error(`memory child said ${JSON.stringify(line.value)}, expected "${want}"`);
  };
  for (const output of outputs) await expectLine(output, 'ready');
  const startAt = Date.now() + 200;
  for (const child of children) child.stdin?.write(`go ${startAt}\n`);
  for (const output of outputs) await expectLine(output, 'done');
  const codes = await Promise.all(children.map(exited));
  if (codes.some((code) => code !== 0)) throw new Error(`memory children exited with ${codes.join(', ')}`);
  return children;
}
