import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { requestLogFields, type RequestContext } from "@stratus/core";

// One JSON line per request, with the Node server's fields (core's requestLogFields,
// docs/operations.md "Logs"): Lambda sends stdout to CloudWatch Logs, where Logs Insights queries
// both alike.

export type RequestLogSink = (entry: Record<string, unknown>) => void;

/** stdout, one line each; "silent" (STRATUS_LOG_LEVEL) turns request lines off. */
export function stdoutSink(level: string | undefined): RequestLogSink | undefined {
  if (level === "silent" || level === "warn" || level === "error" || level === "fatal") return undefined;
  return (entry) => process.stdout.write(`${JSON.stringify(entry)}\n`);
}

export interface LambdaExchange {
  event: APIGatewayProxyEventV2;
  result: APIGatewayProxyStructuredResultV2;
  requestId: string | null;
  bytesIn: number;
  startedAt: number;
  context: RequestContext;
}

export function requestLogEntry({ event, result, requestId, bytesIn, startedAt, context }: LambdaExchange): Record<string, unknown> {
  const http = event.requestContext.http;
  const userAgent = event.headers?.["user-agent"];
  const body = result.body ?? "";
  return {
    level: "info",
    msg: "request",
    ...requestLogFields({
      requestId,
      method: http.method.toUpperCase(),
      path: event.rawPath,
      status: result.statusCode ?? 200,
      bytesIn,
      bytesOut: result.isBase64Encoded ? Buffer.byteLength(body, "base64") : Buffer.byteLength(body),
      ms: Math.round((performance.now() - startedAt) * 1000) / 1000,
      remoteAddress: http.sourceIp,
      ...(userAgent ? { userAgent } : {}),
      ...(context.caller ? { caller: context.caller } : {}),
    }),
  };
}
