/**
 * Finds the rows a database rejects without going row by row. `attempt`
 * writes a group all or nothing and returns the database's reason when it
 * rejects the group; a rejected group is halved until each rejected row
 * stands alone. For d bad rows among n this costs about 1 + 2·d·log2(n)
 * statements, and every good row is still written.
 */
export async function writeBisecting<T>(
  items: readonly T[],
  attempt: (group: readonly T[]) => Promise<string | null>,
): Promise<Array<{ item: T; reason: string }>> {
  const rejected: Array<{ item: T; reason: string }> = [];
  const visit = async (lo: number, hi: number): Promise<void> => {
    if (lo >= hi) return;
    const reason = await attempt(items.slice(lo, hi));
    if (reason === null) return;
    if (hi - lo === 1) {
      rejected.push({ item: items[lo], reason });
      return;
    }
    const mid = (lo + hi) >>> 1;
    await visit(lo, mid);
    await visit(mid, hi);
  };
  await visit(0, items.length);
  return rejected;
}
