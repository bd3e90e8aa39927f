"""Versioned migrations. Each entry moves the schema one version up; never edit a shipped one."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: orgs, keys, messages with history, parts, events, inbound reassembly
    """
    CREATE TABLE orgs (
        id TEXT PRIMARY KEY,
        secret_hash TEXT,
        created_at REAL NOT NULL
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        org TEXT NOT NULL REFERENCES orgs(id),
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        scopes TEXT NOT NULL,
        allowlist TEXT NOT NULL DEFAULT '[]',
        rate_limit REAL,
        allow_short_codes INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        revoked_at REAL,
        last_used_at REAL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        org TEXT NOT NULL REFERENCES orgs(id),
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        channel TEXT NOT NULL DEFAULT 'sms',
        peer TEXT NOT NULL,
        text TEXT NOT NULL,
        sim TEXT,
        sim_request TEXT,
        parts INTEGER NOT NULL DEFAULT 1,
        encoding TEXT NOT NULL,
        status TEXT NOT NULL,
        error TEXT,
        idempotency_key TEXT,
        request_hash TEXT,
        batch_index INTEGER NOT NULL DEFAULT 0,
        source TEXT,
        subject TEXT,
        delivery_report INTEGER NOT NULL DEFAULT 1,
        force_gsm7 INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        send_at REAL,
        expires_at REAL,
        sent_at REAL,
        delivered_at REAL,
        received_at REAL,
        partial INTEGER NOT NULL DEFAULT 0,
        external_id TEXT
    );
    CREATE UNIQUE INDEX messages_idempotency
        ON messages(org, idempotency_key, batch_index) WHERE idempotency_key IS NOT NULL;
    CREATE UNIQUE INDEX messages_external
        ON messages(org, external_id) WHERE external_id IS NOT NULL;
    CREATE INDEX messages_org_peer ON messages(org, peer, id);
    CREATE INDEX messages_pending ON messages(status) WHERE status IN ('queued', 'sending', 'sent');
    CREATE TABLE message_history (
        id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        at REAL NOT NULL,
        error TEXT
    );
    CREATE INDEX message_history_message ON message_history(message_id);
    CREATE TABLE message_parts (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        sim TEXT NOT NULL,
        reference INTEGER,
        status TEXT NOT NULL,
        sent_at REAL NOT NULL,
        reported_at REAL,
        detail TEXT,
        PRIMARY KEY (message_id, seq)
    );
    CREATE INDEX message_parts_reference ON message_parts(sim, reference);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        org TEXT NOT NULL,
        type TEXT NOT NULL,
        at REAL NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX events_org ON events(org, id);
    CREATE TABLE inbound_parts (
        org TEXT NOT NULL,
        sim TEXT NOT NULL,
        sender TEXT NOT NULL,
        reference INTEGER NOT NULL,
        total INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        text TEXT NOT NULL,
        encoding TEXT NOT NULL,
        received_at REAL,
        first_seen REAL NOT NULL,
        message_id INTEGER,
        PRIMARY KEY (org, sim, sender, reference, total, seq)
    );
    """,
]
