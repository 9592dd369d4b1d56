import type { Caller } from "../ports.ts";

// One JSON line per request, the same on the Node server and the Lambda (docs/operations.md "Logs"),
// so one query reads both. What it never holds: the query string (upload links carry tokens there),
// any header but the user agent (Authorization stays out), any secret: the caller is named by
// tenant and key id only.

/** A user agent longer than this is cut: it is the client's own text, and lines stay small. */
const USER_AGENT_MAX = 256;

export interface RequestLogFacts {
  requestId?: string | null;
  method: string;
  /** The path without its query string. */
  path: string;
  status: number;
  /** Body bytes received; `bytesDiscarded` of them dropped after an early answer. */
  bytesIn: number;
  bytesDiscarded?: number;
  bytesOut: number;
  ms: number;
  remoteAddress?: string;
  userAgent?: string;
  caller?: Caller;
  /** The answer could not be written whole. */
  aborted?: boolean;
}

/** The fields of a request's log line, absent ones left out. */
export function requestLogFields(facts: RequestLogFacts): Record<string, unknown> {
  const { requestId, method, path, status, bytesIn, bytesDiscarded, bytesOut, ms, remoteAddress, userAgent, caller, aborted } = facts;
  return {
    ...(requestId ? { requestId } : {}),
    method,
    path: path.split("?")[0],
    status,
    bytesIn,
    ...(bytesDiscarded ? { bytesDiscarded } : {}),
    bytesOut,
    ms,
    ...(remoteAddress ? { remoteAddress } : {}),
    ...(userAgent ? { userAgent: userAgent.slice(0, USER_AGENT_MAX) } : {}),
    ...(caller?.tenant ? { tenant: caller.tenant } : {}),
    ...(caller?.keyId ? { keyId: caller.keyId } : {}),
    ...(aborted ? { aborted: true } : {}),
  };
}
