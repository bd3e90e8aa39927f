"""Orgs and API keys. Keys are random and stored only as SHA-256 digests; org secrets
(chosen by people) as salted scrypt."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from relayd.passwords import hash_password, is_password_hash, verify_nothing, verify_password
from relayd.store.backend import Backend, Transaction
from relayd.store.records import Record
from relayd.store.revisions import bump_revision, read_revision

KEY_PREFIX = "rk_"
SCOPES = ("send", "read", "phone", "admin")  # phone: connect as a phone (SPEC §11)
VERIFIED_MAX = 1000  # org secrets remembered as checked (against the exact stored hash)


def hash_secret(secret: str) -> str:
    """Digest of a high-entropy secret (keys, tokens): SHA-256 is enough, no stretching needed."""
    # surrogateescape: header bytes that are not UTF-8 reach us as lone surrogates
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def hash_org_secret(secret: str) -> str:
    """scrypt over the secret's SHA-256 (the form old unsalted digests migrate to)."""
    return hash_password(hash_secret(secret))


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: int
    org: str
    name: str
    prefix: str
    scopes: frozenset[str]
    allowlist: tuple[str, ...]
    rate_limit: float | None  # messages per minute
    allow_short_codes: bool
    created_at: float
    revoked_at: float | None
    last_used_at: float | None
    ignore_optout: bool = False  # may send to numbers on the opt-out list

    def has_scope(self, scope: str) -> bool:
        """Admin implies every scope."""
        return scope in self.scopes or "admin" in self.scopes


