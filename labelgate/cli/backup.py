"""labelgate backup --out FILE | labelgate restore FILE"""

from __future__ import annotations

from labelgate.store.backup import backup, restore


def register(subparsers) -> None:
    p = subparsers.add_parser("backup", help="write a consistent copy of the database (safe while the app runs)")
    p.add_argument("--out", required=True, help="the new file to write (must not exist)")
    p.set_defaults(func=_backup)
    p = subparsers.add_parser("restore", help="check a backup and put it in place of the database")
    p.add_argument("file", help="a file written by `labelgate backup`")
    p.set_defaults(func=_restore)


def _backup(args) -> int:
    snap = backup(args.db, args.out)
    print(f"wrote {snap.path}: {len(snap.row_counts)} tables, {snap.n_rows:,} rows, "
          f"{snap.row_counts.get('human_labels', 0):,} human labels")
    return 0


def _restore(args) -> int:
    snap, kept = restore(args.db, args.file)
    print(f"restored {snap.path} into {args.db.path}: {len(snap.row_counts)} tables, {snap.n_rows:,} rows, "
          f"{snap.row_counts.get('human_labels', 0):,} human labels")
    if kept is not None:
        print(f"the database it replaced is kept as {kept}")
    return 0
