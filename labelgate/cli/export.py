"""labelgate export --task T --labeler L --out FILE (.jsonl, .csv or .parquet)"""

from __future__ import annotations

from labelgate.cli.common import CommandError, add_gold_release, login
from labelgate.store.tasks import get_task
from labelgate.store.users import User


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="write the human gold plus a gated labeler's LLM labels")
    p.add_argument("--task", required=True)
    p.add_argument("--labeler", required=True)
    p.add_argument("--out", required=True, help="output file: .jsonl, .csv or .parquet")
    p.add_argument("--human-share", type=float, default=None,
                   help="least share of human gold rows, 0.10-0.20 (default: the task's, which a lead sets)")
    p.add_argument("--subsample", action="store_true",
                   help="when there are too few human rows, export a random subset of the LLM rows that fit")
    p.add_argument("--human-weight", action="store_true",
                   help="when there are too few human rows, export every LLM row and a weight column that gives "
                        "human rows the human share of the total weight")
    p.add_argument("--drop-family-disagreement", action="store_true",
                   help="drop items where labelers of different model families disagree")
    p.add_argument("--min-confidence", type=float, help="drop LLM rows with a lower (or no) confidence")
    p.add_argument("--force", action="store_true",
                   help="export without a fresh gate approval: a lead only, with --user and --reason (audited)")
    p.add_argument("--reason", help="why a forced export may go ahead (required with --force)")
    p.add_argument("--user", help="who exports (required with --force): asks that user's password")
    p.add_argument("--password-stdin", action="store_true", help="read --user's password from standard input")
    p.add_argument("--seed", type=int, default=0, help="seed of --subsample")
    p.add_argument("--criterion", help="a task of several criteria: the criterion whose labels are exported "
                                       "(default: the first)")
    p.add_argument("--soft-labels", action="store_true",
                   help="also write each item's human label distribution: human_count_<option> per option "
                        "(categorical, pairwise) or human_mean and human_sd (ordinal, continuous), and human_n_raters")
    add_gold_release(p)
    p.set_defaults(func=_export)


def _export(args) -> int:
    from labelgate import export as exporter  # qc.correction and scipy: loaded by this command only

    exporter.format_for(args.out)
    task = get_task(args.db, args.task)
    if args.force and not args.user:
        raise CommandError("--force needs --user NAME (a lead): a forced export is recorded in the audit log under a "
                           "name")
    if args.force and not (args.reason or "").strip():
        raise CommandError("--force needs --reason TEXT: say why these labels may train without a fresh approval")
    user = login(args.db, args.user, args.password_stdin) if args.user else User("cli", "engineer")
    if user.role not in ("engineer", "lead"):
        raise CommandError(f"{user.name} is an {user.role}: only engineers and leads export training data")
    try:
        report = exporter.export(args.db, task, args.labeler, args.out, user=user,
                                 human_share=args.human_share, subsample=args.subsample, human_weight=args.human_weight,
                                 drop_family_disagreement=args.drop_family_disagreement,
                                 min_confidence=args.min_confidence, force=args.force, force_reason=args.reason,
                                 seed=args.seed, gold_release=args.gold_release, criterion=args.criterion,
                                 soft_labels=args.soft_labels)
    except exporter.ExportRefused as exc:
        raise CommandError(f"export refused: {exc}") from None
    print(f"wrote {report.path} ({report.format}): {report.summary()}")
    return 0
