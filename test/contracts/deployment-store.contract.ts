import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { DeploymentStore } from "@stratus/core";

// Every behaviour core relies on from a DeploymentStore (the tenancy mode storage was created in,
// services/tenancy-mode.ts), written against the port only: SQLite in `npm test`, DynamoDB Local in
// the AWS run.

export interface DeploymentStoreFixture {
  store: DeploymentStore;
  /** A second store over the same storage (another process, another Lambda container). */
  another(): Promise<DeploymentStore>;
  cleanup(): Promise<void>;
}

export function deploymentStoreContract(name: string, make: () => Promise<DeploymentStoreFixture>): void {
  describe(`${name} satisfies DeploymentStore`, () => {
    let fixture: DeploymentStoreFixture;
    beforeEach(async () => {
      fixture = await make();
    });
    afterEach(async () => {
      await fixture.cleanup();
    });

    it("records nothing until told, then the mode, which every store over the storage reads", async () => {
      const { store } = fixture;
      expect(await store.getTenancyMode()).toBeUndefined();
      expect(await store.setTenancyMode("multi-tenant", undefined)).toBe(true);
      expect(await store.getTenancyMode()).toBe("multi-tenant");
      expect(await (await fixture.another()).getTenancyMode()).toBe("multi-tenant");
    });

    it("changes the mode only from the one expected", async () => {
      const { store } = fixture;
      await store.setTenancyMode("open", undefined);
      expect(await store.setTenancyMode("multi-tenant", undefined)).toBe(false);
      expect(await store.setTenancyMode("multi-tenant", "multi-tenant")).toBe(false);
      expect(await store.getTenancyMode()).toBe("open");
      expect(await store.setTenancyMode("multi-tenant", "open")).toBe(true);
      expect(await store.getTenancyMode()).toBe("multi-tenant");
    });

    it("lets exactly one of concurrent first records win", async () => {
      const stores = [fixture.store, await fixture.another(), await fixture.another()];
      const results = await Promise.all(stores.flatMap((s, i) => [s.setTenancyMode(i % 2 ? "open" : "multi-tenant", undefined), s.setTenancyMode("open", undefined)]));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(["open", "multi-tenant"]).toContain(await fixture.store.getTenancyMode());
    });
  });
}
