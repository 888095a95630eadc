"""The study's SQLite database: pairs, participants, invitations, served trials and votes.

Every write is one short ``BEGIN IMMEDIATE`` transaction in WAL mode with ``synchronous=FULL``, so
concurrent votes serialise instead of racing, and a process killed mid-vote leaves either the whole
vote or nothing. Reads take no write lock: in WAL mode they see the last committed state while a
writer works. Integrity rules live in the schema, not only in the code: a trial is served to one
participant at most once per pair (UNIQUE), a vote belongs to exactly one trial (PRIMARY KEY), an
invitation admits one participant (UNIQUE), and choices are checked (CHECK).

A database that stays locked longer than the busy timeout raises `StudyBusy`, which the app turns into
a 503 with a retry hint instead of a hang and a bare 500.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS pairs (
    id INTEGER PRIMARY KEY, episode TEXT NOT NULL, truth TEXT NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS participants (id TEXT PRIMARY KEY, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY,
    participant TEXT NOT NULL REFERENCES participants(id),
    pair INTEGER NOT NULL REFERENCES pairs(id),
    left_is_a INTEGER NOT NULL CHECK (left_is_a IN (0, 1)),
    served REAL NOT NULL,
    UNIQUE (participant, pair)
);
CREATE TABLE IF NOT EXISTS invites (
    code_sha256 TEXT PRIMARY KEY,
    created REAL NOT NULL,
    participant TEXT UNIQUE REFERENCES participants(id),
    used REAL
);
CREATE TABLE IF NOT EXISTS votes (
    trial TEXT PRIMARY KEY REFERENCES trials(id),
    participant TEXT NOT NULL REFERENCES participants(id),
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie')),
    preferred TEXT NOT NULL CHECK (preferred IN ('a', 'b', 'tie')),
    created REAL NOT NULL
);
"""

CHOICES = ("left", "right", "tie")


class StudyBusy(Exception):
    """The database stayed locked longer than the busy timeout; the request may be retried."""


class InviteInvalid(Exception):
    """An invitation code that was never issued, or that already admitted someone."""


class TrialNotServed(Exception):
    """A vote for a trial that was not served to this participant (or does not exist)."""


class AlreadyVoted(Exception):
    """A second vote for the same trial."""


class TooEarly(Exception):
    """A vote sooner after its trial was served than the study's minimum viewing time."""

    def __init__(self, remaining: float):
        super().__init__(f"{remaining:.1f} s of viewing left")
        self.remaining = remaining


@dataclass(frozen=True)
class Trial:
    """One pair shown to one participant, with its hidden left/right assignment."""

    id: str
    pair: int
    episode: str
    truth: str  # media file names
    left: str
    right: str
    served: float  # when the trial was first served (time.time())


