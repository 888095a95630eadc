"""The study's SQLite database: pairs, participants, served trials and votes.

Every write is one short ``BEGIN IMMEDIATE`` transaction in WAL mode with ``synchronous=FULL``, so
concurrent votes serialise instead of racing, and a process killed mid-vote leaves either the whole
vote or nothing. Integrity rules live in the schema, not only in the code: a trial is served to one
participant at most once per pair (UNIQUE), a vote belongs to exactly one trial (PRIMARY KEY), and
choices are checked (CHECK).
"""

from __future__ import annotations

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
CREATE TABLE IF NOT EXISTS votes (
    trial TEXT PRIMARY KEY REFERENCES trials(id),
    participant TEXT NOT NULL REFERENCES participants(id),
    choice TEXT NOT NULL CHECK (choice IN ('left', 'right', 'tie')),
    preferred TEXT NOT NULL CHECK (preferred IN ('a', 'b', 'tie')),
    created REAL NOT NULL
);
"""

CHOICES = ("left", "right", "tie")


class TrialNotServed(Exception):
    """A vote for a trial that was not served to this participant (or does not exist)."""


class AlreadyVoted(Exception):
    """A second vote for the same trial."""


@dataclass(frozen=True)
class Trial:
    """One pair shown to one participant, with its hidden left/right assignment."""

    id: str
    pair: int
    episode: str
    truth: str  # media file names
    left: str
    right: str


class StudyStore:
    """Access to one study database; safe to use from many threads (one connection per operation)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA foreign_keys=ON")
        return connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken before reading so that concurrent writers cannot interleave."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    def add_pairs(self, pairs: list[tuple[str, str, str, str]]) -> None:
        """Add (episode, truth, a, b) media triples, one pair per episode."""
        with self.transaction() as db:
            db.executemany("INSERT INTO pairs (episode, truth, a, b) VALUES (?, ?, ?, ?)", pairs)

    def new_participant(self) -> str:
        """Register a participant; the returned id is their secret (kept in a cookie)."""
        participant = secrets.token_urlsafe(16)
        with self.transaction() as db:
            db.execute("INSERT INTO participants (id, created) VALUES (?, ?)", (participant, time.time()))
        return participant

    def is_participant(self, participant: str) -> bool:
        """Whether the id was issued by this study."""
        with self.transaction() as db:
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
                "SELECT t.id, t.pair, p.episode, p.truth, p.a, p.b, t.left_is_a FROM trials t "
                "JOIN pairs p ON p.id = t.pair WHERE t.id = ?",
                open_trial,
            ).fetchone()
        trial_id, pair, episode, truth, a, b, left_is_a = row
        left, right = (a, b) if left_is_a else (b, a)
        return Trial(trial_id, pair, episode, truth, left, right)

    def progress(self, participant: str) -> int:
        """Votes this participant has cast."""
        with self.transaction() as db:
            return db.execute("SELECT COUNT(*) FROM votes WHERE participant = ?", (participant,)).fetchone()[0]

    def vote(self, participant: str, trial_id: str, choice: str) -> str:
        """Record a vote; returns which model it preferred (``a``, ``b`` or ``tie``).

        Raises:
            TrialNotServed: The trial does not exist or was served to someone else.
            AlreadyVoted: The trial already has a vote.
        """
        if choice not in CHOICES:
            raise ValueError(f"choice must be one of {CHOICES}, got {choice!r}.")
        with self.transaction() as db:
            row = db.execute("SELECT participant, left_is_a FROM trials WHERE id = ?", (trial_id,)).fetchone()
            if row is None or row[0] != participant:
                raise TrialNotServed(trial_id)
            if db.execute("SELECT 1 FROM votes WHERE trial = ?", (trial_id,)).fetchone() is not None:
                raise AlreadyVoted(trial_id)
            left_is_a = bool(row[1])
            preferred = "tie" if choice == "tie" else ("a" if (choice == "left") == left_is_a else "b")
            db.execute(
                "INSERT INTO votes (trial, participant, choice, preferred, created) VALUES (?, ?, ?, ?, ?)",
                (trial_id, participant, choice, preferred, time.time()),
            )
        return preferred

    def tallies(self) -> dict[str, dict[str, int]]:
        """Votes per episode: ``{episode: {"a": n, "b": n, "tie": n}}``."""
        with self.transaction() as db:
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
        with self.transaction() as db:
            return db.execute(
                "SELECT v.created, v.participant, t.id, p.episode, CASE t.left_is_a WHEN 1 THEN 'a' ELSE 'b' END, "
                "v.choice, v.preferred, t.served FROM votes v JOIN trials t ON t.id = v.trial "
                "JOIN pairs p ON p.id = t.pair ORDER BY v.created"
            ).fetchall()
