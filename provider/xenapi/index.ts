/**
 * Typed XenAPI client for XenServer / XCP-ng pools: JSON-RPC transport with TLS pinning, sessions, retries as pure
 * policy, Async tasks with an event-driven waiter, zod-parsed records and an event-fed inventory cache.
 *
 * Usable on its own: imports nothing from the rest of the provider.
 */
export { XenApiClient, TASK_VANISHED, type XenApiClientOptions, type CallOptions, type WriteCounter } from "./client";
export { EventWatcher, type EventConsumer, type TaskNews, type WatcherOptions } from "./events";
export {
  XenApiError,
  XenTransportError,
  isXenApiError,
  isTransportError,
  describeErrorCode,
  formatXenApiMessage,
  TRANSPORT_ERROR_KINDS,
  type TransportErrorKind,
  type XenApiErrorInit,
  type XenTransportErrorInit,
} from "./errors";
export {
  isReadOnlyMethod,
  retryDecision,
  backoffDelay,
  BUSY_CODES,
  type RetryInput,
  type RetryDecision,
  type BackoffOptions,
} from "./retry";
export { decodeTaskResult, decodeXmlRpcValue, type XmlRpcValue } from "./task-result";
export { redact, redactParams, REDACTED, REDACTED_SESSION_REF, type RedactOptions } from "./redact";
export { WaiterState, checkTaskState, runWaiter, sleep, type WaitOutcome, type WaiterOptions } from "./waiter";
export { Inventory, DEFAULT_INVENTORY_CLASSES, type InventoryOptions } from "./inventory";
export {
  HttpTransport,
  decodeRpcResponse,
  interpretHttpResponse,
  normalizeEndpoint,
  masterEndpoint,
  xapiFloat,
  DEFAULT_MAX_RESPONSE_BYTES,
  type Transport,
  type TransportFactory,
  type RpcRequest,
  type SendOptions,
} from "./transport";
export { normalizeFingerprint, verifyPeer, TlsVerificationError } from "./tls";
export * from "./records";
export {
  xenFacade,
  ASYNC_METHODS,
  type XenFacade,
  type FacadeClient,
  type PoolCalls,
  type HostCalls,
  type VmCalls,
  type VbdCalls,
  type VdiCalls,
  type SrCalls,
  type NetworkCalls,
  type VifCalls,
} from "./facade";