class StudyStore:
    """Access to one study database; safe to use from many threads (one connection per operation)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0):
        self.path, self.busy_timeout = Path(path), busy_timeout
        with _busy_as_study_busy():
            connection = self._connect()
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.executescript(SCHEMA)
            finally:
                connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before reading so that concurrent writers cannot interleave."""
        with _busy_as_study_busy():
            connection = self._connect()
            try:
                connection.execute("BEGIN IMMEDIATE")
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                # A failed BEGIN leaves no transaction: rolling back then would raise "cannot rollback"
                # and hide the real error (e.g. "database is locked").
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            finally:
                connection.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """One read-only snapshot (a deferred transaction): never waits for, nor blocks, a writer."""
        with _busy_as_study_busy():
            connection = self._connect()
            try:
                connection.execute("BEGIN")
                yield connection
            finally:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                connection.close()

    def add_pairs(self, pairs: list[tuple[str, str, str, str]]) -> None:
        """Add (episode, truth, a, b) media triples, one pair per episode."""
        with self.transaction() as db:
            db.executemany("INSERT INTO pairs (episode, truth, a, b) VALUES (?, ?, ?, ?)", pairs)

    def new_participant(self, *, invite: str | None = None) -> str:
        """Register a participant; the returned id is their secret (kept in a cookie).

        With `invite`, the participant is admitted by that invitation code, which is then used up.

        Raises:
            InviteInvalid: The code was never issued or has admitted someone already.
        """
        participant = secrets.token_urlsafe(16)
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT INTO participants (id, created) VALUES (?, ?)", (participant, now))
            if invite is not None:
                claimed = db.execute(
                    "UPDATE invites SET participant = ?, used = ? WHERE code_sha256 = ? AND participant IS NULL",
                    (participant, now, hash_code(invite)),
                )
                if claimed.rowcount != 1:
                    raise InviteInvalid(invite)
        return participant

    def add_invites(self, count: int) -> list[str]:
        """Issue `count` invitation codes, each admitting one participant; only their hashes are stored."""
        codes = [secrets.token_urlsafe(16) for _ in range(count)]
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO invites (code_sha256, created) VALUES (?, ?)", [(hash_code(c), now) for c in codes]
            )
        return codes

    def invite_counts(self) -> tuple[int, int]:
        """(issued, used) invitations."""
        with self.reading() as db:
            return db.execute("SELECT COUNT(*), COUNT(participant) FROM invites").fetchone()

    def is_participant(self, participant: str) -> bool:
        """Whether the id was issued by this study."""
        with self.reading() as db:
            return db.execute("SELECT 1 FROM participants WHERE id = ?", (participant,)).fetchone() is not None

    def next_trial(self, participant: str, per_participant: int) -> Trial | None:
        """The participant's open trial, else a new one, else None when they have done their share.

        A new trial takes, among the pairs this participant has not seen, one of those served least
        often so far (random among ties), so that every pair gets about the same number of votes;
        which model is shown left is random per trial.
        """
        with self.transaction() as db:
            open_trial = db.execute(
                "SELECT t.id FROM trials t LEFT JOIN votes v ON v.trial = t.id "
                "WHERE t.participant = ? AND v.trial IS NULL ORDER BY t.served LIMIT 1",
                (participant,),
            ).fetchone()
            if open_trial is None:
                served = db.execute("SELECT COUNT(*) FROM trials WHERE participant = ?", (participant,)).fetchone()[0]
                if served >= per_participant:
                    return None
                candidates = db.execute(
                    "SELECT p.id, (SELECT COUNT(*) FROM trials t WHERE t.pair = p.id) AS n FROM pairs p "
                    "WHERE p.id NOT IN (SELECT pair FROM trials WHERE participant = ?) ORDER BY n",
                    (participant,),
                ).fetchall()
                if not candidates:
                    return None
                fewest = [pair for pair, n in candidates if n == candidates[0][1]]
                rng = random.SystemRandom()
                trial_id = secrets.token_urlsafe(12)
                db.execute(
                    "INSERT INTO trials (id, participant, pair, left_is_a, served) VALUES (?, ?, ?, ?, ?)",
                    (trial_id, participant, rng.choice(fewest), rng.randint(0, 1), time.time()),
                )
                open_trial = (trial_id,)
            row = db.execute(
                "SELECT t.id, t.pair, p.episode, p.truth, p.a, p.b, t.left_is_a, t.served FROM trials t "
                "JOIN pairs p ON p.id = t.pair WHERE t.id = ?",
                open_trial,
            ).fetchone()
        trial_id, pair, episode, truth, a, b, left_is_a, served = row
        left, right = (a, b) if left_is_a else (b, a)
        return Trial(trial_id, pair, episode, truth, left, right, served)

    def trial_media(self, participant: str, trial_id: str) -> dict[str, str] | None:
        """The media files (truth, left, right) of a trial served to this participant, else None."""
        with self.reading() as db:
            row = db.execute(
                "SELECT p.truth, p.a, p.b, t.left_is_a FROM trials t JOIN pairs p ON p.id = t.pair "
                "WHERE t.id = ? AND t.participant = ?",
                (trial_id, participant),
            ).fetchone()
        if row is None:
            return None
        truth, a, b, left_is_a = row
        left, right = (a, b) if left_is_a else (b, a)
        return {"truth": truth, "left": left, "right": right}

    def pair_count(self) -> int:
        """Pairs in the study."""
        with self.reading() as db:
            return db.execute("SELECT COUNT(*) FROM pairs").fetchone()[0]

    def progress(self, participant: str) -> int:
        """Votes this participant has cast."""
        with self.reading() as db:
            return db.execute("SELECT COUNT(*) FROM votes WHERE participant = ?", (participant,)).fetchone()[0]

    def vote(self, participant: str, trial_id: str, choice: str, *, min_view_seconds: float = 0.0) -> str:
        """Record a vote; returns which model it preferred (``a``, ``b`` or ``tie``).

        Raises:
            TrialNotServed: The trial does not exist or was served to someone else.
            AlreadyVoted: The trial already has a vote.
            TooEarly: The trial was served less than `min_view_seconds` ago.
        """
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {CHOICES}, got {choice!r}.")
        with self.transaction() as db:
            row = db.execute("SELECT participant, left_is_a, served FROM trials WHERE id = ?", (trial_id,)).fetchone()
            if row is None or row[0] != participant:
                raise TrialNotServed(trial_id)
            if db.execute("SELECT 1 FROM votes WHERE trial = ?", (trial_id,)).fetchone() is not None:
                raise AlreadyVoted(trial_id)
            remaining = row[2] + min_view_seconds - time.time()
            if remaining > 0:
                raise TooEarly(remaining)
            left_is_a = bool(row[1])
            preferred = "tie" if choice == "tie" else ("a" if (choice == "left") == left_is_a else "b")
            db.execute(
                "INSERT INTO votes (trial, participant, choice, preferred, created) VALUES (?, ?, ?, ?, ?)",
                (trial_id, participant, choice, preferred, time.time()),
            )
        return preferred

    def tallies(self) -> dict[str, dict[str, int]]:
        """Votes per episode: ``{episode: {"a": n, "b": n, "tie": n}}``."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT p.episode, v.preferred, COUNT(*) FROM votes v JOIN trials t ON t.id = v.trial "
                "JOIN pairs p ON p.id = t.pair GROUP BY p.episode, v.preferred"
            ).fetchall()
            episodes = [e for (e,) in db.execute("SELECT episode FROM pairs ORDER BY id").fetchall()]
        tallies = {episode: {"a": 0, "b": 0, "tie": 0} for episode in episodes}
        for episode, preferred, count in rows:
            tallies[episode][preferred] = count
        return tallies

    def export_rows(self) -> list[tuple]:
        """Every vote with its trial's hidden assignment, oldest first."""
        with self.reading() as db:
            return db.execute(
                "SELECT v.created, v.participant, t.id, p.episode, CASE t.left_is_a WHEN 1 THEN 'a' ELSE 'b' END, "
                "v.choice, v.preferred, t.served FROM votes v JOIN trials t ON t.id = v.trial "
                "JOIN pairs p ON p.id = t.pair ORDER BY v.created"
            ).fetchall()

    def votes_per_participant(self) -> list[tuple[str, int, float]]:
        """(participant, votes, joined) of every participant with at least one vote, most votes first."""
        with self.reading() as db:
            return db.execute(
                "SELECT p.id, COUNT(v.trial), p.created FROM participants p JOIN votes v ON v.participant = p.id "
                "GROUP BY p.id ORDER BY COUNT(v.trial) DESC, p.created"
            ).fetchall()

    def participant_count(self) -> int:
        """Participants admitted so far (with or without votes)."""
        with self.reading() as db:
            return db.execute("SELECT COUNT(*) FROM participants").fetchone()[0]


def hash_code(code: str) -> str:
    """The stored form of an invitation code."""
    return hashlib.sha256(code.encode()).hexdigest()


@contextmanager
def _busy_as_study_busy() -> Iterator[None]:
    """Turn SQLite's "database is locked" (after its busy timeout) into `StudyBusy`."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            raise StudyBusy(str(error)) from error
        raise
