/**
 * Object storage behind the apiserver. `Store` is the contract (one global, monotonic resourceVersion; every
 * write appends a watch event in the same transaction); `SqliteStore` keeps it in SQLite (WAL,
 * synchronous=FULL), so a `kill -9` at any moment loses no acknowledged write and the resourceVersion keeps
 * increasing across restarts. Tests use the same class on `:memory:` or a temp file.
 */
import Database from 'better-sqlite3';
import type { KubeObject } from '../api/types.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change, as the watch stream replays it. `resource` is the storage key (`pods`, `apps/deployments`). */
export interface StoredEvent {
  rv: number;
  type: WatchEventType;
  resource: string;
  namespace: string;
  name: string;
  object: KubeObject;
  /** For live MODIFIED events: the object before the change (lets watchers with selectors see transitions). */
  prev?: KubeObject;
}

export interface Store {
  get(resource: string, namespace: string, name: string): KubeObject | undefined;
  /** Objects of one resource, optionally in one namespace, sorted by namespace then name. */
  list(resource: string, namespace?: string): KubeObject[];
  /** The newest resourceVersion handed out. */
  currentRV(): number;
  /**
   * Writes one object (insert or replace) with the next resourceVersion and appends the event.
   * `expectRV`, when given, must equal the stored object's resourceVersion (0 = must not exist).
   * Returns the stored object (with metadata.resourceVersion set), or a reason the precondition failed.
   */
  put(resource: string, obj: KubeObject, type: 'ADDED' | 'MODIFIED', expectRV?: number): PutResult;
  /** Removes one object, appending a DELETED event carrying the final object with the new resourceVersion. */
  remove(resource: string, namespace: string, name: string, expectRV?: number): PutResult;
  /** Events with rv > `after` in order, or undefined when `after` is older than the retained history. */
  eventsSince(after: number): StoredEvent[] | undefined;
  /** The oldest resourceVersion from which a watch can still resume. */
  oldestResumableRV(): number;
  close(): void;
}

export type PutResult =
  | { ok: true; object: KubeObject; event: StoredEvent }
  | { ok: false; reason: 'exists' | 'notfound' | 'conflict' };

function nsOf(o: KubeObject): string {
  return o.metadata.namespace ?? '';
}

/** Applies the resourceVersion to a copy of the object. */
function withRV(obj: KubeObject, rv: number): KubeObject {
  return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(rv) } };
}

export interface SqliteStoreOptions {
  /** Path of the database file; `:memory:` for an in-memory database. */
  path: string;
  /** How many events to keep for watch resume (older ones are compacted). Default 10000. */
  historyLimit?: number;
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly historyLimit: number;
  private rv: number;
  private writesSinceCompact = 0;
  private readonly stmts: {
    get: Database.Statement;
    listAll: Database.Statement;
    listNs: Database.Statement;
    upsert: Database.Statement;
    del: Database.Statement;
    ev: Database.Statement;
    setRV: Database.Statement;
    since: Database.Statement;
    oldest: Database.Statement;
  };

