// A set of patch ids as one bit each: a first sync of a million patches
// marks every one, which a Set<number> holds in tens of megabytes and this
// in about the largest id / 8 bytes.

export class IdSet {
  private bits = new Uint8Array(1024);

  add(id: number): void {
    if (id >> 3 >= this.bits.length) {
      const grown = new Uint8Array(Math.max(this.bits.length * 2, (id >> 3) + 1));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[id >> 3] = this.bits[id >> 3]! | (1 << (id & 7));
  }

  has(id: number): boolean {
    return ((this.bits[id >> 3] ?? 0) & (1 << (id & 7))) !== 0;
  }
}