def _key_from_row(row: Record) -> ApiKey:
    return ApiKey(
        id=row["id"],
        org=row["org"],
        name=row["name"],
        prefix=row["prefix"],
        scopes=frozenset(row["scopes"].split(",")),
        allowlist=tuple(json.loads(row["allowlist"])),
        rate_limit=row["rate_limit"],
        allow_short_codes=bool(row["allow_short_codes"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
        ignore_optout=bool(row["ignore_optout"]),
    )


def ensure_org_in(tx: Transaction, org: str, secret_hash: str | None = None) -> None:
    """Create `org` if missing (and set its phone secret's `hash_org_secret` when given)."""
    tx.execute(
        "INSERT INTO orgs (id, secret_hash, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT(id) DO UPDATE SET "
        "secret_hash = COALESCE(excluded.secret_hash, orgs.secret_hash)",
        (org, secret_hash, time.time()),
    )


def insert_key_in(
    tx: Transaction,
    org: str,
    name: str,
    scopes: Sequence[str],
    *,
    allowlist: Sequence[str] = (),
    rate_limit: float | None = None,
    allow_short_codes: bool = False,
    ignore_optout: bool = False,
) -> tuple[ApiKey, str]:
    """Create a key inside a transaction; return it and its secret (shown once)."""
    ensure_org_in(tx, org)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    now = time.time()
    key_id = tx.insert(
        "INSERT INTO api_keys (org, name, prefix, hash, scopes, allowlist, rate_limit, "
        "allow_short_codes, ignore_optout, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            org,
            name,
            secret[:10],
            hash_secret(secret),
            ",".join(sorted(set(scopes))),
            json.dumps(list(allowlist)),
            rate_limit,
            int(allow_short_codes),
            int(ignore_optout),
            now,
        ),
    )
    key = ApiKey(
        int(key_id or 0),
        org,
        name,
        secret[:10],
        frozenset(scopes),
        tuple(allowlist),
        rate_limit,
        allow_short_codes,
        now,
        None,
        None,
        ignore_optout,
    )
    return key, secret


class KeyStore:
    """Orgs and keys, for the API and for the offline `relayd keys` commands."""

    def __init__(self, db: Backend) -> None:
        self.db = db
        self._verified: dict[str, str] = {}  # digest of (org, secret) -> stored hash it matched

    async def ensure_org(self, org: str, secret: str | None = None) -> None:
        """Create the org if it does not exist yet (and set its phone secret when given)."""
        hashed = await asyncio.to_thread(hash_org_secret, secret) if secret else None

        def op(tx: Transaction) -> None:
            ensure_org_in(tx, org, hashed)

        await self.db.write(op)

    async def upgrade_org_secrets(self) -> int:
        """Migrate unsalted SHA-256 org secrets to `hash_org_secret` form (they keep working)."""
        rows = await self.db.fetchall(
            "SELECT id, secret_hash FROM orgs WHERE secret_hash IS NOT NULL"
        )
        legacy = [
            (r["id"], r["secret_hash"]) for r in rows if not is_password_hash(r["secret_hash"])
        ]
        upgraded = [(await asyncio.to_thread(hash_password, old), org, old) for org, old in legacy]

        def op(tx: Transaction) -> int:
            for params in upgraded:
                tx.execute(
                    "UPDATE orgs SET secret_hash = ? WHERE id = ? AND secret_hash = ?", params
                )
            return len(upgraded)

        return await self.db.write(op) if upgraded else 0

    async def org_exists(self, org: str) -> bool:
        """Whether `org` is known."""
        return await self.db.fetchone("SELECT 1 FROM orgs WHERE id = ?", (org,)) is not None

    async def org_secret_matches(self, org: str, secret: str) -> bool:
        """Check an org's phone secret (scrypt, once per secret and stored hash)."""
        row = await self.db.fetchone("SELECT secret_hash FROM orgs WHERE id = ?", (org,))
        stored = None if row is None else row["secret_hash"]
        if stored is None:
            await asyncio.to_thread(verify_nothing, secret)  # as slow as a wrong secret
            return False
        seen = hashlib.sha256(f"{org}\0{secret}".encode()).hexdigest()
        if self._verified.get(seen) == stored:  # a new secret has a new salt: no stale hit
            return True
        if not await asyncio.to_thread(verify_password, hash_secret(secret), stored):
            return False
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()
        self._verified[seen] = stored
        return True

    async def create_key(
        self,
        org: str,
        name: str,
        scopes: Sequence[str],
        *,
        allowlist: Sequence[str] = (),
        rate_limit: float | None = None,
        allow_short_codes: bool = False,
        ignore_optout: bool = False,
    ) -> tuple[ApiKey, str]:
        """Create a key; return it and its secret."""

        def op(tx: Transaction) -> tuple[ApiKey, str]:
            return insert_key_in(
                tx,
                org,
                name,
                scopes,
                allowlist=allowlist,
                rate_limit=rate_limit,
                allow_short_codes=allow_short_codes,
                ignore_optout=ignore_optout,
            )

        return await self.db.write(op)

    async def find_by_secret(self, secret: str) -> ApiKey | None:
        """The active key with this secret, or None."""
        digest = hash_secret(secret)
        row = await self.db.fetchone(
            "SELECT * FROM api_keys WHERE hash = ? AND revoked_at IS NULL", (digest,)
        )
        if row is None or not secrets.compare_digest(row["hash"], digest):
            return None
        return _key_from_row(row)

    async def get_active(self, key_id: int) -> ApiKey | None:
        """The key with this id if it is not revoked (a schedule sends with its creator's key)."""
        row = await self.db.fetchone(
            "SELECT * FROM api_keys WHERE id = ? AND revoked_at IS NULL", (key_id,)
        )
        return None if row is None else _key_from_row(row)

    async def revision(self) -> int:
        """A counter every revocation moves on, whoever made it (this relay, the CLI, another
        relay of a fleet): the key cache starts over when it changed."""
        return await read_revision(self.db, "keys")

    async def list_keys(self, org: str | None = None) -> list[ApiKey]:
        """Keys of one org, or all."""
        if org is None:
            rows = await self.db.fetchall("SELECT * FROM api_keys ORDER BY id")
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM api_keys WHERE org = ? ORDER BY id", (org,)
            )
        return [_key_from_row(r) for r in rows]

    async def revoke_key(self, key_id: int, org: str | None = None) -> bool:
        """Revoke a key (of `org` when given); False when there is no such active key."""

        def op(tx: Transaction) -> bool:
            cursor = tx.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL "
                "AND (CAST(? AS TEXT) IS NULL OR org = ?)",
                (time.time(), key_id, org, org),
            )
            if cursor.rowcount == 0:
                return False
            bump_revision(tx, "keys")
            return True

        return await self.db.write(op)

    async def touch(self, key_id: int, at: float) -> None:
        """Record when a key was last used."""

        def op(tx: Transaction) -> None:
            tx.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (at, key_id))

        await self.db.write(op)

    async def has_admin_key(self) -> bool:
        """Whether any active admin key exists."""
        row = await self.db.fetchone(
            "SELECT 1 FROM api_keys WHERE revoked_at IS NULL AND (',' || scopes || ',') "
            "LIKE '%,admin,%' LIMIT 1"
        )
        return row is not None
