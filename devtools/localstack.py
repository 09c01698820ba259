"""The whole API on this machine, in the foreground (`make dev`); `make token` prints an ID token.

    python -m devtools.localstack                          # PostgreSQL + moto_server + gateway
    python -m devtools.localstack token [email] [password] # a fresh ID token (default: the admin)
    python -m devtools.localstack admin EMAIL PASSWORD     # an Admin on the running stack (make dev-admin)

- The dev data folder is `dataapi-dev` under the system temp dir (TMPDIR): the cluster's data,
  moto_server's log, the running stack's state.json and the local pool's password book.
- PostgreSQL: a cluster whose data directory lives in the dev data folder (the `postgres` user
  cannot traverse a checkout in a private home directory); it persists across runs. Database
  `dataapi` is created if missing, migrated to head and loaded with the demo data (idempotent).
  With DATABASE_URL set, that database is served instead (a copy of the Flask backend's, for the
  adoption's dry run): migrated to head, no demo data, no demo users, no cluster started.
- Cognito's user-migration trigger runs where Cognito would (devtools/cognito_triggers.py), so the
  Flask backend's users sign in with their passwords here too.
- Cognito (and S3) in `moto_server` on 127.0.0.1 (port 5001 when free): a user pool and an app
  client like the template's. moto keeps no state: every run makes a new pool (earlier tokens stop
  working), and devtools/localpool.py puts back into it every user who could sign in before, with
  the same password, re-linking User.cognito_sub; in demo mode the demo users are added to it.
- The files bucket: FILES_BUCKET if set (e.g. `beyoappv5`, so a copy's stored photo URLs are
  recognised and signed), else dataapi-local-files; in demo mode it holds a PNG for every photo
  the demo rows reference, and it starts empty otherwise.
- The API on http://127.0.0.1:8080, routed as template.yaml routes it (devtools/gateway.py), each
  function in up to DEV_WORKERS_PER_FUNCTION (4) worker processes, as parallel Lambda containers.
- DEV_POOLER=1: the functions reach the demo cluster through PgBouncer in transaction pooling mode
  (devtools/pooler.py; DEV_POOLER_SIZE server connections, default 10), as through RDS Proxy.
Ctrl-C or SIGTERM stops everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devtools import localpool, pooler
from devtools.pgcluster import Cluster, _as_postgres, free_port, pg_bin
from devtools.template import TEMPLATE, load_template, parameter_values, resolve

HOME = Path(tempfile.gettempdir()) / "dataapi-dev"
PGDATA = HOME / "pgdata"
STATE = HOME / "state.json"
MOTO_LOG = HOME / "moto_server.log"
PASSWORD_BOOK = HOME / "pool-passwords.json"
DATABASE = "dataapi"
MOTO_PORT = 5001
GATEWAY_PORT = int(os.environ.get("PORT") or 8080)  # `PORT=8081 make dev` serves on another port
DEMO_USERS = {"admin@example.com": "demo-Admin-1", "clerk@example.com": "demo-Clerk-1"}
LOCAL_ENV = {  # dummy AWS credentials: moto accepts anything, real AWS must never be reached
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "dataapi",
    "POWERTOOLS_METRICS_NAMESPACE": "DataApi",
}


def log(message: str) -> None:
    print(f"[dev] {message}", file=sys.stderr, flush=True)


def region() -> str:
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "eu-north-1"


def port_is_free(port: int) -> bool:
    """Whether a server can listen on the port now. Checked as the servers bind (SO_REUSEADDR, as
    http.server and moto_server do), so connections of a finished run in TIME_WAIT do not count."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_taken(port: int) -> str:
    return (
        f"port {port} on 127.0.0.1 is taken by another process (another `make dev`?); "
        f"stop it, or serve the API on another port: PORT={port + 1} make dev"
    )


