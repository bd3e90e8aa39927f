"""Versioned migrations. Each entry moves the schema one version up; never edit a shipped one."""

from __future__ import annotations

from relayd.store.schema_fleet import LATER

FIRST: list[str] = [
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
    # 2: phones (SPEC §7): paired devices with their tokens, and the SIM slots each reported
    """
    CREATE TABLE phone_devices (
        id TEXT PRIMARY KEY,
        org TEXT NOT NULL REFERENCES orgs(id),
        name TEXT NOT NULL,
        token_hash TEXT UNIQUE,
        token_prefix TEXT,
        created_at REAL NOT NULL,
        last_seen_at REAL,
        revoked_at REAL
    );
    CREATE INDEX phone_devices_org ON phone_devices(org);
    CREATE TABLE phone_sims (
        device TEXT NOT NULL REFERENCES phone_devices(id) ON DELETE CASCADE,
        slot INTEGER NOT NULL,
        number TEXT,
        carrier TEXT,
        updated_at REAL NOT NULL,
        PRIMARY KEY (device, slot)
    );
    """,
    # 3: status reports that arrived before their send was recorded (fast networks, multipart)
    """
    CREATE TABLE unmatched_reports (
        id INTEGER PRIMARY KEY,
        sim TEXT NOT NULL,
        reference INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        delivered INTEGER NOT NULL,
        detail TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX unmatched_reports_ref ON unmatched_reports(sim, reference);
    """,
    # 4: outbound webhooks (SPEC §9): endpoints, the durable delivery queue, the attempt log
    """
    CREATE TABLE webhooks (
        id INTEGER PRIMARY KEY,
        org TEXT NOT NULL REFERENCES orgs(id),
        url TEXT NOT NULL,
        kind TEXT NOT NULL DEFAULT 'standard',
        events TEXT NOT NULL DEFAULT '[]',
        secret TEXT NOT NULL,
        headers TEXT NOT NULL DEFAULT '{}',
        source TEXT NOT NULL DEFAULT 'api',
        config_key TEXT UNIQUE,
        enabled INTEGER NOT NULL DEFAULT 1,
        disabled_reason TEXT,
        created_at REAL NOT NULL,
        updated_at REAL
    );
    CREATE INDEX webhooks_org ON webhooks(org, enabled);
    CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY,
        webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
        event_id INTEGER,
        msg_id TEXT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL,
        created_at REAL NOT NULL,
        last_attempt_at REAL,
        last_status_code INTEGER,
        last_error TEXT,
        delivered_at REAL
    );
    CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at)
        WHERE status = 'pending';
    CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries(webhook_id, id);
    CREATE TABLE webhook_attempts (
        id INTEGER PRIMARY KEY,
        delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
        at REAL NOT NULL,
        status_code INTEGER,
        error TEXT,
        duration_ms INTEGER NOT NULL,
        response TEXT
    );
    CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id);
    """,
    # 5: phones of the "SMS Gateway for Android" app (private server): accounts, devices, the
    # id each send had on the phone, and webhooks the app's 3rd-party API registered
    """
    CREATE TABLE asg_accounts (
        login TEXT PRIMARY KEY,
        org TEXT NOT NULL REFERENCES orgs(id),
        password_hash TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX asg_accounts_org ON asg_accounts(org);
    CREATE TABLE asg_devices (
        id TEXT PRIMARY KEY,
        org TEXT NOT NULL REFERENCES orgs(id),
        login TEXT NOT NULL REFERENCES asg_accounts(login),
        name TEXT NOT NULL,
        token_hash TEXT UNIQUE,
        signing_key TEXT NOT NULL,
        push_token TEXT,
        sim_cards TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        last_seen_at REAL,
        revoked_at REAL
    );
    CREATE INDEX asg_devices_org ON asg_devices(org);
    CREATE TABLE asg_sends (
        ext_id TEXT PRIMARY KEY,
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        device TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX asg_sends_message ON asg_sends(message_id, created_at);
    CREATE TABLE asg_webhooks (
        org TEXT NOT NULL REFERENCES orgs(id),
        id TEXT NOT NULL,
        device TEXT,
        url TEXT NOT NULL,
        event TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (org, id)
    );
    """,
    # 6: ring calls with a durable record (seed 003 voice); per-key inbox poll cursors (seed 001)
    """
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        org TEXT NOT NULL REFERENCES orgs(id),
        peer TEXT NOT NULL,
        sim TEXT,
        status TEXT NOT NULL,
        prompt TEXT,
        ring_seconds REAL NOT NULL,
        result TEXT,
        error TEXT,
        source TEXT,
        created_at REAL NOT NULL,
        started_at REAL,
        ended_at REAL
    );
    CREATE INDEX calls_org ON calls(org, id);
    CREATE TABLE poll_cursors (
        key_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        last_id INTEGER NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (key_id, name)
    );
    """,
    # 7: the credential a phone was first seen with ("secret", "key:<id>", "device:<id>"):
    # another credential may not take over its device id (issue 12)
    """
    ALTER TABLE phone_devices ADD COLUMN owner TEXT;
    """,
]

MIGRATIONS: list[str] = [*FIRST, *LATER]
