"""A loopback stand-in for a Hadoop cluster: the WebHDFS REST API over a temp folder and the
WebHCat (Templeton) job API, both on one ``127.0.0.1`` port, for the Hadoop task tests.

WebHDFS (``/webhdfs/v1/<path>?op=...&user.name=...``), as Apache documents it:

* ``GETFILESTATUS``, ``LISTSTATUS`` (JSON ``FileStatus`` / ``FileStatuses``), ``MKDIRS``,
  ``RENAME`` and ``DELETE`` (``{"boolean": ...}``) answer on the namenode;
* ``CREATE`` and ``OPEN`` answer ``307 Temporary Redirect`` with a ``Location`` on the
  "datanode" (``/datanode/webhdfs/v1/...`` on the same server), which takes the file's
  bytes (``201 Created``) or sends them;
* errors are ``{"RemoteException": {"exception", "javaClassName", "message"}}`` with
  Hadoop's statuses: 404 FileNotFoundException, 403 FileAlreadyExistsException,
  AccessControlException and PathIsNotEmptyDirectoryException, 400
  IllegalArgumentException. ``protected`` folders can be written by their owner only; a
  request without ``user.name`` is ``dr.who``, as on a real cluster.

WebHCat (``/templeton/v1/``): ``POST hive`` and ``POST pig`` (form fields ``user.name``,
``execute`` or ``file``, ``statusdir``) start a job that runs the script with a tiny
deterministic interpreter, one command a line: ``echo X`` prints X, ``warn X`` writes X to
stderr, ``sleep S`` waits S seconds, ``cat /p`` prints an HDFS file, ``fail N`` ends with
exit code N, ``SELECT x;`` prints x; anything else is a syntax error (exit 1). At the end,
``stdout``, ``stderr`` and ``exit`` are written into ``statusdir`` on the fake HDFS and the
job is ``completed: done``. ``GET jobs/<id>`` answers its status, ``DELETE jobs/<id>``
kills it.

Every request is recorded (method, path, query, body size) for the tests to assert on.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: int = 0

    @property
    def op(self) -> str:
        return self.query.get("op", "").upper()


@dataclass
class Job:
    id: str
    language: str
    user: str
    script: str
    statusdir: str
    state: str = "PREP"
    exit_value: int | None = None
    completed: str | None = None
    killed: threading.Event = field(default_factory=threading.Event)
    polls: int = 0


class RemoteError(Exception):
    def __init__(self, status: int, exception: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.exception = exception
        self.message = message


JAVA = {"FileNotFoundException": "java.io.FileNotFoundException",
        "FileAlreadyExistsException": "org.apache.hadoop.fs.FileAlreadyExistsException",
        "AccessControlException": "org.apache.hadoop.security.AccessControlException",
        "PathIsNotEmptyDirectoryException":
            "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
        "ParentNotDirectoryException": "org.apache.hadoop.fs.ParentNotDirectoryException",
        "IllegalArgumentException": "java.lang.IllegalArgumentException"}


class HadoopServer:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.requests: list[Request] = []
        self.jobs: dict[str, Job] = {}
        #: HDFS folder -> the only user who may write under it
        self.protected: dict[str, str] = {}
        #: seconds a job waits before it runs its script
        self.job_startup = 0.0
        self.lock = threading.Lock()
        self._counter = 0
        server = self

        class Handler(_Handler):
            hadoop = server

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        for job in list(self.jobs.values()):
            job.killed.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

    # ---------------------------------------------------------------- helpers for tests

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def connection_string(self, user: str = "etl", **extra: str) -> str:
        values = {"WebHdfsHost": "127.0.0.1", "WebHdfsPort": str(self.port),
                  "WebHdfsUserName": user, "WebHCatHost": "127.0.0.1",
                  "WebHCatPort": str(self.port), "WebHCatUser": user, "EnableWebHdfs": "True",
                  "EnableWebHCat": "True", "WebHdfsAuthType": "Basic",
                  "WebHCatAuthType": "Basic", "WebHdfsIsHttps": "False",
                  "WebHCatIsHttps": "False", **extra}
        return "".join(f"{k}={v};" for k, v in values.items())

    def local(self, hdfs_path: str) -> Path:
        """Where the HDFS path lives in the temp folder."""
        parts = [p for p in hdfs_path.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise RemoteError(400, "IllegalArgumentException", f"Invalid path {hdfs_path}")
        return self.root.joinpath(*parts)

    def put(self, hdfs_path: str, data: bytes) -> None:
        target = self.local(hdfs_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def ops(self, *, datanode: bool | None = None) -> list[tuple[str, str]]:
        """(method, op) of the WebHDFS requests, in order."""
        with self.lock:
            return [(r.method, r.op) for r in self.requests if "/webhdfs/" in r.path
                    and (datanode is None or r.path.startswith("/datanode") == datanode)]

    def templeton(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(r.method, r.path.removeprefix("/templeton/v1/"))
                    for r in self.requests if r.path.startswith("/templeton/")]

    # ---------------------------------------------------------------- file system

    def check_write(self, path: str, user: str) -> None:
        for folder, owner in self.protected.items():
            if (path == folder or path.startswith(folder.rstrip("/") + "/")) and user != owner:
                raise RemoteError(403, "AccessControlException",
                                  f'Permission denied: user={user}, access=WRITE, '
                                  f'inode="{folder}":{owner}:supergroup:drwxr-xr-x')

    def file_status(self, local: Path, suffix: str = "") -> dict[str, Any]:
        st = local.stat()
        is_dir = local.is_dir()
        return {"accessTime": 0 if is_dir else int(st.st_atime * 1000),
                "blockSize": 0 if is_dir else 134217728,
                "childrenNum": len(list(local.iterdir())) if is_dir else 0,
                "fileId": st.st_ino, "group": "supergroup",
                "length": 0 if is_dir else st.st_size,
                "modificationTime": int(st.st_mtime * 1000), "owner": "hdfs",
                "pathSuffix": suffix, "permission": "755" if is_dir else "644",
                "replication": 0 if is_dir else 3,
                "type": "DIRECTORY" if is_dir else "FILE"}

    def mkdirs(self, path: str, user: str) -> None:
        self.check_write(path, user)
        current = self.root
        for part in [p for p in path.split("/") if p]:
            current = current / part
            if current.is_file():
                raise RemoteError(403, "ParentNotDirectoryException",
                                  f"{current.relative_to(self.root)} (is not a directory)")
            current.mkdir(exist_ok=True)

    # ---------------------------------------------------------------- jobs

    def submit(self, language: str, form: dict[str, str]) -> Job:
        user = form.get("user.name", "")
        if not user:
            raise RemoteError(401, "", "No user found.  Missing user.name parameter.")
        if "execute" in form:
            script = form["execute"]
        elif "file" in form:
            local = self.local(form["file"])
            script = local.read_text() if local.is_file() else f"@missing {form['file']}"
        else:
            raise RemoteError(400, "", "Either execute or file parameter required")
        with self.lock:
            self._counter += 1
            job = Job(f"job_1500000000000_{self._counter:04d}", language, user, script,
                      form.get("statusdir", ""))
            self.jobs[job.id] = job
        threading.Thread(target=self._run_job, args=(job,), daemon=True).start()
        return job

    def _run_job(self, job: Job) -> None:
        if job.killed.wait(self.job_startup):
            return
        job.state = "RUNNING"
        out: list[str] = []
        err: list[str] = []
        code = 0
        for number, raw in enumerate(job.script.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith(("--", "#")):
                continue
            word, _, rest = line.partition(" ")
            if word == "@missing":
                err.append(f"File {rest} does not exist.")
                code = 1
            elif word == "echo":
                out.append(rest)
            elif word == "warn":
                err.append(rest)
            elif word == "sleep":
                if job.killed.wait(float(rest)):
                    return
                continue
            elif word == "cat":
                local = self.local(rest)
                if local.is_file():
                    out.append(local.read_text().rstrip("\n"))
                    continue
                err.append(f"cat: {rest}: No such file or directory")
                code = 1
            elif word == "fail":
                err.append(f"FAILED: script exited with {rest}")
                code = int(rest)
            elif word.upper() == "SELECT" and line.endswith(";"):
                out.append(rest.rstrip(";").strip().strip("'\""))
                continue
            else:
                err.append(f"FAILED: ParseException line {number}:0 cannot recognize input "
                           f"near '{word}'")
                code = 1
            if code:
                break
        if job.killed.is_set():
            return
        if job.statusdir:
            self.put(job.statusdir + "/stdout", "".join(f"{x}\n" for x in out).encode())
            self.put(job.statusdir + "/stderr", "".join(f"{x}\n" for x in err).encode())
            self.put(job.statusdir + "/exit", f"{code}\n".encode())
        job.exit_value = code
        job.state = "SUCCEEDED"  # Templeton's controller job succeeds; exitValue tells
        job.completed = "done"

    def job_json(self, job: Job) -> dict[str, Any]:
        return {"id": job.id, "parentId": None, "percentComplete": "map 50% reduce 0%"
                if job.state == "RUNNING" else None, "exitValue": job.exit_value,
                "user": job.user, "callback": None, "completed": job.completed,
                "userargs": {"statusdir": job.statusdir},
                "status": {"state": job.state, "jobId": job.id, "jobComplete":
                           job.completed == "done", "runState": {"PREP": 4, "RUNNING": 1,
                                                                 "SUCCEEDED": 2}.get(
                               job.state, 5), "username": job.user}}


class _Handler(BaseHTTPRequestHandler):
    hadoop: HadoopServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # ---------------------------------------------------------------- plumbing

    def _parts(self) -> tuple[str, dict[str, str]]:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        return urllib.parse.unquote(url.path), query

    def _body_chunks(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return
                yield self.rfile.read(size)
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            chunk = self.rfile.read(min(65536, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk

    def _record(self, path: str, query: dict[str, str], body: int = 0) -> None:
        with self.hadoop.lock:
            self.hadoop.requests.append(Request(self.command, path, query, body))

    def _send(self, status: int, data: Any = None, headers: dict[str, str] | None = None,
              raw: bytes | None = None) -> None:
        payload = raw if raw is not None else (
            b"" if data is None else json.dumps(data).encode())
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if raw is None and data is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _remote(self, exc: RemoteError) -> None:
        if not exc.exception:  # WebHCat's error shape
            self._send(exc.status, {"error": exc.message})
            return
        self._send(exc.status, {"RemoteException": {
            "exception": exc.exception, "javaClassName": JAVA.get(exc.exception, ""),
            "message": exc.message}})

    def _dispatch(self) -> None:
        path, query = self._parts()
        try:
            if path.startswith("/webhdfs/v1"):
                self._namenode(path.removeprefix("/webhdfs/v1") or "/", query)
            elif path.startswith("/datanode/webhdfs/v1"):
                self._datanode(path.removeprefix("/datanode/webhdfs/v1") or "/", query)
            elif path.startswith("/templeton/v1/"):
                self._templeton(path, query)
            else:
                self._record(path, query)
                self._send(404, raw=b"not found")
        except RemoteError as exc:
            self._remote(exc)

    do_GET = do_PUT = do_POST = do_DELETE = _dispatch

    # ---------------------------------------------------------------- namenode

    def _namenode(self, path: str, query: dict[str, str]) -> None:
        h = self.hadoop
        body = sum(len(c) for c in self._body_chunks())
        self._record("/webhdfs/v1" + path, query, body)
        op = query.get("op", "").upper()
        user = query.get("user.name") or "dr.who"
        local = h.local(path)
        allowed = {"GET": ("GETFILESTATUS", "LISTSTATUS", "OPEN"),
                   "PUT": ("CREATE", "MKDIRS", "RENAME"), "DELETE": ("DELETE",)}
        if op not in allowed.get(self.command, ()):
            raise RemoteError(400, "IllegalArgumentException",
                              f"Invalid value for webhdfs parameter \"op\": No enum constant "
                              f"{op} for {self.command}")
        if op in ("GETFILESTATUS", "LISTSTATUS", "OPEN") and not local.exists():
            raise RemoteError(404, "FileNotFoundException", f"File does not exist: {path}")
        if op == "GETFILESTATUS":
            self._send(200, {"FileStatus": h.file_status(local)})
        elif op == "LISTSTATUS":
            entries = ([h.file_status(c, c.name) for c in sorted(local.iterdir())]
                       if local.is_dir() else [h.file_status(local)])
            self._send(200, {"FileStatuses": {"FileStatus": entries}})
        elif op == "OPEN":
            if local.is_dir():
                raise RemoteError(404, "FileNotFoundException", f"Path is not a file: {path}")
            self._redirect(path, query)
        elif op == "CREATE":
            h.check_write(path, user)
            self._redirect(path, query)
        elif op == "MKDIRS":
            h.mkdirs(path, user)
            self._send(200, {"boolean": True})
        elif op == "RENAME":
            dest = query.get("destination", "")
            h.check_write(path, user)
            h.check_write(dest, user)
            target = h.local(dest)
            if not local.exists() or target.exists() or not target.parent.is_dir():
                self._send(200, {"boolean": False})
                return
            local.rename(target)
            self._send(200, {"boolean": True})
        elif op == "DELETE":
            h.check_write(path, user)
            if not local.exists():
                self._send(200, {"boolean": False})
                return
            if local.is_dir():
                if any(local.iterdir()) and query.get("recursive", "false") != "true":
                    raise RemoteError(403, "PathIsNotEmptyDirectoryException",
                                      f"`{path} is non empty': Directory is not empty")
                shutil.rmtree(local)
            else:
                local.unlink()
            self._send(200, {"boolean": True})

    def _redirect(self, path: str, query: dict[str, str]) -> None:
        q = dict(query, namenoderpcaddress="127.0.0.1:8020")
        location = (f"http://127.0.0.1:{self.hadoop.port}/datanode/webhdfs/v1"
                    f"{urllib.parse.quote(path)}?{urllib.parse.urlencode(q)}")
        self._send(307, headers={"Location": location})

    # ---------------------------------------------------------------- datanode

    def _datanode(self, path: str, query: dict[str, str]) -> None:
        h = self.hadoop
        op = query.get("op", "").upper()
        local = h.local(path)
        if self.command == "GET" and op == "OPEN":
            self._record("/datanode/webhdfs/v1" + path, query)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(local.stat().st_size))
            self.end_headers()
            with local.open("rb") as source:
                while chunk := source.read(65536):
                    self.wfile.write(chunk)
            return
        if self.command != "PUT" or op != "CREATE":
            self._record("/datanode/webhdfs/v1" + path, query)
            raise RemoteError(400, "IllegalArgumentException", f"Invalid operation {op}")
        user = query.get("user.name") or "dr.who"
        overwrite = query.get("overwrite", "false").lower() == "true"
        try:
            if local.is_dir() or (local.exists() and not overwrite):
                raise RemoteError(403, "FileAlreadyExistsException",
                                  f"{path} for client 127.0.0.1 already exists")
            h.check_write(path, user)
            h.mkdirs(str(Path(path).parent), user)
        except RemoteError:
            size = sum(len(c) for c in self._body_chunks())
            self._record("/datanode/webhdfs/v1" + path, query, size)
            raise
        temp = local.with_name(f".{local.name}._COPYING_")
        size = 0
        with temp.open("wb") as out:
            for chunk in self._body_chunks():
                out.write(chunk)
                size += len(chunk)
        temp.replace(local)
        self._record("/datanode/webhdfs/v1" + path, query, size)
        self._send(201, headers={"Location": f"hdfs://127.0.0.1:8020{path}"})

    # ---------------------------------------------------------------- WebHCat

    def _templeton(self, path: str, query: dict[str, str]) -> None:
        h = self.hadoop
        resource = path.removeprefix("/templeton/v1/")
        raw = b"".join(self._body_chunks())
        self._record(path, query, len(raw))
        if self.command == "GET" and resource == "status":
            self._send(200, {"status": "ok", "version": "v1"})
        elif self.command == "POST" and resource in ("hive", "pig"):
            form = dict(urllib.parse.parse_qsl(raw.decode(), keep_blank_values=True))
            job = h.submit(resource, form)
            self._send(200, {"id": job.id})
        elif resource.startswith("jobs/") and self.command in ("GET", "DELETE"):
            if not query.get("user.name"):
                raise RemoteError(401, "", "No user found.  Missing user.name parameter.")
            job_or_none = h.jobs.get(resource.removeprefix("jobs/"))
            if job_or_none is None:
                raise RemoteError(404, "", f"Job {resource.removeprefix('jobs/')} not found")
            job = job_or_none
            if self.command == "DELETE":
                job.killed.set()
                job.state = "KILLED"
                job.completed = "done"
            else:
                job.polls += 1
            self._send(200, h.job_json(job))
        else:
            raise RemoteError(404, "", f"Not found: {resource}")


def wait_for(predicate: Any, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
