/**
 * Component lifecycle: start by dependency (independent components in parallel), and on any failure
 * name each component that failed with its reason and stop everything already started, newest first.
 */

/** A started component: what it publishes, how to stop it, and (optionally) its live counters. */
export interface RunningComponent {
  /** The value merged under its key in connections.json (none for internal parts such as the simulator). */
  readonly connection?: unknown;
  stop(): Promise<void>;
  counters?(): Promise<Readonly<Record<string, number>>> | Readonly<Record<string, number>>;
}

export interface ComponentSpec {
  readonly name: string;
  /** Names of components that must be running first (only those selected are waited for). */
  readonly dependsOn: readonly string[];
  start(started: ReadonlyMap<string, RunningComponent>): Promise<RunningComponent>;
}

export class ComponentStartError extends Error {
  constructor(readonly failures: ReadonlyArray<{ readonly component: string; readonly reason: string }>) {
    super(failures.map((f) => `${f.component} failed to start: ${f.reason}`).join('; '));
    this.name = 'ComponentStartError';
  }
}

export type LifecycleEvent =
  | { readonly kind: 'starting'; readonly component: string }
  | { readonly kind: 'started'; readonly component: string; readonly ms: number }
  | { readonly kind: 'failed'; readonly component: string; readonly reason: string }
  | { readonly kind: 'stopped'; readonly component: string; readonly ms: number }
  | { readonly kind: 'stop-failed'; readonly component: string; readonly reason: string };

/** Start waves, pure ordering: each wave holds the specs whose dependencies are all in earlier waves. */
export function startWaves(specs: readonly ComponentSpec[]): ComponentSpec[][] {
  const names = new Set(specs.map((s) => s.name));
  const placed = new Set<string>();
  const waves: ComponentSpec[][] = [];
  let remaining = [...specs];
  while (remaining.length > 0) {
    const wave = remaining.filter((s) => s.dependsOn.every((d) => !names.has(d) || placed.has(d)));
    if (wave.length === 0) {
      throw new Error(`components have a dependency cycle: ${remaining.map((s) => s.name).join(', ')}`);
    }
    for (const s of wave) placed.add(s.name);
    waves.push(wave);
    remaining = remaining.filter((s) => !placed.has(s.name));
  }
  return waves;
}

function reasonOf(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0] ?? message;
}

/**
 * Stop components newest first within one overall budget (npm start promises 10 s); each gets what is left
 * of it, and a stuck one is reported and skipped so the others still stop.
 */
export async function stopAll(
  started: ReadonlyMap<string, RunningComponent>,
  onEvent: (event: LifecycleEvent) => void = () => undefined,
  budgetMs = 9000,
): Promise<void> {
  const deadline = Date.now() + budgetMs;
  for (const [name, component] of [...started.entries()].reverse()) {
    const t0 = Date.now();
    // At least a moment each, so a component after a stuck one can still close its sockets.
    const timeoutMs = Math.max(250, deadline - t0);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        component.stop(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not stop within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      onEvent({ kind: 'stopped', component: name, ms: Date.now() - t0 });
    } catch (err) {
      onEvent({ kind: 'stop-failed', component: name, reason: reasonOf(err) });
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Start all specs by dependency; on failure, stop the started ones and throw ComponentStartError. */
export async function startAll(
  specs: readonly ComponentSpec[],
  onEvent: (event: LifecycleEvent) => void = () => undefined,
): Promise<Map<string, RunningComponent>> {
  const started = new Map<string, RunningComponent>();
  for (const wave of startWaves(specs)) {
    const failures: Array<{ component: string; reason: string }> = [];
    await Promise.all(
      wave.map(async (spec) => {
        const t0 = Date.now();
        onEvent({ kind: 'starting', component: spec.name });
        try {
          const running = await spec.start(started);
          started.set(spec.name, running);
          onEvent({ kind: 'started', component: spec.name, ms: Date.now() - t0 });
        } catch (err) {
          failures.push({ component: spec.name, reason: reasonOf(err) });
          onEvent({ kind: 'failed', component: spec.name, reason: reasonOf(err) });
        }
      }),
    );
    if (failures.length > 0) {
      await stopAll(started, onEvent);
      throw new ComponentStartError(failures);
    }
  }
  return started;
}
