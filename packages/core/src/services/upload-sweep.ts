import type { UploadSession } from "../ports.ts";

// The sweep of idle upload sessions (issue 10, item 4): everything idle past the TTL goes, page after
// page, not one page per run, so a flood of abandoned sessions is gone by the next run rather than
// after hours. Each removal is a few storage calls (S3: list and abort the multipart upload, delete
// the tail), so several run at once. A time budget bounds one run where the platform does (Lambda).

export interface SweepOptions {
  /** Epoch ms (wall clock) after which no new page is started; the rest waits for the next run. */
  until?: number;
  /** Aborted (the process shuts down): no new page is started. */
  signal?: AbortSignal;
  /** Sessions listed per page. */
  pageSize?: number;
  /** Removals in flight at once. */
  concurrency?: number;
}

const DEFAULT_PAGE = 500;
const DEFAULT_CONCURRENCY = 8;

/**
 * Lists a page of idle sessions, removes each (`remove` answers false for one it skipped, as busy),
 * and goes on while a page made progress. A removal that fails is left for the next run: the sweep
 * goes on with the others and throws at the end, saying how many went and how many did not.
 */
export async function sweepIdle(
  list: (limit: number) => Promise<UploadSession[]>,
  remove: (session: UploadSession) => Promise<boolean>,
  options: SweepOptions = {},
): Promise<number> {
  const pageSize = options.pageSize ?? DEFAULT_PAGE;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  let removed = 0;
  // Tried once per run: a failing session listed again on a later page is not retried until the next run.
  const failed = new Set<string>();
  let firstError: unknown;
  for (;;) {
    const page = await list(pageSize);
    let progress = 0;
    let next = 0;
    const worker = async () => {
      while (next < page.length) {
        const session = page[next++]!;
        if (failed.has(session.id)) continue;
        try {
          if (await remove(session)) progress++;
        } catch (error) {
          failed.add(session.id);
          firstError ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, page.length) }, worker));
    removed += progress;
    // A page of sessions that are busy or failing only would be listed again as it is: stop there.
    if (progress === 0 || options.signal?.aborted || (options.until !== undefined && Date.now() >= options.until)) break;
  }
  if (failed.size > 0) {
    throw new Error(`upload sweep removed ${removed} idle sessions; ${failed.size} could not be removed and wait for the next run`, { cause: firstError });
  }
  return removed;
}
