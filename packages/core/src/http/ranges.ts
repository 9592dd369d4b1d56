import { RegistryError } from "../errors.ts";
import type { ByteRange } from "../ports.ts";

// Two different range grammars meet at the registry:
// - blob GET takes RFC 9110 "Range: bytes=start-end" (one range; suffix and open-ended forms);
// - chunked upload PATCH takes distribution-spec "Content-Range: start-end" (no unit; some clients send "bytes start-end/total").

/** Parses a GET Range header against the blob's size; undefined means "whole blob". */
export function parseRangeHeader(value: string | null, size: number): ByteRange | undefined {
  if (value === null) return undefined;
  const unsatisfiable = (why: string) =>
    new RegistryError("RANGE_INVALID", `${why}; the blob is ${size} bytes, so ranges run from 0 to ${size - 1}`, { range: value.slice(0, 60) }, {
      headers: { "content-range": `bytes */${size}` },
    });
  const m = /^\s*bytes\s*=\s*(\d{0,15})\s*-\s*(\d{0,15})\s*$/i.exec(value);
  if (!m || (m[1] === "" && m[2] === "")) {
    throw unsatisfiable(`Range "${value.slice(0, 60)}" is not of the form bytes=start-end (one range only)`);
  }
  let start: number;
  let end: number;
  if (m[1] === "") {
    // Suffix form: the last N bytes.
    const n = Number(m[2]);
    if (n === 0) throw unsatisfiable("Range asks for the last 0 bytes");
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) throw unsatisfiable(`Range "${value.slice(0, 60)}" ends before it starts`);
  }
  if (start >= size) throw unsatisfiable(`Range starts at byte ${start}`);
  return { start, end };
}

/** Parses an upload PATCH Content-Range: "start-end", or "bytes start-end/total". */
export function parseContentRange(value: string | null): ByteRange | undefined {
  if (value === null) return undefined;
  const m = /^\s*(?:bytes[ =])?\s*(\d{1,15})-(\d{1,15})(?:\/(?:\d{1,15}|\*))?\s*$/i.exec(value);
  if (!m || Number(m[2]) < Number(m[1])) {
    throw new RegistryError("RANGE_INVALID", `Content-Range "${value.slice(0, 60)}" is not of the form <start>-<end> with end >= start`, {
      contentRange: value.slice(0, 60),
    });
  }
  return { start: Number(m[1]), end: Number(m[2]) };
}

/** Range header value for an upload holding `size` bytes; "0-0" when empty, as the CNCF registry answers. */
export function uploadRangeHeader(size: number): string {
  return `0-${size > 0 ? size - 1 : 0}`;
}
