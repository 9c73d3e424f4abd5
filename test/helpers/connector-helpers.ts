import type { AlertEvent, AlertSink } from '../../src/alerts/alert-sink.js';
import type { Clock } from '../../src/connectors/clock.js';
import type { ConnectorConfigInput } from '../../src/connectors/connector-config.js';
import type { SluiceConfigInput } from '../../src/config/schema.js';

/** An AlertSink that remembers what it was told, with the clock time of each call. */
export class RecordingSink implements AlertSink {
  readonly raised: AlertEvent[] = [];
  readonly resolved: { source: string; kind: string; at: number }[] = [];
  raise(event: AlertEvent): void {
    this.raised.push(event);
  }
  resolve(source: string, kind: string, at: number): void {
    this.resolved.push({ source, kind, at });
  }
  kinds(): string[] {
    return this.raised.map((e) => e.kind);
  }
}

/** Connectors for a test config (the schema's input form; defaults are filled in on validation). */
export function withConnectors(...connectors: ConnectorConfigInput[]): Partial<SluiceConfigInput> {
  return { connectors };
}

/** Waits (real time) until `check` holds, polling every few ms. */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Waits until the clock reaches `at`. */
export async function clockAt(clock: Clock, at: number): Promise<void> {
  const ms = at - clock.now();
  if (ms > 0) await clock.sleep(ms);
}
