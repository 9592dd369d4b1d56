import { describe, expect, it } from "vitest";
import type { DeploymentStore, TenancyMode } from "../src/ports.ts";
import { decideTenancyMode, settleTenancyMode, TenancyModeError, type ModeFacts } from "../src/services/tenancy-mode.ts";
import { MemoryMetadata, MemoryTenantStore } from "./admin-memory-stores.ts";

// Item 8 of issue 10: storage remembers the tenancy mode it was created in.

describe("decideTenancyMode", () => {
  const facts = (recorded: TenancyMode | undefined, hasRepositories: boolean, hasTenants = false): ModeFacts => ({ recorded, hasRepositories, hasTenants });
  const cases: [string, ModeFacts, TenancyMode, boolean, ReturnType<typeof decideTenancyMode>][] = [
    ["new storage records the mode it starts in", facts(undefined, false), "open", false, { action: "record" }],
    ["the same mode again reads nothing more", facts("multi-tenant", true), "multi-tenant", false, { action: "keep" }],
    ["multi-tenant data started open: refused (it would expose every tenant)", facts("multi-tenant", true), "open", false, { action: "refuse", was: "multi-tenant" }],
    ["open data started multi-tenant: refused (it would misattribute)", facts("open", true), "multi-tenant", false, { action: "refuse", was: "open" }],
    ["with the override it changes, and says from what", facts("multi-tenant", true), "open", true, { action: "record", from: "multi-tenant" }],
    ["storage without repositories changes freely", facts("multi-tenant", false), "open", false, { action: "record", from: "multi-tenant" }],
    ["unrecorded storage with tenants was multi-tenant", facts(undefined, true, true), "open", false, { action: "refuse", was: "multi-tenant" }],
    ["unrecorded storage with tenants but no repositories may open", facts(undefined, false, true), "open", false, { action: "record", from: "multi-tenant" }],
    ["unrecorded storage with repositories and no tenant was open", facts(undefined, true), "multi-tenant", false, { action: "refuse", was: "open" }],
    ["unrecorded open storage started open is recorded", facts(undefined, true), "open", false, { action: "record" }],
    ["unrecorded multi-tenant storage started multi-tenant is recorded", facts(undefined, true, true), "multi-tenant", false, { action: "record" }],
  ];
  for (const [what, given, wanted, accept, expected] of cases) {
    it(what, () => expect(decideTenancyMode(given, wanted, accept)).toEqual(expected));
  }
});

describe("settleTenancyMode", () => {
  const names = { storage: "data directory ./data", multiTenantOption: "--multi-tenant", acceptOption: "--accept-mode-change" };

  function stores() {
    let mode: TenancyMode | undefined;
    let writes = 0;
    const deployment: DeploymentStore = {
      getTenancyMode: async () => mode,
      setTenancyMode: async (next, expected) => {
        if (mode !== expected) return false;
        writes++;
        mode = next;
        return true;
      },
    };
    const metadata = new MemoryMetadata();
    return { deployment, metadata: metadata.asStore(), tenants: new MemoryTenantStore(), memory: metadata, mode: () => mode, writes: () => writes };
  }

  it("records the first mode, refuses the other one in one line naming both options, and changes with the override", async () => {
    const s = stores();
    expect(await settleTenancyMode(s, "multi-tenant", { acceptChange: false, names })).toEqual({});
    expect(s.mode()).toBe("multi-tenant");
    s.memory.linkBlob("acme/app", `sha256:${"a".repeat(64)}`);

    const refusal = settleTenancyMode(s, "open", { acceptChange: false, names });
    await expect(refusal).rejects.toBeInstanceOf(TenancyModeError);
    const message = (await refusal.catch((e: Error) => e.message)) as string;
    expect(message).not.toContain("\n");
    expect(message).toMatch(/data directory \.\/data was created in multi-tenant mode/);
    expect(message).toMatch(/without authentication/);
    expect(message).toContain("--multi-tenant");
    expect(message).toContain("--accept-mode-change");
    expect(s.mode()).toBe("multi-tenant");

    expect(await settleTenancyMode(s, "open", { acceptChange: true, names })).toEqual({ changedFrom: "multi-tenant" });
    expect(s.mode()).toBe("open");
    // The change is recorded: the next start in that mode needs no override.
    expect(await settleTenancyMode(s, "open", { acceptChange: false, names })).toEqual({});
    expect(s.writes()).toBe(2);
  });
});
