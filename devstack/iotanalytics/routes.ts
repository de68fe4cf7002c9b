/**
 * A route table: method + path pattern → operation. `{name}` segments are parameters (URL-decoded);
 * the first route whose method and segments match wins. Pure.
 */
import type http from 'node:http';
import type { Reply } from './http.js';

export interface OperationRequest {
  readonly req: http.IncomingMessage;
  readonly url: URL;
  /** The `{…}` segments of the matched pattern, decoded. */
  readonly params: Readonly<Record<string, string>>;
}

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** e.g. `/channels/{name}/sample` */
  readonly path: string;
  /** Counted in stats as `byOperation`. */
  readonly operation: string;
  readonly handle: (request: OperationRequest) => Promise<Reply>;
}

export interface RouteMatch {
  readonly route: Route;
  readonly params: Record<string, string>;
}

function segments(path: string): string[] {
  return path.split('/').filter(Boolean);
}

/** Throws URIError on a malformed escape in the path (the caller answers it as a failure). */
export function matchRoute(routes: readonly Route[], method: string, pathname: string): RouteMatch | undefined {
  const given = segments(pathname).map(decodeURIComponent);
  for (const route of routes) {
    if (route.method !== method) continue;
    const pattern = segments(route.path);
    if (pattern.length !== given.length) continue;
    const params: Record<string, string> = {};
    const matches = pattern.every((part, i) => {
      const value = given[i] as string;
      if (part.startsWith('{') && part.endsWith('}')) {
        params[part.slice(1, -1)] = value;
        return true;
      }
      return part === value;
    });
    if (matches) return { route, params };
  }
  return undefined;
}
