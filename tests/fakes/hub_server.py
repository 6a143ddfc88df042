"""A loopback, in-memory Hub: the endpoints huggingface_hub 2.x and datasets 5.x call to push and to stream.

Bound to 127.0.0.1 on a free port. Clients reach it through ``HF_ENDPOINT`` with ``HF_HUB_DISABLE_XET=1`` (the
legacy LFS upload path). Covered: create repo, whoami, validate-yaml, repo info, refs, tree, paths-info,
preupload, LFS batch + basic upload + verify, NDJSON commit (branches, ``create_pr``, ``parentCommit``, copies of
LFS files as ``lfsFile`` lines naming an uploaded object), branch creation and deletion, and resolve with HEAD and
Range. Faults can be injected per route to interrupt a push; every request is logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = b"*.arrow filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n"
LFS_SUFFIXES = (".arrow", ".parquet", ".png", ".mp4", ".tar")
TYPES = {"datasets": "dataset", "models": "model", "spaces": "space"}


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class Blob:
    data: bytes
    lfs: bool

    def entry(self, path: str) -> dict:
        entry = {"type": "file", "path": path, "size": len(self.data), "oid": git_oid(self.data)}
        if self.lfs:
            entry["lfs"] = {"oid": hashlib.sha256(self.data).hexdigest(), "size": len(self.data), "pointerSize": 134}
        return entry


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, dict[str, Blob]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)

    def commit(self, branch: str, files: dict[str, Blob], title: str) -> str:
        sha = hashlib.sha1(f"{self.repo_id}{branch}{len(self.commits)}{title}{time.time_ns()}".encode()).hexdigest()
        self.commits[sha] = files
        self.titles[sha] = title
        self.refs[branch] = sha
        return sha

    def resolve(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


@dataclass
class Fault:
    method: str
    pattern: str
    status: int
    times: int
    after: int  # matching requests let through before the first failure


class HubServer:
    """``with HubServer(tokens={"tok": "alice"}) as hub: os.environ["HF_ENDPOINT"] = hub.url``."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self.tokens = tokens
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.faults: list[Fault] = []
        self.log: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"hub": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def fail(self, method: str, pattern: str, status: int = 500, times: int = 1, after: int = 0) -> None:
        """Answer ``times`` requests whose path matches ``pattern`` with ``status``, after letting ``after``
        matching requests through."""
        self.faults.append(Fault(method, pattern, status, times, after))

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        repo = self.repos[(repo_type, repo_id)]
        return {path: blob.data for path, blob in repo.commits[repo.refs[revision]].items()}

    def requests(self, method: str, pattern: str = "") -> list[str]:
        return [path for m, path, _ in self.log if m == method and re.search(pattern, path)]


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # the test log stays quiet
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ----------------------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        self.query = parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        status = 200
        try:
            with self.hub.lock:
                for fault in self.hub.faults:
                    if fault.times > 0 and fault.method == method and re.search(fault.pattern, url.path):
                        if fault.after > 0:
                            fault.after -= 1
                            continue
                        fault.times -= 1
                        raise HubError(fault.status, "injected fault")
                self.user = self._user()
                status, headers, payload = self._route(method, [unquote(p) for p in url.path.split("/")[1:]])
        except HubError as e:
            status, payload = e.status, json.dumps({"error": e.message}).encode()
            headers = {"Content-Type": "application/json", "X-Error-Message": e.message}
            if e.code:
                headers["X-Error-Code"] = e.code
        self.hub.log.append((method, url.path, status))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", headers.get("Content-Length", str(len(payload))))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(payload)

    def _user(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth:
            return None
        token = auth.removeprefix("Bearer ").strip()
        if token not in self.hub.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.hub.tokens[token]

    def _json(self, data, status: int = 200):
        return status, {"Content-Type": "application/json"}, json.dumps(data).encode()

    def _repo(self, kind: str, repo_id: str, write: bool = False) -> Repo:
        repo = self.hub.repos.get((kind, repo_id))
        if repo is None or (repo.private and self.user != repo_id.split("/")[0]):
            raise HubError(401 if self.user is None else 404, "Repository not found", "RepoNotFound")
        if write and self.user != repo_id.split("/")[0]:
            raise HubError(403, "You don't have the rights to write to this repository")
        return repo

    def _files(self, repo: Repo, revision: str) -> tuple[str, dict[str, Blob]]:
        sha = repo.resolve(revision)
        if sha is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return sha, repo.commits[sha]

    # -- routes ------------------------------------------------------------------------------------------------
    def _route(self, method: str, parts: list[str]):
        if parts[:2] == ["api", "whoami-v2"]:
            if self.user is None:
                raise HubError(401, "Invalid credentials in Authorization header")
            return self._json({"type": "user", "name": self.user, "auth": {"type": "access_token"}})
        if parts[:3] == ["api", "repos", "create"]:
            return self._create_repo()
        if parts[:2] == ["api", "validate-yaml"]:
            try:
                yaml.safe_load(json.loads(self.body)["content"].split("---")[1])
            except (yaml.YAMLError, IndexError) as e:
                return self._json({"errors": [{"message": f"invalid YAML: {e}"}], "warnings": []}, 400)
            return self._json({"errors": [], "warnings": []})
        if parts[0] == "api" and len(parts) >= 4 and parts[1] in TYPES:
            return self._api(method, TYPES[parts[1]], "/".join(parts[2:4]), parts[4:])
        if parts[0] == "lfs":
            return self._lfs_object(method, parts[1], parts[2:])
        kind = TYPES.get(parts[0], "model")
        rest = parts[1:] if parts[0] in TYPES else parts
        if len(rest) >= 3 and rest[1].endswith(".git") and rest[2:] == ["info", "lfs", "objects", "batch"]:
            return self._lfs_batch(kind, f"{rest[0]}/{rest[1][:-4]}")
        if len(rest) >= 5 and rest[2] == "resolve":
            return self._resolve(method, kind, "/".join(rest[:2]), rest[3], "/".join(rest[4:]))
        raise HubError(404, f"no route {method} /{'/'.join(parts)}")

    def _create_repo(self):
        if self.user is None:
            raise HubError(401, "You must be authenticated to create a repo")
        body = json.loads(self.body)
        namespace = body.get("organization") or self.user
        if namespace != self.user:
            raise HubError(403, f"You don't have the rights to create a repo under {namespace}")
        kind, repo_id = body.get("type") or "model", f"{namespace}/{body['name']}"
        url = f"{self.hub.url}/{'' if kind == 'model' else kind + 's/'}{repo_id}"
        if (kind, repo_id) in self.hub.repos:
            return self._json({"error": "You already created this repo", "url": url}, 409)
        repo = Repo(kind, repo_id, body.get("visibility") == "private")
        repo.commit("main", {".gitattributes": Blob(GITATTRIBUTES, False)}, "initial commit")
        self.hub.repos[(kind, repo_id)] = repo
        return self._json({"url": url, "name": repo_id})

    def _api(self, method: str, kind: str, repo_id: str, rest: list[str]):
        write = bool(rest) and rest[0] in ("preupload", "commit", "branch")
        repo = self._repo(kind, repo_id, write)
        if not rest or rest[0] == "revision":
            sha, files = self._files(repo, rest[1] if rest else "main")
            readme = files.get("README.md")
            card = yaml.safe_load(readme.data.decode().split("---")[1]) if readme else None
            return self._json({"_id": sha[:24], "id": repo_id, "author": repo_id.split("/")[0], "sha": sha,
                               "private": repo.private, "gated": False, "disabled": False, "downloads": 0,
                               "likes": 0, "tags": [], "cardData": card, "lastModified": "2026-01-01T00:00:00.000Z",
                               "createdAt": "2026-01-01T00:00:00.000Z",
                               "siblings": [{"rfilename": p} for p in sorted(files)]})
        if rest[0] == "refs":
            branches = [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": s}
                        for n, s in repo.refs.items() if not n.startswith("refs/pr/")]
            return self._json({"branches": branches, "converts": [], "tags": []})
        if rest[0] == "tree":
            _, files = self._files(repo, rest[1])
            return self._json(_tree(files, "/".join(rest[2:]).strip("/"), self.query.get("recursive") == ["true"]))
        if rest[0] == "paths-info":
            _, files = self._files(repo, rest[1])
            form = parse_qs(self.body.decode())
            return self._json([e for p in form.get("paths", []) for e in _tree(files, p, False, itself=True)])
        if rest[0] == "preupload":
            _, files = self._files(repo, rest[1])
            out = []
            for f in json.loads(self.body)["files"]:
                lfs = f["path"].endswith(LFS_SUFFIXES) or b"\0" in base64.b64decode(f["sample"])
                old = files.get(f["path"])
                oid = None if old is None else (hashlib.sha256(old.data).hexdigest() if old.lfs else git_oid(old.data))
                out.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                            "oid": oid})
            return self._json({"files": out})
        if rest[0] == "commit":
            return self._commit(repo, rest[1])
        if rest[0] == "branch" and method == "POST":
            if rest[1] in repo.refs:
                raise HubError(409, f"Branch {rest[1]} already exists")
            sha, files = self._files(repo, (json.loads(self.body or b"{}")).get("startingPoint") or "main")
            repo.refs[rest[1]] = sha
            return self._json({})
        if rest[0] == "branch" and method == "DELETE":
            if rest[1] not in repo.refs or rest[1] == "main":
                raise HubError(404 if rest[1] not in repo.refs else 403, f"cannot delete branch {rest[1]}")
            del repo.refs[rest[1]]
            return self._json({})
        raise HubError(404, f"no route {method} api/{kind}s/{repo_id}/{'/'.join(rest)}")

    def _commit(self, repo: Repo, revision: str):
        lines = [json.loads(line) for line in self.body.splitlines() if line.strip()]
        header = lines[0]["value"]
        base_sha, files = self._files(repo, revision)
        if header.get("parentCommit") and header["parentCommit"] != base_sha:
            raise HubError(412, f"A commit has happened since {header['parentCommit']}: {revision} is at {base_sha}")
        files = dict(files)
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                files[value["path"]] = Blob(base64.b64decode(value["content"]), False)
            elif line["key"] == "lfsFile":
                if value["oid"] not in self.hub.lfs:
                    raise HubError(422, f"LFS object {value['oid']} of {value['path']} was never uploaded")
                files[value["path"]] = Blob(self.hub.lfs[value["oid"]], True)
            elif line["key"] == "deletedFile":
                files.pop(value["path"], None)
            elif line["key"] == "deletedFolder":
                files = {p: b for p, b in files.items() if not p.startswith(value["path"].rstrip("/") + "/")}
        pr = self.query.get("create_pr") == ["1"]
        branch = f"refs/pr/{sum(r.startswith('refs/pr/') for r in repo.refs) + 1}" if pr else revision
        sha = repo.commit(branch, files, header["summary"])
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        url = f"{self.hub.url}/{prefix}{repo.repo_id}"
        return self._json({"commitUrl": f"{url}/commit/{sha}", "commitOid": sha,
                           "pullRequestUrl": f"{url}/discussions/{branch.rsplit('/', 1)[1]}" if pr else None})

    def _lfs_batch(self, kind: str, repo_id: str):
        self._repo(kind, repo_id, write=True)
        objects = []
        for obj in json.loads(self.body)["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"]}
            if obj["oid"] not in self.hub.lfs:
                href = f"{self.hub.url}/lfs/{obj['oid']}"
                entry["actions"] = {"upload": {"href": href, "header": {}}, "verify": {"href": f"{href}/verify"}}
            objects.append(entry)
        return self._json({"transfer": "basic", "objects": objects})

    def _lfs_object(self, method: str, oid: str, rest: list[str]):
        if method == "PUT":
            if hashlib.sha256(self.body).hexdigest() != oid:
                raise HubError(400, "sha256 mismatch")
            self.hub.lfs[oid] = self.body
            return 200, {}, b""
        if rest == ["verify"] and oid in self.hub.lfs:
            return self._json({"ok": True})
        raise HubError(404, f"LFS object {oid} not found")

    def _resolve(self, method: str, kind: str, repo_id: str, revision: str, path: str):
        sha, files = self._files(self._repo(kind, repo_id), revision)
        blob = files.get(path)
        if blob is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
        etag = hashlib.sha256(blob.data).hexdigest() if blob.lfs else git_oid(blob.data)
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": sha, "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if blob.lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(blob.data))})
        data, status = blob.data, 200
        wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if wanted:
            start, end = wanted.groups()
            first = int(start) if start else max(len(data) - int(end), 0)
            last = int(end) if start and end else len(data) - 1
            if first >= len(data):
                raise HubError(416, "Range not satisfiable")
            last = min(last, len(data) - 1)
            headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
            data, status = data[first : last + 1], 206
        headers["Content-Length"] = str(len(data))
        return status, headers, data


def _tree(files: dict[str, Blob], root: str, recursive: bool, itself: bool = False) -> list[dict]:
    """Tree entries under ``root`` (or the entry ``root`` itself, for paths-info), folders included."""
    if itself:
        if root in files:
            return [files[root].entry(root)]
        return [_folder(root)] if any(p.startswith(root + "/") for p in files) else []
    prefix = root + "/" if root else ""
    entries: dict[str, dict] = {}
    for path, blob in sorted(files.items()):
        if not path.startswith(prefix):
            continue
        parts = path[len(prefix) :].split("/")
        for depth in range(1, len(parts)):
            folder = prefix + "/".join(parts[:depth])
            entries.setdefault(folder, _folder(folder))
            if not recursive:
                break
        if recursive or len(parts) == 1:
            entries[path] = blob.entry(path)
    if root and not entries and root not in files:
        raise HubError(404, f"Entry not found: {root}", "EntryNotFound")
    return list(entries.values())


def _folder(path: str) -> dict:
    return {"type": "directory", "path": path, "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0}
