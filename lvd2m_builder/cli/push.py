"""``lvd2m push``: publish as Parquet, check the Hub's limits, validate, then upload what the repo lacks."""

from __future__ import annotations

import argparse

from lvd2m_builder.errors import ConfigError
from lvd2m_builder.publish.limits import HubLimits


def add(sub) -> None:
    p = sub.add_parser("push", help="validate OUT and publish it as a Hub dataset repo",
                       description="Publish OUT as Parquet (an older Arrow output is converted first), check it "
                       "against the Hub's limits and validate it (either failing is refused before any upload), "
                       "create the dataset repo if needed and upload what the repo does not hold yet: the card, "
                       "stats, plots and data files; data files of an earlier push that this one does not hold "
                       "are deleted. A push of more than --files-per-commit files stages on a branch and lands in "
                       "one commit, so the target never shows a half-replaced dataset. A re-run resumes an "
                       "interrupted push. The token comes from --token, HF_TOKEN or `hf auth login`.")
    p.add_argument("out", help="a directory written by lvd2m build or lvd2m import")
    p.add_argument("--repo-id", required=True, help="NAME/REPO, e.g. alice/lvd2m")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", help="branch to push to (created if missing), or refs/pr/N to add to a PR")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of pushing to main")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would be added, replaced and deleted, with sizes, and upload nothing")
    p.add_argument("--commit-message", help="the commit's title (default: lvd2m push: N clips, M rejects)")
    p.add_argument("--token", help="a Hugging Face token with write access (default: HF_TOKEN or the saved one); "
                   "never printed")
    p.add_argument("--max-shard-size", metavar="SIZE", help="re-cut the published files to at most SIZE before "
                   "pushing, e.g. 500MB")
    p.add_argument("--files-per-commit", type=int, default=HubLimits.files_per_commit, metavar="N",
                   help=f"files a commit carries (default {HubLimits.files_per_commit}, the Hub's advice); a push "
                   "of more stages on a branch first")
    p.add_argument("--keep-card", action="store_true",
                   help="upload README.md as it is (hand edits kept); by default the card is rendered for --repo-id")
    p.add_argument("--max-caption-repeats", type=int, default=5, metavar="N",
                   help="validation: flag a refined_caption found on more than N clips (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.hub import push
    from lvd2m_builder.validate.run import ValidateConfig

    if args.files_per_commit < 1:
        raise ConfigError("--files-per-commit", args.files_per_commit, "must be >= 1")
    result = push(args.out, args.repo_id, private=args.private, revision=args.revision, create_pr=args.create_pr,
                  token=args.token, render=not args.keep_card,
                  validate_config=ValidateConfig(args.max_caption_repeats), dry_run=args.dry_run,
                  commit_message=args.commit_message, max_shard_size=args.max_shard_size,
                  limits=HubLimits(files_per_commit=args.files_per_commit))
    print(result.plan.text() if args.dry_run else result.pr_url or result.commit_url or result.plan.text())
    return 0
