import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ResumableSha256 } from "../src/oci/resumable-sha256.ts";

describe("ResumableSha256", () => {
  it("matches node:crypto for every length around block boundaries", () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000]) {
      const data = randomBytes(n);
      expect(new ResumableSha256().update(data).digestHex()).toBe(createHash("sha256").update(data).digest("hex"));
    }
  });

  it("gives the same digest when split anywhere and resumed from exported state", () => {
    for (let round = 0; round < 200; round++) {
      const data = randomBytes(Math.floor(Math.random() * 3000));
      let hash = new ResumableSha256();
      for (let at = 0; at < data.length; ) {
        const take = Math.floor(Math.random() * 150);
        hash.update(data.subarray(at, at + take));
        at += take;
        if (Math.random() < 0.4) hash = ResumableSha256.fromState(JSON.parse(JSON.stringify(hash.exportState())));
      }
      expect(hash.digestHex()).toBe(createHash("sha256").update(data).digest("hex"));
    }
  });

  it("can still export after digestHex, and digest twice alike", () => {
    const hash = new ResumableSha256().update(randomBytes(100));
    const first = hash.digestHex();
    expect(hash.digestHex()).toBe(first);
    expect(ResumableSha256.fromState(hash.exportState()).digestHex()).toBe(first);
  });

  it.each(["", "sha256:1:AAAA", "sha512:0:" + "A".repeat(44), "sha256:5:" + Buffer.alloc(32).toString("base64")])("refuses the state %j", (state) => {
    expect(() => ResumableSha256.fromState(state)).toThrow("invalid SHA-256 state");
  });
});