# -- PostgreSQL ------------------------------------------------------------------------------------
def cluster_running(datadir: Path) -> bool:
    if not (datadir / "PG_VERSION").exists():
        return False
    status = subprocess.run(
        _as_postgres([str(pg_bin() / "pg_ctl"), "-D", str(datadir), "status"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return status.returncode == 0


def make_home() -> None:
    """The dev data folder, made on the first run (whatever the mode)."""
    HOME.mkdir(parents=True, exist_ok=True)
    os.chmod(HOME, 0o755)  # the postgres user must traverse it


def start_database() -> tuple[Cluster, str]:
    make_home()
    if os.geteuid() == 0 and subprocess.run(_as_postgres(["test", "-x", str(HOME)]), check=False).returncode:
        raise SystemExit(
            f"the postgres user cannot reach {HOME} (a parent folder is private, e.g. a TMPDIR made by"
            " mktemp -d): make that folder traversable (chmod 755) or run make dev without TMPDIR"
        )
    if cluster_running(PGDATA):
        raise SystemExit(f"PostgreSQL already runs on {PGDATA}: is another `make dev` running?")
    log(f"PostgreSQL data directory: {PGDATA}")
    cluster = Cluster.create(PGDATA)
    import pg8000.exceptions

    try:
        cluster.sql(f"CREATE DATABASE {DATABASE}")
        log(f"created database {DATABASE}")
    except pg8000.exceptions.DatabaseError as exc:
        if not (exc.args and isinstance(exc.args[0], dict) and exc.args[0].get("C") == "42P04"):
            cluster.stop()
            raise
    return cluster, cluster.url(DATABASE)


def prepare_database(url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from devtools.demo_data import load_demo_data
    from devtools.migrate import upgrade

    log("migrating to head")
    upgrade(url)
    engine = create_engine(url)
    try:
        with Session(engine) as session, session.begin():
            counts = load_demo_data(session)
        log(f"demo data: {counts}")
    finally:
        engine.dispose()


def upgrade_only(url: str) -> None:
    from devtools.migrate import upgrade

    upgrade(url)


# -- moto_server and Cognito -----------------------------------------------------------------------
def start_moto() -> tuple[subprocess.Popen[bytes], int]:
    make_home()
    port = MOTO_PORT if port_is_free(MOTO_PORT) else free_port()
    logfile = open(MOTO_LOG, "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=logfile,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches us; we stop it in order
    )
    logfile.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited ({process.returncode}); see {MOTO_LOG}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.terminate()
        raise RuntimeError(f"moto_server did not start; see {MOTO_LOG}")
    log(f"moto_server on http://127.0.0.1:{port} (log: {MOTO_LOG})")
    return process, port


def cognito_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name=region(),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _template_user_pool() -> tuple[dict[str, Any], dict[str, Any]]:
    """The UserPool and UserPoolClient properties of template.yaml, parameters resolved."""
    template = load_template(TEMPLATE)
    params = parameter_values(template)
    resources = template["Resources"]
    return (
        resolve(resources["UserPool"]["Properties"], params),
        resolve(resources["UserPoolClient"]["Properties"], params),
    )


def create_cognito(endpoint: str) -> dict[str, Any]:
    """An empty pool and a client like the template's; returns their ids."""
    pool_props, client_props = _template_user_pool()
    idp = cognito_client(endpoint)
    password_policy = dict(pool_props.get("Policies", {}).get("PasswordPolicy", {}))
    password_policy["MinimumLength"] = int(password_policy.get("MinimumLength", 10))  # a Ref resolves to text
    pool = idp.create_user_pool(
        PoolName="dataapi-local",
        UsernameAttributes=pool_props.get("UsernameAttributes", ["email"]),
        AutoVerifiedAttributes=pool_props.get("AutoVerifiedAttributes", ["email"]),
        Policies={"PasswordPolicy": password_policy},
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
    )["UserPool"]
    units = client_props.get("TokenValidityUnits", {})
    client = idp.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="dataapi-local-web",
        GenerateSecret=False,
        # Cognito's ID tokens carry the attributes the client may read (all by default); moto's
        # only those listed. The caller is matched by e-mail only when email_verified says so.
        ReadAttributes=["email", "email_verified"],
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        PreventUserExistenceErrors="ENABLED",
        IdTokenValidity=int(client_props.get("IdTokenValidity", 8)),
        TokenValidityUnits={
            k: v for k, v in units.items() if k in ("IdToken", "AccessToken", "RefreshToken")
        },
    )["UserPoolClient"]
    return {"user_pool_id": pool["Id"], "client_id": client["ClientId"]}


def populate_pool(url: str, endpoint: str, pool_id: str, seed: dict[str, str]) -> localpool.Restored:
    """The users of earlier runs back in the new pool (devtools/localpool.py), then the `seed` users."""
    report = localpool.restore(
        url, cognito_client(endpoint), pool_id, localpool.PasswordBook(PASSWORD_BOOK), seed
    )
    if report.restored:
        log(f"user pool: {len(report.restored)} user(s) of earlier runs restored, same passwords")
    if report.created:
        log(f"user pool: created {', '.join(report.created)}")
    if report.unlinked:
        log(
            f"user pool: no password known for {', '.join(report.unlinked)}: unlinked (an Admin sets a new one)"
        )
    for email in report.missing:
        log(f"warning: no User row for {email}")
    return report


def id_token(endpoint: str, client_id: str, email: str, password: str) -> str:
    result = cognito_client(endpoint).initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )
    return result["AuthenticationResult"]["IdToken"]


# -- the stack -------------------------------------------------------------------------------------
LOCAL_BUCKET = "dataapi-local-files"


def create_bucket(endpoint: str, name: str) -> None:
    """The files bucket in moto_server, with the CORS rules the template gives the real one."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region())
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region()})
    origins = [o.strip() for o in os.environ.get("CORS_ALLOWED_ORIGINS", "").split(",") if o.strip()]
    s3.put_bucket_cors(
        Bucket=name,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": origins
                    or ["http://localhost:5173", "https://localhost:5173", "http://127.0.0.1:4173"],
                    "AllowedMethods": ["PUT", "GET", "HEAD"],
                    "AllowedHeaders": ["Content-Type"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 600,
                }
            ]
        },
    )
    log(f"files bucket {name} in moto_server")


def upload_images(url: str, endpoint: str, bucket: str) -> None:
    """Every image the demo rows reference, as a small real PNG in the bucket."""
    import boto3
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from devtools.demo_data import upload_demo_images

    engine = create_engine(url)
    try:
        with Session(engine) as session:
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region())
            log(f"demo images: {upload_demo_images(session, s3, bucket)} in {bucket}")
    finally:
        engine.dispose()


def set_environment(database_url: str, moto_port: int, cognito: dict[str, Any]) -> dict[str, str]:
    pool_id, reg = cognito["user_pool_id"], region()
    env = {
        **LOCAL_ENV,
        "DATABASE_URL": database_url,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
        "AWS_DEFAULT_REGION": reg,
        "AWS_REGION": reg,
        "COGNITO_USER_POOL_ID": pool_id,
        "COGNITO_APP_CLIENT_ID": cognito["client_id"],
        "COGNITO_ISSUER": f"https://cognito-idp.{reg}.amazonaws.com/{pool_id}",
        "COGNITO_JWKS_URL": f"http://127.0.0.1:{moto_port}/{pool_id}/.well-known/jwks.json",
    }
    os.environ.update(env)
    os.environ.setdefault("LOG_LEVEL", "INFO")
    # As the shipped stages (samconfig.toml): the React client shows a policy refusal, not the login.
    os.environ.setdefault("POLICY_REFUSAL_STATUS", "400")
    from dataapi.db import engine as db
    from dataapi.settings import get_settings

    get_settings.cache_clear()
    db.dispose_engine()
    return env


def files_bucket() -> str:
    """FILES_BUCKET if set (the Flask deployment's `beyoappv5` for a copy), else the local default."""
    return os.environ.get("FILES_BUCKET", "").strip() or LOCAL_BUCKET


@contextlib.contextmanager
def running_stack() -> Iterator[dict[str, Any]]:
    """Start everything; stop everything started, in reverse order, however it ends."""
    if not port_is_free(GATEWAY_PORT):
        raise SystemExit(port_taken(GATEWAY_PORT))
    make_home()
    bucket = files_bucket()
    with contextlib.ExitStack() as stack:
        existing = os.environ.get("DATABASE_URL")  # an operator's copy (docs/adoption.md)
        pool_size, bouncer = pooler.dev_pool_size(), None  # DEV_POOLER=1: through PgBouncer
        if existing and pool_size:
            raise SystemExit(
                f"{pooler.DEV_ENV}=1 serves the demo cluster; unset DATABASE_URL or {pooler.DEV_ENV}"
            )
        if existing:
            url = existing
            log("serving DATABASE_URL: migrating it to head, loading no demo data")
            upgrade_only(url)
        else:
            cluster, url = start_database()

            def stop_database() -> None:
                log("stopping PostgreSQL")
                cluster.stop()

            stack.callback(stop_database)
            prepare_database(url)
            if pool_size:
                bouncer = pooler.Pooler.start(cluster.port, pool_size=pool_size, folder=HOME / "pgbouncer")
                log(f"{pooler.version()} on {bouncer.url_base}, transaction pooling (log: {bouncer.log})")

                def stop_pooler() -> None:
                    log("stopping PgBouncer")
                    bouncer.stop()

                stack.callback(stop_pooler)
        moto, moto_port = start_moto()

        def stop_moto() -> None:
            log("stopping moto_server")
            moto.terminate()
            try:
                moto.wait(10)
            except subprocess.TimeoutExpired:
                moto.kill()
                moto.wait()

        stack.callback(stop_moto)
        endpoint = f"http://127.0.0.1:{moto_port}"
        cognito = create_cognito(endpoint)
        pool = populate_pool(url, endpoint, cognito["user_pool_id"], {} if existing else DEMO_USERS)
        env = set_environment(bouncer.url(DATABASE) if bouncer else url, moto_port, cognito)
        from devtools import cognito_triggers
        from devtools.gateway import LOCAL_TRIGGERS

        stack.callback(cognito_triggers.install().uninstall)  # moto runs no Cognito triggers
        os.environ[LOCAL_TRIGGERS] = "1"  # nor in the functions' worker processes
        os.environ[localpool.BOOK_ENV] = str(PASSWORD_BOOK)  # the pool's passwords, for the next run
        create_bucket(endpoint, bucket)
        if not existing:
            upload_images(url, endpoint, bucket)
        os.environ["FILES_BUCKET"] = bucket

        from dataapi.db import engine as db
        from devtools.gateway import from_environment, make_server

        stack.callback(db.dispose_engine)
        gateway = from_environment()  # each function in up to DEV_WORKERS_PER_FUNCTION worker processes
        server = make_server(gateway, port=GATEWAY_PORT)
        thread = threading.Thread(target=server.serve_forever, name="gateway", daemon=True)
        thread.start()

        def stop_gateway() -> None:
            log("stopping the gateway")
            server.shutdown()
            server.server_close()
            gateway.close()

        stack.callback(stop_gateway)
        state = {
            "pid": os.getpid(),
            "mode": "copy" if existing else "demo",
            "api_url": f"http://127.0.0.1:{GATEWAY_PORT}",
            "moto_port": moto_port,
            "moto_endpoint": env["AWS_ENDPOINT_URL"],
            "region": env["AWS_REGION"],
            "user_pool_id": cognito["user_pool_id"],
            "files_bucket": bucket,
            "client_id": cognito["client_id"],
            "database_url": url,
            "pgdata": None if existing else str(PGDATA),
            "pooler": None
            if bouncer is None
            else {"url": env["DATABASE_URL"], "pool_size": bouncer.pool_size},
            "password_book": str(PASSWORD_BOOK),
            "pool": {"restored": pool.restored, "created": pool.created, "unlinked": pool.unlinked},
        }
        STATE.write_text(json.dumps(state, indent=2) + "\n")
        stack.callback(lambda: STATE.unlink(missing_ok=True))
        yield state


def banner(state: dict[str, Any]) -> str:
    """What the running stack serves, true for its mode: demo data, or an operator's DATABASE_URL."""
    copy = state.get("mode") == "copy"
    pool = state.get("pool") or {}
    if copy:
        database = f"""  PostgreSQL  DATABASE_URL {state["database_url"]}
              (yours: migrated to head, no demo data; make dev neither starts nor stops it)"""
    else:
        database = f"""  PostgreSQL  {state["database_url"]}
              data in {state["pgdata"]} (kept between runs)"""
    if state.get("pooler"):
        database += f"""
  PgBouncer   {state["pooler"]["url"]}
              the functions' DATABASE_URL: transaction pooling, {state["pooler"]["pool_size"]} server connections"""
    bucket = f"files bucket {state['files_bucket']}"
    bucket += (
        ", empty: stored photo URLs of that bucket are signed, their files are not here"
        if copy
        else ", a PNG for every demo photo"
    )
    lines = [
        "",
        f"  API         {state['api_url']}   (routes from template.yaml; ID tokens checked like the authorizer)",
        database,
        f"  moto_server {state['moto_endpoint']}   (Cognito pool {state['user_pool_id']}, client {state['client_id']};",
        f"              {bucket})",
        f"  state       {STATE}",
        f"  passwords   {state.get('password_book', PASSWORD_BOOK)} (the local pool's, to restore it at the next start)",
    ]
    kept = len(pool.get("restored", []))
    lines.append(
        f"  users       {kept} user(s) of earlier runs sign in as before (moto's pool is new at every start)"
    )
    if pool.get("unlinked"):
        lines.append(
            f"              no password known, an Admin sets a new one: {', '.join(pool['unlinked'])}"
        )
    if copy:
        lines += [
            "              the copy's users sign in with their Flask passwords (POST /api/login);",
            "              an Admin for this dry run: make dev-admin EMAIL=... PASSWORD=...",
            "",
            "  TOKEN=$(make -s token EMAIL=... PASSWORD=...)",
        ]
    else:
        lines.append("  demo users")
        lines += [f"    {email} / {password}" for email, password in DEMO_USERS.items()]
        lines += ["", "  TOKEN=$(make -s token)"]
    lines += [
        f"  curl -s -X POST {state['api_url']}/api/schemes/get_items \\",
        "       -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\",
        '       -d \'{"model_name": "Item", "requested_data": ["id", "article_number"], "per_page": 2}\'',
        "",
        "  Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


def serve() -> None:
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with running_stack() as state:
        print(banner(state), flush=True)
        while not stop.wait(0.5):
            pass
        log("shutting down")
    log("stopped")


def running_state() -> dict[str, Any] | None:
    try:
        return dict(json.loads(STATE.read_text()))
    except FileNotFoundError:
        print("the local stack is not running: start it with `make dev`", file=sys.stderr)
        return None


def token(argv: list[str]) -> int:
    email = argv[0] if argv else "admin@example.com"
    password = argv[1] if len(argv) > 1 else DEMO_USERS.get(email.lower())
    if not password:
        print(f"usage: token [email] [password] (no demo password for {email})", file=sys.stderr)
        return 2
    state = running_state()
    if state is None:
        return 1
    try:
        print(id_token(state["moto_endpoint"], state["client_id"], email, password))
    except Exception as exc:  # botocore errors and a stopped moto_server alike
        print(f"could not sign in {email}: {exc}", file=sys.stderr)
        return 1
    return 0


def admin(argv: list[str]) -> int:
    """`make dev-admin EMAIL=... PASSWORD=...`: an Admin on the running stack (devtools/localpool.py)."""
    if len(argv) != 2:
        print("usage: make dev-admin EMAIL=... PASSWORD=...", file=sys.stderr)
        return 2
    state = running_state()
    if state is None:
        return 1
    set_environment(state["database_url"], state["moto_port"], state)
    recorder = localpool.install(state.get("password_book") or PASSWORD_BOOK)
    try:
        answer = localpool.make_admin(argv[0], argv[1])
    except Exception as exc:  # the layer's errors carry the API's message and status
        print(f"could not make {argv[0]} an Admin: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
        return 1
    finally:
        if recorder is not None:
            recorder.uninstall()
    print(
        f"{answer}: sign in as {argv[0]} with that password (POST /api/login, or make -s token EMAIL= PASSWORD=)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "token":
        return token(args[1:])
    if args and args[0] == "admin":
        return admin(args[1:])
    if args:
        print(__doc__, file=sys.stderr)
        return 2
    serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
