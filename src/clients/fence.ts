import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent, fetch as undiciFetch, type Dispatcher } from 'undici';

/**
 * Requests that must leave only while a lease holds (a group lock of the publish state, see
 * src/publish/state.ts). Checking the lease before calling fetch is not enough: between that
 * call and the moment the request is written to its connection there can be a TCP (and TLS)
 * handshake, and a process paused there (SIGSTOP, a stalled VM) writes the request when it
 * runs again, after another worker took its group over. So the check runs a second time in
 * the HTTP client itself, synchronously right before the request is written (undici's
 * onConnect / onRequestStart of the dispatch handler), and aborts it there: nothing reaches
 * the server.
 *
 * The fence travels with the async context (AsyncLocalStorage): `withFence(fence, fn)` fences
 * the requests `fn` makes through `fenceAwareFetch`, including those Slack's WebClient makes for it.
 * The check needs undici itself (not Node's bundled copy, whose dispatcher cannot be
 * extended from here); `fencedFetch` is undici's fetch on an agent with this interceptor.
 */

export interface Fence {
  /** Synchronous: whether the request may still leave. */
  held(): boolean;
  /** The error a refused request fails with (retryable). */
  lapsed(): Error;
}

const current = new AsyncLocalStorage<Fence>();
const REFUSED = Symbol('refused by its fence');

function refusal(fence: Fence): Error {
  return Object.assign(fence.lapsed(), { [REFUSED]: true });
}

/** Runs `fn` with its requests through `fenceAwareFetch` fenced by `fence`. */
export function withFence<T>(fence: Fence, fn: () => Promise<T>): Promise<T> {
  return current.run(fence, fn);
}

type AnyHandler = Dispatcher.DispatchHandler & Record<string, unknown>;

/**
 * The dispatch handler with the fence checked where undici starts writing the request: the
 * handler's own start callback runs first (so its abort is wired up), then a lapsed fence
 * aborts the request before a byte of it is written. Only the callback the handler has is
 * wrapped, so undici sees the same kind of handler (legacy or current API) it was given.
 */
function guarded(handler: AnyHandler, fence: Fence): AnyHandler {
  return new Proxy(handler, {
    get(target, prop) {
      if (prop === 'onConnect' && typeof target.onConnect === 'function') {
        return (abort: (err?: Error) => void, context?: unknown) => {
          (target.onConnect as (a: typeof abort, c?: unknown) => void).call(target, abort, context);
          if (!fence.held()) abort(refusal(fence));
        };
      }
      if (prop === 'onRequestStart' && typeof target.onRequestStart === 'function') {
        return (controller: { abort(err: Error): void }, context?: unknown) => {
          (target.onRequestStart as (c: typeof controller, x?: unknown) => void).call(target, controller, context);
          if (!fence.held()) controller.abort(refusal(fence));
        };
      }
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const fenceInterceptor: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) => {
  const fence = current.getStore();
  return dispatch(opts, fence ? guarded(handler as AnyHandler, fence) : handler);
};

let agent: Dispatcher | undefined;

/** undici's fetch through the fencing agent (one per process, created on first use). */
const fencedFetch = ((input: Parameters<typeof undiciFetch>[0], init?: Parameters<typeof undiciFetch>[1]) =>
  undiciFetch(input, { ...init, dispatcher: (agent ??= new Agent().compose(fenceInterceptor)) })) as unknown as typeof fetch;

/** `fencedFetch` while a fence is active, the global fetch otherwise (Slack's WebClient and httpRequest use it). */
export const fenceAwareFetch = ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) =>
  (current.getStore() ? fencedFetch : fetch)(input, init)) as typeof fetch;

/** The fence's own error when a request was refused by it (undici's "fetch failed" carries it as its cause). */
export function fenceError(err: unknown): Error | undefined {
  let e = err as { cause?: unknown; [REFUSED]?: boolean } | undefined;
  for (let depth = 0; e && depth < 4; depth++, e = e.cause as typeof e) if (e[REFUSED]) return e as unknown as Error;
  return undefined;
}
