"""labelgate labelers add NAME --task T --provider P --model M ... | labelgate labelers list --task T"""

from __future__ import annotations

from pathlib import Path

from labelgate.cli.common import CommandError
from labelgate.labelers import PROVIDERS, LabelerConfig
from labelgate.llm.prompts import check_template
from labelgate.llm.secrets import key_env_name
from labelgate.store.items import get_items
from labelgate.store.labelers import current_labelers, save_labeler
from labelgate.store.tasks import get_task


def register(subparsers) -> None:
    p = subparsers.add_parser("labelers", help="LLM labelers of a task (model, prompt, settings)")
    sub = p.add_subparsers(dest="labelers_command", metavar="ACTION", required=True)
    a = sub.add_parser("add", help="add a labeler, or record a new version of an existing one")
    a.add_argument("name")
    a.add_argument("--task", required=True)
    a.add_argument("--provider", required=True, choices=PROVIDERS)
    a.add_argument("--model", required=True)
    a.add_argument("--family", help="model family (default: guessed from the model name)")
    a.add_argument("--base-url", help="API base URL (required for openai-compatible: vLLM, Ollama, LM Studio)")
    a.add_argument("--prompt-file", help="prompt template file; placeholders {field}, {rubric}, {labels}, {options}")
    a.add_argument("--temperature", type=float, default=0.0)
    a.add_argument("--max-tokens", type=int, default=256)
    a.add_argument("--samples", type=int, default=1, help="samples per item (confidence from their agreement)")
    a.add_argument("--both-orders", action="store_true", help="pairwise: ask in both presentation orders")
    a.add_argument("--api-key-env", help="environment variable holding the API key (default: the provider's)")
    a.add_argument("--per-criterion", action="store_true",
                   help="a task of several criteria: one call per criterion (default: one call answers all)")
    a.set_defaults(func=_add)
    ls = sub.add_parser("list", help="the current labelers of a task")
    ls.add_argument("--task", required=True)
    ls.set_defaults(func=_list)


def _add(args) -> int:
    task = get_task(args.db, args.task)
    template = ""
    if args.prompt_file:
        try:
            template = Path(args.prompt_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot read the prompt file {args.prompt_file}: {exc.strerror}") from None
    config = LabelerConfig(name=args.name.strip(), provider=args.provider, model=args.model, family=args.family or "",
                           base_url=args.base_url, prompt_template=template, temperature=args.temperature,
                           max_tokens=args.max_tokens, n_samples=args.samples, both_orders=args.both_orders,
                           api_key_env=args.api_key_env, per_criterion=args.per_criterion)
    if args.per_criterion and not task.is_multi:
        raise CommandError("--per-criterion only applies to tasks of several criteria")
    if args.both_orders and not any(c.kind == "pairwise" for c in task.criteria):
        raise CommandError("--both-orders only applies to pairwise tasks")
    if template:
        sample = get_items(args.db, task.task_id).head(50)
        fields = set(task.text_columns)
        for f in sample["fields"]:
            fields |= set(f)
        check_template(template, task, fields)
    before = {c.name: c.version for c in current_labelers(args.db, task.task_id)}
    version = save_labeler(args.db, task.task_id, config, created_by="cli")
    if before.get(config.name) == version:
        print(f"labeler {config.name} unchanged (version {version})")
    elif config.name in before:
        print(f"labeler {config.name}: new version {version} (was {before[config.name]})")
    else:
        print(f"labeler {config.name} added (version {version}); {_key_source(config)}"
              if config.provider != "import" else f"labeler {config.name} added (version {version})")
    return 0


def _key_source(config) -> str:
    name = key_env_name(config)
    return f"API key from ${name}" if name else "no API key is sent"


def _list(args) -> int:
    task = get_task(args.db, args.task)
    labelers = current_labelers(args.db, task.task_id)
    if not labelers:
        print(f"task {task.name} has no labelers yet (labelgate labelers add NAME --task {task.name} ...)")
        return 0
    rows = [("NAME", "VERSION", "PROVIDER", "MODEL", "FAMILY", "SAMPLES", "ORDERS", "KEY", "BASE URL")]
    for c in labelers:
        rows.append((c.name, c.version, c.provider, c.model, c.family, str(c.n_samples),
                     "both" if c.both_orders else "one", "" if c.provider == "import" else (key_env_name(c) or "-"),
                     c.base_url or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    return 0
