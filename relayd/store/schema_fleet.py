"""Migrations 8 and on (issues 13 and 14: PostgreSQL, fleet, SIM caps and care, workflows).

They continue the list of schema.py, which joins both; never edit a shipped one.
"""

from __future__ import annotations

LATER: list[str] = [
    # 8: counters that other processes (the CLI, the other relays of a fleet) move on when
    # they change what a relay caches: 'keys' on every revocation (issue 13)
    """
    CREATE TABLE revisions (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    """,
    # 9: fleet mode (issue 13): relays with their heartbeat, the SIM each one drives, and the
    # relay that claimed a queued message (NULL: any relay with a fitting SIM may claim it)
    """
    CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        started_at REAL NOT NULL,
        heartbeat_at REAL NOT NULL,
        beats INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE sims (
        id TEXT PRIMARY KEY,
        org TEXT NOT NULL,
        node TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        number TEXT,
        slot INTEGER,
        online INTEGER NOT NULL DEFAULT 0,
        info TEXT NOT NULL DEFAULT '{}',
        updated_at REAL NOT NULL
    );
    CREATE INDEX sims_org ON sims(org, id);
    CREATE INDEX sims_node ON sims(node);
    ALTER TABLE messages ADD COLUMN node TEXT;
    CREATE INDEX messages_claimable ON messages(org, id) WHERE status = 'queued' AND node IS NULL;
    CREATE INDEX messages_node ON messages(node) WHERE node IS NOT NULL;
    """,
    # 10: fleet events (issue 13): a per-org event sequence, gap-free in commit order (the counter
    # row is updated in the event's transaction, so a later seq never commits before an earlier
    # one; old events keep their id as seq); webhook delivery leases (one relay delivers each);
    # shared limits: token buckets per key, failed logins per address, open streams per holder
    # and relay
    """
    ALTER TABLE events ADD COLUMN seq INTEGER;
    UPDATE events SET seq = id;
    CREATE UNIQUE INDEX events_org_seq ON events(org, seq);
    DROP INDEX events_org;
    CREATE TABLE event_seq (
        org TEXT PRIMARY KEY,
        last INTEGER NOT NULL
    );
    INSERT INTO event_seq (org, last) SELECT org, MAX(seq) FROM events GROUP BY org;
    ALTER TABLE webhook_deliveries ADD COLUMN claimed_by TEXT;
    ALTER TABLE webhook_deliveries ADD COLUMN claim_until REAL;
    CREATE TABLE rate_buckets (
        key_id INTEGER PRIMARY KEY,
        tokens REAL NOT NULL,
        updated REAL NOT NULL
    );
    CREATE TABLE failed_logins (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX failed_logins_address ON failed_logins(address, at);
    CREATE INDEX failed_logins_at ON failed_logins(at);
    CREATE TABLE stream_slots (
        holder TEXT NOT NULL,
        node TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (holder, node)
    );
    """,
    # 11: per-SIM send plans (API caps over the config's), send counters per SIM and day/month,
    # health state of quarantined SIMs; why a queued message waits (issue 14)
    """
    CREATE TABLE sim_plans (
        sim TEXT PRIMARY KEY,
        daily_cap INTEGER,
        monthly_cap INTEGER,
        updated_at REAL NOT NULL
    );
    CREATE TABLE sim_usage (
        sim TEXT NOT NULL,
        period TEXT NOT NULL,
        used INTEGER NOT NULL,
        PRIMARY KEY (sim, period)
    );
    CREATE TABLE sim_health (
        sim TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        failures INTEGER NOT NULL,
        until_at REAL,
        backoff REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    ALTER TABLE messages ADD COLUMN status_detail TEXT;
    """,
    # 12: SIM care (issue 14): per SIM the API's care settings and when each care last ran;
    # the balance history (every check or USSD keepalive, its answer and the amount in it)
    """
    CREATE TABLE sim_care (
        sim TEXT PRIMARY KEY,
        settings TEXT NOT NULL,
        balance_checked_at REAL,
        balance_low INTEGER NOT NULL,
        keepalive_at REAL,
        topup_at REAL,
        expiring_for REAL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE sim_balances (
        id INTEGER PRIMARY KEY,
        sim TEXT NOT NULL,
        org TEXT NOT NULL,
        kind TEXT NOT NULL,
        at REAL NOT NULL,
        answer TEXT,
        amount REAL,
        currency TEXT,
        error TEXT
    );
    CREATE INDEX sim_balances_sim ON sim_balances(sim, id);
    """,
    # 13: message workflows (issue 14): templates, contacts and groups, the opt-out list with
    # per-org keyword settings, recurring schedules (the messages they send carry schedule_id),
    # and keys that may send to opted-out numbers
    """
    CREATE TABLE templates (
        id INTEGER PRIMARY KEY,
        org TEXT NOT NULL REFERENCES orgs(id),
        name TEXT NOT NULL,
        text TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL
    );
    CREATE UNIQUE INDEX templates_org_name ON templates(org, name);
    CREATE TABLE contacts (
        id INTEGER PRIMARY KEY,
        org TEXT NOT NULL REFERENCES orgs(id),
        number TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        fields TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        updated_at REAL
    );
    CREATE UNIQUE INDEX contacts_org_number ON contacts(org, number);
    CREATE TABLE contact_groups (
        id INTEGER PRIMARY KEY,
        org TEXT NOT NULL REFERENCES orgs(id),
        name TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX contact_groups_org_name ON contact_groups(org, name);
    CREATE TABLE group_members (
        group_id INTEGER NOT NULL REFERENCES contact_groups(id) ON DELETE CASCADE,
        contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
        added_at REAL NOT NULL,
        PRIMARY KEY (group_id, contact_id)
    );
    CREATE INDEX group_members_contact ON group_members(contact_id);
    CREATE TABLE optouts (
        org TEXT NOT NULL REFERENCES orgs(id),
        number TEXT NOT NULL,
        since REAL NOT NULL,
        source TEXT NOT NULL,
        message_id INTEGER,
        PRIMARY KEY (org, number)
    );
    CREATE TABLE optout_settings (
        org TEXT PRIMARY KEY REFERENCES orgs(id),
        settings TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE schedules (
        id INTEGER PRIMARY KEY,
        org TEXT NOT NULL REFERENCES orgs(id),
        key_id INTEGER NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        rule TEXT NOT NULL,
        start_local TEXT NOT NULL,
        timezone TEXT NOT NULL,
        send TEXT NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        next_run REAL,
        last_run REAL,
        runs INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL
    );
    CREATE INDEX schedules_due ON schedules(next_run) WHERE paused = 0;
    CREATE INDEX schedules_org ON schedules(org, id);
    ALTER TABLE messages ADD COLUMN schedule_id INTEGER;
    ALTER TABLE api_keys ADD COLUMN ignore_optout INTEGER NOT NULL DEFAULT 0;
    """,
]
