"""LLM labelers: prompts, provider clients (openai / anthropic SDKs), parsing, and the run engine.

The only package that talks to model APIs. Its SQL lives in labelgate.store.llm. The service API
for the app and the CLI is re-exported here; see labelgate.llm.service for the page's usage.
"""

from labelgate.llm.parse import ParsedAnswer, parse_answer
from labelgate.llm.prompts import PromptTemplateError, check_template, label_schema, render
from labelgate.llm.runner import (
    Progress,
    RunOptions,
    RunPlan,
    execute_run,
    plan_items,
    plan_resume,
    plan_retry,
    plan_run,
    run_sync,
)
from labelgate.llm.secrets import MissingApiKeyError, resolve_api_key, scrub
from labelgate.llm.service import RunHandle, active_handles, get_handle, start_run
from labelgate.store.llm import (
    batch_items,
    create_item_batch,
    get_run,
    list_item_batches,
    list_runs,
    run_calls,
    run_failures,
    run_outcomes,
    spent,
)

__all__ = [
    "MissingApiKeyError", "ParsedAnswer", "Progress", "PromptTemplateError", "RunHandle", "RunOptions", "RunPlan",
    "active_handles", "batch_items", "check_template", "create_item_batch", "execute_run", "get_handle", "get_run",
    "label_schema", "list_item_batches", "list_runs", "parse_answer", "plan_items", "plan_resume", "plan_retry",
    "plan_run", "render", "resolve_api_key", "run_calls", "run_failures", "run_outcomes", "run_sync", "scrub",
    "spent", "start_run",
]
