import GRDB

/// Schema migrations, from day one. Never edit a registered migration; add a new one.
enum Schema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: tenants, keys, subjects, sessions, messages, access log") { db in
            try db.execute(sql: """
                CREATE TABLE meta (
                    key TEXT PRIMARY KEY NOT NULL,
                    value TEXT NOT NULL
                );
                CREATE TABLE tenants (
                    id TEXT PRIMARY KEY NOT NULL,
                    created_at REAL NOT NULL,
                    current_version INTEGER NOT NULL,
                    min_decryption_version INTEGER NOT NULL,
                    last_rotated_at REAL,
                    -- random root of the tenant's purpose keys, wrapped by the master key
                    index_root_wrapped BLOB NOT NULL,
                    index_root_master_id TEXT NOT NULL
                );
                CREATE TABLE tenant_key_versions (
                    tenant_id TEXT NOT NULL REFERENCES tenants(id),
                    version INTEGER NOT NULL,
                    wrapped_key BLOB NOT NULL,
                    master_key_id TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    PRIMARY KEY (tenant_id, version)
                );
                CREATE TABLE subjects (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    tenant_id TEXT NOT NULL REFERENCES tenants(id),
                    key_version INTEGER NOT NULL,
                    wrapped_key BLOB NOT NULL,
                    created_at REAL NOT NULL
                );
                CREATE TABLE subject_identifiers (
                    tenant_id TEXT NOT NULL,
                    blind_index BLOB NOT NULL,
                    kind INTEGER NOT NULL,
                    subject_id INTEGER NOT NULL REFERENCES subjects(id),
                    PRIMARY KEY (tenant_id, blind_index)
                ) WITHOUT ROWID;
                CREATE TABLE sessions (
                    tenant_id TEXT NOT NULL REFERENCES tenants(id),
                    id TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    last_activity_at REAL NOT NULL,
                    status TEXT NOT NULL,
                    -- the subject whose key seals this session's messages
                    subject_id INTEGER NOT NULL REFERENCES subjects(id),
                    next_seq INTEGER NOT NULL,
                    PRIMARY KEY (tenant_id, id)
                ) WITHOUT ROWID;
                CREATE TABLE session_subjects (
                    tenant_id TEXT NOT NULL,
                    session_id TEXT NOT NULL,
                    subject_id INTEGER NOT NULL REFERENCES subjects(id),
                    PRIMARY KEY (tenant_id, subject_id, session_id)
                ) WITHOUT ROWID;
                -- A rowid table: records are appended in arrival order (few pages touched per
                -- batch even when it spans many sessions); the small index orders each session.
                CREATE TABLE messages (
                    id INTEGER PRIMARY KEY,
                    tenant_id TEXT NOT NULL,
                    session_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    role INTEGER NOT NULL,
                    sent_at REAL NOT NULL,
                    record BLOB NOT NULL,
                    dedup_key BLOB
                );
                CREATE UNIQUE INDEX messages_by_session ON messages(tenant_id, session_id, seq);
                CREATE UNIQUE INDEX messages_dedup ON messages(tenant_id, dedup_key) WHERE dedup_key IS NOT NULL;
                CREATE TABLE access_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    actor TEXT NOT NULL,
                    tenant_id TEXT NOT NULL,
                    action TEXT NOT NULL,
                    target TEXT NOT NULL,
                    message_count INTEGER NOT NULL
                );
                CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log
                    BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
                CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
                    BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
                """)
        }
        // Erasure and retention delete subjects: with foreign keys on, each delete looks up the
        // referencing rows by subject_id, so every table naming a subject gets an index on it.
        m.registerMigration("v2: indexes for erasure and retention") { db in
            try db.execute(sql: """
                CREATE INDEX sessions_by_subject ON sessions(subject_id);
                CREATE INDEX sessions_by_activity ON sessions(tenant_id, last_activity_at);
                CREATE INDEX session_subjects_by_session ON session_subjects(tenant_id, session_id);
                CREATE INDEX session_subjects_by_subject ON session_subjects(subject_id);
                CREATE INDEX subject_identifiers_by_subject ON subject_identifiers(subject_id);
                """)
        }
        // Retention of the access log (session metadata): deletes stay refused except below the
        // tenant's prune point, which the retention sweep records in `meta` in the same transaction.
        m.registerMigration("v3: access log retention") { db in
            try db.execute(sql: """
                DROP TRIGGER access_log_no_delete;
                CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log
                    WHEN OLD.at >= COALESCE((SELECT CAST(value AS REAL) FROM meta WHERE key = 'access_log_prune_before:' || OLD.tenant_id), -1e308)
                    BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END;
                """)
        }
        return m
    }
}
