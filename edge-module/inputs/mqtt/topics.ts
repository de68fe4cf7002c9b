/**
 * MQTT topic filters as a Greengrass group's subscription table uses them: which custom topics go to the
 * connector's default channel. Pure functions; config.ts validates the setting with them and the listener
 * matches each publish against them.
 */

/** Why `filter` is not a usable topic filter, or undefined when it is ([MQTT-4.7.1-2], [MQTT-4.7.1-3]). */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'is empty';
  if (Buffer.byteLength(filter, 'utf8') > 256) return 'is longer than 256 bytes (the Greengrass core limit on topics)';
  if (filter.startsWith('$')) return "starts with '$' (reserved for the broker)";
  if (filter.includes('\u0000')) return 'contains a NUL character';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return "uses '#' other than as the whole last level";
    if (level.includes('+') && level !== '+') return "uses '+' other than as a whole level";
  }
  return undefined;
}

/** Whether `topic` (a PUBLISH topic: no wildcards) matches `filter`. */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** A compiled list of filters: exact topics in a set, wildcard filters tested in order. */
export class TopicFilterSet {
  private readonly exact: Set<string>;
  private readonly wildcards: readonly string[];

  constructor(readonly filters: readonly string[]) {
    this.exact = new Set(filters.filter((f) => !/[+#]/.test(f)));
    this.wildcards = filters.filter((f) => /[+#]/.test(f));
  }

  get empty(): boolean {
    return this.filters.length === 0;
  }

  matches(topic: string): boolean {
    if (this.exact.has(topic)) return true;
    for (const filter of this.wildcards) if (topicMatches(filter, topic)) return true;
    return false;
  }
}
