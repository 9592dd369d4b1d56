import { it as vitestIt, type TestContext } from "vitest";

// Expected failures of the HTTP API suite on one deployment, by test name, each with its reason: a
// deployment that cannot pass a test by nature (API Gateway's pessimistic answers, docs/lambda.md
// "Unsettled gateway behaviours") names exactly those tests, and the rest must pass. A listed test
// that passes fails the run, so the list cannot go stale. The suite's files take `it` from here.

const knownFailures = new Map<string, Readonly<Record<string, string>>>();

/** Registers the tests expected to fail under the suite named `suiteName` (test name → reason). */
export function expectFailures(suiteName: string, failures: Readonly<Record<string, string>>): void {
  knownFailures.set(suiteName, failures);
}

function reasonFor(context: TestContext): string | undefined {
  let suite = context.task.suite;
  while (suite?.suite) suite = suite.suite;
  return suite ? knownFailures.get(suite.name)?.[context.task.name] : undefined;
}

/** vitest's `it` (name and body only), inverted for the tests listed for the running suite. */
export function it(name: string, body: (context: TestContext) => Promise<void> | void): void {
  vitestIt(name, async (context) => {
    const reason = reasonFor(context);
    if (reason === undefined) return body(context);
    try {
      await body(context);
    } catch {
      await context.annotate(`expected failure: ${reason}`);
      return;
    }
    throw new Error(`expected to fail (${reason}), but passed: remove it from the known failures`);
  });
}
