// SHA-256 (FIPS 180-4) whose state can be saved and resumed: an upload's chunks may arrive at
// different processes (Lambda instances, upload-service tasks), and Node's native hash cannot
// export its state. The state is 8 words, the unprocessed tail (< 64 bytes) and the length.

// Int32Array, not Uint32Array: V8 keeps 32-bit signed values as small integers, unsigned ones above 2^31 as doubles.
const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01,
  0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc,
  0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
  0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08,
  0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

export class ResumableSha256 {
  private readonly h = new Int32Array(INITIAL);
  private readonly w = new Int32Array(64);
  private readonly tail = new Uint8Array(64);
  private tailLength = 0;
  /** Bytes hashed so far. */
  length = 0;

  update(data: Uint8Array): this {
    let at = 0;
    this.length += data.length;
    if (this.tailLength > 0) {
      const take = Math.min(64 - this.tailLength, data.length);
      this.tail.set(data.subarray(0, take), this.tailLength);
      this.tailLength += take;
      at = take;
      if (this.tailLength < 64) return this;
      this.blocks(this.tail, 0, 64);
      this.tailLength = 0;
    }
    const whole = at + Math.floor((data.length - at) / 64) * 64;
    if (whole > at) this.blocks(data, at, whole);
    if (whole < data.length) {
      this.tail.set(data.subarray(whole), 0);
      this.tailLength = data.length - whole;
    }
    return this;
  }

  /** The digest as lower-case hex. Leaves this object usable only for exportState. */
  digestHex(): string {
    const clone = ResumableSha256.fromState(this.exportState());
    const bits = clone.length * 8;
    const pad = new Uint8Array(((clone.tailLength < 56 ? 56 : 120) - clone.tailLength) + 8);
    pad[0] = 0x80;
    const view = new DataView(pad.buffer);
    view.setUint32(pad.length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(pad.length - 4, bits >>> 0);
    clone.update(pad);
    let hex = "";
    for (const word of clone.h) hex += (word >>> 0).toString(16).padStart(8, "0");
    return hex;
  }

  /** A compact, JSON-safe state: base64 of h (32 bytes) + tail, and the length. */
  exportState(): string {
    const bytes = new Uint8Array(32 + this.tailLength);
    const view = new DataView(bytes.buffer);
    this.h.forEach((word, i) => view.setInt32(i * 4, word));
    bytes.set(this.tail.subarray(0, this.tailLength), 32);
    return `sha256:${this.length}:${Buffer.from(bytes).toString("base64")}`;
  }

  static fromState(state: string): ResumableSha256 {
    const m = /^sha256:(\d{1,16}):([A-Za-z0-9+/=]{43,140})$/.exec(state);
    const bytes = m ? new Uint8Array(Buffer.from(m[2]!, "base64")) : undefined;
    if (!m || !bytes || bytes.length < 32 || bytes.length >= 96 || (Number(m[1]) % 64) !== bytes.length - 32) {
      throw new Error("invalid SHA-256 state");
    }
    const hash = new ResumableSha256();
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < 8; i++) hash.h[i] = view.getInt32(i * 4);
    hash.tail.set(bytes.subarray(32), 0);
    hash.tailLength = bytes.length - 32;
    hash.length = Number(m[1]);
    return hash;
  }

  private blocks(data: Uint8Array, from: number, to: number): void {
    const w = this.w;
    const h = this.h;
    let h0 = h[0]!, h1 = h[1]!, h2 = h[2]!, h3 = h[3]!, h4 = h[4]!, h5 = h[5]!, h6 = h[6]!, h7 = h[7]!;
    for (let p = from; p < to; p += 64) {
      for (let i = 0; i < 16; i++) {
        const j = p + i * 4;
        w[i] = (data[j]! << 24) | (data[j + 1]! << 16) | (data[j + 2]! << 8) | data[j + 3]!;
      }
      for (let i = 16; i < 64; i++) {
        const a = w[i - 15]!, b = w[i - 2]!;
        const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
        const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
        w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
      }
      let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, hh = h7;
      for (let i = 0; i < 64; i++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[i]! + w[i]!) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + hh) | 0;
    }
    h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3; h[4] = h4; h[5] = h5; h[6] = h6; h[7] = h7;
  }
}
