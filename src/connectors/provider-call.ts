import { errors as undiciErrors, type Dispatcher } from 'undici';

/** How one attempt at a provider call ended. */
export type CallOutcome =
  | { kind: 'ok'; status: number; body: unknown }
  | { kind: 'credentials'; status: number }
  | { kind: 'rate_limited'; status: number; retryAfter: string | string[] | undefined }
  | { kind: 'provider_error'; status: number | null; detail: string; retryAfter?: string | string[] };

/**
 * One HTTP GET, classified by cause: 2xx is data, 401/403 are credentials, 429 is the provider's cap,
 * everything else (5xx, other 4xx, unreadable JSON, timeouts, connection errors) is the provider's.
 * An abort (the connector stopping) is the only thing that throws. `headers` are sent as given.
 */
export async function providerCall(
  url: string,
  opts: { dispatcher: Dispatcher; headers: Record<string, string>; timeoutMs: number; signal: AbortSignal },
): Promise<CallOutcome> {
  try {
    const { origin, path } = splitUrl(url);
    // Origin and path, not a URL string: undici would parse each string into a URL object.
    const res = await opts.dispatcher.request({
      origin,
      path,
      method: 'GET',
      headers: opts.headers,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      signal: opts.signal,
    });
    const status = res.statusCode;
    if (status >= 200 && status < 300) {
      try {
        return { kind: 'ok', status, body: await res.body.json() };
      } catch (e) {
        if (opts.signal.aborted) throw e;
        return { kind: 'provider_error', status, detail: 'the response is not JSON' };
      }
    }
    await res.body.dump();
    if (status === 401 || status === 403) return { kind: 'credentials', status };
    if (status === 429) return { kind: 'rate_limited', status, retryAfter: res.headers['retry-after'] };
    return {
      kind: 'provider_error',
      status,
      detail: `HTTP ${status}`,
      retryAfter: res.headers['retry-after'],
    };
  } catch (e) {
    if (opts.signal.aborted) throw e;
    const timeout =
      e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError;
    return {
      kind: 'provider_error',
      status: null,
      detail: timeout ? 'timeout' : `network: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
}

/** `http://host:port/a/b?c` → origin `http://host:port`, path `/a/b?c` (an absolute http(s) URL). */
export function splitUrl(url: string): { origin: string; path: string } {
  const scheme = url.indexOf('://');
  if (scheme < 0) throw new Error(`not an absolute URL: ${url}`);
  const slash = url.indexOf('/', scheme + 3);
  const query = url.indexOf('?', scheme + 3);
  const end = slash < 0 ? (query < 0 ? url.length : query) : query < 0 ? slash : Math.min(slash, query);
  const rest = url.slice(end);
  return { origin: url.slice(0, end), path: rest.startsWith('/') ? rest : `/${rest}` };
}

/** The headers of every call: the configured ones, the credentials, and `accept`. */
export function providerHeaders(
  configured: Record<string, string>,
  credentials: { header: string; value: string } | null,
): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json', ...configured };
  if (credentials) headers[credentials.header] = credentials.value;
  return headers;
}
