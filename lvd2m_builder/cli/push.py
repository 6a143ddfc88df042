"""``lvd2m push``: validate, then publish to the Hub."""

from __future__ import annotations

import argparse


def add(sub) -> None:
    p = sub.add_parser("push", help="validate OUT and publish it as a Hub dataset repo",
                       description="Validate OUT (an invalid dataset is refused), create the dataset repo if needed "
                       "and upload the card, stats, plots and shards. A re-run resumes an interrupted upload. The "
                       "token comes from HF_TOKEN or `hf auth login`.")
    p.add_argument("out", help="a directory written by lvd2m build")
    p.add_argument("--repo-id", required=True, help="NAME/REPO, e.g. alice/lvd2m")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--revision", help="branch to push to (created if missing), or refs/pr/N to add to a PR")
    p.add_argument("--create-pr", action="store_true", help="open a pull request instead of pushing to main")
    p.add_argument("--keep-card", action="store_true",
                   help="upload README.md as it is (hand edits kept); by default the card is rendered for --repo-id")
    p.add_argument("--max-caption-repeats", type=int, default=5, metavar="N",
                   help="validation: flag a refined_caption found on more than N clips (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lvd2m_builder.hub import push
    from lvd2m_builder.validate.run import ValidateConfig

    result = push(args.out, args.repo_id, private=args.private, revision=args.revision, create_pr=args.create_pr,
                  render=not args.keep_card, validate_config=ValidateConfig(args.max_caption_repeats))
    print(result.pr_url or result.commit_url)
    return 0
