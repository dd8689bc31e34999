/**
 * The tiny interface the shared SQL memory store runs on. A driver (node-postgres, PGlite) adapts its
 * client to it; everything else (schema, migrations, queries) lives once in `src/memory/sql/`.
 */

/** Runs one SQL statement. */
export interface SqlQueryable {
  /**
   * Runs one statement (never several separated by `;`: PGlite's extended protocol takes one) with
   * `$1`, `$2`, … parameters and returns its rows. Numbers, strings and null are the only parameter
   * types the store passes; `bigint` columns may come back as string, number or bigint depending on
   * the driver, so the store converts them with `Number()`.
   *
   * @throws HarnessError `memory_error` (retryable when the server is unreachable) mapped by the driver.
   */
  query<Row extends object = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<Row[]>;
}

/** A database the SQL memory store can use: statements, transactions and a way to let go. */
export interface SqlExecutor extends SqlQueryable {
  /**
   * Runs `work` in one transaction (READ COMMITTED) on one connection: committed when it resolves,
   * rolled back when it throws (the error is rethrown unchanged when it is a HarnessError).
   */
  transaction<T>(work: (tx: SqlQueryable) => Promise<T>): Promise<T>;
  /** Closes the connections; called once by the store's `close()`. */
  close(): Promise<void>;
}
