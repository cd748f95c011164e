"""Composition root of the server: wires storage, keys and services into the HTTP surfaces."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from hospes.asgi.middleware import (
    HeadAsGetMiddleware,
    NormalizePathMiddleware,
    RefuseNulMiddleware,
    RequestIdMiddleware,
    StrictTransportMiddleware,
    is_graph,
)
from hospes.asgi.ops import (
    ForwardedMiddleware,
    ObserveMiddleware,
    ProxyNetworks,
    Readiness,
    install_drain,
)
from hospes.asgi.ops import (
    install_routes as install_ops_routes,
)
from hospes.asgi.protocols import HEAD_TIMEOUT_STATE
from hospes.asgi.retry import RetryConflictsMiddleware
from hospes.auth.canary import deployment_box
from hospes.auth.keys import load_or_create_keys
from hospes.auth.tokens import TokenIssuer
from hospes.domain.clock import utcnow
from hospes.domain.errors import DomainError
from hospes.graph.apidocs import mount_api_docs
from hospes.graph.errors import domain_error_response, error_response
from hospes.graph.fallback import GraphFallback
from hospes.graph.openapi import install_openapi
from hospes.graph.routers import (
    access_reviews,
    app_owners,
    application_templates,
    apps,
    auth_methods,
    conditional_access,
    cross_tenant,
    delta,
    directory,
    dynamic_groups,
    entitlement,
    entitlement_requests,
    federation,
    groups,
    guest_lifecycle,
    invitations,
    me,
    multi_tenant_org,
    permission_grants,
    policies,
    provisioning_logs,
    service,
    sign_ins,
    synchronization,
    terms_of_use,
    users,
)
from hospes.oauth import routes as oauth_routes
from hospes.provisioning import ProvisioningService
from hospes.runtime import Runtime
from hospes.settings import Settings
from hospes.storage.engine import Database
from hospes.web import mount as mount_web
from hospes.workers import build_workers

log = logging.getLogger("hospes")


_PROBED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request, exc: StarletteHTTPException) -> str:
    """Every method served at the request's path. The router's own ``Allow`` names only the first route that
    matched the path (GET and POST of one path are two routes), so each method is tried against the routes;
    mounts match any method, their application says what it allows (static files: GET, HEAD)."""
    allowed = {m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()}
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount | GraphFallback)]
    for method in _PROBED_METHODS:
        probe: Scope = {
            "type": "http",
            "method": method,
            "path": request.scope["path"],
            "root_path": request.scope.get("root_path", ""),
            "headers": [],
            "query_string": b"",
        }
        if any(route.matches(probe)[0] is Match.FULL for route in routes):
            allowed.add(method)
    if "GET" in allowed:
        allowed.add("HEAD")
    return ", ".join(sorted(allowed))


def _relative_location(scope: Scope) -> str:
    """A Location made of the path and query only: never the client's Host header (a forged Host would make the
    server send its users elsewhere), and never a path a browser reads as another host ('//host' or '/\\host')."""
    path = quote("/" + scope["path"].lstrip("/"), safe="/:@!$&'()*+,;=-._~")
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{path}?{query}" if query else path


def _slash_redirect(app: FastAPI) -> ASGIApp:
    """What Starlette's ``redirect_slashes`` does (a path that matches only with or without its trailing slash is
    redirected there), with a relative Location. Starlette builds an absolute one from the request's Host."""
    router = app.router
    not_found = router.default

    async def redirect_or_not_found(scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        if scope["type"] == "http" and path.rstrip("/") != scope.get("root_path", "").rstrip("/"):
            other = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
            routes = (route for route in router.routes if not isinstance(route, GraphFallback))
            if any(route.matches(other)[0] is not Match.NONE for route in routes):
                await RedirectResponse(_relative_location(other), status_code=307)(scope, receive, send)
                return
        await not_found(scope, receive, send)

    return redirect_or_not_found


def create_app(
    settings: Settings,
    *,
    housekeeping: bool = True,
    mail_worker: bool | None = None,
    provisioning_runner: bool | None = None,
    clock: Callable[[], datetime] = utcnow,
    drain: bool = False,
) -> FastAPI:
    """``clock``: what the sign-in pages and the token endpoint take as now (tests pass one they move).
    ``mail_worker``: run the outbox delivery thread (default: ``settings.mail_worker`` with an SMTP host).
    ``provisioning_runner``: run provisioning jobs in the background (default: ``settings.provisioning_runner``
    when ``housekeeping`` is on, so the in-process test app runs no background work).
    ``drain``: a SIGTERM first takes the process out of readiness (``hospes serve``; see ``ops.install_drain``)."""
    database = Database.for_settings(settings)
    readiness = Readiness(database)
    sessions = database.sessions
    box = deployment_box(settings, sessions)
    keys = load_or_create_keys(sessions, box)
    if mail_worker is None:
        mail_worker = settings.mail_worker and bool(settings.smtp_host)
    if provisioning_runner is None:
        provisioning_runner = settings.provisioning_runner and housekeeping
    runtime = Runtime(
        settings=settings,
        database=database,
        box=box,
        keys=keys,
        issuer=TokenIssuer(keys, settings.public_url, settings.access_token_lifetime_seconds),
        provisioning=ProvisioningService(sessions, settings, box),
        # Portal bulk-invite jobs (durable, leased in the database) run wherever the other background work runs.
        workers=build_workers(
            settings,
            database,
            box,
            keys,
            mail=mail_worker,
            provisioning=provisioning_runner,
            bulk=housekeeping and settings.bulk_worker,
            scheduler=housekeeping,
            dynamic_groups=housekeeping and settings.dynamic_groups,
            timers=housekeeping,
        ),
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[dict[str, Any]]:
        if drain:
            install_drain(readiness, settings.drain_seconds)
        runtime.workers.start()
        # Lifespan state is shared with the server: HttpProtocol reads its request-head deadline from it.
        yield {HEAD_TIMEOUT_STATE: settings.http_header_timeout_seconds}
        runtime.invitations.stop()
        runtime.sign_ins.stop()
        runtime.workers.stop()
        database.dispose()

    app = FastAPI(title="Hospes", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.state.readiness = readiness  # /readyz; the drain flips it
    # The protocol endpoints first: FastAPI tries routes in order, and machines call the token endpoint most (behind
    # the Graph routes, every token request was first matched against each of them). OAuthError -> Entra's body.
    oauth_routes.install(app)
    mount_api_docs(app)  # /docs, its assets served from the package (no CDN); before the /{tenant}/... pages
    routers = (delta.router, users.router, me.router, groups.router, apps.router, directory.router, invitations.router)
    # delta first: /users/delta must not match /users/{key}
    others = (
        dynamic_groups.router,
        policies.router,
        cross_tenant.router,
        multi_tenant_org.router,
        federation.router,
        application_templates.router,
        conditional_access.router,
        access_reviews.router,
        app_owners.router,
        guest_lifecycle.router,
        entitlement_requests.router,  # before entitlement: filterByCurrentUser(...) must not match /{id}
        entitlement.router,
        sign_ins.router,
        terms_of_use.router,
        auth_methods.router,
        synchronization.router,
        provisioning_logs.router,
        service.router,
    )
    for router in (*routers, *others, permission_grants.router):
        app.include_router(router, prefix="/v1.0")
    app.router.routes.append(GraphFallback(app.router))  # nothing below answers under /v1.0
    mount_web(app, runtime)  # sign-in pages under /{tenant}/..., after the API routes
    install_openapi(app, settings.public_url, settings.page_size_default)

    app.router.redirect_slashes = False
    app.router.default = _slash_redirect(app)
    # Innermost of these: a deadlocked request runs again under the same request id, before any answer was sent.
    app.add_middleware(RetryConflictsMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RefuseNulMiddleware)  # inside RequestIdMiddleware: its answer carries the request id
    # Sees the route the router matched (the scope it passes down is the router's own) and the request id.
    app.add_middleware(ObserveMiddleware, readiness=readiness, access_log=settings.access_log)
    app.add_middleware(RequestIdMiddleware)

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return domain_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            400,
            "Request_BadRequest",
            "Invalid request: " + "; ".join(str(e.get("msg")) for e in exc.errors()),
            request,
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            # One answer for every path that names nothing, as for an unknown id: 404 in the Graph envelope.
            segment = request.url.path.rstrip("/").rsplit("/", 1)[-1]
            return error_response(
                404,
                "Request_ResourceNotFound" if is_graph(request) else "NotFound",
                f"Resource not found for the segment '{segment}'.",
                request,
            )
        if exc.status_code == 405:
            return error_response(
                405,
                "Request_BadRequest",
                "The requested method is not allowed on this resource.",
                request,
                headers={"Allow": _allowed_methods(request, exc)},
            )
        return error_response(exc.status_code, "BadRequest", str(exc.detail), request)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "generalException", "An internal server error occurred.", request)

    install_ops_routes(app, settings, database, readiness)
    app.add_middleware(HeadAsGetMiddleware)
    if settings.public_url.startswith("https://"):
        app.add_middleware(StrictTransportMiddleware)
    app.add_middleware(NormalizePathMiddleware)
    app.add_middleware(ForwardedMiddleware, proxies=ProxyNetworks(settings.forwarded_allow_ips))
    return app


SERVE_ROLE_ENV = "HOSPES_SERVE_ROLE"  # set by ``hospes serve --role``: "all" (the default) or "api"


def worker_app() -> FastAPI:
    """App factory of each process of ``hospes serve`` (one, or ``--workers N``; settings from the environment,
    plus the file named by HOSPES_SERVE_CONFIG). With ``--role all`` every process also runs the background
    workers, which share their work through the database (leases, the scheduler), as ``hospes worker`` processes
    on other hosts would; with ``--role api`` none does."""
    import os

    from hospes.logs import configure_logging
    from hospes.settings import load_settings

    settings = load_settings(os.environ.get("HOSPES_SERVE_CONFIG") or None)
    background = os.environ.get(SERVE_ROLE_ENV, "all") != "api"
    configure_logging(settings.log_format, settings.log_level, "all" if background else "api")
    app = create_app(settings, housekeeping=background, mail_worker=None if background else False, drain=True)
    tune_gc()
    return app


# Python's cyclic GC, at its defaults (a young collection every 700 allocations), ran hundreds of times a second
# under an invitation load (each builds a few dozen ORM and template objects) and its full collections walked the
# whole heap, imports included: it was most of the p99. Long-lived objects (modules, app, compiled templates and
# statements) are frozen out of collections once the app is built, and young collections run every 10,000
# allocations. (bench/bench_invitations.py, 2 processes: p99 204 ms -> 78 ms, 890/s -> 1,065/s.)
GC_THRESHOLDS = (10_000, 20, 20)


def tune_gc() -> None:
    """For server processes only (``hospes serve``), once the app is built."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