  constructor(opts: SqliteStoreOptions) {
    this.historyLimit = opts.historyLimit ?? 10000;
    this.db = new Database(opts.path);
    this.db.pragma('journal_mode = WAL');
    // FULL: every commit is fsynced before we acknowledge it (survives power loss too, not only kill -9).
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS objects (
        resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        rv INTEGER NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (resource, namespace, name)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS events (
        rv INTEGER PRIMARY KEY, type TEXT NOT NULL, resource TEXT NOT NULL,
        namespace TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
    `);
    this.stmts = {
      get: this.db.prepare('SELECT rv, data FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
      listAll: this.db.prepare('SELECT data FROM objects WHERE resource = ? ORDER BY namespace, name'),
      listNs: this.db.prepare('SELECT data FROM objects WHERE resource = ? AND namespace = ? ORDER BY name'),
      upsert: this.db.prepare(
        'INSERT INTO objects (resource, namespace, name, rv, data) VALUES (?, ?, ?, ?, ?) ' +
          'ON CONFLICT (resource, namespace, name) DO UPDATE SET rv = excluded.rv, data = excluded.data',
      ),
      del: this.db.prepare('DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
      ev: this.db.prepare('INSERT INTO events (rv, type, resource, namespace, name, data) VALUES (?, ?, ?, ?, ?, ?)'),
      setRV: this.db.prepare("INSERT INTO meta (k, v) VALUES ('rv', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v"),
      since: this.db.prepare('SELECT rv, type, resource, namespace, name, data FROM events WHERE rv > ? ORDER BY rv'),
      oldest: this.db.prepare('SELECT MIN(rv) AS rv FROM events'),
    };
    const metaRV = this.db.prepare("SELECT v FROM meta WHERE k = 'rv'").get() as { v: string } | undefined;
    const maxEv = this.db.prepare('SELECT MAX(rv) AS rv FROM events').get() as { rv: number | null };
    const maxObj = this.db.prepare('SELECT MAX(rv) AS rv FROM objects').get() as { rv: number | null };
    this.rv = Math.max(Number(metaRV?.v ?? 0), maxEv.rv ?? 0, maxObj.rv ?? 0);
  }

  get(resource: string, namespace: string, name: string): KubeObject | undefined {
    const row = this.stmts.get.get(resource, namespace, name) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as KubeObject) : undefined;
  }

  list(resource: string, namespace?: string): KubeObject[] {
    const rows = (
      namespace === undefined ? this.stmts.listAll.all(resource) : this.stmts.listNs.all(resource, namespace)
    ) as { data: string }[];
    return rows.map((r) => JSON.parse(r.data) as KubeObject);
  }

  currentRV(): number {
    return this.rv;
  }

  private readonly tx = (fn: () => PutResult): PutResult => this.db.transaction(fn)();

  put(resource: string, obj: KubeObject, type: 'ADDED' | 'MODIFIED', expectRV?: number): PutResult {
    const ns = nsOf(obj);
    const name = obj.metadata.name ?? '';
    const res = this.tx(() => {
      const cur = this.stmts.get.get(resource, ns, name) as { rv: number } | undefined;
      if (expectRV === 0 && cur) return { ok: false, reason: 'exists' };
      if (expectRV !== undefined && expectRV > 0) {
        if (!cur) return { ok: false, reason: 'notfound' };
        if (cur.rv !== expectRV) return { ok: false, reason: 'conflict' };
      }
      const rv = this.rv + 1;
      const stored = withRV(obj, rv);
      const data = JSON.stringify(stored);
      this.stmts.upsert.run(resource, ns, name, rv, data);
      this.stmts.ev.run(rv, cur ? 'MODIFIED' : type, resource, ns, name, data);
      this.stmts.setRV.run(String(rv));
      this.rv = rv;
      return {
        ok: true,
        object: stored,
        event: { rv, type: cur ? 'MODIFIED' : type, resource, namespace: ns, name, object: stored },
      };
    });
    this.maybeCompact();
    return res;
  }

  remove(resource: string, namespace: string, name: string, expectRV?: number): PutResult {
    const res = this.tx(() => {
      const cur = this.stmts.get.get(resource, namespace, name) as { rv: number; data: string } | undefined;
      if (!cur) return { ok: false, reason: 'notfound' };
      if (expectRV !== undefined && expectRV > 0 && cur.rv !== expectRV) return { ok: false, reason: 'conflict' };
      const rv = this.rv + 1;
      const stored = withRV(JSON.parse(cur.data) as KubeObject, rv);
      this.stmts.del.run(resource, namespace, name);
      this.stmts.ev.run(rv, 'DELETED', resource, namespace, name, JSON.stringify(stored));
      this.stmts.setRV.run(String(rv));
      this.rv = rv;
      return { ok: true, object: stored, event: { rv, type: 'DELETED', resource, namespace, name, object: stored } };
    });
    this.maybeCompact();
    return res;
  }

  eventsSince(after: number): StoredEvent[] | undefined {
    if (after < this.oldestResumableRV()) return undefined;
    const rows = this.stmts.since.all(after) as {
      rv: number;
      type: WatchEventType;
      resource: string;
      namespace: string;
      name: string;
      data: string;
    }[];
    return rows.map(({ data, ...r }) => ({ ...r, object: JSON.parse(data) as KubeObject }));
  }

  oldestResumableRV(): number {
    const row = this.stmts.oldest.get() as { rv: number | null };
    // A watch from rv R needs every event with rv > R: it can resume if R >= (oldest retained event) - 1.
    return row.rv === null ? this.rv : row.rv - 1;
  }

  private maybeCompact(): void {
    if (++this.writesSinceCompact < 500) return;
    this.writesSinceCompact = 0;
    this.db.prepare('DELETE FROM events WHERE rv <= ?').run(this.rv - this.historyLimit);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
