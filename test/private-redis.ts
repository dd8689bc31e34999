/**
 * A private redis-server per test file, for failure tests that must stop and restart a server
 * (the machine's shared Redis is never touched). It is tracked: `afterAll(killSpawned)` from
 * ./processes.ts kills it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { track } from './processes.ts';

/**
 * Starts a private redis-server on `port` that fsyncs every write to an append-only file in `dir`
 * (so a write it acknowledged survives kill -9), and resolves once it accepts connections.
 */
export async function startRedisServer(port: number, dir: string, password?: string): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--daemonize', 'no'];
  args.push('--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir);
  if (password !== undefined) args.push('--requirepass', password);
  const server = track(spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    server.stdout?.on('data', onData);
    server.stderr?.on('data', onData);
    server.once('error', reject);
    server.once('exit', (code) => reject(new Error(`redis-server exited ${code}:\n${output}`)));
  });
  return server;
}
